"""What every Krylov method shares: its config check and the settings of the chain around it.

A Krylov method's config (conf/solver/<name>.yaml) carries `rtol`, `maxiter`, the
preconditioner and its settings, `reuse_preconditioner`, `warm_start` and `fallback`; a method
adds its own keys (GMRES's `m`) by extending `check_method`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.checks import require_int
from surrogate.errors import UserError
from surrogate.solvers.base import LinearSolver, SolveResult, Systems, checked
from surrogate.solvers.preconditioners import PRECONDITIONERS, Apply


class KrylovMethod(LinearSolver):
    """An iterative method: preconditioned, run inside the chain's warm start and fallback."""

    @classmethod
    def check(cls, cfg: DictConfig, systems: Systems) -> None:
        name = cfg.solver.name
        require_int(cfg, "solver.maxiter", minimum=1)
        require_int(cfg, "solver.reuse_preconditioner", minimum=0)
        preconditioner = PRECONDITIONERS.choose(cfg, "solver.preconditioner")
        if cls.needs_spd and not preconditioner.symmetric:
            allowed = [n for n, p in PRECONDITIONERS.items() if p.symmetric]
            raise UserError(
                f"solver.preconditioner={cfg.solver.preconditioner} cannot be used with "
                f"solver={name}; choose one of: {', '.join(allowed)}"
            )
        if cls.needs_spd and not systems.spd:
            raise UserError(
                f"solver={name} needs symmetric positive definite systems and "
                f"pde={systems.family} is not; use solver=gmres or solver=gcrodr"
            )
        cls.check_method(cfg)
        for _, each in PRECONDITIONERS.items():  # the settings the config carries, used or not
            each.check(cfg)

    @classmethod
    def check_method(cls, cfg: DictConfig) -> None:
        """The method's own keys (none by default)."""


def check_restart_length(cfg: DictConfig) -> int:
    """`solver.m`, the vectors of one cycle."""
    return require_int(cfg, "solver.m", minimum=2)


def check_recycled(cfg: DictConfig) -> None:
    """`solver.m` and `solver.k` of a recycling method: k recycled vectors, k < m."""
    m = check_restart_length(cfg)
    k = require_int(cfg, "solver.k", minimum=1)
    if k >= m:
        raise UserError(f"solver.k={k} must be smaller than solver.m={m}")


class RecyclingMethod(KrylovMethod):
    """A method with cycles of m vectors that carries k of them from one system to the next
    (GCRO-DR, GCROT(m, k)): the settings, check and memory they share; each adds `new_state`
    (the carried space, owned by the chain) and `solve`."""

    recycles = True

    def __init__(self, m: int, k: int, rtol: float, maxiter: int) -> None:
        self.m, self.k, self.rtol, self.maxiter = m, k, rtol, maxiter

    @classmethod
    def check_method(cls, cfg: DictConfig) -> None:
        check_recycled(cfg)

    @classmethod
    def work_vectors(cls, cfg: DictConfig) -> int:
        return 2 * int(cfg.m) + 2 * int(cfg.k) + 8

    @classmethod
    def from_config(cls, cfg: DictConfig, systems: Systems) -> RecyclingMethod:
        return cls(int(cfg.m), int(cfg.k), float(cfg.rtol), int(cfg.maxiter))


class ShortRecurrence(KrylovMethod):
    """A method of a few vectors (CG, BiCGSTAB) to ||b - A x|| <= rtol ||b||, restarted from
    the true residual whenever its recurrence stops (drifted, converged by its own estimate or
    broke down): the outer loop they share; each adds `run`, one run of its recurrence."""

    breakdown = "the recurrence broke down at once from the true residual"

    def __init__(self, rtol: float, maxiter: int) -> None:
        self.rtol, self.maxiter = rtol, maxiter

    @classmethod
    def from_config(cls, cfg: DictConfig, systems: Systems) -> ShortRecurrence:
        return cls(float(cfg.rtol), int(cfg.maxiter))

    def solve(
        self, matrix: sp.spmatrix, rhs: np.ndarray, x0: np.ndarray, precondition: Apply, state: Any
    ) -> SolveResult:
        target = self.rtol * float(np.linalg.norm(rhs))
        x = x0.copy()
        iterations = matvecs = 0
        while True:
            r = rhs - matrix @ x
            matvecs += 1
            if float(np.linalg.norm(r)) <= target or iterations >= self.maxiter:
                return checked(matrix, rhs, x, iterations, matvecs, self.rtol)
            steps, products = self.run(matrix, x, r, precondition, target, iterations)
            if steps == 0:  # nothing more to gain from this residual
                raise ArithmeticError(f"{type(self).__name__}: {self.breakdown}")
            iterations += steps
            matvecs += products

    def run(
        self,
        matrix: sp.spmatrix,
        x: np.ndarray,
        r: np.ndarray,
        precondition: Apply,
        target: float,
        done: int,
    ) -> tuple[int, int]:
        """Iterate from the true residual `r` (`done` iterations used before), updating `x` in
        place, until the recurrence's residual meets `target` or `maxiter` is reached;
        (iterations, matrix products)."""
        raise NotImplementedError
