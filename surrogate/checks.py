"""Up-front checks of a stage's config, so that bad input fails before any work with one line."""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, OmegaConf

from surrogate.errors import UserError


def _value(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, throw_on_missing=False)
    if value is None or OmegaConf.is_missing(cfg, key):
        raise UserError(f"{key} is required; pass {key}=<value>")
    return value


def require_int(cfg: DictConfig, key: str, minimum: int | None = None) -> int:
    value = _value(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{key}={value!r} must be an integer")
    if minimum is not None and value < minimum:
        raise UserError(f"{key}={value} must be >= {minimum}")
    return value


def require_float(
    cfg: DictConfig,
    key: str,
    minimum: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
) -> float:
    value = _value(cfg, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{key}={value!r} must be a number")
    if minimum is not None and not value >= minimum:
        raise UserError(f"{key}={value} must be >= {minimum}")
    if above is not None and not value > above:
        raise UserError(f"{key}={value} must be > {above}")
    if at_most is not None and not value <= at_most:
        raise UserError(f"{key}={value} must be <= {at_most}")
    return float(value)


def require_choice(cfg: DictConfig, key: str, choices: tuple[str, ...]) -> str:
    value = _value(cfg, key)
    if value not in choices:
        raise UserError(f"{key}={value!r} is unknown; choose one of: {', '.join(choices)}")
    return str(value)


def require_name(cfg: DictConfig, key: str) -> str:
    """A name usable as a directory: letters, digits, '-', '_' and '.' (not leading)."""
    value = str(_value(cfg, key))
    if not value or value.startswith(".") or not all(c.isalnum() or c in "-_." for c in value):
        raise UserError(f"{key}={value!r} must be letters, digits, '-', '_' or '.', e.g. darcy32")
    return value


def check_generate(cfg: DictConfig) -> None:
    require_int(cfg, "pde.resolution", minimum=3)  # before name, which defaults to use it
    require_name(cfg, "name")
    require_int(cfg, "seed", minimum=0)
    counts = [require_int(cfg, f"n_{split}", minimum=0) for split in ("train", "valid", "test")]
    if sum(counts) == 0:
        raise UserError("n_train, n_valid and n_test are all 0; ask for at least one sample")
    require_float(cfg, "solver.rtol", above=0.0, at_most=1.0)
    require_int(cfg, "workers", minimum=1)
    require_int(cfg, "segment", minimum=1)
    require_int(cfg, "blas_threads", minimum=1)
    if require_choice(cfg, "sort.name", ("auto", "none", "greedy", "binned")) == "auto":
        require_int(cfg, "sort.greedy_max", minimum=0)


def check_train(cfg: DictConfig) -> None:
    _value(cfg, "data")
    require_int(cfg, "seed", minimum=0)
    require_int(cfg, "trainer.max_epochs", minimum=1)
    require_int(cfg, "loader.batch_size", minimum=1)
    require_int(cfg, "loader.num_workers", minimum=0)
    require_float(cfg, "val_fraction", above=0.0, at_most=0.5)
    require_float(cfg, "optim.lr", above=0.0)
    require_float(cfg, "optim.weight_decay", minimum=0.0)
    require_choice(cfg, "optim.name", ("adam", "adamw"))
    require_choice(cfg, "scheduler.name", ("none", "cosine", "step", "onecycle"))
    require_choice(cfg, "loss", ("rel_l2", "h1", "mse"))
    precisions = ("32-true", "32", "bf16-mixed", "16-mixed")  # the last two: CUDA only
    precision = str(_value(cfg, "trainer.precision"))
    if precision not in precisions:
        raise UserError(
            f"trainer.precision={precision!r} is unknown; choose one of: {', '.join(precisions)}"
        )
    if not isinstance(OmegaConf.select(cfg, "compile"), bool):
        raise UserError(f"compile={OmegaConf.select(cfg, 'compile')!r} must be true or false")
    if OmegaConf.select(cfg, "early_stopping.patience") is not None:
        require_int(cfg, "early_stopping.patience", minimum=1)
        require_float(cfg, "early_stopping.min_delta", minimum=0.0)
    ckpt_path = OmegaConf.select(cfg, "ckpt_path")
    if ckpt_path is not None and not os.path.isfile(str(ckpt_path)):
        raise UserError(
            f"ckpt_path={ckpt_path} does not exist; pass a <run_dir>/checkpoints/last.ckpt"
        )


def require_bool(cfg: DictConfig, key: str) -> bool:
    value = _value(cfg, key)
    if not isinstance(value, bool):
        raise UserError(f"{key}={value!r} must be true or false")
    return value


def check_eval(cfg: DictConfig) -> None:
    _value(cfg, "ckpt")
    require_choice(cfg, "ckpt_name", ("last", "best"))
    require_int(cfg, "batch_size", minimum=1)
    require_choice(cfg, "device", ("auto", "cpu", "cuda"))
    low = require_int(cfg, "spectral.low", minimum=1)
    require_int(cfg, "spectral.high", minimum=low)
    require_bool(cfg, "figures.enabled")
    require_int(cfg, "figures.n_samples", minimum=0)
    require_float(cfg, "rollout.threshold", above=0.0)
    require_float(cfg, "rollout.blow_up", above=1.0)
    require_int(cfg, "rollout.figures", minimum=0)
