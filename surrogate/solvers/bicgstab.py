"""BiCGSTAB (van der Vorst 1992) with right preconditioning, for nonsymmetric systems.

Short recurrences: two matrix-vector products and two preconditioner applications per
iteration, and memory for a fixed handful of vectors whatever the iteration count (GMRES(m)
keeps m). It carries nothing from one system to the next (no recycling); the chain's warm start
and preconditioner reuse apply as for every Krylov method. With right preconditioning
(A M^{-1} y = b, x = M^{-1} y) the recurrence's residual is that of the original system, so
the stopping test is on ||b - A x|| / ||b||, re-checked against the true residual.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.solvers.base import SOLVERS
from surrogate.solvers.krylov import ShortRecurrence
from surrogate.solvers.preconditioners import Apply

BREAKDOWN = 1e-30  # |r̂ · v| or ||t||² below this (relative) ends a run of the recurrence


@SOLVERS.register("bicgstab")
class BiCGSTAB(ShortRecurrence):
    """Right-preconditioned BiCGSTAB to ||b - A x|| <= rtol ||b||, restarted from the true
    residual (with a new shadow vector) when the recurrence drifts or breaks down."""

    breakdown = "broke down (r̂ · A M⁻¹ p = 0)"

    @classmethod
    def work_vectors(cls, cfg: DictConfig) -> int:
        return 12  # x, r, shadow, p, v, s, t, both preconditioned ones, temporaries

    def run(
        self,
        matrix: sp.spmatrix,
        x: np.ndarray,
        r: np.ndarray,
        precondition: Apply,
        target: float,
        done: int,
    ) -> tuple[int, int]:
        """Iterate from residual `r`, updating `x` in place, until the recurrence's residual
        meets `target`, `maxiter` is reached or it breaks down; (iterations, products)."""
        shadow = r.copy()
        scale = float(shadow @ shadow)
        rho = alpha = omega = 1.0
        p = np.zeros_like(r)
        v = np.zeros_like(r)
        steps = products = 0
        while done + steps < self.maxiter:
            rho_new = float(shadow @ r)
            if abs(rho_new) <= BREAKDOWN * scale:
                break
            p = r + (rho_new / rho) * (alpha / omega) * (p - omega * v)
            p_hat = precondition(p)
            v = matrix @ p_hat
            products += 1
            denominator = float(shadow @ v)
            if abs(denominator) <= BREAKDOWN * scale:
                break
            alpha = rho_new / denominator
            s = r - alpha * v
            steps += 1
            if float(np.linalg.norm(s)) <= target:
                x += alpha * p_hat
                break
            s_hat = precondition(s)
            t = matrix @ s_hat
            products += 1
            tt = float(t @ t)
            if tt <= BREAKDOWN * scale:
                x += alpha * p_hat
                break
            omega = float(t @ s) / tt
            x += alpha * p_hat + omega * s_hat
            r = s - omega * t
            rho = rho_new
            if float(np.linalg.norm(r)) <= target or omega == 0.0:
                break
        return steps, products
