"""Linear solvers for sequences of similar systems, chosen by the `solver` config group."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from surrogate.checks import require_choice, require_float, require_int
from surrogate.errors import UserError
from surrogate.pdes.base import PDEFamily
from surrogate.solvers.base import SolveResult
from surrogate.solvers.chain import ChainSolver
from surrogate.solvers.preconditioners import PRECONDITIONERS, SYMMETRIC_PRECONDITIONERS

SOLVERS = ("direct", "gmres", "gcrodr", "gcrotmk", "cg", "auto")


def check_solver(cfg: DictConfig, pde: PDEFamily) -> None:
    """Reject a solver config that cannot work for this family, before any work."""
    name = require_choice(cfg, "solver.name", SOLVERS)
    require_float(cfg, "solver.rtol", above=0.0, at_most=1.0)
    if name in ("direct", "auto"):
        return
    require_int(cfg, "solver.maxiter", minimum=1)
    require_int(cfg, "solver.reuse_preconditioner", minimum=0)
    allowed = SYMMETRIC_PRECONDITIONERS if name == "cg" else PRECONDITIONERS
    preconditioner = require_choice(cfg, "solver.preconditioner", PRECONDITIONERS)
    if preconditioner not in allowed:
        raise UserError(
            f"solver.preconditioner={preconditioner} cannot be used with solver={name}; "
            f"choose one of: {', '.join(allowed)}"
        )
    if name == "cg" and not pde.spd:
        raise UserError(
            f"solver=cg needs symmetric positive definite systems and pde={pde.name} is not; "
            "use solver=gmres or solver=gcrodr"
        )
    if name in ("gmres", "gcrodr", "gcrotmk"):
        m = require_int(cfg, "solver.m", minimum=2)
    if name in ("gcrodr", "gcrotmk"):
        k = require_int(cfg, "solver.k", minimum=1)
        if k >= m:
            raise UserError(f"solver.k={k} must be smaller than solver.m={m}")
    omega = cfg.solver.get("omega", 1.0)
    if omega != "auto":
        require_float(cfg, "solver.omega", above=0.0)
        if preconditioner in ("sor", "ssor") and not 0.0 < float(omega) < 2.0:
            raise UserError(
                f"solver.omega={omega} must lie in (0, 2) for {preconditioner}, or be auto"
            )


def resolve_auto(cfg: DictConfig, pde: PDEFamily, n_unknowns: int) -> DictConfig:
    """The concrete solver config `solver=auto` stands for; see docs/solvers.md for the rule."""
    from omegaconf import OmegaConf

    rtol = float(cfg.rtol)
    common = {"rtol": rtol, "maxiter": 10000, "warm_start": True, "fallback": True, "omega": 1.0}
    if pde.spd:
        choice = {"name": "cg", "preconditioner": "amg", "reuse_preconditioner": 0, **common}
    else:
        choice = {
            "name": "gcrodr",
            "m": 40,
            "k": 20,
            "preconditioner": "ilu",
            "ilu_fill_factor": 10.0,  # a strong ILU: indefinite systems need it
            "ilu_drop_tol": 1e-4,
            "reuse_preconditioner": 0,
            **common,
        }
    return OmegaConf.create(choice)


def build_solver(
    cfg: DictConfig, pde: PDEFamily, rng: np.random.Generator, chain_length: int
) -> ChainSolver:
    n_unknowns = int(np.prod(pde.fields.spatial_shape))
    concrete = resolve_auto(cfg, pde, n_unknowns) if cfg.name == "auto" else cfg
    return ChainSolver(concrete, spd=pde.spd, rng=rng, chain_length=chain_length)


__all__ = ["SOLVERS", "ChainSolver", "SolveResult", "build_solver", "check_solver"]
