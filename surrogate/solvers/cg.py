"""Preconditioned conjugate gradients for symmetric positive definite systems."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from surrogate.solvers.preconditioners import Apply


def cg(
    matrix: sp.spmatrix,
    rhs: np.ndarray,
    x0: np.ndarray,
    precondition: Apply,
    rtol: float,
    maxiter: int,
) -> tuple[np.ndarray, int, int]:
    """Solve A x = b to ||b - A x|| <= rtol ||b||; returns (x, iterations, matvecs)."""
    target = rtol * float(np.linalg.norm(rhs))
    x = x0.copy()
    matvecs = iterations = 0
    while True:  # restart from the true residual if the recurrence drifted below it
        r = rhs - matrix @ x
        matvecs += 1
        if float(np.linalg.norm(r)) <= target or iterations >= maxiter:
            return x, iterations, matvecs
        z = precondition(r)
        p = z.copy()
        rz = float(r @ z)
        while float(np.linalg.norm(r)) > target and iterations < maxiter:
            q = matrix @ p
            alpha = rz / float(p @ q)
            x += alpha * p
            r -= alpha * q
            z = precondition(r)
            rz, rz_old = float(r @ z), rz
            p = z + (rz / rz_old) * p
            iterations += 1
            matvecs += 1
