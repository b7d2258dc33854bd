"""Turning a split's samples into solved fields: order them, cut the order into segments, solve.

Each chain is solved in order by one `ChainSolver`, which carries its recycled subspace,
preconditioner and previous solution from one system to the next. A chain is cut into
segments, each solved from a fresh solver state (`ChainSolver.restart`), so that any segment
can be solved on its own by any process (`workers`) and redone alone on a resume; a sample is
always stored under its own index.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig
from threadpoolctl import threadpool_limits

from surrogate.generation.initial_guess import InitialGuess, load_initial_guess
from surrogate.pdes import build_pde
from surrogate.pdes.base import PDEFamily, Trajectory, simulate_samples, systems_of
from surrogate.pdes.temporal import TimeDependentFamily
from surrogate.solvers import build_solver, resolve_sort
from surrogate.solvers.base import SolveResult
from surrogate.solvers.chain import ChainSolver
from surrogate.solvers.sorts import FEWEST_SORTED, SORTS

SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
# Samples of a steady family drawn and assembled together (`SteadyFamily.problems`): enough to
# spread the interpreter's per-call cost, few enough that a block's fields stay small.
SAMPLE_BLOCK = 32
BLOCK_BYTES = 16 * 2**20
CSR_BYTES_PER_NONZERO = 12  # float64 value and int32 column index


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Each sample's own random stream: the data never depend on solve order or resumption."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLIT_CODES[split], index]))


@dataclass
class SolvedSample:
    index: int
    inputs: np.ndarray
    outputs: np.ndarray
    params: dict[str, float]
    result: SolveResult

    @classmethod
    def of(cls, index: int, trajectory: Trajectory) -> SolvedSample:
        """Sample `index` as its family's `simulate` returned it."""
        return cls(
            index, trajectory.inputs, trajectory.states, trajectory.params, trajectory.result
        )


def solve_order(
    cfg: DictConfig, pde: PDEFamily | TimeDependentFamily, split: str, n: int
) -> np.ndarray:
    """The order in which to solve samples 0..n-1 of `split`, by `cfg.sort` (`auto`: chosen
    with the solver, `resolve_sort`). Features are drawn without assembling any system."""
    if cfg.sort.name == "none" or n < FEWEST_SORTED:
        return np.arange(n)
    seed = int(cfg.seed)
    first = pde.features(sample_rng(seed, split, 0))
    sort = resolve_sort(cfg, systems_of(pde), n, n * first.size * 4)
    with threadpool_limits(limits=int(cfg.blas_threads)):
        return SORTS.get(sort.name).order(
            sort, lambda i: pde.features(sample_rng(seed, split, i)), n, first.size, seed
        )


def plan_chains(
    order: np.ndarray, pending: set[int], workers: int, segment: int
) -> list[list[list[int]]]:
    """The order cut into segments of `segment` samples, those with a pending sample kept, as
    contiguous runs of segments for up to `workers` processes.

    A segment is solved from a fresh solver state (no recycled space, no warm start), so any
    segment can be redone on its own: a resumed generation redoes every segment that still has
    a pending sample, whole, and produces exactly the file an uninterrupted run would have.
    Where the segments start depends on the order alone, not on `workers`: solvers whose
    results depend on a segment's first system (recycling, PARDISO's LU, whose analysis scales
    by the values of the matrix it analysed) give the same data for every `workers`.
    """
    segments = [
        [int(i) for i in order[start : start + segment]] for start in range(0, len(order), segment)
    ]
    todo = [seg for seg in segments if any(i in pending for i in seg)]
    runs = np.array_split(np.arange(len(todo)), max(1, min(workers, len(todo))))
    return [[todo[i] for i in run] for run in runs if len(run)]


