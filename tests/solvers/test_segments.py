"""A solver restarted at a segment gives the very numbers of a new one (what makes resumed and
any-order generation reproducible), while keeping what is costly to set up."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from omegaconf import OmegaConf

from surrogate.pdes.darcy import assemble_darcy, assemble_darcy_skr
from surrogate.solvers.base import Systems
from surrogate.solvers.chain import ChainSolver
from surrogate.solvers.direct import Pardiso, UpperTriangle, pardiso_available

needs_pardiso = pytest.mark.skipif(not pardiso_available(), reason="pypardiso is not installed")


def systems(seeds, spd: bool = True, n: int = 10):
    assemble = assemble_darcy if spd else assemble_darcy_skr
    for seed in seeds:
        coefficient = np.exp(np.random.default_rng(seed).standard_normal((n + 2, n + 2)))
        yield assemble(coefficient, np.ones((n, n)))


KRYLOV = {"rtol": 1e-8, "maxiter": 500, "reuse_preconditioner": 0, "fallback": True}
CONFIGS = {
    "gcrodr + ssor + learned omega": {
        "name": "gcrodr",
        "m": 12,
        "k": 4,
        "preconditioner": "ssor",
        "omega": "auto",
        "warm_start": True,
        **KRYLOV,
    },
    "gcrotmk + ilu": {
        "name": "gcrotmk",
        "m": 12,
        "k": 4,
        "preconditioner": "ilu",
        "ilu_fill_factor": 1.0,
        "ilu_drop_tol": 0.0,
        "omega": 1.0,
        "warm_start": False,
        **KRYLOV,
    },
    "cg + amg + warm start, kept preconditioner": {
        "name": "cg",
        "preconditioner": "amg",
        "omega": 1.0,
        "warm_start": True,
        **KRYLOV,
        "reuse_preconditioner": 3,
    },
    "gcrodr + shifted_amg, hierarchy reused": {
        "name": "gcrodr",
        "m": 12,
        "k": 4,
        "preconditioner": "shifted_amg",
        "shift": 1.0,
        "shift_rebuild": 1.5,
        "omega": 1.0,
        "warm_start": False,
        **KRYLOV,
    },
    "direct superlu": {
        "name": "direct",
        "rtol": 1e-8,
        "backend": "superlu",
        "reuse_analysis": True,
    },
}
if pardiso_available():
    CONFIGS["direct pardiso"] = {
        "name": "direct",
        "rtol": 1e-8,
        "backend": "pardiso",
        "reuse_analysis": True,
    }


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("spd", [True, False])
def test_a_restarted_chain_solver_equals_a_new_one(name, spd):
    cfg = OmegaConf.create(CONFIGS[name])
    if cfg.name == "cg" and not spd:
        pytest.skip("CG needs SPD systems")
    second = list(systems([5, 6, 5, 7], spd))  # a repeated matrix too (reuse of factors)
    fresh = ChainSolver(cfg, Systems(spd, 2), np.random.default_rng(2), len(second))
    expected = [fresh.solve(matrix, rhs) for matrix, rhs in second]
    chain = ChainSolver(cfg, Systems(spd, 2), np.random.default_rng(1), 3)
    for matrix, rhs in systems([1, 2, 3], spd):
        chain.solve(matrix, rhs)
    chain.restart(np.random.default_rng(2), len(second))
    for (matrix, rhs), reference in zip(second, expected):
        result = chain.solve(matrix, rhs)
        assert result.x.tobytes() == reference.x.tobytes()
        assert (result.iterations, result.matvecs) == (reference.iterations, reference.matvecs)
    chain.close()
    fresh.close()


@needs_pardiso
@pytest.mark.parametrize("spd", [True, False])
def test_pardiso_keeps_only_what_cannot_change_a_value(spd):
    """Cholesky's analysis (pattern only) is kept across a restart; LU's (it also depends on the
    values it analysed) is released, so that the next system is analysed afresh."""
    solver = Pardiso(spd)
    first = list(systems([1, 2], spd))
    for matrix, rhs in first:
        solver(matrix, rhs)
    solver.restart()
    assert (solver.pattern is not None) == spd
    later = list(systems([3, 4], spd))
    results = [solver(matrix, rhs) for matrix, rhs in later]
    reference = Pardiso(spd)
    expected = [reference(matrix, rhs) for matrix, rhs in later]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(results, expected))
    solver.close()
    reference.close()
    assert not solver.solver.pt.any() and solver.pattern is None


@needs_pardiso
@pytest.mark.parametrize("spd", [True, False])
def test_pardiso_takes_any_numeric_right_hand_side(spd):
    """MKL writes the solution into the right-hand side's buffer as float64: an integer or
    strided one (scipy's LinearOperator probes with int8 zeros) is converted, not overrun."""
    solver = Pardiso(spd)
    matrix, rhs = next(systems([1], spd))
    expected = solver(matrix, rhs)
    np.testing.assert_allclose(solver(matrix, np.repeat(rhs, 2)[::2]), expected, rtol=1e-12)
    assert not solver(matrix, np.zeros(rhs.size, dtype=np.int8)).any()
    solver.close()


def test_upper_triangle_equals_scipy_triu():
    upper = UpperTriangle()
    canonical = [matrix for matrix, _ in systems([1, 2], n=7)]
    unsorted = canonical[0].copy()
    unsorted.indices = unsorted.indices.copy()
    for row in range(unsorted.shape[0]):  # reverse each row: the same matrix, unsorted
        span = slice(unsorted.indptr[row], unsorted.indptr[row + 1])
        unsorted.indices[span] = unsorted.indices[span][::-1]
        unsorted.data[span] = unsorted.data[span][::-1]
    unsorted.has_sorted_indices = False
    shifted = sp.csr_matrix(canonical[0] + sp.eye(49, k=3))  # another pattern
    for matrix in [*canonical, unsorted, shifted, canonical[1]]:
        expected = sp.triu(matrix, format="csr")
        expected.sort_indices()
        got = upper(matrix)
        got.sort_indices()
        for key in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(got, key), getattr(expected, key))
