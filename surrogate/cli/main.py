"""`surrogate <stage> [overrides]`: runs the stage as `python -m surrogate.cli.<stage>`.

The stage runs in its own interpreter started with `-m` so that Lightning's DDP launcher, which
re-runs `sys.argv` of the `__main__` module for ranks > 0, starts the same stage again.
"""

from __future__ import annotations

import importlib.util
import os
import sys

STAGES = {
    "generate": "solve a family of PDEs and write a dataset to data/<name>/",
    "train": "train a neural operator on a dataset",
    "eval": "measure a checkpoint on a dataset split",
    "import": "bring a neuraloperator, PDEBench or The Well dataset into data/<name>/",
}
# The module that runs each stage (`import` is a Python keyword).
MODULES = {"import": "import_data"}

USAGE = (
    "usage: surrogate {generate,train,eval} [key=value ...] [-m] [--help]\n"
    "       surrogate import <format> <file> [<file> ...] name=<name> [key=value ...]"
)


def help_text() -> str:
    lines = [USAGE, "", "stages:"]
    lines += [f"  {name:<10}{text}" for name, text in STAGES.items()]
    lines += [
        "",
        "Each stage is a Hydra app: `surrogate train --help` shows its options and config,",
        "`surrogate train -m model=fno seed=0,1,2` sweeps. Example pipeline:",
        "  surrogate generate pde=darcy pde.resolution=32 n_train=64 n_test=16 name=darcy32",
        "  surrogate train data=darcy32 model=fno trainer.max_epochs=5",
        "  surrogate eval ckpt=outputs/train/<run>/checkpoints/last.ckpt",
        "Data from other tools: `surrogate import --help`, e.g.",
        "  surrogate import neuraloperator darcy_train_16.pt darcy_test_16.pt name=no_darcy16",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(help_text())
        sys.exit(0 if args else 2)
    if args[0] in ("-V", "--version"):
        from surrogate import __version__

        print(f"surrogate {__version__}")
        sys.exit(0)
    stage, rest = args[0], args[1:]
    if stage not in STAGES:
        print(
            f"error: unknown stage '{stage}'; choose one of: {', '.join(STAGES)}", file=sys.stderr
        )
        sys.exit(2)
    launcher = next((a.partition("=")[2] for a in rest if a.startswith("hydra/launcher=")), "")
    if launcher.startswith("submitit") and not importlib.util.find_spec(
        "hydra_plugins.hydra_submitit_launcher"
    ):
        print(
            f"error: hydra/launcher={launcher} needs Hydra's submitit launcher: pip install "
            "'surrogate[cluster]'",
            file=sys.stderr,
        )
        sys.exit(2)
    command = [sys.executable, "-m", f"surrogate.cli.{MODULES.get(stage, stage)}", *rest]
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
