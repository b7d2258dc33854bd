"""Restarted GMRES(m) with right preconditioning: the baseline every recycling ratio is against."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from surrogate.solvers.arnoldi import arnoldi_cycle, preconditioned_operator
from surrogate.solvers.preconditioners import Apply


def gmres(
    matrix: sp.spmatrix,
    rhs: np.ndarray,
    x0: np.ndarray,
    precondition: Apply,
    m: int,
    rtol: float,
    maxiter: int,
) -> tuple[np.ndarray, int, int]:
    """Solve A x = b to ||b - A x|| <= rtol ||b||; returns (x, iterations, matvecs).

    Each cycle restarts from the true residual; with right preconditioning the Arnoldi residual
    is the true one up to rounding, so the stopping test is on the quantity users care about.
    """
    target = rtol * float(np.linalg.norm(rhs))
    x = x0.copy()
    iterations = matvecs = 0
    operator = preconditioned_operator(matrix, precondition)

    while True:
        r = rhs - matrix @ x
        matvecs += 1
        beta = float(np.linalg.norm(r))
        if beta <= target or iterations >= maxiter:
            return x, iterations, matvecs
        steps = min(m, maxiter - iterations)
        cycle = arnoldi_cycle(operator, r, beta, steps, target)
        iterations += cycle.steps
        matvecs += cycle.steps
        x += precondition(cycle.y @ cycle.krylov[: cycle.steps])
