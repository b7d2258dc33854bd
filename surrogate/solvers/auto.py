"""`solver=auto`: the fastest strategy for the family and size, by the rule in docs/solvers.md."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from surrogate.solvers.base import SOLVERS, LinearSolver, Systems
from surrogate.solvers.direct import pardiso_available


@SOLVERS.register("auto")
class Auto(LinearSolver):
    """Stands for a concrete method (`concrete`); it is never built itself.

    3D SPD families: AMG-preconditioned CG warm-started from the sorted neighbour (direct
    factorisations fill in badly in 3D). Otherwise PARDISO with the symbolic analysis reused
    along the chain where pypardiso is installed, else AMG-CG with warm start for SPD families
    and a fresh SuperLU factorisation for the others (indefinite Helmholtz defeats AMG).
    """

    @classmethod
    def concrete(cls, cfg: DictConfig, systems: Systems) -> DictConfig:
        rtol = float(cfg.rtol)
        if pardiso_available() and not (systems.dims >= 3 and systems.spd):
            return OmegaConf.create(
                {"name": "direct", "rtol": rtol, "backend": "pardiso", "reuse_analysis": True}
            )
        if systems.spd:
            return OmegaConf.create(
                {
                    "name": "cg",
                    "rtol": rtol,
                    "maxiter": 10000,
                    "preconditioner": "amg",
                    "omega": 1.0,
                    "reuse_preconditioner": 0,
                    "warm_start": True,
                    "fallback": True,
                }
            )
        return OmegaConf.create(
            {"name": "direct", "rtol": rtol, "backend": "superlu", "reuse_analysis": True}
        )
