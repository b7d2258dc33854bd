"""The train stage: dataset -> normaliser -> Lightning fit -> best/last checkpoints."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    ModelCheckpoint,
    RichModelSummary,
    RichProgressBar,
)
from omegaconf import DictConfig, OmegaConf

from surrogate.checks import check_train
from surrogate.data.reader import resolve_dataset_dir
from surrogate.errors import UserError
from surrogate.loading.datamodule import FieldDataModule
from surrogate.loading.normalizer import fit_statistics
from surrogate.loading.temporal import TemporalOptions
from surrogate.model_checks import check_model_size
from surrogate.models import effective_config
from surrogate.training.callbacks import EpochLog, RankLog
from surrogate.training.ema import CHECKPOINT_KEY, WeightEMA
from surrogate.training.faults import FaultGuard, interruptible
from surrogate.training.loggers import build_logger
from surrogate.training.module import OperatorModule
from surrogate.training.optim import SCHEDULERS
from surrogate.training.process_group import released_process_group
from surrogate.training.trainer_config import check_trainer_devices, lightning_configuration_errors

log = logging.getLogger("surrogate.train")


def _quiet_lightning() -> None:
    """Route Lightning's messages through the run's log once, without advertising or noise."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(lambda record: "litlogger" not in record.getMessage())
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*is not supported by the model summary.*")
    # A resumed run writes into its own directory; docs/models.md says what that means.
    warnings.filterwarnings("ignore", message=".*The dirpath has changed from.*")


def _check_cuda_options(cfg: DictConfig) -> None:
    """`16-mixed` needs a CUDA GPU; `bf16-mixed` runs anywhere (CPU autocast); torch.compile
    needs a CUDA GPU or, on CPU, the C++ compiler inductor builds its kernels with."""
    accelerator = str(cfg.trainer.accelerator)
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return
    where = "no CUDA device is available" if accelerator != "cpu" else "trainer.accelerator=cpu"
    if str(cfg.trainer.precision) == "16-mixed":
        raise UserError(
            f"trainer.precision=16-mixed needs a CUDA GPU and {where}; "
            "use trainer.precision=bf16-mixed (mixed precision on CPU) or 32-true"
        )
    if cfg.compile and _cpp_compiler() is None:
        raise UserError(
            f"compile=true on CPU needs a C++ compiler for torch.compile's kernels and none was "
            f"found ({where}); install g++ (or set CXX) or use compile=false"
        )


def _cpp_compiler() -> str | None:
    """The C++ compiler torch's inductor would use on CPU, if one is installed."""
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        return shutil.which(get_cpp_compiler())
    except (RuntimeError, OSError):  # torch found no compiler at all
        return None


def _log_effective_settings(cfg: DictConfig, container: dict[str, Any], grid: tuple[int, ...]):
    """One line with every hyper-parameter the model is built with on the training grid (after
    any cap, which gets its own line), one with the optimisation recipe."""
    params, notes = effective_config(container["model"], grid)
    name = params.pop("name")
    shape = "x".join(map(str, grid))
    for note in notes:
        log.info("%s on the %s training grid: %s", name, shape, note)
    log.info("model %s: %s", name, ", ".join(f"{k}={v}" for k, v in params.items()))
    optim, schedule = container["optim"], container["scheduler"]
    detail = SCHEDULERS.get(schedule["name"]).describe(schedule)
    log.info(
        "recipe: %s lr=%g weight_decay=%g; schedule %s; %d epochs, batch %d; loss %s (%s); "
        "EMA of the weights %s; precision %s; compile %s",
        optim["name"],
        optim["lr"],
        optim["weight_decay"],
        detail,
        cfg.trainer.max_epochs,
        cfg.loader.batch_size,
        cfg.loss,
        cfg.loss_space,
        "off" if cfg.ema.decay is None else f"decay {cfg.ema.decay:g}",
        cfg.trainer.precision,
        str(cfg.compile).lower(),
    )


def _check_resumable(ckpt_path: str, model: dict[str, Any], ema: float | None) -> None:
    """Refuse a checkpoint made for another model config, before Lightning fails on its weights,
    and one whose weights are an average when this run keeps none (it would train the average
    on, not the weights its training left off with)."""
    saved = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    saved_model = saved.get("hyper_parameters", {}).get("model")
    if saved_model != model:
        raise UserError(
            f"ckpt_path={ckpt_path} was trained with model {saved_model}, this run asks for "
            f"{model}; resume with the same model settings"
        )
    if CHECKPOINT_KEY in saved and ema is None:
        raise UserError(
            f"ckpt_path={ckpt_path} holds an average of the weights (it was trained with "
            f"ema.decay={saved[CHECKPOINT_KEY]['decay']:g}); resume with ema.decay set"
        )


def train(cfg: DictConfig) -> dict[str, Any]:
    """Check the config, then fit `cfg.model` on `cfg.data` (`train_checked`)."""
    check_train(cfg)
    return train_checked(cfg)


