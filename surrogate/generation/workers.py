"""The solver processes of `generate workers=W`: started with the run, given each split's
segments in turn.

The generating process (the single writer) and `W - 1` worker processes share out a split's
segments: each takes the next unclaimed segment when it is done with one, so no process idles
while another has work, and the writer solves in between its writes instead of competing with
`W` solver processes for the cores. The workers are started once per run, as soon as the
family is known (`solver_workers`), so that their start-up (a fresh interpreter importing
numpy, scipy, the solvers and the family: about 0.5 s) runs beside the writer's own checks,
sort and file creation instead of after them, and is paid once for all the splits. A segment
starts from a fresh solver state and a sample is stored under its own index, so the data never
depend on which process solved what, or in which order.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from omegaconf import DictConfig, OmegaConf

from surrogate.data.schema import SPLITS
from surrogate.generation.solving import SAMPLE_BLOCK, SolvedSample, solve_chain
from surrogate.pdes.base import PDEFamily

QUEUE_BYTES = 128 * 2**20  # fields that may wait in the queue between the workers and the writer
MESSAGE_BYTES = 2**20  # at most this many bytes of fields per message, or a single sample
POLL_SECONDS = 1.0  # how often a waiting worker checks that the generating process is alive


class SolverWorkers:
    """`count` worker processes that solve the segments of one split at a time (`solve`)."""

    def __init__(self, cfg: DictConfig, pde: PDEFamily, count: int) -> None:
        context = mp.get_context("spawn")
        spec = pde.fields
        inputs = len(spec.input_names) * math.prod(spec.spatial_shape)
        sample_bytes = 4 * (inputs + math.prod(spec.output_shape))
        # Small samples travel a block per message: the writer then unpickles and receives one
        # message per block, not one per sample.
        per_message = max(1, min(SAMPLE_BLOCK, MESSAGE_BYTES // sample_bytes))
        # Room for the samples the workers solve while this process solves or flushes (a full
        # queue would stop them meanwhile), bounded in memory.
        room = QUEUE_BYTES // (per_message * sample_bytes)
        self.results = context.Queue(maxsize=max(4 * count, room))
        self.tasks = context.Queue()  # (slot, split, segments): one for each worker per split
        # How many of each split's segments are taken, a counter per split (its `slot` in
        # SPLITS): a worker that comes to a split late finds its segments all taken, never
        # those of another.
        self.claimed = context.Array("q", len(SPLITS))
        container = OmegaConf.to_container(cfg, resolve=True)
        self.processes = [
            context.Process(
                target=_worker,
                args=(container, per_message, self.tasks, self.claimed, self.results, os.getpid()),
                daemon=True,
            )
            for _ in range(count)
        ]
        for process in self.processes:
            process.start()

    def solve(
        self, cfg: DictConfig, split: str, segments: list[list[int]]
    ) -> Iterator[SolvedSample]:
        """The samples of `segments`, solved by this process and the workers, as they come.

        Returns as soon as every sample is in, without waiting for a worker still starting
        up (it finds the split's segments all taken when it comes to them)."""
        slot = SPLITS.index(split)
        for _ in self.processes:
            self.tasks.put((slot, split, segments))
        pending = sum(len(segment) for segment in segments)
        received = _Received(self.results, self.processes)
        for sample in solve_chain(cfg, split, claimed_segments(segments, self.claimed, slot)):
            pending -= 1
            yield sample
            for sample in received.waiting():
                pending -= 1
                yield sample
        while pending:
            for sample in received.next(timeout=POLL_SECONDS):
                pending -= 1
                yield sample

    def close(self) -> None:
        """Stop the workers (idle between splits, or cut short by an error or interruption)."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)


@contextmanager
def solver_workers(cfg: DictConfig, pde: PDEFamily) -> Iterator[SolverWorkers | None]:
    """The run's `workers - 1` solver processes (None for `workers=1`), stopped at its end."""
    count = int(cfg.workers) - 1
    workers = SolverWorkers(cfg, pde, count) if count > 0 else None
    try:
        yield workers
    finally:
        if workers is not None:
            workers.close()


def solve_chains(
    cfg: DictConfig, split: str, chains: list[list[list[int]]], workers: SolverWorkers | None
) -> Iterator[SolvedSample]:
    """Solve every chain: in this process for one chain (or without workers), else with the
    workers, each process solving the next unclaimed segment."""
    if len(chains) <= 1 or workers is None:
        for chain in chains:
            yield from solve_chain(cfg, split, chain)
        return
    yield from workers.solve(cfg, split, [segment for chain in chains for segment in chain])


def claimed_segments(segments: list[list[int]], claimed, slot: int) -> Iterator[list[int]]:
    """The segments this process takes, one at a time, each the first nobody has taken yet
    (`claimed[slot]`: a shared counter of those taken)."""
    while True:
        with claimed.get_lock():
            position = claimed[slot]
            claimed[slot] = position + 1
        if position >= len(segments):
            return
        yield segments[position]


class _Received:
    """The workers' side of one split: their samples as they arrive, their failures (a
    message, or a process that died) raised as errors."""

    def __init__(self, results, processes: list) -> None:
        self.results = results
        self.processes = processes

    def waiting(self) -> Iterator[SolvedSample]:
        """The samples of the messages already queued, without waiting for more."""
        while True:
            try:
                message = self.results.get_nowait()
            except queue.Empty:
                self._check_alive()
                return
            yield from self._take(message)

    def next(self, timeout: float) -> Iterator[SolvedSample]:
        """The next message's samples (a block of them), waiting up to `timeout` seconds."""
        try:
            message = self.results.get(timeout=timeout)
        except queue.Empty:
            self._check_alive()
            return
        yield from self._take(message)

    def _take(self, message: object) -> Iterator[SolvedSample]:
        if isinstance(message, str):
            raise RuntimeError(f"a solver worker failed: {message}")
        yield from message  # type: ignore[misc]

    def _check_alive(self) -> None:
        dead = [p for p in self.processes if p.exitcode not in (None, 0)]
        if dead:
            raise RuntimeError(f"a solver worker died (exit code {dead[0].exitcode})") from None


def _worker(container: dict, per_message: int, tasks, claimed, results, parent: int) -> None:
    """Solve the segments of each split given in `tasks` (until it gives None) as they are
    claimed and send their samples to the writer process `parent`, `per_message` at a time;
    stop as soon as that process is gone (killed), instead of solving on for no one or
    waiting forever."""
    try:
        cfg = OmegaConf.create(container)
        while (task := _next_task(tasks, parent)) is not None:
            slot, split, segments = task
            message: list[SolvedSample] = []
            for sample in solve_chain(cfg, split, claimed_segments(segments, claimed, slot)):
                # As float32, the type the file stores (same rounding as the writer's
                # conversion): half the bytes to pickle, send and unpickle in the writer.
                sample.inputs = sample.inputs.astype(np.float32)
                sample.outputs = sample.outputs.astype(np.float32)
                message.append(sample)
                if len(message) == per_message:
                    if not _send(results, message, parent):
                        return
                    message = []
            if message and not _send(results, message, parent):
                return
    except Exception as error:  # reported to the parent, which stops the generation
        _send(results, f"{type(error).__name__}: {error}", parent)


def _next_task(tasks, parent: int) -> tuple[int, str, list[list[int]]] | None:
    """The next split's task, waiting for it; None once `parent` is gone."""
    while os.getppid() == parent:
        try:
            return tasks.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
    return None


def _send(results, message: object, parent: int) -> bool:
    """Put `message` on the queue, waiting while it is full; False once `parent` is gone (and
    then what is still queued is dropped, so that this process can exit)."""
    while os.getppid() == parent:
        try:
            results.put(message, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    results.cancel_join_thread()
    return False
