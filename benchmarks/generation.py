"""End-to-end generation throughput: the whole `surrogate generate` command against its solves.

Each run is the command a user types, `surrogate generate pde=<family> pde.resolution=<r>
n_train=<N> n_test=0 solver=auto workers=<W>` (plus `--extra` overrides), in a fresh process
timed from launch to exit (interpreter start, imports, config, sort, solves, writing). The sum
of its solves is read back from the dataset it wrote (`solver/seconds`, the time each solve
took inside its worker). Runs are interleaved over the repeats (every case once, then again),
so drift in the machine's load spreads over all cases alike; the table gives the median and the
spread (min-max) of the repeats.

Each repeat also runs the case with one sample per worker, whose wall time is the command's
start-up (interpreters, imports, config, file creation, the workers' and MKL's start), so that
the table splits the wall time into start-up and what grows with the samples: "(wall -
start-up) / solves" is the ratio a large run tends to. Before and after the runs it measures
what two processes get from the machine: a pure Python loop and a one-thread BLAS loop, alone
and then two at once (the scaling any `workers=2` can reach at that time; on a shared machine
often far below 2). `--before DIR` also runs every case with the `surrogate` package of another
source tree (e.g. `git archive <commit> | tar -x -C DIR`), interleaved with this one's, for a
before/after table from one run. `greedy` times the greedy sort alone, blocked against the
step-by-step chain (one matrix-vector product per step), on a family's features. `phases`
splits a run's time per sample into drawing and assembling the problems, solving, writing
and finishing the file (one process per code and repeat, no profiler). `digest` times a split
file's digest read from its stored chunks against through HDF5's filter pipeline; `exit` a
1-sample run as the command runs it against its `main` called plainly (the exit's garbage
collection). Usage:

    python benchmarks/generation.py e2e --family darcy --resolution 64 --samples 2000 --repeats 3
    python benchmarks/generation.py e2e --family darcy --samples 2000 --before /tmp/base
    python benchmarks/generation.py e2e --family darcy3d --resolution 32 --samples 100
    python benchmarks/generation.py greedy --family darcy --resolution 64 --samples 4000
    python benchmarks/generation.py phases --family poisson heat darcy --before /tmp/base
    python benchmarks/generation.py digest --family darcy poisson --samples 2000 --repeats 3
    python benchmarks/generation.py exit --family darcy --repeats 5

Time it on a quiet machine (on a shared one, under the CPU lock: `flock /tmp/surrogate-cpu.lock
python benchmarks/generation.py ...`). Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from hydra import compose, initialize_config_dir
from threadpoolctl import threadpool_limits

from surrogate.cli.app import config_dir
from surrogate.data.writer import SplitWriter
from surrogate.generation import solving
from surrogate.generation.solving import sample_rng
from surrogate.pdes import build_pde
from surrogate.pdes.base import systems_of
from surrogate.solvers import build_solver
from surrogate.solvers.base import SolveResult
from surrogate.solvers.sorting import greedy_order


@dataclass
class Run:
    wall: float  # seconds of the whole command
    solves: float  # sum of the per-sample solve seconds it recorded
    startup: float = 0.0  # seconds of the same command with one sample


def generate(args: list[str], root: Path, source: str | None = None) -> Run:
    """Run `surrogate generate <args>` with its data and run directory under `root`, with the
    `surrogate` package of the source tree `source` (None: the installed one)."""
    command = [
        sys.executable,
        "-m",
        "surrogate.cli.main",
        "generate",
        *args,
        "n_test=0",
        "name=bench",
        f"paths.data_dir={root / 'data'}",
        f"paths.output_root={root / 'outputs'}",
    ]
    env = {**os.environ, **({"PYTHONPATH": source} if source else {})}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    with h5py.File(root / "data" / "bench" / "train.h5") as file:
        solves = float(np.sum(file["solver/seconds"][:]))
    return Run(wall, solves)


def _calibration_work(kind: str) -> float:
    start = time.perf_counter()
    if kind == "python":
        total = 0
        for i in range(10_000_000):
            total += i
    else:
        with threadpool_limits(limits=1):
            a = np.random.default_rng(0).standard_normal((300, 300))
            for _ in range(300):
                a = np.tanh(a @ a / 300)
    return time.perf_counter() - start


def two_process_scaling() -> str:
    """Throughput of two identical compute-bound processes at once over one alone."""
    parts = []
    for kind in ("python", "blas"):
        alone = _calibration_work(kind)
        with mp.get_context("spawn").Pool(2) as pool:
            pool.map(_calibration_work, ["python", "python"])  # start-up, not timed
            start = time.perf_counter()
            pool.map(_calibration_work, [kind, kind])
            both = time.perf_counter() - start
        parts.append(f"{kind} x{2 * alone / both:.2f}")
    return ", ".join(parts)


def spread(values: list[float], digits: int = 2) -> str:
    """Median and (min-max) of the repeats."""
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def end_to_end(options: argparse.Namespace) -> None:
    codes = {"after": None, **({"before": options.before} if options.before else {})}
    cases = [
        (code, family, workers)
        for family in options.family
        for code in codes
        for workers in options.workers
    ]
    runs: dict[tuple[str, str, int], list[Run]] = {case: [] for case in cases}
    scaling = [two_process_scaling()]
    for _ in range(options.repeats):
        for code, family, workers in cases:
            args = [
                f"pde={family}",
                f"pde.resolution={options.resolution}",
                f"n_train={options.samples}",
                "solver=auto",
                f"workers={workers}",
                *options.extra,
            ]
            with tempfile.TemporaryDirectory() as root:
                run = generate(args, Path(root), codes[code])
            with tempfile.TemporaryDirectory() as root:
                one = [*args[:2], f"n_train={workers}", *args[3:]]  # one sample per worker
                run.startup = generate(one, Path(root), codes[code]).wall
            runs[code, family, workers].append(run)

    scaling.append(two_process_scaling())
    extra = " ".join(options.extra)
    print(
        f"\n{options.samples} samples per run, resolution {options.resolution}, solver=auto"
        f"{' ' + extra if extra else ''}; {options.repeats} repeats: median (min-max). "
        f"Two compute processes at once, before the runs: {scaling[0]}; after: {scaling[1]}\n"
    )
    print(
        "| family | code | workers | wall s | samples/s | sum of solves s | "
        "wall / sum of solves | start-up s | (wall - start-up) / solves | "
        "speed-up over workers=1 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for code, family, workers in cases:
        these = runs[code, family, workers]
        single = runs.get((code, family, 1))
        speedup = (
            spread([a.wall / b.wall for a, b in zip(single, these)])
            if single and workers != 1
            else "-"
        )
        print(
            f"| {family} | {code} | {workers} | {spread([r.wall for r in these])} | "
            f"{spread([options.samples / r.wall for r in these], 1)} | "
            f"{spread([r.solves for r in these])} | {spread([r.wall / r.solves for r in these])} | "
            f"{spread([r.startup for r in these])} | "
            f"{spread([(r.wall - r.startup) / r.solves for r in these])} | {speedup} |",
            flush=True,
        )


def phases_of_one_run(options: argparse.Namespace) -> None:
    """One process: a `ChainSolver` and a `SplitWriter` driven as `solve_chain` drives them
    (blocks of `samples_per_block` where the family draws blocks), timed per phase; prints a
    table row's cells."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        overrides = [f"pde={options.family[0]}", f"pde.resolution={options.resolution}"]
        cfg = compose("generate", [*overrides, "solver=auto", *options.extra])
    pde = build_pde(cfg.pde)
    n = options.samples
    blocked = getattr(pde, "block_assembly", False)  # the code before blocks has neither
    size = solving.samples_per_block(pde) if blocked else 1
    solver = build_solver(cfg.solver, systems_of(pde), np.random.default_rng(0), n)
    seconds = dict.fromkeys(("draw", "solve", "write", "finish"), 0.0)
    with tempfile.TemporaryDirectory() as root, threadpool_limits(limits=1):
        attrs = {"config": "phases", "name": "phases", "split": "train", "pde": pde.name}
        writer = SplitWriter(Path(root) / "train.h5", n, pde.fields, pde.grid(), attrs=attrs)
        for start in range(0, n, size):
            indices = range(start, min(start + size, n))
            a = time.perf_counter()
            rngs = [sample_rng(0, "train", i) for i in indices]
            problems = pde.problems(rngs) if blocked else [pde.problem(rngs[0])]
            seconds["draw"] += time.perf_counter() - a
            for index, problem in zip(indices, problems):
                a = time.perf_counter()
                result = solver.solve(problem.matrix, problem.rhs)
                outputs = pde.solution_fields(result.x)
                b = time.perf_counter()
                writer.write(index, problem.inputs, outputs, problem.params, result)
                seconds["solve"] += b - a
                seconds["write"] += time.perf_counter() - b
        a = time.perf_counter()
        writer.finish()
        seconds["finish"] = time.perf_counter() - a
    print(size, *(f"{1e3 * value / n:.3f}" for value in seconds.values()))


