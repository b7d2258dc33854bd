"""Arnoldi process with Givens-rotation least squares, shared by GMRES and GCRO-DR.

Basis vectors are the rows of a C-ordered array, so projections are single BLAS matrix-vector
products; orthogonalisation is classical Gram-Schmidt with a second pass whenever the first lost more
than a factor 1/sqrt(2) of the norm (DGKS): as stable as modified Gram-Schmidt, with far
fewer Python-level operations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

Operator = Callable[[np.ndarray], np.ndarray]
REORTHOGONALIZE = 0.7071  # DGKS criterion: reorthogonalise when the norm fell below 1/sqrt(2)


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

    @property
    def krylov(self) -> np.ndarray:
        """V_{j+1}, without the deflation vectors."""
        return self.basis[len(self.coupling) :]


def arnoldi_cycle(
    operator: Operator,
    r: np.ndarray,
    beta: float,
    steps: int,
    target: float,
    deflate: np.ndarray | None = None,
) -> ArnoldiCycle:
    """Run Arnoldi on (I - C C^T) operator, stopping early once the residual is <= target.

    `deflate` holds C (k, n) with orthonormal rows; `r` must be orthogonal to them. C and V are
    kept in one array so each Gram-Schmidt pass is a single pair of BLAS calls.
    """
    k = 0 if deflate is None else deflate.shape[0]
    basis = np.empty((k + steps + 1, r.shape[0]))
    if k:
        basis[:k] = deflate
    basis[k] = r / beta
    projections = np.zeros((k + steps + 1, steps))  # [B_j; H̄_j]
    triangle = np.zeros((steps, steps))  # H̄_j after the Givens rotations: upper triangular
    cosines, sines = [0.0] * steps, [0.0] * steps
    g = [beta] + [0.0] * steps  # rotated right-hand side
    j = 0
    residual = beta
    while j < steps:
        w = operator(basis[k + j])
        previous = basis[: k + j + 1]
        norm_before = float(np.linalg.norm(w))
        coefficients = previous @ w
        w -= coefficients @ previous
        norm = float(np.linalg.norm(w))
        if (
            norm < REORTHOGONALIZE * norm_before
        ):  # cancellation: a second pass restores orthogonality
            correction = previous @ w
            w -= correction @ previous
            coefficients += correction
            norm = float(np.linalg.norm(w))
        projections[: k + j + 1, j] = coefficients
        projections[k + j + 1, j] = norm
        breakdown = norm <= 1e-14 * float(np.abs(coefficients[k:]).max(initial=0.0))
        if not breakdown:
            basis[k + j + 1] = w / norm
        # Apply earlier rotations to the new column, then the one that zeroes h[j+1, j].
        column = projections[k : k + j + 2, j].tolist()
        for i in range(j):
            c, s = cosines[i], sines[i]
            column[i], column[i + 1] = (
                c * column[i] + s * column[i + 1],
                c * column[i + 1] - s * column[i],
            )
        radius = math.hypot(column[j], column[j + 1])
        c, s = (1.0, 0.0) if radius == 0.0 else (column[j] / radius, column[j + 1] / radius)
        cosines[j], sines[j] = c, s
        column[j] = radius
        triangle[: j + 1, j] = column[: j + 1]
        g[j + 1] = -s * g[j]
        g[j] = c * g[j]
        residual = abs(g[j + 1])
        j += 1
        if residual <= target or breakdown:
            break
    y = _solve_upper(triangle[:j, :j], np.asarray(g[:j]))
    return ArnoldiCycle(
        basis=basis[: k + j + 1],
        hessenberg=projections[k : k + j + 1, :j],
        coupling=projections[:k, :j],
        y=y,
        steps=j,
        residual_norm=residual,
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
