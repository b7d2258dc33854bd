"""Experiment loggers from the `logger` config group; none of them needs the network by default."""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from omegaconf import DictConfig

from surrogate.errors import UserError

LOGGERS = ("csv", "wandb", "none")


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger | bool:
    if cfg.name == "csv":
        return CSVLogger(save_dir=str(run_dir), name="csv", version="")
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
