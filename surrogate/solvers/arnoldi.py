"""Arnoldi process with Givens-rotation least squares, shared by GMRES and GCRO-DR.

Basis vectors are the rows of a C-ordered array. Each step is one compiled kernel
(surrogate/solvers/kernels.py): classical Gram-Schmidt with the second pass of the previous
vector delayed into the current step (DCGS2), so every step reads the basis twice — the traffic
of one-pass Gram-Schmidt — and leaves it orthonormal to working precision like two passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular

from surrogate.lazy import lazy_module
from surrogate.solvers.kernel_cache import load_cached

Operator = Callable[[np.ndarray], np.ndarray]
kernels = lazy_module("surrogate.solvers.kernels")


@dataclass
class ArnoldiCycle:
    """The outcome of up to `steps` Arnoldi steps from r / ||r||.

    `basis` ((k + j + 1), n) holds [C; V_{j+1}]: the k deflation vectors, then the new Krylov
    vectors, so operator(V_j) = C B_j + V_{j+1} H̄_j. `hessenberg` is H̄_j (j+1, j), `coupling`
    B_j (k, j), `y` minimises ||beta e1 - H̄_j y|| and `residual_norm` is that minimum.
    """

    basis: np.ndarray
    hessenberg: np.ndarray
    coupling: np.ndarray
    y: np.ndarray
    steps: int
    residual_norm: float
    history: np.ndarray  # the least-squares residual norm after each step, 1..steps

    @property
    def krylov(self) -> np.ndarray:
        """V_{j+1}, without the deflation vectors."""
        return self.basis[len(self.coupling) :]


def preconditioned_operator(matrix: sp.spmatrix, precondition: Operator) -> Operator:
    """v -> A M^{-1} v with A's product compiled (a fresh array each call)."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    indptr, indices, data = csr.indptr, csr.indices, csr.data

    def operator(v: np.ndarray) -> np.ndarray:
        return kernels.csr_matvec(indptr, indices, data, precondition(v), np.empty(len(v)))

    return operator


def arnoldi_cycle(
    operator: Operator,
    r: np.ndarray,
    beta: float,
    steps: int,
    target: float,
    deflate: np.ndarray | None = None,
) -> ArnoldiCycle:
    """Run Arnoldi on (I - C C^T) operator, stopping early once the residual is <= target.

    `deflate` holds C (k, n) with orthonormal rows; `r` must be orthogonal to them.
    """
    k = 0 if deflate is None else deflate.shape[0]
    basis = np.empty((k + steps + 1, r.shape[0]))
    if k:
        basis[:k] = deflate
    basis[k] = r / beta
    projections = np.zeros((k + steps + 1, steps))  # [B_j; H̄_j]
    triangle = np.zeros((steps, steps))  # H̄_j after the Givens rotations: upper triangular
    cosines, sines = np.zeros(steps), np.zeros(steps)
    g = np.zeros(steps + 1)  # rotated right-hand side beta e1
    g[0] = beta
    g_before = np.zeros(steps + 1)
    s, t = np.empty(k + steps + 1), np.empty(k + steps + 1)
    j, finished, residual = 0, True, beta
    shared = (projections, triangle, cosines, sines, g, g_before, s, t)
    load_cached(  # the cached machine code, compiled in this process or not (kernel_cache.py)
        [
            (kernels.arnoldi_step, (basis, k, j, finished, basis[k], *shared)),
            (kernels.finish_vector, (basis, k, j, *shared)),
        ]
    )
    while j < steps:
        status, residual = kernels.arnoldi_step(
            basis, k, j, finished, operator(basis[k + j]), projections, triangle,
            cosines, sines, g, g_before, s, t,
        )  # fmt: skip
        if status == kernels.RECOMPUTE:  # v_j was finished explicitly: apply the operator anew
            finished = True
            continue
        j += 1
        finished = status == kernels.BREAKDOWN  # no new vector to finish
        if finished or residual <= target:
            break
    if not finished:  # the last vector still lacks its second pass
        residual = kernels.finish_vector(
            basis, k, j, projections, triangle, cosines, sines, g, g_before, s, t
        )
    y = _solve_upper(triangle[:j, :j], g[:j])
    return ArnoldiCycle(
        basis=basis[: k + j + 1],
        hessenberg=projections[k : k + j + 1, :j],
        coupling=projections[:k, :j],
        y=y,
        steps=j,
        residual_norm=float(residual),
        history=np.abs(g[1 : j + 1]),
    )


def _solve_upper(triangle: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Back substitution that tolerates a zero pivot (exact breakdown): that coefficient is 0."""
    diagonal = np.diag(triangle)
    if np.all(diagonal != 0.0):
        return solve_triangular(triangle, rhs, lower=False, check_finite=False)
    y = np.zeros_like(rhs)
    for i in range(len(rhs) - 1, -1, -1):
        if diagonal[i] != 0.0:
            y[i] = (rhs[i] - triangle[i, i + 1 :] @ y[i + 1 :]) / diagonal[i]
    return y
