"""Generation started from a trained model's prediction (`solver.initial_guess`), issue 14.

Two stages, so that only the timed one holds the CPU lock:

- `prepare` (accuracy only, run under nice without the lock): per family, a first dataset of
  `--n-train` samples solved directly, and an FNO trained on it with `surrogate train`;
- `time` (under `flock /tmp/surrogate-cpu.lock`): per family and iterative solver, the same
  `--samples` new samples (the test split of seed 1, never seen in training) generated four
  ways: from zero, from the model's guess, warm-started from the sorted neighbour, and warm
  start plus guess (their best combination, `projected_start`). Every solve meets rtol 1e-8
  (true residual), so the four datasets agree to within it; iterations and seconds differ.

Per-sample seconds are the dataset's own `solver/seconds` (the solve, preconditioner set-up
included; with a guess also the sample's share of the batched inference). Inference is also
timed on its own (batches of `--batch-size`, one torch thread, after a warm-up) for the
break-even: inference seconds per sample against the solve seconds the guess saves (below 1
the guess pays for itself), and how many generated samples repay the model's training.

    nice -n 10 python benchmarks/initial_guess.py prepare          # ~20 min on 2 busy cores
    flock /tmp/surrogate-cpu.lock python benchmarks/initial_guess.py time   # ~10 min
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

import h5py
import numpy as np

# family: (grid label, pde overrides, FNO overrides, {solver label: solver overrides})
FAMILIES: dict[str, tuple[str, list[str], list[str], dict[str, list[str]]]] = {
    "darcy3d": (
        "16³",
        ["pde=darcy3d", "pde.resolution=16"],
        ["model.modes=6", "model.width=12"],
        {
            "CG + AMG": ["solver=cg", "solver.preconditioner=amg"],
            "CG + Jacobi": ["solver=cg", "solver.preconditioner=jacobi"],
        },
    ),
    "helmholtz": (
        "64², k ~ U(10, 20)",
        ["pde=helmholtz", "pde.resolution=64"],
        ["model.width=16"],
        {
            "GCRO-DR(40,20) + ILU(0)": ["solver=gcrodr", "solver.preconditioner=ilu"],
        },
    ),
}
MODES = {  # label: (warm start, initial guess)
    "zero": (False, False),
    "guess": (False, True),
    "warm start": (True, False),
    "warm start + guess": (True, True),
}
BASELINE = {"guess": "zero", "warm start + guess": "warm start"}  # what a guess is compared to
RTOL = 1e-8


def surrogate(args: list[str], log: Path) -> None:
    """Run one `surrogate` command on one thread; exit with its log's tail on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "surrogate.cli.main", *args]
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{log.read_text()[-3000:]}")


def checkpoint(workdir: Path, family: str, epochs: int) -> Path:
    """The model `prepare` trained for `epochs` epochs (several may coexist)."""
    return workdir / "outputs" / f"train_{family}_e{epochs}" / "checkpoints" / "last.ckpt"


def prepare(args: argparse.Namespace) -> None:
    """First datasets (direct solves) and the models trained on them."""
    data, logs = args.workdir / "data", args.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for family in args.families:
        _, pde, model, _ = FAMILIES[family]
        name = f"ig_{family}_first"
        shutil.rmtree(data / name, ignore_errors=True)
        surrogate(
            ["generate", f"paths.data_dir={data}", *pde, f"name={name}", "solver=direct",
             f"n_train={args.n_train}", "n_test=0", "seed=0",
             f"hydra.run.dir={args.workdir / 'outputs' / f'first_{family}'}"],
            logs / f"first_{family}.log",
        )  # fmt: skip
        surrogate(
            ["train", f"paths.data_dir={data}", f"data={name}", "model=fno", *model,
             f"trainer.max_epochs={args.epochs}", "seed=0", "loader.num_workers=0",
             f"hydra.run.dir={checkpoint(args.workdir, family, args.epochs).parent.parent}"],
            logs / f"train_{family}.log",
        )  # fmt: skip


def generated(args: argparse.Namespace, family: str, solver: list[str], mode: str, tag: str):
    """Generate the `--samples` new samples one way; returns the test split's path."""
    warm, guess = MODES[mode]
    name = f"ig_{family}_{tag}_{mode.replace(' ', '').replace('+', '_')}"
    data = args.workdir / "data"
    shutil.rmtree(data / name, ignore_errors=True)
    surrogate(
        ["generate", f"paths.data_dir={data}", *FAMILIES[family][1], *solver, f"name={name}",
         f"solver.rtol={RTOL}", f"solver.warm_start={str(warm).lower()}", "n_train=0",
         f"n_test={args.samples}", "seed=1", f"batch_size={args.batch_size}",
         *([f"solver.initial_guess={checkpoint(args.workdir, family, args.epochs)}"] if guess else []),
         f"hydra.run.dir={args.workdir / 'outputs' / name}"],
        args.workdir / "logs" / f"{name}.log",
    )  # fmt: skip
    return data / name / "test.h5"


