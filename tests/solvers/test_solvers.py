"""Solvers against a dense reference solve; statistics are honest."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from surrogate.errors import UserError
from surrogate.pdes.darcy import assemble_darcy
from surrogate.solvers.direct import DirectSolver, pardiso_available


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


@pytest.mark.skipif(not pardiso_available(), reason="pypardiso (MKL) is not installed")
@pytest.mark.parametrize("spd", [True, False])
def test_pardiso_reuses_the_analysis_and_matches_superlu(spd):
    solver = DirectSolver(rtol=1e-10, symmetric=spd, backend="pardiso")
    for n, seed in ((12, 0), (12, 1), (9, 2)):  # the last changes the pattern: a new analysis
        matrix, rhs = system(n, seed)
        if not spd:
            matrix = (matrix + 0.3 * sp.diags(np.ones(n * n - 1), 1)).tocsr()
        result = solver.solve(matrix, rhs)
        assert result.converged
        np.testing.assert_allclose(
            result.x, DirectSolver(rtol=1e-10, symmetric=spd).solve(matrix, rhs).x, rtol=1e-9
        )


def test_unknown_backend_choice_is_an_error_when_pardiso_is_missing(monkeypatch):
    import surrogate.solvers.direct as direct

    monkeypatch.setattr(direct, "pardiso_available", lambda: False)
    with pytest.raises(UserError, match="needs pypardiso"):
        DirectSolver(rtol=1e-8, backend="pardiso")
    assert DirectSolver(rtol=1e-8, backend="auto").backend == "superlu"


@pytest.mark.parametrize("backend", ["superlu", "pardiso"])
def test_an_identical_matrix_reuses_its_factors(backend, monkeypatch):
    if backend == "pardiso" and not pardiso_available():
        pytest.skip("pypardiso (MKL) is not installed")
    matrix, rhs = system()
    solver = DirectSolver(rtol=1e-10, symmetric=True, backend=backend)
    first = solver.solve(matrix, rhs)
    factorisations = []
    original = spla.splu
    monkeypatch.setattr(spla, "splu", lambda *a, **k: factorisations.append(1) or original(*a, **k))
    second = solver.solve(matrix.copy(), 2 * rhs)  # same matrix, another right-hand side
    np.testing.assert_allclose(second.x, 2 * first.x, rtol=1e-10)
    assert second.converged and factorisations == []
    other, _ = system(seed=5)
    assert solver.solve(other, rhs).converged  # a new matrix is factorised again
