"""Rollout evaluation of a one-step model on time-dependent data.

From each test trajectory's first `window` true states the model is applied autoregressively up
to the last stored state: step n (n = 1 .. horizon, horizon = T - window) predicts state
window - 1 + n. Per step: relative L2 and Pearson correlation (mean over trajectories), the
first step whose mean relative L2 exceeds `rollout.threshold`, and blow-ups: a trajectory whose
prediction turns NaN/Inf or exceeds `rollout.blow_up` times the largest |value| of its true
trajectory is stopped there, its step recorded, and left out of the means from that step on;
the evaluation itself never fails on it. The one-step (teacher-forced) error is measured too.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from omegaconf import DictConfig

from surrogate.data.reader import SplitInfo, read_grid, read_solver_stats
from surrogate.errors import UserError
from surrogate.evaluation.metrics import LABELS, distribution, per_sample_metrics
from surrogate.evaluation.outputs import device_timed, write_outputs
from surrogate.evaluation.report import (
    Section,
    format_value,
    markdown_table,
    weights_description,
)
from surrogate.training.losses import relative_l2
from surrogate.training.module import OperatorModule

log = logging.getLogger("surrogate.eval")

# Rollout-specific definitions of these (over steps, blow-ups excluded) are set below instead.
NOT_FROM_FIELDS = ("rel_l2", "rmse", "max_error")

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rollout(
    step: Step, static: torch.Tensor, initial: torch.Tensor, steps: int, bound: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions (B, steps, C, *s), NaN from a trajectory's blow-up on, and the blow-up step
    per trajectory (B,) (1-based; 0 = none). `initial` is the window (B, w, C, *s), `bound`
    the largest allowed |value| per trajectory (B,)."""
    window = initial
    blow_up = torch.zeros(len(initial), dtype=torch.long, device=initial.device)
    predictions = []
    for n in range(1, steps + 1):
        pred = step(static, window)
        flat = pred.flatten(1)
        bad = ~torch.isfinite(flat).all(dim=1) | (flat.abs().amax(dim=1) > bound)
        blow_up[bad & (blow_up == 0)] = n
        dead = (blow_up > 0).view(-1, *([1] * (pred.dim() - 1)))
        predictions.append(torch.where(dead, torch.nan, pred))
        # A stopped trajectory goes on with zeros, so it cannot overflow into warnings.
        window = torch.cat([window[:, 1:], torch.where(dead, 0.0, pred).unsqueeze(1)], dim=1)
    return torch.stack(predictions, dim=1), blow_up


