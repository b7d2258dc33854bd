"""Sort features without assembly, each system assembled once, and the stencil's CSR assembly
equal to an assembly from coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from surrogate.generation.run import generate
from surrogate.generation.solving import sample_rng
from surrogate.pdes import build_pde
from surrogate.pdes.darcy3d import assemble_diffusion
from surrogate.pdes.stencil import harmonic_mean

STEADY = {
    "darcy": ["pde=darcy", "pde.resolution=10"],
    "darcy two_phase": ["pde=darcy", "pde.resolution=9", "pde.coefficient=two_phase"],
    "darcy skr": ["pde=darcy", "pde.resolution=8", "pde.stencil=skr"],
    "darcy skr_reference": [
        "pde=darcy",
        "pde.resolution=8",
        "pde.stencil=skr_reference",
        "pde.coefficient=lognormal",
    ],
    "poisson": ["pde=poisson", "pde.resolution=10"],
    "helmholtz": ["pde=helmholtz", "pde.resolution=24"],
    "heat": ["pde=heat", "pde.resolution=21"],
    "darcy3d": ["pde=darcy3d", "pde.resolution=5"],
}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("family", list(STEADY))
def test_features_are_those_of_the_assembled_problem(make_cfg, family):
    pde = build_pde(make_cfg("generate", *STEADY[family]).pde)
    for index in range(3):
        features = pde.features(sample_rng(0, "train", index))
        problem = pde.problem(sample_rng(0, "train", index))
        assert same_bits(features, problem.features)


def coordinate_assembly(coefficient: np.ndarray) -> sp.csr_matrix:
    """-div(a grad u) with harmonic-mean faces, assembled entry by entry from coordinates."""
    d, n = coefficient.ndim, coefficient.shape[0] - 2
    h2 = (1.0 / (n + 1)) ** 2
    rows, cols, vals = [], [], []
    for node in np.ndindex(*(n,) * d):
        row = np.ravel_multi_index(node, (n,) * d)
        centre = coefficient[tuple(i + 1 for i in node)]
        diagonal = 0.0
        for axis in range(d):
            for step in (-1, 1):
                neighbour = list(node)
                neighbour[axis] += step
                other = coefficient[tuple(i + 1 for i in neighbour)]
                face = harmonic_mean(np.array(centre), np.array(other)) / h2
                diagonal += face
                if 0 <= neighbour[axis] < n:
                    rows.append(row)
                    cols.append(np.ravel_multi_index(neighbour, (n,) * d))
                    vals.append(-face)
        rows.append(row)
        cols.append(row)
        vals.append(diagonal)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n**d, n**d))


@pytest.mark.parametrize("shape", [(4,), (5, 5), (2, 2), (6, 6), (3, 3, 3), (4, 4, 4)])
def test_stencil_csr_equals_the_coordinate_assembly_bit_for_bit(shape):
    coefficient = np.exp(np.random.default_rng(len(shape)).standard_normal(shape))
    expected = coordinate_assembly(coefficient)
    matrix, _ = assemble_diffusion(coefficient, np.ones(tuple(s - 2 for s in shape)))
    for key in ("indptr", "indices", "data"):
        assert same_bits(getattr(matrix, key), getattr(expected, key)), key


def test_each_sample_is_assembled_once_when_sorted(make_cfg, monkeypatch):
    """Sorting draws features without assembling; solving assembles each sample once."""
    pde_class = type(build_pde(make_cfg("generate").pde))
    calls: list[int] = []
    problem, problems = pde_class.problem, pde_class.problems  # darcy's block does not call problem
    monkeypatch.setattr(
        pde_class, "problem", lambda self, rng: calls.append(1) or problem(self, rng)
    )
    monkeypatch.setattr(
        pde_class,
        "problems",
        lambda self, rngs: calls.extend([1] * len(rngs)) or problems(self, rngs),
    )
    cfg = make_cfg(
        "generate", "pde.resolution=8", "n_train=12", "n_test=0", "sort=greedy", "name=once"
    )
    generate(cfg)
    assert len(calls) == 12
    assert (Path(cfg.paths.data_dir) / "once" / "train.h5").exists()
