"""The eval stage: a checkpoint, a dataset split -> metrics.json, per_sample.csv, figures, report.md.

`evaluate_checkpoint` runs in four steps: measure every sample (`_measure`), summarise
(`_summary`), draw (`_figures`), write (`write_outputs`). Another evaluation of the same
checkpoint (a rollout over time, say) adds its results to the metrics dict under its own key
and passes its `report.Section`s to `write_outputs`, which appends them to report.md.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from surrogate.checks import check_eval
from surrogate.data.reader import (
    FieldDataset,
    SplitInfo,
    read_grid,
    read_solver_stats,
    read_split_info,
    resolve_dataset_dir,
)
from surrogate.errors import UserError
from surrogate.evaluation.metrics import LABELS, distribution, per_sample_metrics
from surrogate.evaluation.outputs import device_timed, write_outputs
from surrogate.evaluation.report import Section, weights_description
from surrogate.models import resolution_dependent
from surrogate.training.losses import relative_l2
from surrogate.training.module import OperatorModule

log = logging.getLogger("surrogate.eval")


def load_checkpoint(path: Path) -> OperatorModule:
    if not path.is_file():
        raise UserError(
            f"checkpoint {path} does not exist; pass ckpt=<run_dir>/checkpoints/last.ckpt"
        )
    try:
        module = OperatorModule.load_from_checkpoint(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise UserError(
            f"checkpoint {path} cannot be read ({type(error).__name__}: {error})"
        ) from error
    return module.eval()


def resolve_checkpoint(path: Path, name: str) -> Path:
    """A checkpoint file as given, or a run directory's checkpoints/<name>.ckpt."""
    return path / "checkpoints" / f"{name}.ckpt" if (path / "checkpoints").is_dir() else path


def _dataset_for(cfg: DictConfig, data: dict[str, Any]) -> Path:
    if cfg.data is not None:
        return resolve_dataset_dir(str(cfg.data), cfg.paths.data_dir)
    if Path(data["dir"]).is_dir():
        return Path(data["dir"])
    return resolve_dataset_dir(data["name"], cfg.paths.data_dir)


def _check_compatible(info: SplitInfo, data: dict[str, Any]) -> None:
    expected = (tuple(data["input_names"]), tuple(data["output_names"]), len(data["spatial_shape"]))
    found = (info.input_names, info.output_names, len(info.spatial_shape))
    if expected != found:
        raise UserError(
            f"{info.path} does not fit the checkpoint: it has inputs {found[0]}, outputs {found[1]} "
            f"in {found[2]}D, the model expects {expected[0]}, {expected[1]} in {expected[2]}D"
        )


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is available; use device=cpu")
    return torch.device(name)


def _measure(
    module: OperatorModule,
    info: SplitInfo,
    device: torch.device,
    cfg: DictConfig,
    spacing: Sequence[float],
) -> tuple[dict[str, np.ndarray], float]:
    """Per-sample metrics of the model and of the mean-field baseline, and inference seconds.

    One warm-up pass on the first batch keeps one-off costs (FFT plans, kernel selection) out
    of the timing.
    """
    loader = DataLoader(FieldDataset(info.path), batch_size=int(cfg.batch_size))
    baseline = module.mean_field(info.spatial_shape).to(device)
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    seconds = 0.0
    with torch.inference_mode():
        for batch, (x, y) in enumerate(loader):
            x, y = x.to(device), y.to(device)
            if batch == 0:
                module(x)
            pred, took = device_timed(device, module, x)
            seconds += took
            metrics = per_sample_metrics(
                pred, y, spacing, int(cfg.spectral.low), int(cfg.spectral.high)
            )
            for name, value in metrics.items():
                parts[name].append(value.cpu().numpy())
            parts["mean_baseline_rel_l2"].append(
                relative_l2(baseline.expand_as(y), y).cpu().numpy()
            )
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}, seconds


def _summary(values: dict[str, np.ndarray]) -> dict[str, Any]:
    """Means of every metric (max_error: the worst sample) and each metric's distribution."""
    per_sample = {name: distribution(array) for name, array in values.items()}
    rel_l2 = per_sample["rel_l2"]
    return {
        **{name: per_sample[name]["mean"] for name in LABELS},
        "max_error": per_sample["max_error"]["max"],
        "rel_l2_std": rel_l2["std"],
        "rel_l2_median": rel_l2["median"],
        "rel_l2_max": rel_l2["max"],
        "mean_baseline_rel_l2": per_sample["mean_baseline_rel_l2"]["mean"],
        "per_sample": per_sample,
    }


def _figure_samples(rel_l2: np.ndarray, count: int) -> list[int]:
    """Up to `count` samples spread over the error distribution, worst first."""
    if count == 0:
        return []
    order = np.argsort(-np.nan_to_num(rel_l2, nan=np.inf))
    picks = np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)
    return [int(order[p]) for p in dict.fromkeys(picks)]


