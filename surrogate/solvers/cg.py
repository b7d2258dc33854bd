"""Preconditioned conjugate gradients for symmetric positive definite systems."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from surrogate.solvers.base import SOLVERS
from surrogate.solvers.krylov import ShortRecurrence
from surrogate.solvers.preconditioners import Apply


@SOLVERS.register("cg")
class CG(ShortRecurrence):
    """CG to ||b - A x|| <= rtol ||b||, restarted from the true residual if the recurrence
    drifted below it."""

    needs_spd = True

    def run(
        self,
        matrix: sp.spmatrix,
        x: np.ndarray,
        r: np.ndarray,
        precondition: Apply,
        target: float,
        done: int,
    ) -> tuple[int, int]:
        z = precondition(r)
        p = z.copy()
        rz = float(r @ z)
        steps = 0
        while float(np.linalg.norm(r)) > target and done + steps < self.maxiter:
            q = matrix @ p
            alpha = rz / float(p @ q)
            x += alpha * p
            r -= alpha * q
            z = precondition(r)
            rz, rz_old = float(r @ z), rz
            p = z + (rz / rz_old) * p
            steps += 1
        return steps, steps
