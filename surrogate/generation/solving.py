"""Turning a split's samples into solved fields: order them, cut the order into chains, solve.

Each chain is solved in order by one `ChainSolver`, which carries its recycled subspace,
preconditioner and previous solution from one system to the next. With `workers > 1` the
chains run in separate processes and send their samples back to the single writer; a sample is
always stored under its own index, so the data never depend on the order of solving.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

from surrogate.generation.initial_guess import InitialGuess, load_initial_guess
from surrogate.pdes import build_pde
from surrogate.pdes.base import PDEFamily, Trajectory, systems_of
from surrogate.pdes.temporal import TimeDependentFamily
from surrogate.solvers import build_solver, resolve_sort
from surrogate.solvers.base import SolveResult
from surrogate.solvers.chain import ChainSolver
from surrogate.solvers.sorts import SORTS

SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
QUEUE_BYTES = 128 * 2**20  # fields that may wait in the queue between the workers and the writer


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
    if cfg.sort.name == "none" or n <= 2:
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


def solve_chain(cfg: DictConfig, split: str, segments: list[list[int]]) -> Iterator[SolvedSample]:
    """Solve one chain, segment by segment, each in order from a fresh solver state.

    One solver serves the whole chain and is restarted at each segment, so its set-up (MKL, the
    PARDISO handle) is paid once. A time-dependent family simulates each sample's trajectory
    with the chain's solver, so its state carries across the time steps of a sample and on to
    the next sample. With backend=torch the family's batched version solves the chain
    (`solve_chain_batched`). With `solver.initial_guess` each solve starts from a trained
    model's prediction (`solve_guided`).
    """
    if cfg.backend == "torch":
        from surrogate.generation.batched import solve_chain_batched

        yield from solve_chain_batched(cfg, split, segments)
        return
    pde = build_pde(cfg.pde)
    seed = int(cfg.seed)
    solves = pde.linear_solves  # systems per sample
    # No systems (spectral families): no solver. The solver is built before the thread limits
    # are set, so that they also reach the libraries it loads (MKL for PARDISO).
    solver = (
        build_solver(
            cfg.solver,
            systems_of(pde),
            segment_rng(seed, split, segments[0]),
            len(segments[0]) * solves,
        )
        if solves and segments
        else None
    )
    guess = load_initial_guess(cfg, pde)
    try:
        with threadpool_limits(limits=int(cfg.blas_threads)):
            for position, segment in enumerate(segments):
                if solver is not None and position > 0:
                    solver.restart(segment_rng(seed, split, segment), len(segment) * solves)
                if guess is not None:
                    yield from solve_guided(cfg, split, segment, pde, solver, guess)
                    continue
                for index in segment:  # steady or time-dependent: the same call
                    yield SolvedSample.of(
                        index, pde.simulate(sample_rng(seed, split, index), solver)
                    )
    finally:
        if solver is not None:
            solver.close()


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
        problems = [pde.problem(sample_rng(seed, split, index)) for index in indices]
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
    """Solve every chain: in this process for one chain, else one process per chain."""
    if len(chains) <= 1:
        for chain in chains:
            yield from solve_chain(cfg, split, chain)
        return
    context = mp.get_context("spawn")
    spec = build_pde(cfg.pde).fields
    sample_bytes = 4 * (len(spec.input_names) * math.prod(spec.spatial_shape)) + 4 * math.prod(
        spec.output_shape
    )
    # Room for the samples the workers solve while the writer flushes (a full queue would stop
    # them for as long as the flush takes), bounded in memory.
    results = context.Queue(maxsize=max(4 * len(chains), QUEUE_BYTES // sample_bytes))
    container = OmegaConf.to_container(cfg, resolve=True)
    processes = [
        context.Process(
            target=_worker, args=(container, split, chain, results, os.getpid()), daemon=True
        )
        for chain in chains
    ]
    for process in processes:
        process.start()
    running = len(processes)
    try:
        while running:
            try:
                message = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"a solver worker died (exit code {dead[0].exitcode})"
                    ) from None
                continue
            if message is None:
                running -= 1
            elif isinstance(message, str):
                raise RuntimeError(f"a solver worker failed: {message}")
            else:
                yield message
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)


def _worker(container: dict, split: str, chain: list[list[int]], results, parent: int) -> None:
    """Solve one chain and send its samples to the writer process `parent`; stop as soon as
    that process is gone (killed), instead of solving on for no one and then waiting forever
    on a full queue."""
    try:
        for sample in solve_chain(OmegaConf.create(container), split, chain):
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
