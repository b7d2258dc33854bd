"""Up-front checks of a stage's config, so that bad input fails before any work with one line."""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, OmegaConf

from surrogate.config_types import check_types
from surrogate.errors import UserError
from surrogate.memory import SAFETY, available_memory, size_text

LOADER_PROCESS_BYTES = 300 * 2**20  # a DataLoader worker: a forked copy of the training process


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


def require_string(cfg: DictConfig, key: str, example: str) -> str:
    """A non-empty string; a number (Hydra reads `name=2024` as one) is told how to quote."""
    value = _value(cfg, key)
    if isinstance(value, (bool, int, float)):
        raise UserError(f"{key}={value!r} is a number; quote it to use it as text: {key}='{value}'")
    if not isinstance(value, str) or not value:
        raise UserError(f"{key}={value!r} must be a non-empty text, e.g. {key}={example}")
    return value


def require_name(cfg: DictConfig, key: str) -> str:
    """A name usable as a directory: letters, digits, '-', '_' and '.' (not leading)."""
    value = require_string(cfg, key, "darcy32")
    if value.startswith(".") or not all(c.isalnum() or c in "-_." for c in value):
        raise UserError(f"{key}={value!r} must be letters, digits, '-', '_' or '.', e.g. darcy32")
    return value


def require_directory(cfg: DictConfig, key: str) -> str:
    """A directory path (`.` for the current directory, never empty)."""
    return require_string(cfg, key, ".")


