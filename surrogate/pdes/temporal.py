"""What a time-dependent family provides to the generator, and how its steps' solves add up.

A time-dependent family stores per sample a trajectory of T states `fields.dt` apart
(states[0] the initial condition) and the fields fixed in time as inputs. It does not hand the
generator one linear system: `simulate` runs the whole trajectory and, when its steps are linear
solves (implicit time stepping), calls the chain's solver for each of them, so the recycled
space, preconditioner and warm start carry across time steps and samples. Families without a
linear system (pseudo-spectral) ignore the solver.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import numpy as np
from omegaconf import DictConfig, OmegaConf

from surrogate.pdes.base import FieldSpec, Trajectory  # noqa: F401 (Trajectory re-exported)
from surrogate.solvers.base import SolveResult

if TYPE_CHECKING:
    from surrogate.solvers.chain import ChainSolver


class TimeDependentFamily(Protocol):
    """A family of time-dependent problems, one random trajectory per seed.

    `linear_solves` is the number of linear systems per trajectory (0: no solver is used);
    `spd` / `symmetric` describe those systems (vacuously True when there are none, so that any
    solver config is accepted and ignored).
    """

    name: str
    spd: bool
    symmetric: bool
    linear_solves: int
    dimensions: int  # spatial dimensions, a class attribute (read before the family is built)

    @property
    def fields(self) -> FieldSpec: ...

    def grid(self) -> dict[str, np.ndarray]: ...

    def features(self, rng: np.random.Generator) -> np.ndarray:
        """The sorting features of the sample `rng` draws (its random fields), without solving."""
        ...

    def simulate(self, rng: np.random.Generator, solver: ChainSolver | None) -> Trajectory:
        """Sample from `rng` and compute the stored trajectory (`solver` None: no systems)."""
        ...


def pde_root(cfg: DictConfig) -> DictConfig:
    """The family's config node under `pde`, so the shared checks name keys as users type them."""
    return OmegaConf.create({"pde": OmegaConf.to_container(cfg, resolve=True)})


def is_time_dependent(pde: object) -> bool:
    return pde.fields.time_steps > 0  # type: ignore[attr-defined]


class StepStats:
    """Adds up the solves of one trajectory into one `SolveResult` (timed from construction)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.iterations = self.matvecs = 0
        self.residual = 0.0
        self.converged, self.fallback = True, False

    def add(self, result: SolveResult) -> None:
        self.iterations += result.iterations
        self.matvecs += result.matvecs
        self.residual = max(self.residual, float(result.residual))
        self.converged &= bool(result.converged)
        self.fallback |= bool(result.fallback)

    def add_steps(self, steps: int) -> None:
        """Explicit or spectral steps: counted as iterations, no matrix-vector products."""
        self.iterations += steps

    def total(self, finite: bool = True) -> SolveResult:
        """The trajectory's statistics; `finite` False (a blown-up state) marks it unconverged."""
        return SolveResult(
            x=np.empty(0),
            iterations=self.iterations,
            matvecs=self.matvecs,
            seconds=time.perf_counter() - self.start,
            residual=self.residual,
            converged=self.converged and finite,
            fallback=self.fallback,
        )
