"""What a PDE family provides to the generator."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import scipy.sparse as sp

from surrogate.registry import Registry
from surrogate.solvers.base import SolveResult, Systems

if TYPE_CHECKING:
    from surrogate.solvers.chain import ChainSolver

FAMILIES: Registry[type] = Registry("pde", "surrogate.pdes")  # `@FAMILIES.register(name)`


@dataclass
class Problem:
    """One sample's linear system and what is stored of it besides the solution.

    `inputs` are the fields the operator maps from, shape (C_in, *spatial); `params` are scalar
    per-sample parameters recorded in the dataset; `features` is what sorting compares.
    """

    matrix: sp.csr_matrix
    rhs: np.ndarray
    inputs: np.ndarray
    features: np.ndarray
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldSpec:
    """Names and shapes of a family's stored fields.

    `time_steps` = 0 for a steady family (outputs (C_out, *spatial) per sample); T >= 2 for a
    time-dependent one, whose outputs are trajectories (T, C_out, *spatial) of states `dt` apart
    and whose inputs are the fields fixed in time.
    """

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    spatial_shape: tuple[int, ...]
    param_names: tuple[str, ...] = ()
    time_steps: int = 0
    dt: float = 0.0

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one sample's outputs."""
        state = (len(self.output_names), *self.spatial_shape)
        return (self.time_steps, *state) if self.time_steps else state


@dataclass
class Trajectory:
    """One sample as the generator stores it: `inputs` (C_in, *spatial), `states` the outputs
    (T, C_out, *spatial) of a time-dependent family, (C_out, *spatial) of a steady one (its
    solution: the same protocol, without a time axis, so the stored bytes are unchanged), and
    the solver statistics.

    `result` adds up the trajectory: iterations and matvecs summed over its steps, the largest
    residual, converged over all steps, fallback over any; seconds is the wall time of the whole
    `simulate` call (sampling, assembly and every step); `result.x` is empty.
    """

    inputs: np.ndarray
    states: np.ndarray
    result: SolveResult
    params: dict[str, float] = field(default_factory=dict)


class PDEFamily(Protocol):
    """A family of similar linear systems: one random problem per seed, stored as fields.

    `spd` says whether every matrix is symmetric positive definite (CG and AMG-CG apply);
    `symmetric` whether it is symmetric at all (indefinite Helmholtz is, SKR's stencil is not).
    """

    name: str
    spd: bool
    symmetric: bool
    linear_solves: int  # 1 (`SteadyFamily`)
    dimensions: int  # spatial dimensions, a class attribute (read before the family is built)

    @property
    def fields(self) -> FieldSpec: ...

    def grid(self) -> dict[str, np.ndarray]:
        """Coordinates of the stored grid per axis."""
        ...

    def features(self, rng: np.random.Generator) -> np.ndarray:
        """What sorting compares for the sample `rng` draws (`problem(rng).features`), without
        assembling its system."""
        ...

    def problem(self, rng: np.random.Generator) -> Problem:
        """Sample parameters from `rng` and assemble the system (float64 CSR)."""
        ...

    def problems(self, rngs: Sequence[np.random.Generator]) -> list[Problem]:
        """`problem` of each of `rngs`, made as one block where the family can
        (`SteadyFamily.problems`)."""
        ...

    def solution_fields(self, solution: np.ndarray) -> np.ndarray:
        """Stored output fields (C_out, *spatial) from the solution vector."""
        ...

    def simulate(self, rng: np.random.Generator, solver: ChainSolver) -> Trajectory:
        """The generator's call, as for a time-dependent family (`SteadyFamily.simulate`)."""
        ...


class SteadyFamily:
    """What every steady family shares: one linear system per sample, and `simulate`, the
    generator's one call for steady and time-dependent families alike (`Trajectory`)."""

    linear_solves = 1
    dimensions = 2  # spatial dimensions, known before the family is built (3D: Darcy3D)
    # Whether `problems` makes a block at less cost than one `problem` at a time (and holds
    # one matrix for all of them); otherwise `simulate_block` makes each only when it is solved.
    block_assembly = False

    def problems(self, rngs: Sequence[np.random.Generator]) -> list[Problem]:
        """`problem` of each of `rngs`, in order. A family whose sampling and assembly
        vectorise over samples draws and assembles them as one block instead, with bitwise
        the same problems (each still from its own stream)."""
        return [self.problem(rng) for rng in rngs]  # type: ignore[attr-defined]

    def simulate(self, rng: np.random.Generator, solver: ChainSolver) -> Trajectory:
        """Sample from `rng`, assemble and solve the system; the solution travels as `states`."""
        return self.solved(self.problem(rng), solver)  # type: ignore[attr-defined]

    def simulate_block(
        self, rngs: Sequence[np.random.Generator], solver: ChainSolver
    ) -> Iterator[Trajectory]:
        """`simulate` of each of `rngs`, in order: their problems made together where that is
        cheaper (`block_assembly`), else each just before it is solved."""
        if self.block_assembly:
            problems: Iterable[Problem] = self.problems(rngs)
        else:
            problems = (self.problem(rng) for rng in rngs)  # type: ignore[attr-defined]
        for problem in problems:
            yield self.solved(problem, solver)

    def solved(self, problem: Problem, solver: ChainSolver) -> Trajectory:
        """`problem` solved by the chain's solver, as the generator stores it."""
        result = solver.solve(problem.matrix, problem.rhs)
        outputs = self.solution_fields(result.x)  # type: ignore[attr-defined]
        result.x = np.empty(0)
        return Trajectory(problem.inputs, outputs, result, problem.params)


def simulate_samples(
    pde: object, rngs: Sequence[np.random.Generator], solver: ChainSolver | None
) -> Iterator[Trajectory]:
    """The generator's call for a block of samples, in order: a steady family makes their
    problems together (`SteadyFamily.simulate_block`), a time-dependent one simulates each
    trajectory in turn (its steps already share the solver)."""
    if isinstance(pde, SteadyFamily):
        yield from pde.simulate_block(rngs, solver)  # type: ignore[arg-type]
        return
    for rng in rngs:
        yield pde.simulate(rng, solver)  # type: ignore[attr-defined]


def read_only(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """`matrix` with its arrays made read-only, for a matrix every sample shares (kept by the
    family, not copied per sample): code that would change it in place raises instead."""
    for array in (matrix.data, matrix.indices, matrix.indptr):
        array.flags.writeable = False
    return matrix


def systems_of(pde: object) -> Systems:
    """What a solver is told of a family's systems (it is never handed the family itself)."""
    return Systems(
        spd=bool(pde.spd),  # type: ignore[attr-defined]
        dims=len(pde.fields.spatial_shape),  # type: ignore[attr-defined]
        per_sample=int(pde.linear_solves),  # type: ignore[attr-defined]
        family=str(pde.name),  # type: ignore[attr-defined]
    )
