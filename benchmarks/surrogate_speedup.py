"""Speed-up of FNO inference over the solver, per sample, for every PDE family.

For each family a small dataset at a modest resolution is generated with the default solver
(`solver=direct`: PARDISO when pypardiso is installed, else SuperLU; the spectral families
build no solver), an FNO is trained briefly (10 epochs on 64 samples; 4 epochs on 32
trajectories) and `surrogate eval` measures it on the test split. What is compared, per
sample (per trajectory for time-dependent data):

- solver seconds: the dataset's own `solver/seconds` of each test sample, i.e. generation's
  wall time for sampling, assembly and the solve (every step of a trajectory), one BLAS thread;
- inference seconds: eval's timing of batched forward passes (a warm-up batch first for steady
  data; the whole autoregressive rollout for time-dependent data), on the CPU with
  `--threads` torch threads (default 1, the same single core the solver gets).

Time-dependent families are trained with `temporal.window=1`, so a rollout starts from the
initial condition only and produces the same T - 1 states the solver computed (a window of w
would need the first w states from the solver, and eval's speed-up would not count them).
For the families with linear systems the test split is also generated with `solver=auto` (the
fastest strategy per family, docs/solvers.md); since inference is the same, that speed-up is
solver seconds (auto) / inference seconds. Accuracy is secondary here (a few epochs on a few
dozen samples) but is printed next to the mean-field baseline so a useless model is visible.

    python benchmarks/surrogate_speedup.py               # about 10 minutes on 2 shared cores
    python benchmarks/surrogate_speedup.py --families darcy burgers --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from surrogate.data.reader import read_solver_stats

# family: (grid label, generate overrides, model overrides, has linear systems, time-dependent)
FAMILIES: dict[str, tuple[str, list[str], list[str], bool, bool]] = {
    "darcy": ("64²", ["pde=darcy", "pde.resolution=64"], [], True, False),
    "poisson": ("64²", ["pde=poisson", "pde.resolution=64"], [], True, False),
    "helmholtz": ("64²", ["pde=helmholtz", "pde.resolution=64"], [], True, False),
    "heat": ("64² box", ["pde=heat", "pde.resolution=64"], [], True, False),
    "darcy3d": (
        "24³",
        ["pde=darcy3d", "pde.resolution=24"],
        ["model.modes=8", "model.width=16"],
        True,
        False,
    ),
    "heat_transient": (
        "64², T=11",
        ["pde=heat_transient", "pde.resolution=64", "pde.time_steps=11"],
        [],
        True,
        True,
    ),
    "navier_stokes": (
        "64², T=11",
        ["pde=navier_stokes", "pde.resolution=64", "pde.time_steps=11"],
        ["model.padding=0"],
        False,
        True,
    ),
    "burgers": (
        "1024, T=11",
        ["pde=burgers", "pde.resolution=1024"],
        ["model.modes=16", "model.width=64", "model.padding=0"],
        False,
        True,
    ),
}


def surrogate(args: list[str], threads: int) -> None:
    """Run one `surrogate` command; exit with its stderr on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "surrogate.cli.main", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")


def generate(data_dir: Path, name: str, overrides: list[str], n_train: int, n_test: int,
             threads: int) -> None:  # fmt: skip
    """A fresh dataset (an old one is removed so its solver seconds are measured now)."""
    shutil.rmtree(data_dir / name, ignore_errors=True)
    surrogate(
        ["generate", f"paths.data_dir={data_dir}", *overrides, f"name={name}",
         f"n_train={n_train}", f"n_test={n_test}", "seed=0",
         f"hydra.run.dir={data_dir.parent / 'outputs' / 'generate' / name}"],
        threads,
    )  # fmt: skip


def ratio(value: float) -> str:
    """A speed-up with two significant digits below 10 (0.035x, 2.4x), whole above."""
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"


def row(family: str, data_dir: Path, out: Path) -> str:
    """One table row from a finished run's files (datasets, result.json, metrics.json)."""
    grid, _, _, linear, _ = FAMILIES[family]
    m = json.loads((out / family / "eval" / "metrics.json").read_text())
    result = json.loads((out / family / "train" / "result.json").read_text())
    n_train = len(read_solver_stats(data_dir / f"speedup_{family}" / "train.h5")["seconds"])
    inference, solver = m["inference_seconds_per_sample"], m["solver_seconds_per_sample"]
    if not (inference and solver):
        sys.exit(f"{family}: no speed-up (inference {inference}, solver {solver})")
    auto_file = data_dir / f"speedup_{family}_auto" / "test.h5"
    auto = float(read_solver_stats(auto_file)["seconds"].mean()) if auto_file.exists() else None
    return (
        f"| {family} | {grid} | {n_train} / {m['n_samples']} "
        f"| {solver:.4f}{'' if linear else ' (spectral)'} "
        f"| {'–' if auto is None else f'{auto:.4f}'} | {inference:.4f} "
        f"| {ratio(solver / inference)} | {'–' if auto is None else ratio(auto / inference)} "
        f"| {m['rel_l2']:.3f} | {m['mean_baseline_rel_l2']:.3f} | {result['seconds']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench"))
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--n-train", type=int, default=64, help="steady families")
    parser.add_argument("--n-train-temporal", type=int, default=32, help="trajectories")
    parser.add_argument("--n-test", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10, help="steady families")
    parser.add_argument("--epochs-temporal", type=int, default=4, help="T - 1 samples each")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-auto", action="store_true", help="skip the solver=auto column")
    parser.add_argument("--no-run", action="store_true", help="print the table of an earlier run")
    args = parser.parse_args()
    data_dir = args.workdir / "data"
    out = args.workdir / "outputs" / "speedup"
    for family in [] if args.no_run else args.families:
        _, pde, model, linear, temporal = FAMILIES[family]
        name = f"speedup_{family}"
        n_train = args.n_train_temporal if temporal else args.n_train
        epochs = args.epochs_temporal if temporal else args.epochs
        begin = time.perf_counter()
        generate(data_dir, name, pde, n_train, args.n_test, args.threads)
        shutil.rmtree(data_dir / f"{name}_auto", ignore_errors=True)
        if linear and not args.no_auto:
            # Same (seed, split, i) samples as the test split above, solved by solver=auto.
            generate(data_dir, f"{name}_auto", [*pde, "solver=auto"], 0, args.n_test, args.threads)
        run_dir = out / family
        surrogate(
            ["train", f"paths.data_dir={data_dir}", f"data={name}", "model=fno", *model,
             *(["temporal.window=1"] if temporal else []), f"trainer.max_epochs={epochs}",
             "seed=0", "loader.num_workers=0", f"hydra.run.dir={run_dir / 'train'}"],
            args.threads,
        )  # fmt: skip
        surrogate(
            ["eval", f"paths.data_dir={data_dir}",
             f"ckpt={run_dir / 'train' / 'checkpoints' / 'best.ckpt'}", "device=cpu",
             "figures.enabled=false", f"hydra.run.dir={run_dir / 'eval'}"],
            args.threads,
        )  # fmt: skip
        print(f"{family}: {time.perf_counter() - begin:.0f} s", file=sys.stderr, flush=True)
    print(
        "FNO inference against the solver, per sample (per trajectory when time-dependent); "
        f"{args.threads} thread(s)"
    )
    print(
        "| family | grid | train / test | solver s/sample (direct) | solver s/sample (auto) "
        "| FNO inference s/sample | speed-up vs direct | speed-up vs auto | test rel L2 "
        "| mean baseline | train s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for family in args.families:
        print(row(family, data_dir, out))


if __name__ == "__main__":
    main()
