"""How well the label-free PDE residual tracks the true error of a trained model.

Protocol (defaults): per family (darcy: two-phase coefficient; poisson: SKR's Chebyshev data),
32x32 interior grid, seed 0, 256 training and 64 test samples; FNO at its default config trained
for each epoch budget (an under-trained and a trained model), relative L2 loss, one thread; the
last checkpoint evaluated on the test split. Printed per run: the test relative L2 error, the
mean relative residual ||A(a)u - b|| / ||b|| of the model, of the mean-field baseline and of the
stored solution, and Spearman's rank correlation between the model's residual and its error over
the test samples. Runs the real commands (`surrogate generate/train/eval`) and prints a table.

    .venv/bin/python benchmarks/pde_residual.py            # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/pde_residual.py --families darcy --epochs 2 25
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

FAMILIES = {"darcy": ["pde=darcy"], "poisson": ["pde=poisson"]}


def surrogate(args: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "surrogate.cli.main", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/pde_residual"))
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=256)
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--epochs", type=int, nargs="*", default=[2, 25])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    args = parser.parse_args()
    common = [f"paths.data_dir={args.root / 'data'}"]
    rows = []
    for family in args.families:
        name = f"{family}{args.resolution}"
        surrogate(
            ["generate", *FAMILIES[family], f"pde.resolution={args.resolution}", f"name={name}"]
            + [f"n_train={args.n_train}", f"n_test={args.n_test}", "seed=0", *common],
            args.threads,
        )
        for epochs in args.epochs:
            run = args.root / "runs" / f"{name}_e{epochs}"
            surrogate(
                ["train", f"data={name}", "model=fno", f"trainer.max_epochs={epochs}", "seed=0"]
                + [f"hydra.run.dir={run}", *common],
                args.threads,
            )
            out = args.root / "eval" / f"{name}_e{epochs}"
            surrogate(
                ["eval", f"ckpt={run}", "figures.enabled=false", f"hydra.run.dir={out}", *common],
                args.threads,
            )
            metrics = json.loads((out / "metrics.json").read_text())
            residual = metrics["pde_residual"]
            rows.append(
                [
                    family,
                    epochs,
                    metrics["rel_l2"],
                    residual["model"]["mean"],
                    residual["mean_baseline"]["mean"],
                    residual["stored_solution"]["mean"],
                    residual["rank_correlation_with_rel_l2"],
                ]
            )
    header = [
        "family",
        "epochs",
        "test rel L2",
        "residual (model)",
        "residual (training mean)",
        "residual (stored solution)",
        "Spearman(residual, error)",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
