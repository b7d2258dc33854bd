"""`surrogate train`: fit a neural operator on a dataset; checkpoints go to <run_dir>/checkpoints."""

from __future__ import annotations

from omegaconf import DictConfig

from surrogate.checks import check_train
from surrogate.cli.app import stage_app
from surrogate.cli.command import run_command


@stage_app("train")
def main(cfg: DictConfig) -> float:
    check_train(cfg)  # before the heavy imports, so bad input fails at once
    from surrogate.training.run import train_checked

    return train_checked(cfg)["best_val_rel_l2"]


if __name__ == "__main__":
    run_command(main)
