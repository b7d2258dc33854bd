"""Experiment loggers from the `logger` config group; none of them needs the network by default."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig

from surrogate.errors import UserError

LOGGERS = ("csv", "tensorboard", "wandb", "none")


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger | bool:
    if cfg.name == "csv":
        return CSVLogger(save_dir=str(run_dir), name="csv", version="")
    if cfg.name == "tensorboard":
        if not any(importlib.util.find_spec(p) for p in ("tensorboard", "tensorboardX")):
            raise UserError(
                "logger=tensorboard needs the tensorboard package: pip install "
                "'surrogate[tensorboard]' (or tensorboard), or choose logger=csv"
            )
        return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="")
    if cfg.name == "wandb":
        os.environ.setdefault("WANDB_SILENT", "true")
        if cfg.offline:
            os.environ["WANDB_MODE"] = "offline"
        return WandbLogger(
            project=cfg.project,
            entity=cfg.entity,
            name=run_dir.name,
            save_dir=str(run_dir),
            offline=bool(cfg.offline),
        )
    if cfg.name == "none":
        return False
    raise UserError(f"logger={cfg.name} is unknown; choose one of: {', '.join(LOGGERS)}")
