"""Turning a split's samples into solved fields: order them, cut the order into chains, solve.

Each chain is solved in order by one `ChainSolver`, which carries its recycled subspace,
preconditioner and previous solution from one system to the next. With `workers > 1` the
segments of the chains are shared out among `workers` processes, the generating process (the
single writer) among them: each takes the next unclaimed segment when it is done with one, so
no process idles while another has work, and the writer solves in between its writes instead
of competing with `workers` solver processes for the cores. A segment starts from a fresh
solver state (`ChainSolver.restart`) and a sample is always stored under its own index, so the
data never depend on which process solved what, or in which order.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
import queue
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig, OmegaConf
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
QUEUE_BYTES = 128 * 2**20  # fields that may wait in the queue between the workers and the writer
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
    """Contiguous pieces of the order, one per worker, each cut into segments.

    A segment is solved from a fresh solver state (no recycled space, no warm start), so any
    segment can be redone on its own: a resumed generation redoes every segment that still has
    a pending sample, whole, and produces exactly the file an uninterrupted run would have.
    """
    pieces = np.array_split(order, max(1, min(workers, len(order))))
    chains = []
    for piece in pieces:
        segments = [
            [int(i) for i in piece[start : start + segment]]
            for start in range(0, len(piece), segment)
        ]
        chains.append([seg for seg in segments if any(i in pending for i in seg)])
    return [chain for chain in chains if chain]


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


def solve_chains(
    cfg: DictConfig, split: str, chains: list[list[list[int]]]
) -> Iterator[SolvedSample]:
    """Solve every chain: in this process for one chain, else with `len(chains)` processes,
    this one and `len(chains) - 1` workers, each solving the next unclaimed segment."""
    if len(chains) <= 1:
        for chain in chains:
            yield from solve_chain(cfg, split, chain)
        return
    context = mp.get_context("spawn")
    spec = build_pde(cfg.pde).fields
    sample_bytes = 4 * (len(spec.input_names) * math.prod(spec.spatial_shape)) + 4 * math.prod(
        spec.output_shape
    )
    # Room for the samples the workers solve while this process solves or flushes (a full queue
    # would stop them meanwhile), bounded in memory.
    results = context.Queue(maxsize=max(4 * len(chains), QUEUE_BYTES // sample_bytes))
    segments = [segment for chain in chains for segment in chain]
    claimed = context.Value("q", 0)  # how many of `segments` have been taken
    container = OmegaConf.to_container(cfg, resolve=True)
    processes = [
        context.Process(
            target=_worker,
            args=(container, split, segments, claimed, results, os.getpid()),
            daemon=True,
        )
        for _ in chains[1:]
    ]
    for process in processes:
        process.start()
    received = _Received(results, processes)
    own = 0  # segments this process solved

    def own_segments() -> Iterator[list[int]]:
        nonlocal own
        for segment in claimed_segments(segments, claimed):
            own += 1
            yield segment

    try:
        for sample in solve_chain(cfg, split, own_segments()):
            yield sample
            yield from received.waiting()
        if own == len(segments):  # none was left for the workers: no need to wait for them
            return
        while received.running:
            yield from received.next(timeout=1.0)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)


def claimed_segments(segments: list[list[int]], claimed) -> Iterator[list[int]]:
    """The segments this process takes, one at a time, each the first nobody has taken yet
    (`claimed`: a shared counter of those taken)."""
    while True:
        with claimed.get_lock():
            position = claimed.value
            claimed.value = position + 1
        if position >= len(segments):
            return
        yield segments[position]


class _Received:
    """The workers' side of `solve_chains`: their samples as they arrive, their failures (a
    message, or a process that died) raised as errors."""

    def __init__(self, results, processes: list) -> None:
        self.results = results
        self.processes = processes
        self.running = len(processes)

    def waiting(self) -> Iterator[SolvedSample]:
        """The samples already queued, without waiting for more."""
        while self.running:
            try:
                message = self.results.get_nowait()
            except queue.Empty:
                self._check_alive()
                return
            yield from self._take(message)

    def next(self, timeout: float) -> Iterator[SolvedSample]:
        """The next message's sample (if it is one), waiting up to `timeout` seconds for it."""
        try:
            message = self.results.get(timeout=timeout)
        except queue.Empty:
            self._check_alive()
            return
        yield from self._take(message)

    def _take(self, message: object) -> Iterator[SolvedSample]:
        if message is None:
            self.running -= 1
        elif isinstance(message, str):
            raise RuntimeError(f"a solver worker failed: {message}")
        else:
            yield message  # type: ignore[misc]

    def _check_alive(self) -> None:
        dead = [p for p in self.processes if p.exitcode not in (None, 0)]
        if dead:
            raise RuntimeError(f"a solver worker died (exit code {dead[0].exitcode})") from None


def _worker(
    container: dict, split: str, segments: list[list[int]], claimed, results, parent: int
) -> None:
    """Solve segments as they are claimed and send their samples to the writer process
    `parent`; stop as soon as that process is gone (killed), instead of solving on for no one
    and then waiting forever on a full queue."""
    try:
        cfg = OmegaConf.create(container)
        for sample in solve_chain(cfg, split, claimed_segments(segments, claimed)):
            # As float32, the type the file stores (same rounding as the writer's conversion):
            # half the bytes to pickle, send and unpickle in the single writer process.
            sample.inputs = sample.inputs.astype(np.float32)
            sample.outputs = sample.outputs.astype(np.float32)
            if not _send(results, sample, parent):
                return
        _send(results, None, parent)
    except Exception as error:  # reported to the parent, which stops the generation
        _send(results, f"{type(error).__name__}: {error}", parent)


def _send(results, message: object, parent: int) -> bool:
    """Put `message` on the queue, waiting while it is full; False once `parent` is gone (and
    then what is still queued is dropped, so that this process can exit)."""
    while os.getppid() == parent:
        try:
            results.put(message, timeout=1.0)
            return True
        except queue.Full:
            continue
    results.cancel_join_thread()
    return False
