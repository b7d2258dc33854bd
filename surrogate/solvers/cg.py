"""Preconditioned conjugate gradients for symmetric positive definite systems."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.solvers.base import SOLVERS, SolveResult, Systems, checked
from surrogate.solvers.krylov import KrylovMethod
from surrogate.solvers.preconditioners import Apply


@SOLVERS.register("cg")
class CG(KrylovMethod):
    """CG to ||b - A x|| <= rtol ||b||, restarted from the true residual if the recurrence
    drifted below it."""

    needs_spd = True

    def __init__(self, rtol: float, maxiter: int) -> None:
        self.rtol, self.maxiter = rtol, maxiter

    @classmethod
    def from_config(cls, cfg: DictConfig, systems: Systems) -> CG:
        return cls(float(cfg.rtol), int(cfg.maxiter))

    def solve(
        self, matrix: sp.spmatrix, rhs: np.ndarray, x0: np.ndarray, precondition: Apply, state: Any
    ) -> SolveResult:
        target = self.rtol * float(np.linalg.norm(rhs))
        x = x0.copy()
        matvecs = iterations = 0
        while True:
            r = rhs - matrix @ x
            matvecs += 1
            if float(np.linalg.norm(r)) <= target or iterations >= self.maxiter:
                return checked(matrix, rhs, x, iterations, matvecs, self.rtol)
            z = precondition(r)
            p = z.copy()
            rz = float(r @ z)
            while float(np.linalg.norm(r)) > target and iterations < self.maxiter:
                q = matrix @ p
                alpha = rz / float(p @ q)
                x += alpha * p
                r -= alpha * q
                z = precondition(r)
                rz, rz_old = float(r @ z), rz
                p = z + (rz / rz_old) * p
                iterations += 1
                matvecs += 1