def train_checked(cfg: DictConfig) -> dict[str, Any]:
    """Fit `cfg.model` on `cfg.data` for a config `check_train` has passed (the CLI runs it
    before the heavy imports); returns the checkpoint paths and the final errors.

    The steps: the checks that need torch or the data, the data, the module, the trainer, the
    fit. Rank 0 also writes the result to <run_dir>/result.json, which sweep summaries read.
    """
    _check_cuda_options(cfg)
    check_trainer_devices(cfg, OmegaConf.to_container(cfg.trainer, resolve=True))
    _quiet_lightning()
    run_dir = Path(cfg.paths.output_dir)
    container = OmegaConf.to_container(cfg, resolve=True)
    temporal = TemporalOptions.from_config(container["temporal"])
    datamodule = _datamodule(cfg, temporal)
    module = _module(cfg, container, datamodule, temporal)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val/rel_l2",
        mode="min",
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    if cfg.compile:
        module.model.compile()
    guard = FaultGuard(resumed_from=cfg.ckpt_path)
    trainer = _trainer(cfg, container, run_dir, [checkpoint, RankLog(), guard])
    log.info(
        "training %s on %s: %d train / %d val samples, %d parameters",
        cfg.model.name,
        datamodule.dataset_dir,
        len(datamodule.train_indices),
        datamodule.valid_info.n_samples if datamodule.valid_info else len(datamodule.val_indices),
        sum(p.numel() for p in module.parameters()),
    )
    start = time.perf_counter()
    with released_process_group():
        with interruptible(guard), lightning_configuration_errors():
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        return _result(cfg, trainer, module, checkpoint, run_dir, time.perf_counter() - start)


def _datamodule(cfg: DictConfig, temporal: TemporalOptions) -> FieldDataModule:
    return FieldDataModule(
        resolve_dataset_dir(str(cfg.data), cfg.paths.data_dir),
        batch_size=int(cfg.loader.batch_size),
        num_workers=int(cfg.loader.num_workers),
        val_fraction=float(cfg.val_fraction),
        seed=int(cfg.seed),
        temporal=temporal,
        in_memory=str(cfg.loader.in_memory),
        memory_fraction=float(cfg.loader.memory_fraction),
    )


def _module(
    cfg: DictConfig,
    container: dict[str, Any],
    datamodule: FieldDataModule,
    temporal: TemporalOptions,
) -> OperatorModule:
    """The model sized to the data (refused if its training state does not fit), seeded,
    with the normaliser fitted on the training samples."""
    info = datamodule.train_info
    window = temporal.window * len(info.output_names) if info.temporal else 0
    check_model_size(
        container["model"],
        len(info.input_names) + window,
        len(info.output_names),
        len(info.spatial_shape),
    )
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    if cfg.ckpt_path is not None:
        _check_resumable(str(cfg.ckpt_path), container["model"], cfg.ema.decay)
    module = OperatorModule(
        model=container["model"],
        data={
            "name": info.name,
            "dir": str(datamodule.dataset_dir.resolve()),
            "pde": info.pde,
            "input_names": list(info.input_names),
            "output_names": list(info.output_names),
            "spatial_shape": list(info.spatial_shape),
            "time_steps": info.time_steps,
            "dt": info.dt,
        },
        optim=container["optim"],
        scheduler=container["scheduler"],
        loss=str(cfg.loss),
        temporal=temporal.as_dict() if info.temporal else None,
        loss_space=str(cfg.loss_space),
    )
    _log_effective_settings(cfg, container, info.spatial_shape)
    train_indices = datamodule.train_indices
    module.set_statistics(
        fit_statistics(info.path, "inputs", train_indices),
        fit_statistics(info.path, "outputs", train_indices),
        # Only predicting the change normalises by the increments: another pass over the data.
        fit_statistics(info.path, "outputs", train_indices, changes=True)
        if info.temporal and temporal.predict == "change"
        else None,
    )
    return module


def _trainer(
    cfg: DictConfig, container: dict[str, Any], run_dir: Path, callbacks: list
) -> L.Trainer:
    """Lightning's Trainer with the run's logger, progress display and early stopping."""
    on_terminal = sys.stdout.isatty()
    callbacks += [RichProgressBar(), RichModelSummary()] if on_terminal else [EpochLog()]
    if cfg.ema.decay is not None:
        callbacks.append(WeightEMA(float(cfg.ema.decay)))
    if cfg.early_stopping.patience is not None:
        callbacks.append(
            EarlyStopping(
                monitor="val/rel_l2",
                mode="min",
                patience=int(cfg.early_stopping.patience),
                min_delta=float(cfg.early_stopping.min_delta),
            )
        )
    with lightning_configuration_errors():
        return L.Trainer(
            **container["trainer"],
            default_root_dir=str(run_dir),
            logger=build_logger(cfg.logger, run_dir),
            callbacks=callbacks,
            enable_progress_bar=on_terminal,
        )


def _result(
    cfg: DictConfig,
    trainer: L.Trainer,
    module: OperatorModule,
    checkpoint: ModelCheckpoint,
    run_dir: Path,
    seconds: float,
) -> dict[str, Any]:
    """The run's outcome; written to result.json by rank 0."""
    metrics = trainer.callback_metrics
    result = {
        "model": str(cfg.model.name),
        "seed": int(cfg.seed),
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "run_dir": str(run_dir),
        "best_checkpoint": checkpoint.best_model_path,
        "last_checkpoint": str(run_dir / "checkpoints" / "last.ckpt"),
        "best_val_rel_l2": float(checkpoint.best_model_score)
        if checkpoint.best_model_score is not None
        else float("nan"),
        "final_val_rel_l2": float(metrics.get("val/rel_l2", float("nan"))),
        "final_train_loss": float(metrics.get("train/loss_epoch", float("nan"))),
        "epochs": trainer.current_epoch,
        "seconds": seconds,
    }
    if trainer.global_rank == 0:
        (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        log.info(
            "best val rel_l2 %.4g; last checkpoint %s",
            result["best_val_rel_l2"],
            result["last_checkpoint"],
        )
    return result