def correlation(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample Pearson correlation over all channels and points, shape (batch,)."""
    p = pred.flatten(1) - pred.flatten(1).mean(dim=1, keepdim=True)
    t = target.flatten(1) - target.flatten(1).mean(dim=1, keepdim=True)
    return (p * t).sum(dim=1) / (p.norm(dim=1) * t.norm(dim=1) + eps)


@dataclass
class StepErrors:
    """Errors of N trajectories: per rollout step (N, H) and per trajectory (N,).

    NaN marks what a blow-up left unmeasured; rmse and max_error cover the steps before it,
    full_rel_l2 (the whole predicted space-time trajectory at once) only trajectories without.
    """

    rel_l2: np.ndarray
    correlation: np.ndarray
    blow_up: np.ndarray  # 1-based step, 0 = none
    full_rel_l2: np.ndarray
    rmse: np.ndarray
    max_error: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[StepErrors]) -> StepErrors:
        return cls(**{key: np.concatenate([getattr(p, key) for p in parts]) for key in FIELDS})


FIELDS = tuple(StepErrors.__dataclass_fields__)


def step_errors(pred: torch.Tensor, truth: torch.Tensor, blow_up: torch.Tensor) -> StepErrors:
    """Errors of predictions (B, H, C, *s) against the true states; NaN after a blow-up."""
    flat_pred, flat_truth = pred.flatten(0, 1), truth.flatten(0, 1)
    shape = pred.shape[:2]
    alive = torch.isfinite(pred.flatten(2)).all(dim=2)
    diff = (pred - truth).flatten(2).masked_fill(~alive.unsqueeze(2), 0.0)
    squared = diff.square().sum(dim=(1, 2))
    full = squared.sqrt() / truth.flatten(1).norm(dim=1)
    points = alive.sum(dim=1) * diff.shape[2]
    none_alive = points == 0
    return StepErrors(
        rel_l2=relative_l2(flat_pred, flat_truth).view(shape).cpu().numpy(),
        correlation=correlation(flat_pred, flat_truth).view(shape).cpu().numpy(),
        blow_up=blow_up.cpu().numpy(),
        full_rel_l2=torch.where(blow_up > 0, torch.nan, full).cpu().numpy(),
        rmse=torch.where(none_alive, torch.nan, (squared / points).sqrt()).cpu().numpy(),
        max_error=torch.where(none_alive, torch.nan, diff.abs().amax(dim=(1, 2))).cpu().numpy(),
    )


def _finite_mean(values: np.ndarray) -> float | None:
    """Mean over the finite entries; None where there is none (JSON has no NaN)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def summarize(errors: StepErrors, threshold: float, window: int) -> dict[str, Any]:
    """The `rollout` entry of metrics.json."""
    rel_l2 = [_finite_mean(column) for column in errors.rel_l2.T]
    above = [n for n, value in enumerate(rel_l2, 1) if value is not None and value > threshold]
    blown = np.flatnonzero(errors.blow_up)
    return {
        "rel_l2": rel_l2,
        "correlation": [_finite_mean(column) for column in errors.correlation.T],
        "trajectories_alive": [int(n) for n in np.isfinite(errors.rel_l2).sum(axis=0)],
        "threshold": threshold,
        "steps_to_threshold": above[0] if above else None,
        "blow_ups": len(blown),
        "blow_up_steps": [{"trajectory": int(i), "step": int(errors.blow_up[i])} for i in blown],
        "horizon": errors.rel_l2.shape[1],
        "window": window,
    }


def trajectory_field_metrics(
    pred: torch.Tensor, truth: torch.Tensor, spacing: list[float], bands: tuple[int, int]
) -> dict[str, np.ndarray]:
    """The steady metrics (relative H1, nRMSE, bRMSE, fRMSE bands...) of every predicted state,
    averaged over each trajectory's steps before any blow-up: {name: (B,)}."""
    batch, horizon = pred.shape[:2]
    metrics = per_sample_metrics(pred.flatten(0, 1), truth.flatten(0, 1), spacing, *bands)
    result = {}
    for name, values in metrics.items():
        steps = values.view(batch, horizon).cpu().numpy()
        finite = np.isfinite(steps)
        total = np.where(finite, steps, 0.0).sum(axis=1)
        count = finite.sum(axis=1)
        result[name] = np.divide(total, count, out=np.full(batch, np.nan), where=count > 0)
    return result


@dataclass
class RolloutRun:
    """What rolling a checkpoint over a split gives: errors, side metrics, drawn trajectories."""

    errors: StepErrors
    one_step_rel_l2: np.ndarray  # (N * H,) teacher forced
    baseline_rel_l2: np.ndarray  # (N,) predicting the training mean state at every step
    seconds: float  # rollouts only
    fields: dict[str, np.ndarray]  # every field metric (LABELS) per trajectory, over its steps
    shown: list[tuple[int, np.ndarray, np.ndarray]]  # (index, truth (H, C, *s), prediction)


def run_rollouts(
    module: OperatorModule,
    info: SplitInfo,
    device: torch.device,
    batch_size: int,
    blow_up: float,
    shown: int,
    spacing: list[float],
    bands: tuple[int, int],
) -> RolloutRun:
    """Roll the model over every trajectory of the split, `batch_size` trajectories at a time;
    the rollouts are timed after one warm-up step on the first batch."""
    window = int(module.temporal["window"])
    horizon = info.time_steps - window
    mean_field = module.mean_field(info.spatial_shape).to(device)
    parts, one_step, baseline, drawn = [], [], [], []
    fields: dict[str, list[np.ndarray]] = defaultdict(list)
    seconds = 0.0
    with torch.inference_mode(), h5py.File(info.path, "r") as file:
        for start in range(0, info.n_samples, batch_size):
            static = torch.from_numpy(file["inputs"][start : start + batch_size]).to(device)
            truth = torch.from_numpy(file["outputs"][start : start + batch_size]).to(device)
            bound = blow_up * truth.flatten(1).abs().amax(dim=1)
            if start == 0:  # one-off costs (FFT plans, kernels) out of the timing, as when steady
                module(static, truth[:, :window])
            (pred, blown), took = device_timed(
                device, rollout, module, static, truth[:, :window], horizon, bound
            )
            seconds += took
            target = truth[:, window:]
            parts.append(step_errors(pred, target, blown))
            for name, values in trajectory_field_metrics(pred, target, spacing, bands).items():
                fields[name].append(values)
            forced = [
                module(static, truth[:, t - window : t]) for t in range(window, len(truth[0]))
            ]
            one_step.append(relative_l2(torch.stack(forced, 1).flatten(0, 1), target.flatten(0, 1)))
            mean_pred = mean_field.unsqueeze(1).expand_as(target)
            mean_errors = relative_l2(mean_pred.flatten(0, 1), target.flatten(0, 1))
            baseline.append(mean_errors.view(target.shape[:2]).mean(dim=1))
            for index in range(min(shown - len(drawn), len(pred))):
                drawn.append(
                    (start + index, target[index].cpu().numpy(), pred[index].cpu().numpy())
                )
    return RolloutRun(
        errors=StepErrors.concatenate(parts),
        one_step_rel_l2=torch.cat(one_step).cpu().numpy(),
        baseline_rel_l2=torch.cat(baseline).cpu().numpy(),
        seconds=seconds,
        fields={name: np.concatenate(chunks) for name, chunks in fields.items()},
        shown=drawn,
    )


def rollout_metrics(
    run: RolloutRun, info: SplitInfo, threshold: float, window: int
) -> dict[str, Any]:
    """metrics.json's numbers. `rel_l2` is the mean over the horizon of the per-step mean
    relative L2; `rel_l2_full` the FNO code's convention (one relative L2 of the whole predicted
    trajectory per sample, averaged); rel_l2_median/max/std are over the trajectories' means."""
    errors = run.errors
    summary = summarize(errors, threshold, window)
    rows = [row[np.isfinite(row)] for row in errors.rel_l2]
    per_trajectory = np.array([row.mean() if len(row) else np.nan for row in rows])
    finite = per_trajectory[np.isfinite(per_trajectory)]
    solver_seconds = _finite_mean(read_solver_stats(info.path)["seconds"])  # None if imported
    per_sample = run.seconds / info.n_samples
    finite_errors = errors.max_error[np.isfinite(errors.max_error)]
    step_means = np.array([np.nan if v is None else v for v in summary["rel_l2"]])
    distributions = {name: distribution(values) for name, values in run.fields.items()}
    return {
        **{name: distributions[name]["mean"] for name in LABELS if name not in NOT_FROM_FIELDS},
        "per_sample": distributions,
        "rel_l2": _finite_mean(step_means),
        "rel_l2_full": _finite_mean(errors.full_rel_l2),
        "rel_l2_std": float(finite.std()) if len(finite) else None,
        "rel_l2_median": float(np.median(finite)) if len(finite) else None,
        "rel_l2_max": float(finite.max()) if len(finite) else None,
        "one_step_rel_l2": _finite_mean(run.one_step_rel_l2),
        "rmse": _finite_mean(errors.rmse),
        "max_error": float(finite_errors.max()) if len(finite_errors) else None,
        "mean_baseline_rel_l2": float(run.baseline_rel_l2.mean()),
        "n_samples": info.n_samples,
        "inference_seconds_per_sample": per_sample,
        "solver_seconds_per_sample": solver_seconds,
        "speedup_vs_solver": solver_seconds / per_sample if solver_seconds and per_sample else None,
        "rollout": summary,
    }


def write_step_errors(run_dir: Path, errors: StepErrors) -> None:
    """rollout_rel_l2.csv: relative L2 per trajectory (rows) and step (columns)."""
    with open(run_dir / "rollout_rel_l2.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", *(f"step_{n}" for n in range(1, errors.rel_l2.shape[1] + 1))])
        for index, row in enumerate(errors.rel_l2):
            writer.writerow([index, *(f"{v:.6g}" for v in row)])


