"""Linear solvers for sequences of similar systems. Selected by `solver.name`."""

from __future__ import annotations

from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.solvers.base import SolveResult
from surrogate.solvers.direct import DirectSolver

SOLVERS = ("direct",)


def build_solver(cfg: DictConfig) -> DirectSolver:
    if cfg.name not in SOLVERS:
        raise UserError(f"solver={cfg.name} is unknown; choose one of: {', '.join(SOLVERS)}")
    return DirectSolver(rtol=float(cfg.rtol))


__all__ = ["SolveResult", "build_solver"]
