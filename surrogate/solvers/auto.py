"""`solver=auto`: the fastest strategy for the family and size, by the rule in docs/solvers.md."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from surrogate.solvers.base import SOLVERS, LinearSolver, Systems
from surrogate.solvers.direct import pardiso_available

# The iterative settings auto runs with (what conf/solver/*.yaml would hold).
ITERATIVE = {
    "maxiter": 10000,
    "omega": 1.0,
    "shift": 0.0,  # beta = 0 took 1.3x less time than 1 on helmholtz3d 48³ (docs/benchmarks.md)
    "shift_rebuild": 1.5,
    "reuse_preconditioner": 0,
    "fallback": True,
}


@SOLVERS.register("auto")
class Auto(LinearSolver):
    """Stands for a concrete method (`concrete`); it is never built itself.

    3D indefinite families (Helmholtz): GCRO-DR(40, 20) along the sorted chain, preconditioned
    by AMG on the shifted Laplacian with its hierarchy reused (`shifted_amg`; direct
    factorisations fill in badly in 3D, and AMG of the indefinite matrix itself was slower).
    3D SPD families (Darcy): CG warm-started from the sorted neighbour with the same
    preconditioner, plain AMG there (sigma = 0) with its hierarchy reused. Otherwise PARDISO
    with the symbolic analysis reused along the chain where pypardiso is installed, else AMG-CG with warm start for SPD families and a fresh SuperLU factorisation
    for the others (indefinite Helmholtz defeats AMG). Measured: docs/benchmarks.md.
    """

    @classmethod
    def concrete(cls, cfg: DictConfig, systems: Systems) -> DictConfig:
        rtol = float(cfg.rtol)
        if systems.dims >= 3 and not systems.spd:
            return OmegaConf.create(
                {
                    **ITERATIVE,
                    "name": "gcrodr",
                    "rtol": rtol,
                    "m": 40,
                    "k": 20,
                    "preconditioner": "shifted_amg",
                    "warm_start": False,  # neighbours differ in k: their solutions do not help
                    # systems mostly end in their first cycle: no update to skip (measured)
                    "skip_update": 0.0,
                }
            )
        if systems.dims >= 3 and systems.spd:  # sigma = 0: AMG of A, its hierarchy reused
            return OmegaConf.create(
                {
                    **ITERATIVE,
                    "name": "cg",
                    "rtol": rtol,
                    "preconditioner": "shifted_amg",
                    "warm_start": True,
                }
            )
        if pardiso_available():
            return OmegaConf.create(
                {"name": "direct", "rtol": rtol, "backend": "pardiso", "reuse_analysis": True}
            )
        if systems.spd:
            return OmegaConf.create(
                {
                    **ITERATIVE,
                    "name": "cg",
                    "rtol": rtol,
                    "preconditioner": "amg",
                    "warm_start": True,
                }
            )
        return OmegaConf.create(
            {"name": "direct", "rtol": rtol, "backend": "superlu", "reuse_analysis": True}
        )
