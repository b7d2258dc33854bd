"""Solvers against a dense reference solve; statistics are honest."""

from __future__ import annotations

import numpy as np

from surrogate.pdes.darcy import assemble_darcy
from surrogate.solvers.direct import DirectSolver


def system(n: int = 12, seed: int = 0):
    a = np.exp(np.random.default_rng(seed).standard_normal((n + 2, n + 2)))
    return assemble_darcy(a, np.ones((n, n)))


def test_direct_matches_dense_solve_and_reports_true_residual():
    matrix, rhs = system()
    result = DirectSolver(rtol=1e-10).solve(matrix, rhs)
    np.testing.assert_allclose(result.x, np.linalg.solve(matrix.toarray(), rhs), rtol=1e-9)
    true_residual = np.linalg.norm(rhs - matrix @ result.x) / np.linalg.norm(rhs)
    assert result.residual == true_residual
    assert result.converged and result.seconds > 0


def test_residual_above_rtol_is_flagged_not_converged():
    matrix, rhs = system()
    assert not DirectSolver(rtol=1e-30).solve(matrix, rhs).converged