def phases(options: argparse.Namespace) -> None:
    """Per-sample ms of each phase, in a fresh process per code and repeat (interleaved)."""
    codes = {"after": None, **({"before": options.before} if options.before else {})}
    rows: dict[tuple[str, str], list[list[str]]] = {}
    for _ in range(options.repeats):
        for family in options.family:
            for code, source in codes.items():
                command = [sys.executable, __file__, "phases-of-one-run", "--family", family]
                command += ["--resolution", str(options.resolution)]
                command += ["--samples", str(options.samples), "--extra", *options.extra]
                env = {**os.environ, **({"PYTHONPATH": source} if source else {})}
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
                rows.setdefault((family, code), []).append(done.stdout.split())
    print(
        f"\n{options.samples} samples, resolution {options.resolution}, solver=auto; ms per "
        f"sample, {options.repeats} runs each (comma-separated)\n"
    )
    print("| family | code | samples per block | draw | solve | write | finish |")
    print("|---|---|---|---|---|---|---|")
    for (family, code), runs in rows.items():
        cells = [", ".join(values) for values in zip(*[run[1:] for run in runs])]
        print(f"| {family} | {code} | {runs[0][0]} | {' | '.join(cells)} |")


def step_by_step_greedy(features: np.ndarray) -> np.ndarray:
    """SKR's Algorithm 1 as it was: one matrix-vector product over all rows per step."""
    squared = np.einsum("ij,ij->i", features, features, dtype=np.float64)
    visited = np.zeros(len(features), dtype=bool)
    order = [0]
    visited[0] = True
    for _ in range(len(features) - 1):
        distances = squared - 2.0 * (features @ features[order[-1]]).astype(np.float64)
        distances[visited] = np.inf
        order.append(int(np.argmin(distances)))
        visited[order[-1]] = True
    return np.array(order)


