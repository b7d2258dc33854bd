"""pde.stencil=skr_reference: the SKR code's Darcy systems, entry for entry, and the CLI contract."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from conftest import run_cli
from omegaconf import OmegaConf

from surrogate.data.reader import read_solver_stats
from surrogate.errors import UserError
from surrogate.pdes import skr_reference
from surrogate.pdes.darcy import Darcy, assemble_darcy_skr
from surrogate.solvers.gcrodr import GCRODR
from surrogate.solvers.preconditioners import build_preconditioner


def reference(s: int, seed: int = 0) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    edited = skr_reference.edit_boundary_columns(skr_reference.sample_coefficient(rng, s, 2.5, 7))
    matrix, rhs = skr_reference.assemble(edited, 1.0)
    return edited, matrix, rhs


def test_the_periodic_grf_has_the_fno_spectrum_in_float32():
    size, alpha, tau = 16, 2.5, 7.0
    rng = np.random.default_rng(0)
    fields = np.stack([skr_reference.fno_periodic_grf(rng, size, alpha, tau) for _ in range(400)])
    assert fields.dtype == np.float32
    k = np.fft.fftfreq(size, 1.0 / size)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    sqrt_eig = (
        size**2
        * math.sqrt(2)
        * tau ** (alpha - 1)
        * (4 * np.pi**2 * (kx**2 + ky**2) + tau**2) ** (-alpha / 2)
    )
    sqrt_eig[0, 0] = 0.0
    # Re(ifft2(sqrt_eig ξ)) with E|ξ|^2 = 1: pointwise variance sum(sqrt_eig^2) / (2 size^4).
    expected = float((sqrt_eig**2).sum()) / (2 * size**4)
    assert fields.var(axis=0).mean() == pytest.approx(expected, rel=0.1)
    np.testing.assert_allclose(fields.mean(axis=(1, 2)), 0.0, atol=1e-6)  # no mean mode


def test_matrix_entries_follow_the_skr_code_slip_included():
    s = 6
    a, matrix, rhs = reference(s)
    assert np.all(a[1:-1, 0] == 0) and np.all(a[1:-1, -1] == 0)  # the in-place edits
    dense = matrix.toarray()
    interior = a[1:-1, 1:-1].astype(np.float64)
    np.testing.assert_array_equal(np.diag(dense), 4 * interior.ravel())
    for r in range(s * s):
        p, q = divmod(r, s)
        if q < s - 1:
            assert dense[r, r + 1] == -a[p + 1, q + 2]
        if q > 0:
            assert dense[r, r - 1] == -a[p + 1, q]
        if p < s - 1:
            assert dense[r, r + s] == -a[p + 2, q + 1]
        if p > 0:  # the slipped diagonal: the node two places before the intended neighbour
            assert dense[r, r - s] == -a[:-2, 1:-1].ravel()[r - 2]
    assert matrix.nnz == s * s + 4 * s * (s - 1)  # no wrap-around couplings stored
    np.testing.assert_array_equal(rhs, np.full(s * s, (1.0 / (s - 1)) ** 2))


def test_with_the_slip_fixed_the_matrix_is_the_skr_stencil_times_h_squared():
    s = 30
    a, matrix, _ = reference(s)
    fixed = matrix.tolil()
    interior = a[1:-1, 1:-1].astype(np.float64).ravel()
    for r in range(s, s * s):
        fixed[r, r - s] = -interior[r - s]
    stencil, _ = assemble_darcy_skr(a.astype(np.float64), np.ones((s, s)))
    np.testing.assert_allclose(fixed.toarray(), stencil.toarray() / (s + 1) ** 2, rtol=1e-14)
    # The slip is what makes the systems indefinite.
    assert np.linalg.eigvals(matrix.toarray()).real.min() < 0
    assert np.linalg.eigvals(fixed.toarray()).real.min() > 0


def darcy(**overrides) -> Darcy:
    cfg = {
        "resolution": 10,
        "coefficient": "lognormal",
        "values": [12.0, 3.0],
        "forcing": 1.0,
        "grf": {"alpha": None, "tau": None, "modes": None},
        "stencil": "skr_reference",
    }
    cfg.update(overrides)
    return Darcy(OmegaConf.create(cfg))


def test_the_family_stores_the_interior_coefficient_and_sorts_on_the_edited_grid():
    pde = darcy()
    problem = pde.problem(np.random.default_rng(0))
    a, matrix, rhs = reference(10)
    np.testing.assert_array_equal(problem.matrix.toarray(), matrix.toarray())
    np.testing.assert_array_equal(problem.rhs, rhs)
    np.testing.assert_array_equal(problem.inputs, a[None, 1:-1, 1:-1])
    np.testing.assert_array_equal(problem.features, a.ravel())
    assert not pde.spd and not pde.symmetric and pde.fields.spatial_shape == (10, 10)


@pytest.mark.parametrize("overrides", [{"coefficient": "two_phase"}, {"grf": {"modes": 8}}])
def test_other_coefficients_are_refused(overrides):
    grf = {"alpha": None, "tau": None, "modes": None} | overrides.pop("grf", {})
    with pytest.raises(UserError, match="skr_reference reproduces SKR's lognormal systems"):
        darcy(grf=grf, **overrides)


def test_an_odd_grid_is_refused_before_sampling():
    """FNO's periodic GRF takes an even grid of resolution + 2 points per side."""
    with pytest.raises(
        UserError, match="needs an even pde.resolution.*got 9: use pde.resolution=8 or 10"
    ):
        darcy(resolution=9)
    assert darcy(resolution=8).problem(np.random.default_rng(0)).inputs.shape == (1, 8, 8)


def test_recycling_solves_the_indefinite_reference_systems():
    pde = darcy(resolution=20)
    recycler = GCRODR(m=40, k=20, rtol=1e-8, maxiter=5000)
    space = recycler.new_state()
    for seed in range(3):
        problem = pde.problem(np.random.default_rng(seed))
        apply = build_preconditioner("ilu", problem.matrix)
        zero = np.zeros_like(problem.rhs)
        x = recycler.solve(problem.matrix, problem.rhs, zero, apply, space).x
        exact = spla.spsolve(problem.matrix.tocsc(), problem.rhs)
        np.testing.assert_allclose(x, exact, rtol=0, atol=1e-6 * np.abs(exact).max())


@pytest.mark.parametrize(
    "solver", [["solver=gcrodr", "solver.k=20", "sort=greedy"], ["solver=gmres", "sort=none"]]
)
def test_the_issue_command_stores_seconds_and_iterations_per_system(tmp_path: Path, solver):
    """The interface command of issue 14 at a small size (12 unknowns per side, 6 systems);
    GMRES has no solver.k."""
    done = run_cli(
        ["generate", "pde=darcy", "pde.stencil=skr_reference", "pde.coefficient=lognormal",
         "pde.resolution=12", "n_train=6", "n_test=0", *solver, "solver.m=40", "solver.rtol=1e-8", "solver.maxiter=10000", "solver.preconditioner=none", "workers=1",
         "seed=0", "name=skr_ref", f"paths.data_dir={tmp_path / 'data'}",
         f"paths.output_dir={tmp_path / 'outputs'}"],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stats = read_solver_stats(tmp_path / "data" / "skr_ref" / "train.h5")
    assert len(stats["iterations"]) == 6
    assert (stats["iterations"] > 0).all() and (stats["seconds"] > 0).all()
    assert stats["converged"].all() and (stats["residual"] <= 1e-8).all()