def _rollout_section(summary: dict[str, Any]) -> Section:
    """report.md's table of the rollout: error and correlation at each step."""
    rows = [
        [n, error, corr, alive]
        for n, (error, corr, alive) in enumerate(
            zip(summary["rel_l2"], summary["correlation"], summary["trajectories_alive"]), 1
        )
    ]
    first = summary["steps_to_threshold"]
    body = (
        f"Autoregressive rollouts over {summary['horizon']} steps from the first "
        f"{summary['window']} true states. First step whose mean relative L2 exceeds "
        f"{summary['threshold']:g}: {format_value(first)}; rollouts that blew up: "
        f"{summary['blow_ups']}.\n\n"
        + markdown_table(["step", "relative L2", "correlation", "trajectories alive"], rows)
    )
    return Section("Rollout", body)


def evaluate_rollout(
    cfg: DictConfig,
    module: OperatorModule,
    info: SplitInfo,
    device: torch.device,
    ckpt: Path,
    run_dir: Path,
) -> dict[str, Any]:
    """The eval stage on time-dependent data: metrics.json, the CSVs, the PNGs and report.md.

    The steps: check the data fits the checkpoint, roll out, summarise, draw, write."""
    # Checked with the rest of the eval config by `check_eval`, before any work.
    threshold, blow_up = float(cfg.rollout.threshold), float(cfg.rollout.blow_up)
    window = _check_rollout_data(module, info)
    spacing = [float(np.diff(axis).mean()) for axis in read_grid(info.path, info.spatial_shape)]
    bands = (int(cfg.spectral.low), int(cfg.spectral.high))
    shown = int(cfg.rollout.figures)
    run = run_rollouts(module, info, device, int(cfg.batch_size), blow_up, shown, spacing, bands)
    metrics = rollout_metrics(run, info, threshold, window)
    summary = metrics["rollout"]
    if summary["blow_ups"]:
        log.warning(
            "%d of %d rollouts blew up (NaN/Inf or beyond %g x the true values); see "
            "metrics.json rollout.blow_up_steps",
            summary["blow_ups"],
            info.n_samples,
            blow_up,
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    from surrogate.evaluation.rollout_figures import draw_rollout_figures

    figures = draw_rollout_figures(run_dir / "figures", summary, run.shown, window)
    metrics.update(_run_facts(cfg, module, info, device, ckpt, run_dir, figures))
    # per_sample.csv: per trajectory, its whole-trajectory relative L2, its blow-up step (0:
    # none) and every field metric averaged over its steps.
    per_trajectory = {
        "full_rel_l2": run.errors.full_rel_l2,
        "blow_up_step": run.errors.blow_up,
        **run.fields,
    }
    write_outputs(run_dir, metrics, per_trajectory, figures, [_rollout_section(summary)])
    write_step_errors(run_dir, run.errors)
    _log_rollout(metrics, window)
    return metrics


def _check_rollout_data(module: OperatorModule, info: SplitInfo) -> int:
    """The model's window, once the data is known to be trajectories longer than it."""
    if module.temporal is None or not info.temporal:
        model, data = (
            ("steady", "time-dependent") if info.temporal else ("time-dependent", "steady")
        )
        raise UserError(f"{info.path} does not fit the checkpoint: it is {data}, the model {model}")
    window = int(module.temporal["window"])
    if info.time_steps <= window:
        raise UserError(
            f"{info.path} has trajectories of {info.time_steps} states: no step is left to "
            f"predict after the model's window of {window}"
        )
    return window


def _run_facts(
    cfg: DictConfig,
    module: OperatorModule,
    info: SplitInfo,
    device: torch.device,
    ckpt: Path,
    run_dir: Path,
    figures: list[Path],
) -> dict[str, Any]:
    """What metrics.json records of the data, the checkpoint and the run."""
    return {
        "dataset": str(info.path),
        "split": str(cfg.split),
        "resolution": list(info.spatial_shape),
        "trained_resolution": list(module.hparams.data["spatial_shape"]),
        "checkpoint": str(ckpt),
        "model": str(module.hparams.model["name"]),
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "weights": weights_description(module.averaged_decay),
        "device": device.type,
        "figures": [path.relative_to(run_dir).as_posix() for path in figures],
    }


def _log_rollout(metrics: dict[str, Any], window: int) -> None:
    summary = metrics["rollout"]
    log.info(
        "rollout over %d steps from a window of %d: mean rel L2 %.4g, one-step %.4g, "
        "first step above %g: %s, blow-ups %d",
        summary["horizon"],
        window,
        metrics["rel_l2"] if metrics["rel_l2"] is not None else float("nan"),
        metrics["one_step_rel_l2"] if metrics["one_step_rel_l2"] is not None else float("nan"),
        summary["threshold"],
        summary["steps_to_threshold"],
        summary["blow_ups"],
    )