def greedy(options: argparse.Namespace) -> None:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        overrides = [f"pde={options.family[0]}", f"pde.resolution={options.resolution}"]
        cfg = compose("generate", overrides=[*overrides, *options.extra, "paths.output_dir=."])
    pde = build_pde(cfg.pde)
    features = np.stack(
        [pde.features(sample_rng(0, "train", i)) for i in range(options.samples)]
    ).astype(np.float32)
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        reference = step_by_step_greedy(features)
        naive = time.perf_counter() - start
        start = time.perf_counter()
        blocked = greedy_order(features)
        fast = time.perf_counter() - start
    print(
        f"\n| family | samples | features | step by step s | blocked s | ratio | same order |\n"
        f"|---|---|---|---|---|---|---|\n"
        f"| {options.family[0]} {options.resolution} | {options.samples} | {features.shape[1]} | "
        f"{naive:.2f} | {fast:.2f} | {naive / fast:.1f} | "
        f"{'yes' if np.array_equal(reference, blocked) else 'no'} |"
    )


def digest(options: argparse.Namespace) -> None:
    """The digest of a written split, hashed from the stored chunks against through HDF5's
    filter pipeline (what `content_digest` did before), alternated over the repeats."""
    from surrogate.data import digest as digests

    print(f"\n{options.samples} samples, resolution {options.resolution}; seconds per digest, ")
    print(f"{options.repeats} repeats each (comma-separated)\n")
    print("| family | file MB | from the chunks | through HDF5 | equal |")
    print("|---|---|---|---|---|")
    for family in options.family:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose("generate", [f"pde={family}", f"pde.resolution={options.resolution}"])
        pde = build_pde(cfg.pde)
        spec, rng = pde.fields, np.random.default_rng(0)
        inputs = rng.standard_normal((len(spec.input_names), *spec.spatial_shape))
        outputs = rng.standard_normal(spec.output_shape)
        result = SolveResult(np.empty(0), 1, 1, 0.0, 0.0, True)
        with tempfile.TemporaryDirectory() as root:
            attrs = {"config": "digest", "name": "digest", "split": "train", "pde": pde.name}
            writer = SplitWriter(Path(root) / "train.h5", options.samples, spec, pde.grid(), attrs)
            for index in range(options.samples):
                writer.write(index, inputs, outputs, {}, result)
            writer.finish()
            seconds: dict[str, list[float]] = {"chunks": [], "hdf5": []}
            found: dict[str, set[str]] = {"chunks": set(), "hdf5": set()}
            chunked_rows = digests._chunked_rows
            for _ in range(options.repeats):
                for way in seconds:
                    digests._chunked_rows = chunked_rows if way == "chunks" else (lambda *_: None)
                    with h5py.File(writer.path) as file:
                        start = time.perf_counter()
                        found[way].add(digests.content_digest(file))
                        seconds[way].append(time.perf_counter() - start)
            digests._chunked_rows = chunked_rows
            size = writer.path.stat().st_size / 1e6
        cells = [", ".join(f"{value:.3f}" for value in seconds[way]) for way in seconds]
        equal = "yes" if found["chunks"] == found["hdf5"] and len(found["chunks"]) == 1 else "NO"
        print(f"| {family} | {size:.0f} | {' | '.join(cells)} | {equal} |")