def _figures(
    module: OperatorModule,
    info: SplitInfo,
    values: dict[str, np.ndarray],
    coords: list[np.ndarray],
    device: torch.device,
    figure_dir: Path,
    count: int,
) -> list[Path]:
    from surrogate.evaluation.figures import plot_fields, plot_histogram

    figure_dir.mkdir(parents=True, exist_ok=True)
    dataset = FieldDataset(info.path)
    paths = []
    for index in _figure_samples(values["rel_l2"], count):
        x, y = dataset[index]
        with torch.inference_mode():
            pred = module(x[None].to(device))[0].cpu()
        paths.append(
            plot_fields(
                figure_dir / f"sample_{index}.png",
                x.numpy(),
                y.numpy(),
                pred.numpy(),
                info.input_names,
                info.output_names,
                coords,
                f"{info.name}, sample {index}: relative L2 {values['rel_l2'][index]:.3g}",
            )
        )
    paths.append(
        plot_histogram(
            figure_dir / "rel_l2_histogram.png",
            values["rel_l2"],
            "relative L2 per sample",
            f"{info.name}: {info.n_samples} samples",
        )
    )
    return paths


def resolution_warning(model: str, grid: Sequence[int], trained: Sequence[int]) -> str | None:
    """What to tell about a resolution-dependent model evaluated on another grid, else None."""
    if not resolution_dependent(model) or tuple(grid) == tuple(trained):
        return None
    shape, trained_shape = "x".join(map(str, grid)), "x".join(map(str, trained))
    return (
        f"{model} is resolution-dependent: trained on {trained_shape}, evaluated on {shape}, its "
        "convolutions see other physical scales; expect a larger error (docs/models.md)"
    )


def evaluate_checkpoint(cfg: DictConfig, ckpt: Path, run_dir: Path) -> dict[str, Any]:
    """Measure the checkpoint on the split of `cfg`; writes its outputs in `run_dir`."""
    module = load_checkpoint(ckpt)
    data = module.hparams.data
    info = read_split_info(_dataset_for(cfg, data), str(cfg.split))
    _check_compatible(info, data)
    coords = read_grid(info.path, info.spatial_shape)
    spacing = [float(np.diff(axis).mean()) for axis in coords]
    device = _device(str(cfg.device))
    module.to(device)
    if info.temporal or module.temporal:
        from surrogate.evaluation.rollout import evaluate_rollout

        return evaluate_rollout(cfg, module, info, device, ckpt, run_dir)

    values, inference_seconds = _measure(module, info, device, cfg, spacing)
    if not np.all(np.isfinite(values["rel_l2"])):
        log.warning("the model produced non-finite predictions on %s", info.path)
    solver_seconds = float(np.mean(read_solver_stats(info.path)["seconds"]))
    inference_per_sample = inference_seconds / info.n_samples
    speedup = solver_seconds / inference_per_sample if inference_per_sample > 0 else None
    metrics: dict[str, Any] = {
        **_summary(values),
        "n_samples": info.n_samples,
        "inference_seconds_per_sample": inference_per_sample,
        "solver_seconds_per_sample": solver_seconds if np.isfinite(solver_seconds) else None,
        "speedup_vs_solver": speedup if speedup is not None and np.isfinite(speedup) else None,
        "dataset": str(info.path),
        "split": str(cfg.split),
        "resolution": list(info.spatial_shape),
        "trained_resolution": list(data["spatial_shape"]),
        "checkpoint": str(ckpt),
        "model": str(module.hparams.model["name"]),
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "weights": weights_description(module.averaged_decay),
        "device": device.type,
        "frmse_bands": {
            "low": [0, int(cfg.spectral.low)],
            "mid": [int(cfg.spectral.low), int(cfg.spectral.high)],
            "high": [int(cfg.spectral.high), None],
        },
    }
    metrics["pde_residual"], sections = _residual(module, info, device, cfg, values)
    warning = resolution_warning(metrics["model"], info.spatial_shape, data["spatial_shape"])
    if warning:
        log.warning(warning)
        metrics["warning"] = warning
    figures: list[Path] = []
    if cfg.figures.enabled:
        figures = _figures(
            module, info, values, coords, device, run_dir / "figures", int(cfg.figures.n_samples)
        )
    metrics["figures"] = [path.relative_to(run_dir).as_posix() for path in figures]
    write_outputs(run_dir, metrics, values, figures, sections)
    return metrics


def _residual(
    module: OperatorModule,
    info: SplitInfo,
    device: torch.device,
    cfg: DictConfig,
    values: dict[str, np.ndarray],
) -> tuple[dict[str, Any], list[Section]]:
    """The PDE residual of the predictions (surrogate/evaluation/residual.py), or why there is
    none; its per-sample values join `values` (per_sample.csv)."""
    from surrogate.evaluation import residual

    baseline = module.mean_field(info.spatial_shape).to(device)
    try:
        per_sample = residual.pde_residuals(info, module, baseline, device, int(cfg.batch_size))
    except residual.Unavailable as reason:
        entry = residual.unavailable(str(reason))
    else:
        values.update(per_sample)
        entry = residual.summary(per_sample, values["rel_l2"])
    return entry, [residual.section(entry)]


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Check the config, then measure one checkpoint (`evaluate_checked`)."""
    check_eval(cfg)
    return evaluate_checked(cfg)


def evaluate_checked(cfg: DictConfig) -> dict[str, Any]:
    """Measure one checkpoint (`ckpt`: a file or a run directory) into the run directory, for
    a config `check_eval` has passed."""
    ckpt = resolve_checkpoint(Path(cfg.ckpt), str(cfg.ckpt_name))
    return evaluate_checkpoint(cfg, ckpt, Path(cfg.paths.output_dir))
