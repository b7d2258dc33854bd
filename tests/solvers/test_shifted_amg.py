"""The shifted-Laplacian AMG preconditioner: its shift, its carried hierarchy, its solves."""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.solvers.base import Systems
from surrogate.solvers.chain import ChainSolver
from surrogate.solvers.shifted_amg import (
    CarriedHierarchy,
    _galerkin,
    _seeded_hierarchy,
    diagonal_dominance_shift,
    shifted_operator,
)
from tests.pdes.test_pdes_helmholtz import helmholtz
from tests.pdes.test_pdes_helmholtz3d import helmholtz3d
from tests.solvers.test_krylov import darcy, solver_cfg

SETTINGS = OmegaConf.create({"shift": 1.0, "shift_rebuild": 1.5})


def test_the_shift_is_k_squared_for_helmholtz_and_zero_for_darcy():
    for pde in (helmholtz(16), helmholtz3d(8)):
        problem = pde.problem(np.random.default_rng(3))
        k = problem.params["wavenumber"]
        assert np.isclose(diagonal_dominance_shift(problem.matrix), k**2, rtol=1e-12)
        shifted = shifted_operator(problem.matrix, 0.5)  # = L + 0.5 k^2 I: SPD
        assert np.linalg.eigvalsh(shifted.toarray()).min() > 0.5 * k**2 * (1 - 1e-9)
    darcy_matrix = darcy(12).problem(np.random.default_rng(0)).matrix
    assert diagonal_dominance_shift(darcy_matrix) == 0.0
    assert (shifted_operator(darcy_matrix, 1.0) != darcy_matrix).nnz == 0


def test_the_galerkin_refresh_of_the_same_matrix_is_the_fresh_hierarchy():
    matrix = shifted_operator(helmholtz(24).problem(np.random.default_rng(0)).matrix, 1.0)
    fresh = _seeded_hierarchy(matrix)
    refreshed = _galerkin(fresh, matrix)
    assert len(refreshed.levels) == len(fresh.levels) > 1
    r = np.random.default_rng(1).standard_normal(matrix.shape[0])
    np.testing.assert_allclose(
        refreshed.aspreconditioner(cycle="V").matvec(r),
        fresh.aspreconditioner(cycle="V").matvec(r),
        rtol=1e-10,
        atol=1e-12 * np.abs(r).max(),
    )


def test_a_new_set_up_follows_degraded_iterations_only():
    carried = CarriedHierarchy(SETTINGS)
    matrices = [helmholtz(16).problem(np.random.default_rng(s)).matrix for s in range(4)]
    for matrix, iterations in zip(matrices, [20, 25, 31, 20]):  # 31 > 1.5 x 20
        carried.build(matrix)
        carried.observe(iterations)
    assert carried.setups == 2
    always = CarriedHierarchy(OmegaConf.create({"shift": 1.0, "shift_rebuild": 0.0}))
    for matrix in matrices:
        always.build(matrix)
        always.observe(10)
    assert always.setups == 4


def chain_on_helmholtz3d(rebuild: float, count: int = 5):
    cfg = solver_cfg(
        "gcrodr", m=30, k=10, rtol=1e-8, preconditioner="shifted_amg", shift_rebuild=rebuild
    )
    chain = ChainSolver(cfg, Systems(spd=False, dims=3), np.random.default_rng(0), count)
    pde = helmholtz3d(10)
    results = []
    for seed in range(count):
        problem = pde.problem(np.random.default_rng(seed))
        result = chain.solve(problem.matrix, problem.rhs)
        exact = spla.spsolve(problem.matrix.tocsc(), problem.rhs)
        np.testing.assert_allclose(result.x, exact, rtol=0, atol=1e-6 * np.abs(exact).max())
        assert result.converged and not result.fallback and result.residual <= 1e-8
        results.append(result)
    return chain, results


def test_gcrodr_with_a_carried_hierarchy_matches_direct_solves_on_3d_helmholtz():
    chain, _ = chain_on_helmholtz3d(rebuild=1e6)
    assert chain.preconditioning.carried.setups == 1  # one set-up, then Galerkin refreshes
    chain, _ = chain_on_helmholtz3d(rebuild=0.0)
    assert chain.preconditioning.carried.setups == 5


def test_a_restart_sets_the_hierarchy_up_anew():
    chain, _ = chain_on_helmholtz3d(rebuild=1e6, count=2)
    first = chain.preconditioning.carried
    chain.restart(np.random.default_rng(0), 2)
    assert chain.preconditioning.carried is not first
    assert chain.preconditioning.carried.setups == 0


def test_auto_picks_the_carried_hierarchy_in_3d():
    from surrogate.solvers.base import concrete_solver

    auto = OmegaConf.create({"name": "auto", "rtol": 1e-6})
    helmholtz = concrete_solver(auto, Systems(spd=False, dims=3))
    assert (helmholtz.name, helmholtz.preconditioner, helmholtz.k) == ("gcrodr", "shifted_amg", 20)
    darcy_3d = concrete_solver(auto, Systems(spd=True, dims=3))
    assert (darcy_3d.name, darcy_3d.preconditioner, darcy_3d.warm_start) == (
        "cg",
        "shifted_amg",
        True,
    )
    assert concrete_solver(auto, Systems(spd=False, dims=2)).name == "direct"