def exit_cost(options: argparse.Namespace) -> None:
    """A 1-sample `generate` as the command runs it (`run_command`: no garbage collection at
    exit) against the same stage's `main` called plainly, launch to exit, alternated."""
    args = [f"pde={options.family[0]}", f"pde.resolution={options.resolution}", "n_train=1"]
    args += ["n_test=0", "solver=auto", *options.extra]
    ways = {
        "as the command": ["-m", "surrogate.cli.generate"],
        "main() plainly": ["-c", "import sys; from surrogate.cli.generate import main; main()"],
    }
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(options.repeats):
            for way, launch in ways.items():
                run = [f"name=exit{repeat}{len(seconds[way])}{way[0]}", f"paths.data_dir={root}"]
                run.append(f"paths.output_root={root}/outputs")
                start = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, *launch, *args, *run], capture_output=True, text=True
                )
                seconds[way].append(time.perf_counter() - start)
                if done.returncode != 0:
                    raise RuntimeError(f"{way} failed:\n{done.stderr[-3000:]}")
    print(
        f"\n1-sample {options.family[0]} {options.resolution}², launch to exit, s (median; all)\n"
    )
    print("| run | median s | all |")
    print("|---|---|---|")
    for way, values in seconds.items():
        shown = ", ".join(f"{value:.2f}" for value in values)
        print(f"| {way} | {statistics.median(values):.3f} | {shown} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", choices=["e2e", "phases", "phases-of-one-run", "greedy", "digest", "exit"]
    )
    parser.add_argument("--family", nargs="+", default=["darcy"])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides, e.g. sort=binned")
    parser.add_argument("--before", help="source tree of the code to compare with (e2e)")
    options = parser.parse_args()
    run = {"e2e": end_to_end, "phases": phases, "phases-of-one-run": phases_of_one_run}
    run |= {"greedy": greedy, "digest": digest, "exit": exit_cost}
    run[options.what](options)


if __name__ == "__main__":
    main()
