"""Worker processes: they stop when the generating process is killed; the segments they share
out with the generating process give the samples each segment gives alone."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from interruption import samples_done
from omegaconf import OmegaConf

from surrogate.generation.solving import plan_chains, solve_chain
from surrogate.generation.workers import _worker, claimed_segments, solve_chains, solver_workers
from surrogate.pdes import build_pde


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_exit_when_the_generation_is_killed(tmp_path):
    command = [
        sys.executable,
        "-m",
        "surrogate.cli.generate",
        "pde.resolution=24",
        "n_train=4000",
        "n_test=0",
        "workers=3",  # this process and two workers
        "flush_seconds=0.1",
        "name=orphans",
        f"paths.data_dir={tmp_path}",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL)
    partial = tmp_path / "orphans" / "train.h5.partial"
    deadline = time.monotonic() + 120
    while samples_done(partial) < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    children_file = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    workers = [int(pid) for pid in children_file.read_text().split()]
    assert process.poll() is None and len(workers) >= 2  # the two workers (and a tracker)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # do not leave them running if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left


def test_claimed_segments_hand_out_each_segment_once():
    counter = multiprocessing.get_context("spawn").Array("q", [5, 0])
    segments = [[0, 1], [2], [3, 4, 5], [6]]
    first, second = claimed_segments(segments, counter, 1), claimed_segments(segments, counter, 1)
    taken = [next(first), next(second), next(second), next(first)]
    assert taken == segments
    assert list(first) == [] and list(second) == []
    assert counter[0] == 5  # another split's counter is left alone


def test_shared_out_segments_give_the_samples_of_each_segment_solved_alone(make_cfg):
    """workers=2: this process and a worker take segments as they come; a recycling solver's
    samples are still those of each segment solved from a fresh state, each index once."""
    cfg = make_cfg("generate", "pde.resolution=12", "solver=gcrodr", "workers=2", "segment=3")
    chains = plan_chains(np.arange(12), set(range(12)), 2, 3)
    with solver_workers(cfg, build_pde(cfg.pde)) as workers:
        shared = list(solve_chains(cfg, "train", chains, workers))
    assert sorted(s.index for s in shared) == list(range(12))
    alone = {
        s.index: s
        for chain in chains
        for segment in chain
        for s in solve_chain(cfg, "train", [segment])
    }
    for sample in shared:
        expected = alone[sample.index]
        assert np.array_equal(np.float32(sample.outputs), np.float32(expected.outputs))
        assert sample.result.iterations == expected.result.iterations


def test_the_workers_of_a_run_solve_one_split_after_another(make_cfg):
    """The same workers take the train split's segments, then the test split's (the counter
    of claimed segments starts again), and each sample is that of its segment alone."""
    cfg = make_cfg("generate", "pde.resolution=12", "solver=gcrodr", "workers=3", "segment=2")
    with solver_workers(cfg, build_pde(cfg.pde)) as workers:
        for split, n in (("train", 9), ("test", 5), ("valid", 1)):
            chains = plan_chains(np.arange(n), set(range(n)), 3, 2)
            shared = list(solve_chains(cfg, split, chains, workers))
            assert sorted(s.index for s in shared) == list(range(n))
            for sample in shared:
                segment = next(seg for chain in chains for seg in chain if sample.index in seg)
                alone = next(
                    s for s in solve_chain(cfg, split, [segment]) if s.index == sample.index
                )
                assert np.array_equal(np.float32(sample.outputs), np.float32(alone.outputs))
        assert all(process.is_alive() for process in workers.processes)
    assert not any(process.is_alive() for process in workers.processes)


def test_a_worker_solves_whatever_segments_are_left_as_if_each_were_alone(make_cfg):
    """A worker whose first segment is another chain's third (the others taken already)
    solves it, and the next, as each alone from a fresh state, and sends its samples a few
    at a time."""
    cfg = make_cfg("generate", "pde.resolution=12", "solver=gcrodr", "workers=2", "segment=3")
    segments = [
        segment for chain in plan_chains(np.arange(12), set(range(12)), 2, 3) for segment in chain
    ]
    counter = multiprocessing.get_context("spawn").Array("q", [2])
    results: queue.Queue = queue.Queue()
    tasks: queue.Queue = queue.Queue()
    tasks.put((0, "train", segments))
    tasks.put(None)  # no more splits
    container = OmegaConf.to_container(cfg, resolve=True)
    _worker(container, 4, tasks, counter, results, os.getppid())
    messages = [results.get_nowait() for _ in range(results.qsize())]
    assert [len(message) for message in messages] == [4, 2]  # 4 a message, the rest at the end
    sent = [sample for message in messages for sample in message]
    assert [s.index for s in sent] == segments[2] + segments[3]
    alone = [s for segment in segments[2:] for s in solve_chain(cfg, "train", [segment])]
    for sample, expected in zip(sent, alone, strict=True):
        assert np.array_equal(sample.outputs, np.float32(expected.outputs))
        assert sample.result.iterations == expected.result.iterations > 0