def segment_rng(seed: int, split: str, segment: list[int]) -> np.random.Generator:
    """The solver's own random stream for a segment (SOR's bandit), from its first sample."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, SPLIT_CODES[split], 2**31 + segment[0]])
    )


def solve_chain(
    cfg: DictConfig, split: str, segments: Iterable[list[int]]
) -> Iterator[SolvedSample]:
    """Solve one chain, segment by segment, each in order from a fresh solver state (the
    segments may be claimed one at a time as they are needed: `claimed_segments`).

    One solver serves the whole chain and is restarted at each segment, so its set-up (MKL, the
    PARDISO handle) is paid once. A time-dependent family simulates each sample's trajectory
    with the chain's solver, so its state carries across the time steps of a sample and on to
    the next sample. A steady family's samples are drawn and assembled a block at a time
    (`samples_per_block`; each from its own stream, bitwise as one by one), then solved in
    order. With backend=torch the family's batched version solves the chain
    (`solve_chain_batched`). With `solver.initial_guess` each solve starts from a trained
    model's prediction (`solve_guided`).
    """
    if cfg.backend == "torch":
        from surrogate.generation.batched import solve_chain_batched

        yield from solve_chain_batched(cfg, split, segments)
        return
    segments = iter(segments)
    first = next(segments, None)
    if first is None:
        return
    segments = itertools.chain([first], segments)
    pde = build_pde(cfg.pde)
    seed = int(cfg.seed)
    solves = pde.linear_solves  # systems per sample
    # No systems (spectral families): no solver. The solver is built before the thread limits
    # are set, so that they also reach the libraries it loads (MKL for PARDISO).
    solver = (
        build_solver(
            cfg.solver, systems_of(pde), segment_rng(seed, split, first), len(first) * solves
        )
        if solves
        else None
    )
    guess = load_initial_guess(cfg, pde)
    block_size = samples_per_block(pde)
    try:
        with threadpool_limits(limits=int(cfg.blas_threads)):
            for position, segment in enumerate(segments):
                if solver is not None and position > 0:
                    solver.restart(segment_rng(seed, split, segment), len(segment) * solves)
                if guess is not None:
                    yield from solve_guided(cfg, split, segment, pde, solver, guess)
                    continue
                for block in sample_blocks(segment, block_size):
                    rngs = [sample_rng(seed, split, index) for index in block]
                    # Steady or time-dependent: the same call (`simulate_samples`).
                    for index, trajectory in zip(block, simulate_samples(pde, rngs, solver)):
                        yield SolvedSample.of(index, trajectory)
    finally:
        if solver is not None:
            solver.close()


def samples_per_block(pde: PDEFamily | TimeDependentFamily) -> int:
    """How many samples a steady family may sample and assemble at once (`problems`): up to
    `SAMPLE_BLOCK`, fewer where their fields and matrices would take more than `BLOCK_BYTES`
    (a (2d + 1)-point CSR matrix per sample, as a family with a coefficient makes)."""
    spec = pde.fields
    points = math.prod(spec.spatial_shape)
    matrix = CSR_BYTES_PER_NONZERO * (2 * len(spec.spatial_shape) + 1) * points
    sample_bytes = 8 * (len(spec.input_names) + 2) * points + matrix
    return max(1, min(SAMPLE_BLOCK, BLOCK_BYTES // sample_bytes))


def sample_blocks(segment: list[int], size: int) -> Iterator[list[int]]:
    """The segment's samples in order, `size` at a time."""
    for start in range(0, len(segment), size):
        yield segment[start : start + size]


def solve_guided(
    cfg: DictConfig,
    split: str,
    segment: list[int],
    pde: PDEFamily,
    solver: ChainSolver,
    guess: InitialGuess,
) -> Iterator[SolvedSample]:
    """Solve a segment of a steady family, each system started from the model's prediction.

    The samples are drawn and assembled `batch_size` at a time, their guesses predicted in one
    batch, then solved in order; each sample's seconds include its share of the inference.
    """
    seed, batch = int(cfg.seed), int(cfg.batch_size)
    for start in range(0, len(segment), batch):
        indices = segment[start : start + batch]
        problems = pde.problems([sample_rng(seed, split, index) for index in indices])
        vectors, inference = guess.vectors([problem.inputs for problem in problems])
        for index, problem, vector in zip(indices, problems, vectors):
            result = solver.solve(problem.matrix, problem.rhs, vector)
            result.seconds += inference / len(indices)
            outputs = pde.solution_fields(result.x)
            result.x = np.empty(0)
            yield SolvedSample(index, problem.inputs, outputs, problem.params, result)
