"""What every solver reports for each system it solves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class SolveResult:
    """A solution and its statistics; `residual` is the true ||b - A x|| / ||b||."""

    x: np.ndarray
    iterations: int
    matvecs: int
    seconds: float
    residual: float
    converged: bool
    fallback: bool = False  # the iterative method missed rtol and a direct solve replaced it


def relative_residual(matrix: sp.spmatrix, x: np.ndarray, b: np.ndarray) -> float:
    """True relative residual ||b - A x|| / ||b|| (||r|| itself when b = 0)."""
    norm_b = float(np.linalg.norm(b))
    norm_r = float(np.linalg.norm(b - matrix @ x))
    return norm_r / norm_b if norm_b > 0.0 else norm_r


def same_matrix(matrix: sp.spmatrix, previous: sp.csr_matrix | None) -> bool:
    """Whether `matrix` equals `previous` entry for entry (e.g. Poisson: one matrix, many rhs).

    An O(nnz) comparison with a private copy rather than identity, so a matrix changed in place
    is still seen as new; it costs less than one matrix-vector product.
    """
    if previous is None or matrix.shape != previous.shape:
        return False
    current = sp.csr_matrix(matrix)
    return (
        np.array_equal(current.indptr, previous.indptr)
        and np.array_equal(current.indices, previous.indices)
        and np.array_equal(current.data, previous.data)
    )


class OperatorMemo:
    """Tells whether a solve has the same operator A M^{-1} as the previous one.

    Same operator: an equal matrix (`same_matrix`) and the very same preconditioner function
    (a `ChainSolver` keeps its function while the matrix is unchanged).
    """

    def __init__(self) -> None:
        self.matrix: sp.csr_matrix | None = None
        self.precondition: object = None

    def same(self, matrix: sp.spmatrix, precondition: object) -> bool:
        """Compare with the remembered operator, then remember this one."""
        if precondition is self.precondition and same_matrix(matrix, self.matrix):
            return True
        self.matrix = sp.csr_matrix(matrix, copy=True)
        self.precondition = precondition
        return False
