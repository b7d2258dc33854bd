"""Reduced CPU accuracy protocol: every model on the same small Darcy problem, test error.

Protocol (defaults): 2D Darcy, two-phase coefficient (12/3, FNO benchmark), 32x32 interior
grid, seed 0; 256 training samples (10 % of them held out for validation and model
selection), 64 test samples; each model at its default config (conf/model/*.yaml; TFNO is
FNO with factorization=cp) and the training recipe of conf/train.yaml (relative L2 loss, Adam
at the model's learning rate, cosine schedule with 5 % warm-up), batch 16, 25 epochs, seed 0,
one thread. The best-validation checkpoint is evaluated on the test split
and compared with predicting the pointwise training mean. It runs the real commands
(`surrogate generate/train/eval`) one after another and prints a markdown table.

This is far below the papers' budgets (1000 samples, 500 epochs, 85x85 and finer): it ranks
models on a CPU in minutes, it does not reproduce published errors.

    .venv/bin/python benchmarks/models_accuracy.py               # about 15 minutes on 2 cores
    .venv/bin/python benchmarks/models_accuracy.py --epochs 5 --models fno mgno
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "fno": ["model=fno"],
    "tfno": ["model=fno", "model.factorization=cp"],
    "mgno": ["model=mgno"],
    "unet": ["model=unet"],
    "deeponet": ["model=deeponet"],
    "galerkin": ["model=galerkin"],
}


def surrogate(args: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "surrogate.cli.main", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/models_accuracy"))
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=256)
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    data_dir = args.root / "data"
    name = f"darcy{args.resolution}_n{args.n_train}"
    common = [f"paths.data_dir={data_dir}"]
    surrogate(
        [
            "generate",
            *common,
            "pde=darcy",
            f"pde.resolution={args.resolution}",
            f"n_train={args.n_train}",
            f"n_test={args.n_test}",
            f"name={name}",
            "seed=0",
        ],
        args.threads,
    )
    rows = []
    for variant in args.models:
        run_dir = args.root / variant
        start = time.perf_counter()
        surrogate(
            [
                "train",
                *common,
                *VARIANTS[variant],
                f"data={name}",
                f"trainer.max_epochs={args.epochs}",
                "seed=0",
                "loader.num_workers=0",
                f"hydra.run.dir={run_dir / 'train'}",
            ],
            args.threads,
        )
        seconds = time.perf_counter() - start
        surrogate(
            [
                "eval",
                *common,
                f"ckpt={run_dir / 'train' / 'checkpoints' / 'best.ckpt'}",
                f"hydra.run.dir={run_dir / 'eval'}",
            ],
            args.threads,
        )
        result = json.loads((run_dir / "train" / "result.json").read_text())
        metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
        rows.append((variant, result["parameters"], seconds, metrics))
        print(f"{variant}: test rel L2 {metrics['rel_l2']:.4f}", file=sys.stderr, flush=True)
    print(
        f"Darcy {args.resolution}x{args.resolution}, {args.n_train} train / {args.n_test} test, "
        f"{args.epochs} epochs, {args.threads} thread(s)"
    )
    print("| model | parameters | train wall s | test rel L2 | median | mean baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant, parameters, seconds, m in rows:
        print(
            f"| {variant} | {parameters:,} | {seconds:.0f} | {m['rel_l2']:.4f} "
            f"| {m['rel_l2_median']:.4f} | {m['mean_baseline_rel_l2']:.4f} |"
        )


if __name__ == "__main__":
    main()
