"""BiCGSTAB, added as a plugin (its file, conf/solver/bicgstab.yaml, this test): against a
direct solve, through the registry, the chain and `surrogate generate`."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from surrogate.data.reader import read_split_info
from surrogate.generation.run import generate
from surrogate.pdes.darcy import assemble_darcy_skr
from surrogate.solvers import SOLVERS, Systems, build_solver, check_solver
from surrogate.solvers.bicgstab import BiCGSTAB
from surrogate.solvers.preconditioners import build_preconditioner


def skr_system(n: int = 16, seed: int = 0):
    """A nonsymmetric system: SKR's Darcy stencil with a lognormal coefficient."""
    coefficient = np.exp(np.random.default_rng(seed).standard_normal((n + 2, n + 2)))
    return assemble_darcy_skr(coefficient, np.ones((n, n)))


@pytest.mark.parametrize("preconditioner", ["none", "jacobi", "sor", "ilu"])
def test_bicgstab_matches_a_direct_solve_of_a_nonsymmetric_system(preconditioner):
    matrix, rhs = skr_system()
    apply = build_preconditioner(preconditioner, matrix, omega=1.2)
    result = BiCGSTAB(rtol=1e-10, maxiter=5000).solve(matrix, rhs, np.zeros_like(rhs), apply, None)
    exact = spla.spsolve(matrix.tocsc(), rhs)
    assert result.converged and result.residual <= 1e-10
    np.testing.assert_allclose(result.x, exact, rtol=0, atol=1e-8 * np.abs(exact).max())
    assert result.residual == np.linalg.norm(rhs - matrix @ result.x) / np.linalg.norm(rhs)
    assert result.iterations > 0 and result.matvecs <= 2 * result.iterations + 3


def test_ilu_cuts_bicgstab_iterations_and_a_warm_start_needs_none():
    matrix, rhs = skr_system()
    method = BiCGSTAB(rtol=1e-8, maxiter=5000)
    zero = np.zeros_like(rhs)
    plain = method.solve(matrix, rhs, zero, build_preconditioner("none", matrix), None)
    ilu = method.solve(matrix, rhs, zero, build_preconditioner("ilu", matrix), None)
    assert ilu.iterations <= 0.5 * plain.iterations, (ilu.iterations, plain.iterations)
    again = method.solve(matrix, rhs, ilu.x, build_preconditioner("ilu", matrix), None)
    assert again.iterations == 0 and again.converged


def test_bicgstab_is_registered_and_checked_from_its_yaml(make_cfg):
    assert SOLVERS.get("bicgstab") is BiCGSTAB
    cfg = make_cfg("generate", "solver=bicgstab", "solver.preconditioner=ilu")
    check_solver(cfg, Systems(spd=False, dims=2))  # any preconditioner: no SPD needed
    chain = build_solver(cfg.solver, Systems(spd=False, dims=2), np.random.default_rng(0), 3)
    for seed in range(3):
        matrix, rhs = skr_system(seed=seed)
        result = chain.solve(matrix, rhs)
        assert result.converged and not result.fallback and result.residual <= 1e-8


def test_surrogate_generate_runs_bicgstab(make_cfg, tmp_path):
    cfg = make_cfg(
        "generate",
        "pde=darcy",
        "pde.stencil=skr",
        "pde.resolution=12",
        "n_train=3",
        "n_test=0",
        "solver=bicgstab",
        "solver.preconditioner=ilu",
        "name=bicgstab",
    )
    summary = generate(cfg)["train"]
    assert summary["samples"] == 3 and summary["unconverged"] == 0 and summary["fallbacks"] == 0
    assert read_split_info(tmp_path / "data" / "bicgstab", "train").n_samples == 3