def inference(path: Path, ckpt: Path, batch_size: int) -> tuple[float, float]:
    """(inference seconds per sample, mean relative L2 error of the prediction) on a split."""
    import torch
    from omegaconf import OmegaConf

    from surrogate.evaluation.run import load_checkpoint
    from surrogate.generation.initial_guess import InitialGuess
    from surrogate.pdes import build_pde

    with h5py.File(path) as file:
        inputs, outputs = file["inputs"][:], file["outputs"][:]
        family = build_pde(OmegaConf.create(str(file.attrs["config"])).pde)
    guess = InitialGuess(load_checkpoint(ckpt), family, torch.device("cpu"), 1)
    guess.vectors(list(inputs[:batch_size]))  # warm-up: FFT plans, allocations
    seconds, vectors = 0.0, []
    for start in range(0, len(inputs), batch_size):
        batch, took = guess.vectors(list(inputs[start : start + batch_size]))
        seconds += took
        vectors += batch
    truth = outputs.reshape(len(outputs), -1)
    errors = np.linalg.norm(np.stack(vectors) - truth, axis=1) / np.linalg.norm(truth, axis=1)
    return seconds / len(inputs), float(errors.mean())


def stats(path: Path) -> tuple[float, float]:
    with h5py.File(path) as file:
        return float(file["solver/iterations"][:].mean()), float(file["solver/seconds"][:].mean())


def time_all(args: argparse.Namespace) -> None:
    (args.workdir / "logs").mkdir(parents=True, exist_ok=True)
    print(
        f"Generation from a model's initial guess: {args.samples} new samples per row, "
        f"rtol {RTOL:g}, one thread; s/sample includes the guess's inference share\n"
    )
    print(
        "| family | model (test rel L2) | solver | start | mean iterations | s/sample "
        "| iterations saved | s saved/sample (net) | inference s/sample "
        "| inference / solve s saved | samples to repay training |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for family in args.families:
        grid = FAMILIES[family][0]
        ckpt = checkpoint(args.workdir, family, args.epochs)
        result = json.loads((ckpt.parent.parent / "result.json").read_text())
        for tag, (label, solver) in enumerate(FAMILIES[family][3].items()):
            rows = {mode: stats(generated(args, family, solver, mode, str(tag))) for mode in MODES}
            split = args.workdir / "data" / f"ig_{family}_{tag}_zero" / "test.h5"
            per_sample, error = inference(split, ckpt, args.batch_size)
            for mode, (iterations, seconds) in rows.items():
                base_iterations, base_seconds = rows[BASELINE.get(mode, mode)]
                saved = base_seconds - seconds  # net: the guessed row's seconds hold inference
                solve_saved = saved + per_sample
                cells = ["–"] * 5
                if mode in BASELINE:
                    repay = result["seconds"] / saved if saved > 0 else None
                    cells = [
                        f"{base_iterations - iterations:.1f} "
                        f"({100 * (1 - iterations / base_iterations):.0f} %)",
                        f"{saved:.4f}",
                        f"{per_sample:.5f}",
                        f"{per_sample / solve_saved:.2f}" if solve_saved > 0 else "no saving",
                        f"{repay:.0f}" if repay else "never",
                    ]
                print(
                    f"| {family} {grid} | FNO ({error:.3f}) | {label} | {mode} "
                    f"| {iterations:.1f} | {seconds:.4f} | {' | '.join(cells)} |",
                    flush=True,
                )
    print(f"\ntraining: {args.n_train} samples, {args.epochs} epochs (prepare stage)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("prepare", "time"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_guess"))
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--n-train", type=int, default=300, help="prepare: training samples")
    parser.add_argument("--epochs", type=int, default=10, help="the model's training epochs")
    parser.add_argument("--samples", type=int, default=64, help="time: new samples per row")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per inference batch")
    args = parser.parse_args()
    begin = time.perf_counter()
    prepare(args) if args.stage == "prepare" else time_all(args)
    print(f"{args.stage}: {time.perf_counter() - begin:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