def usable_cores() -> int:
    """The cores this process may run on (an affinity mask or a batch job's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


BACKENDS = ("numpy", "torch")  # backend=torch's families and devices: generation/batched.py
DEVICES = ("auto", "cpu", "cuda")


def check_generate(cfg: DictConfig) -> None:
    check_types(cfg, "generate")
    require_int(cfg, "pde.resolution", minimum=3)  # before name, which defaults to use it
    require_name(cfg, "name")
    require_int(cfg, "seed", minimum=0)
    counts = [require_int(cfg, f"n_{split}", minimum=0) for split in ("train", "valid", "test")]
    if sum(counts) == 0:
        raise UserError("n_train, n_valid and n_test are all 0; ask for at least one sample")
    require_float(cfg, "solver.rtol", above=0.0, at_most=1.0)
    require_int(cfg, "workers", minimum=1)
    require_int(cfg, "segment", minimum=1)
    threads = require_int(cfg, "blas_threads", minimum=1)
    if threads > usable_cores():
        raise UserError(
            f"blas_threads={threads} is more than the {usable_cores()} cores this process may use; "
            "use blas_threads=1 (more threads only slow the small kernels, docs/solvers.md)"
        )
    require_float(cfg, "flush_seconds", minimum=0.0)
    require_bool(cfg, "overwrite")
    require_bool(cfg, "check_resources")
    require_choice(cfg, "backend", BACKENDS)
    require_choice(cfg, "device", DEVICES)
    require_int(cfg, "batch_size", minimum=1)
    require_directory(cfg, "paths.data_dir")
    from surrogate.solvers.sorts import SORTS  # the sorts own their checks

    SORTS.choose(cfg, "sort.name").check(cfg)


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def check_trainer(cfg: DictConfig) -> None:
    """The `trainer` group's values; what needs torch (devices present, strategy names) is
    checked by surrogate.training.trainer_config."""
    require_choice(cfg, "trainer.accelerator", ACCELERATORS)
    devices = _value(cfg, "trainer.devices")
    if devices != "auto" and (
        isinstance(devices, bool)
        or not isinstance(devices, int)
        or not (devices >= 1 or devices == -1)
    ):
        raise UserError(
            f"trainer.devices={devices!r} must be auto, a number of devices >= 1, or -1 (all GPUs)"
        )
    require_int(cfg, "trainer.max_epochs", minimum=1)
    require_int(cfg, "trainer.log_every_n_steps", minimum=1)
    require_int(cfg, "trainer.num_sanity_val_steps", minimum=-1)
    if OmegaConf.select(cfg, "trainer.num_nodes") is not None:
        require_int(cfg, "trainer.num_nodes", minimum=1)
    if OmegaConf.select(cfg, "trainer.gradient_clip_val") is not None:
        require_float(cfg, "trainer.gradient_clip_val", minimum=0.0)
    deterministic = _value(cfg, "trainer.deterministic")
    if not isinstance(deterministic, bool) and deterministic != "warn":
        raise UserError(f"trainer.deterministic={deterministic!r} must be true, false or warn")
    if OmegaConf.select(cfg, "trainer.sync_batchnorm") is not None:
        require_bool(cfg, "trainer.sync_batchnorm")
    strategy = OmegaConf.select(cfg, "trainer.strategy")
    if strategy is not None and (not isinstance(strategy, str) or not strategy):
        raise UserError(f"trainer.strategy={strategy!r} must be a strategy name, e.g. ddp")


def check_train(cfg: DictConfig) -> None:
    from surrogate.model_checks import check_model  # it uses this module's require_*
    from surrogate.training.losses import LOSSES
    from surrogate.training.optim import OPTIMISERS, SCHEDULERS

    check_types(cfg, "train")
    _value(cfg, "data")
    seed = require_int(cfg, "seed", minimum=0)
    if seed >= 2**32:  # numpy's and Lightning's generators take 32-bit seeds
        raise UserError(f"seed={seed} must be < 2^32 = {2**32}")
    check_trainer(cfg)
    require_int(cfg, "loader.batch_size", minimum=1)
    loaders = require_int(cfg, "loader.num_workers", minimum=0)
    if loaders * LOADER_PROCESS_BYTES * SAFETY > available_memory():
        fitting = int(available_memory() / (LOADER_PROCESS_BYTES * SAFETY))
        raise UserError(
            f"loader.num_workers={loaders} processes need about "
            f"{size_text(loaders * LOADER_PROCESS_BYTES)} of memory and "
            f"{size_text(available_memory())} are available; use at most {fitting} "
            "(0 loads in the training process)"
        )
    require_choice(cfg, "loader.in_memory", ("auto", "host", "device", "lazy"))
    require_float(cfg, "loader.memory_fraction", above=0.0, at_most=1.0)
    require_float(cfg, "val_fraction", above=0.0, at_most=0.5)
    require_float(cfg, "optim.lr", above=0.0)
    for model in cfg.optim.lr_by_model:
        require_float(cfg, f"optim.lr_by_model.{model}", above=0.0)
    decay = require_float(cfg, "optim.weight_decay", minimum=0.0)
    if not decay < 1.0:
        raise UserError(
            f"optim.weight_decay={decay:g} pulls every weight to zero in a few steps (Adam's L2) or "
            "flips its sign (AdamW, with lr >= 1/decay); use a value below 1, typically 1e-5 to 1e-2"
        )
    OPTIMISERS.choose(cfg, "optim.name")
    SCHEDULERS.choose(cfg, "scheduler.name")
    warmup = require_float(cfg, "scheduler.warmup", minimum=0.0)
    if not warmup < 1.0:
        raise UserError(f"scheduler.warmup={warmup} is a fraction of the steps; it must be < 1")
    require_int(cfg, "scheduler.step_size", minimum=1)
    require_float(cfg, "scheduler.gamma", above=0.0)
    LOSSES.choose(cfg, "loss")
    require_choice(cfg, "loss_space", ("physical", "normalized"))
    precisions = ("32-true", "32", "bf16-mixed", "16-mixed")  # 16-mixed: CUDA only (run.py)
    precision = str(_value(cfg, "trainer.precision"))
    if precision not in precisions:
        raise UserError(
            f"trainer.precision={precision!r} is unknown; choose one of: {', '.join(precisions)}"
        )
    if not isinstance(OmegaConf.select(cfg, "compile"), bool):
        raise UserError(f"compile={OmegaConf.select(cfg, 'compile')!r} must be true or false")
    if OmegaConf.select(cfg, "ema.decay") is not None:
        decay = require_float(cfg, "ema.decay", above=0.0)
        if not decay < 1.0:
            raise UserError(
                f"ema.decay={decay:g} would never move the average off its first weights; use a "
                "value below 1 (0.99 to 0.9999: about 100 to 10000 steps averaged), or null for off"
            )
    if OmegaConf.select(cfg, "early_stopping.patience") is not None:
        require_int(cfg, "early_stopping.patience", minimum=1)
    require_float(cfg, "early_stopping.min_delta", minimum=0.0)
    ckpt_path = OmegaConf.select(cfg, "ckpt_path")
    if ckpt_path is not None and not os.path.isfile(str(ckpt_path)):
        raise UserError(
            f"ckpt_path={ckpt_path} does not exist; pass a <run_dir>/checkpoints/last.ckpt"
        )
    check_model(cfg)  # last: the models' own checks import them (and torch)


def require_bool(cfg: DictConfig, key: str) -> bool:
    value = _value(cfg, key)
    if not isinstance(value, bool):
        raise UserError(f"{key}={value!r} must be true or false")
    return value


def check_eval(cfg: DictConfig) -> None:
    check_types(cfg, "eval")
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
