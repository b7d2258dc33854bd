"""Experiment loggers from the `logger` config group; none of them needs the network by default.

Each registers itself with the function that builds it from its config for a run directory
(Lightning is imported when one is built, so the config checks stay light).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.registry import Registry

LOGGERS: Registry[Callable[[DictConfig, Path], Any]] = Registry("logger")


def build_logger(cfg: DictConfig, run_dir: Path) -> Any:
    """The Lightning logger `cfg.name` writing under `run_dir` (False: none)."""
    return LOGGERS.get(cfg.name)(cfg, run_dir)


@LOGGERS.register("csv")
def csv_logger(cfg: DictConfig, run_dir: Path) -> Any:
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=str(run_dir), name="csv", version="")


@LOGGERS.register("tensorboard")
def tensorboard_logger(cfg: DictConfig, run_dir: Path) -> Any:
    if not any(importlib.util.find_spec(p) for p in ("tensorboard", "tensorboardX")):
        raise UserError(
            "logger=tensorboard needs the tensorboard package: pip install "
            "'surrogate[tensorboard]' (or tensorboard), or choose logger=csv"
        )
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="")


@LOGGERS.register("wandb")
def wandb_logger(cfg: DictConfig, run_dir: Path) -> Any:
    from lightning.pytorch.loggers import WandbLogger

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


@LOGGERS.register("none")
def no_logger(cfg: DictConfig, run_dir: Path) -> bool:
    return False
