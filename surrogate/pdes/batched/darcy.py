"""Darcy flow (harmonic stencil) batched in torch: matrix-free stencil, batched CG with Jacobi
or the multigrid V-cycle (`solver.preconditioner=mg`)."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import Problem
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.batched.steady import BatchedDiffusion


@BATCHED.register("darcy")
class BatchedDarcy(BatchedDiffusion):
    """The stored coefficient, extended to the boundary as `Darcy.problem` does."""

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        if cfg.pde.stencil != "harmonic":
            raise UserError(
                f"backend=torch solves pde=darcy with pde.stencil=harmonic only (got "
                f"{cfg.pde.stencil}, not symmetric positive definite); use backend=numpy for it"
            )
        super().check(cfg)

    def coefficient(self, problem: Problem) -> np.ndarray:
        return np.pad(problem.inputs[0], 1, mode="edge")
