"""Restarted GMRES(m) with right preconditioning: the baseline every recycling ratio is against."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.checks import require_int
from surrogate.errors import UserError
from surrogate.solvers.arnoldi import arnoldi_cycle, preconditioned_operator
from surrogate.solvers.base import SOLVERS, SolveResult, Systems, checked
from surrogate.solvers.krylov import KrylovMethod, check_restart_length
from surrogate.solvers.preconditioners import Apply

log = logging.getLogger(__name__)


@SOLVERS.register("gmres")
class GMRES(KrylovMethod):
    """GMRES(m) to ||b - A x|| <= rtol ||b||.

    Each cycle restarts from the true residual; with right preconditioning the Arnoldi residual
    is the true one up to rounding, so the stopping test is on the quantity users care about.
    """

    def __init__(self, m: int, rtol: float, maxiter: int) -> None:
        self.m, self.rtol, self.maxiter = m, rtol, maxiter

    @classmethod
    def check_method(cls, cfg: DictConfig) -> None:
        m = check_restart_length(cfg)
        k = require_int(cfg, "solver.k", minimum=0)
        if k >= m:
            raise UserError(f"solver.k={k} must be smaller than solver.m={m}")
        if k:
            log.info(
                "solver=gmres recycles nothing: solver.k=%d (GCRO-DR's recycled space) is ignored",
                k,
            )

    @classmethod
    def work_vectors(cls, cfg: DictConfig) -> int:
        return int(cfg.m) + 8

    @classmethod
    def from_config(cls, cfg: DictConfig, systems: Systems) -> GMRES:
        return cls(int(cfg.m), float(cfg.rtol), int(cfg.maxiter))

    def solve(
        self, matrix: sp.spmatrix, rhs: np.ndarray, x0: np.ndarray, precondition: Apply, state: Any
    ) -> SolveResult:
        target = self.rtol * float(np.linalg.norm(rhs))
        x = x0.copy()
        iterations = matvecs = 0
        operator = preconditioned_operator(matrix, precondition)
        while True:
            r = rhs - matrix @ x
            matvecs += 1
            beta = float(np.linalg.norm(r))
            if beta <= target or iterations >= self.maxiter:
                return checked(matrix, rhs, x, iterations, matvecs, self.rtol)
            steps = min(self.m, self.maxiter - iterations)
            cycle = arnoldi_cycle(operator, r, beta, steps, target)
            iterations += cycle.steps
            matvecs += cycle.steps
            x += precondition(cycle.y @ cycle.krylov[: cycle.steps])
