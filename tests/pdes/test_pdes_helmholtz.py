"""Helmholtz family: second-order convergence, symmetric indefinite matrix, resolution checks."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.generation.run import generate
from surrogate.pdes import stencil as stencil_module
from surrogate.pdes.darcy import interior_points
from surrogate.pdes.helmholtz import Helmholtz, assemble_helmholtz
from surrogate.pdes.helmholtz3d import Helmholtz3D
from tests.conftest import compose_stage
from tests.pdes.test_darcy import assert_same_problems, coefficient, exact_u, sample_streams
from tests.pdes.test_darcy import forcing as darcy_forcing

K = 7.0


def solve_manufactured(n: int) -> float:
    full = np.linspace(0.0, 1.0, n + 2)
    xf, yf = np.meshgrid(full, full, indexing="ij")
    inner = interior_points(n)
    xi, yi = np.meshgrid(inner, inner, indexing="ij")
    forcing = darcy_forcing(xi, yi) - K**2 * exact_u(xi, yi)
    matrix, rhs = assemble_helmholtz(coefficient(xf, yf), K, forcing)
    u = spla.spsolve(matrix.tocsc(), rhs).reshape(n, n)
    return float(np.abs(u - exact_u(xi, yi)).max())


def test_manufactured_solution_converges_at_second_order():
    errors = [solve_manufactured(n) for n in (15, 31, 63)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 5e-3  # |u| reaches about 2
    assert np.all(orders > 1.9), orders


def helmholtz(n: int = 12, k_min: float = 10.0, k_max: float = 20.0, **overrides) -> Helmholtz:
    cfg = {
        "resolution": n,
        "coefficient": "lognormal",
        "values": [12.0, 3.0],
        "grf": {"alpha": None, "tau": None, "modes": None},
        "forcing": 1.0,
        "wavenumber": {"min": k_min, "max": k_max},
        "wavenumber_channel": True,
    }
    return Helmholtz(OmegaConf.create({**cfg, **overrides}))


def test_matrix_is_symmetric_and_indefinite_with_the_default_wavenumbers():
    pde = helmholtz(12)
    problem = pde.problem(np.random.default_rng(0))
    dense = problem.matrix.toarray()
    np.testing.assert_allclose(dense, dense.T)
    eigenvalues = np.linalg.eigvalsh(dense)
    assert (eigenvalues < 0).sum() >= 3 and (eigenvalues > 0).sum() > 0
    assert (pde.spd, pde.symmetric) == (False, True)
    k = problem.params["wavenumber"]
    assert 10.0 <= k <= 20.0
    assert problem.inputs.shape == (2, 12, 12) and np.all(problem.inputs[1] == k)
    again = pde.problem(np.random.default_rng(0))
    np.testing.assert_array_equal(again.matrix.toarray(), dense)


def test_wavenumber_channel_is_optional():
    pde = helmholtz(16, wavenumber_channel=False)
    assert pde.fields.input_names == ("coefficient",)
    assert pde.problem(np.random.default_rng(0)).inputs.shape == (1, 16, 16)


def test_unresolved_wavenumber_warns_or_is_refused(caplog):
    with caplog.at_level(logging.WARNING):
        helmholtz(16)  # k h = 20 / 17
    assert "nodes per wavelength" in caplog.text
    with pytest.raises(UserError, match="pde.wavenumber.max=20.0 is not resolved"):
        helmholtz(8)
    with pytest.raises(UserError, match="pde.wavenumber.min=5.0 must be <="):
        helmholtz(64, k_min=5.0, k_max=4.0)


def test_generate_through_the_cli_config(tmp_path):

    overrides = ["pde=helmholtz", "pde.resolution=16", "n_train=4", "n_test=2", "name=x"]
    generate(compose_stage("generate", tmp_path, overrides))
    with h5py.File(tmp_path / "data" / "x" / "train.h5") as file:
        assert file["inputs"].shape == (4, 2, 16, 16) and file["outputs"].shape == (4, 1, 16, 16)
        assert np.isfinite(file["outputs"][:]).all() and file["completed"][:].all()
        assert np.all((file["params/wavenumber"][:] >= 10) & (file["params/wavenumber"][:] <= 20))


@pytest.mark.parametrize("kind", ["lognormal", "two_phase"])
@pytest.mark.parametrize("channel", [True, False])
@pytest.mark.parametrize("n", [13, 24])
def test_a_block_of_problems_is_bitwise_each_problem_alone(monkeypatch, kind, channel, n):
    monkeypatch.setattr(stencil_module, "CHUNK_VALUES", 2 * n * n)  # chunks of 2, one partial
    pde = helmholtz(n, 1.0, 8.0, coefficient=kind, wavenumber_channel=channel)
    assert pde.block_assembly
    assert_same_problems(
        [pde.problem(r) for r in sample_streams(7)], pde.problems(sample_streams(7))
    )


def test_a_block_of_3d_problems_is_bitwise_each_problem_alone():
    cfg = compose_stage("generate", Path("."), ["pde=helmholtz3d", "pde.resolution=5"]).pde
    cfg.wavenumber.min, cfg.wavenumber.max = 1.0, 3.0
    pde = Helmholtz3D(cfg)
    assert_same_problems(
        [pde.problem(r) for r in sample_streams(5)], pde.problems(sample_streams(5))
    )


def test_a_diagonal_that_k_squared_cancels_is_dropped_in_a_block_too():
    """a = 1, n = 3: every diagonal entry is 4 / h^2 = 64 = k^2 for k = 8, exactly."""
    pde = helmholtz(3, 0.0, 1.0, coefficient="two_phase", values=[1.0, 1.0])
    pde.k_min = pde.k_max = 8.0  # past the resolution check, for the exact cancellation
    block = pde.problems(sample_streams(2))
    assert block[0].matrix.nnz == 33 - 9  # 5-point stencil on 3 x 3 without its diagonal
    assert_same_problems([pde.problem(r) for r in sample_streams(2)], block)
