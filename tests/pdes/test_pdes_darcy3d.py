"""3D Darcy family: second-order convergence, SPD matrix, 3D GRF, generation."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.pdes import stencil as stencil_module
from surrogate.pdes.darcy import interior_points
from surrogate.pdes.darcy3d import Darcy3D, assemble_diffusion
from surrogate.pdes.random_fields import sample_grf_3d
from tests.conftest import compose_stage
from tests.pdes.test_darcy import assert_same_problems, sample_streams

PI = np.pi


def exact_u(x, y, z):
    return np.sin(PI * x) * np.sin(2 * PI * y) * np.sin(PI * z)


def coefficient(x, y, z):
    return 1.0 + x**2 + y * z


def forcing(x, y, z):
    """-div(a grad u) = -(grad a . grad u) - a Laplacian(u), by hand; Laplacian(u) = -6 pi^2 u."""
    sx, cx = np.sin(PI * x), np.cos(PI * x)
    sy, cy = np.sin(2 * PI * y), np.cos(2 * PI * y)
    sz, cz = np.sin(PI * z), np.cos(PI * z)
    grad_dot = 2 * x * PI * cx * sy * sz + z * 2 * PI * sx * cy * sz + y * PI * sx * sy * cz
    return -grad_dot + 6 * PI**2 * coefficient(x, y, z) * exact_u(x, y, z)


def conjugate_gradients(matrix, rhs, rtol: float = 1e-12) -> np.ndarray:
    """Plain CG with sum() dot products: scipy's cg calls BLAS, whose threads crawl when the
    cores are shared (7 s against 0.1 s at 31^3 here)."""
    x = np.zeros_like(rhs)
    r, p = rhs.copy(), rhs.copy()
    rr, stop = (r * r).sum(), rtol**2 * (rhs * rhs).sum()
    for _ in range(10 * len(rhs)):
        if rr <= stop:
            return x
        ap = matrix @ p
        alpha = rr / (p * ap).sum()
        x += alpha * p
        r -= alpha * ap
        rr, rr_old = (r * r).sum(), rr
        p = r + (rr / rr_old) * p
    raise AssertionError("CG did not converge")


def solve_manufactured(n: int) -> float:
    full = np.linspace(0.0, 1.0, n + 2)
    inner = interior_points(n)
    matrix, rhs = assemble_diffusion(
        coefficient(*np.meshgrid(full, full, full, indexing="ij")),
        forcing(*np.meshgrid(inner, inner, inner, indexing="ij")),
    )
    u = conjugate_gradients(matrix, rhs).reshape(n, n, n)
    return float(np.abs(u - exact_u(*np.meshgrid(inner, inner, inner, indexing="ij"))).max())


def test_manufactured_solution_converges_at_second_order():
    errors = [solve_manufactured(n) for n in (7, 15, 31)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 5e-3  # |u| reaches 1
    assert np.all(orders > 1.9), orders


def darcy3d(n: int = 5, kind: str = "lognormal") -> Darcy3D:
    cfg = {
        "resolution": n,
        "coefficient": kind,
        "values": [12.0, 3.0],
        "grf": {"alpha": None, "tau": None, "modes": None},
        "forcing": 1.0,
    }
    return Darcy3D(OmegaConf.create(cfg))


def test_matrix_is_symmetric_positive_definite_and_seven_point():
    pde = darcy3d(5)
    problem = pde.problem(np.random.default_rng(0))
    dense = problem.matrix.toarray()
    np.testing.assert_allclose(dense, dense.T)
    assert np.linalg.eigvalsh(dense).min() > 0
    assert (pde.spd, pde.symmetric) == (True, True)
    assert (np.count_nonzero(dense, axis=1) <= 7).all() and np.count_nonzero(dense[62]) == 7
    assert problem.inputs.shape == (1, 5, 5, 5) and problem.inputs.min() > 0
    np.testing.assert_array_equal(pde.problem(np.random.default_rng(0)).rhs, problem.rhs)
    u = spla.spsolve(problem.matrix.tocsc(), problem.rhs)
    assert u.min() > 0 and pde.solution_fields(u).shape == (1, 5, 5, 5)  # maximum principle


def test_grf_3d_is_the_same_field_at_every_resolution_and_varies():
    coarse = sample_grf_3d(np.random.default_rng(3), interior_points(3), 4, 2.5, 7.0)
    fine = sample_grf_3d(np.random.default_rng(3), interior_points(7), 4, 2.5, 7.0)
    np.testing.assert_allclose(fine[1::2, 1::2, 1::2], coarse, atol=1e-12)
    assert fine.std() > 0.01
    two_phase = darcy3d(6, "two_phase").sample_coefficient(np.random.default_rng(1))
    assert set(np.unique(two_phase)) == {3.0, 12.0}


@pytest.mark.parametrize("kind", ["lognormal", "two_phase"])
@pytest.mark.parametrize("n", [5, 8])
def test_a_block_of_problems_is_bitwise_each_problem_alone(monkeypatch, kind, n):
    monkeypatch.setattr(stencil_module, "CHUNK_VALUES", 2 * n**3)  # chunks of 2, one partial
    pde = darcy3d(n, kind)
    assert pde.block_assembly
    block = pde.problems(sample_streams(5))
    assert_same_problems([pde.problem(r) for r in sample_streams(5)], block)
    assert block[0].matrix.shape == (n**3, n**3) and block[0].inputs.shape == (1, n, n, n)


def test_generate_through_the_cli_config(tmp_path):
    from surrogate.generation.run import generate

    overrides = ["pde=darcy3d", "pde.resolution=8", "n_train=4", "n_test=2", "name=x"]
    generate(compose_stage("generate", tmp_path, overrides))
    with h5py.File(tmp_path / "data" / "x" / "test.h5") as file:
        assert file["inputs"].shape == (2, 1, 8, 8, 8) and file["outputs"].shape == (2, 1, 8, 8, 8)
        assert np.isfinite(file["outputs"][:]).all() and file["completed"][:].all()
        assert set(file["grid"]) == {"x", "y", "z"}
