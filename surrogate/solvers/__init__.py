"""Linear solvers for sequences of similar systems, chosen by the `solver` config group."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig, OmegaConf

from surrogate.checks import require_choice, require_float, require_int
from surrogate.errors import UserError
from surrogate.pdes.base import PDEFamily
from surrogate.solvers.base import SolveResult
from surrogate.solvers.chain import ChainSolver
from surrogate.solvers.direct import BACKENDS, pardiso_available
from surrogate.solvers.preconditioners import PRECONDITIONERS, SYMMETRIC_PRECONDITIONERS
from surrogate.solvers.sorting import GREEDY_MEMORY_LIMIT

SOLVERS = ("direct", "gmres", "gcrodr", "gcrotmk", "cg", "auto")


def check_solver(cfg: DictConfig, pde: PDEFamily) -> None:
    """Reject a solver config that cannot work for this family, before any work."""
    name = require_choice(cfg, "solver.name", SOLVERS)
    require_float(cfg, "solver.rtol", above=0.0, at_most=1.0)
    if name == "direct":
        backend = require_choice(cfg, "solver.backend", BACKENDS)
        if backend == "pardiso" and not pardiso_available():
            raise UserError(
                "solver.backend=pardiso needs pypardiso: pip install 'surrogate[pardiso]'"
            )
        return
    if name == "auto":
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
    if omega != "auto":  # only sor and ssor use it; SOR converges for 0 < omega < 2
        require_float(cfg, "solver.omega", above=0.0)
        if not 0.0 < float(omega) < 2.0:
            raise UserError(f"solver.omega={omega} must lie in (0, 2), or be auto")
    if "ilu_fill_factor" in cfg.solver:
        require_float(cfg, "solver.ilu_fill_factor", minimum=1.0)
        require_float(cfg, "solver.ilu_drop_tol", minimum=0.0, at_most=1.0)


def resolve_auto(cfg: DictConfig, pde: PDEFamily) -> DictConfig:
    """The concrete solver `solver=auto` stands for (the rule and its figures: docs/solvers.md);
    `sort=auto` orders its systems by what it gains from (`resolve_sort`).

    3D SPD families: AMG-preconditioned CG warm-started from the sorted neighbour (direct
    factorisations fill in badly in 3D). Otherwise PARDISO with the symbolic analysis reused
    along the chain where pypardiso is installed, else AMG-CG with warm start for SPD families
    and a fresh SuperLU factorisation for the others (indefinite Helmholtz defeats AMG).
    """
    rtol = float(cfg.rtol)
    three_d = len(pde.fields.spatial_shape) >= 3
    if pardiso_available() and not (three_d and pde.spd):
        return OmegaConf.create(
            {"name": "direct", "rtol": rtol, "backend": "pardiso", "reuse_analysis": True}
        )
    if pde.spd:
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
    return OmegaConf.create({"name": "direct", "rtol": rtol, "backend": "superlu"})


def concrete_solver(cfg: DictConfig, pde: PDEFamily) -> DictConfig:
    """The solver config as it runs: `solver=auto` resolved, any other as given."""
    return resolve_auto(cfg, pde) if cfg.name == "auto" else cfg


def gains_from_order(cfg: DictConfig) -> bool:
    """Whether a (concrete) solver carries something from one system to the next that is worth
    more when neighbours are alike: a recycled subspace, a warm start, a preconditioner kept
    for several systems, or SOR's learned ω. Direct solves carry nothing the order changes
    (PARDISO's analysis depends on the sparsity pattern alone; identical matrices, as in
    Poisson, are identical in any order)."""
    if cfg.name == "direct":
        return False
    learned_omega = cfg.get("omega") == "auto" and cfg.preconditioner in ("sor", "ssor")
    return (
        cfg.name in ("gcrodr", "gcrotmk")
        or bool(cfg.warm_start)
        or int(cfg.reuse_preconditioner) > 1
        or learned_omega
    )


def resolve_sort(cfg: DictConfig, pde: PDEFamily, n: int, feature_bytes: int) -> DictConfig:
    """The sort a split of `n` samples is ordered by: `sort=auto` resolved, any other as given.

    `auto`: none where the solver gains nothing from the order (and for families without
    linear systems), else greedy up to `sort.greedy_max` samples and `GREEDY_MEMORY_LIMIT`
    bytes of features (`feature_bytes` for the split), binned above (docs/solvers.md).
    """
    sort = cfg.sort
    if sort.name != "auto":
        return sort
    if getattr(pde, "linear_solves", 1) == 0 or not gains_from_order(
        concrete_solver(cfg.solver, pde)
    ):
        return OmegaConf.create({"name": "none"})
    if n <= int(sort.greedy_max) and feature_bytes <= GREEDY_MEMORY_LIMIT:
        return OmegaConf.create({"name": "greedy"})
    settings = {key: sort[key] for key in ("dims", "curve_dims", "bin_size")}
    return OmegaConf.create({"name": "binned", **settings})


def build_solver(
    cfg: DictConfig, pde: PDEFamily, rng: np.random.Generator, chain_length: int
) -> ChainSolver:
    return ChainSolver(concrete_solver(cfg, pde), spd=pde.spd, rng=rng, chain_length=chain_length)


__all__ = [
    "SOLVERS",
    "ChainSolver",
    "SolveResult",
    "build_solver",
    "check_solver",
    "resolve_sort",
]
