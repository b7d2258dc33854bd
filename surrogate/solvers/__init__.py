"""Linear solvers for sequences of similar systems, chosen by the `solver` config group.

Every method is a `LinearSolver` registered in `SOLVERS` by its own module; a solver is told
what it needs of the systems (`Systems`: SPD, dimensions), never the PDE family.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from surrogate.solvers.base import SOLVERS, LinearSolver, SolveResult, Systems, concrete_solver
from surrogate.solvers.chain import ChainSolver, gains_from_order
from surrogate.solvers.sorts import SORTS


def check_solver(cfg: DictConfig, systems: Systems) -> None:
    """Reject a solver config that cannot work for these systems, before any work: the
    method's own check (`LinearSolver.check`; `solver.rtol`, every method's, is checked with
    the rest of the generate config by `check_generate`)."""
    SOLVERS.choose(cfg, "solver.name").check(cfg, systems)


def resolve_sort(cfg: DictConfig, systems: Systems, n: int, feature_bytes: int) -> DictConfig:
    """The sort a split of `n` samples is ordered by: `sort=auto` resolved (chosen with the
    solver: `Sort.concrete`), any other as given."""
    return SORTS.get(cfg.sort.name).concrete(cfg, systems, n, feature_bytes)


def build_solver(
    cfg: DictConfig, systems: Systems, rng: np.random.Generator, chain_length: int
) -> ChainSolver:
    return ChainSolver(concrete_solver(cfg, systems), systems, rng, chain_length)


__all__ = [
    "SOLVERS",
    "ChainSolver",
    "LinearSolver",
    "SolveResult",
    "Systems",
    "build_solver",
    "check_solver",
    "concrete_solver",
    "gains_from_order",
    "resolve_sort",
]
