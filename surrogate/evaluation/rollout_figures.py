"""PNG figures of a rollout evaluation: error against step, and truth / prediction snapshots.

rollout_error.png: mean relative L2 (and correlation) per step with the threshold line.
rollout_snapshots_<i>.png: trajectory i at a few steps, first channel (2D: truth, prediction
and error images; 1D: truth and prediction lines). rollout_spacetime_<i>.png (1D only): truth,
prediction and error as space x step images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def snapshot_steps(horizon: int, count: int = 4) -> list[int]:
    """About `count` 1-based steps spread over the horizon, the first and last included."""
    return sorted({int(round(n)) for n in np.linspace(1, horizon, min(count, horizon))})


def plot_error_curve(path: Path, summary: dict[str, Any]) -> Path:
    steps = np.arange(1, summary["horizon"] + 1)
    rel_l2 = np.array([np.nan if v is None else v for v in summary["rel_l2"]], dtype=float)
    corr = np.array([np.nan if v is None else v for v in summary["correlation"]], dtype=float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    top.plot(steps, rel_l2, marker=".", label="mean relative L2")
    top.axhline(summary["threshold"], color="tab:red", linestyle="--", label="threshold")
    top.set_ylabel("relative L2")
    top.legend()
    bottom.plot(steps, corr, marker=".", color="tab:green")
    bottom.set_ylabel("correlation")
    bottom.set_xlabel(f"rollout step (window {summary['window']})")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"rollout error; blow-ups: {summary['blow_ups']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_snapshots(
    path: Path, index: int, truth: np.ndarray, pred: np.ndarray, window: int
) -> Path:
    """Truth / prediction (/ error in 2D) of channel 0 at a few steps; (H, C, *s) arrays;
    3D fields are cut through the middle of their last axis."""
    if truth.ndim == 5:
        truth, pred = truth[..., truth.shape[-1] // 2], pred[..., pred.shape[-1] // 2]
    steps = snapshot_steps(len(truth))
    if truth.ndim == 3:  # 1D
        fig, axes = plt.subplots(1, len(steps), figsize=(3 * len(steps), 2.6), squeeze=False)
        for ax, n in zip(axes[0], steps):
            ax.plot(truth[n - 1, 0], label="truth")
            ax.plot(pred[n - 1, 0], "--", label="prediction")
            ax.set_title(f"step {n} (t index {window - 1 + n})")
        axes[0, 0].legend()
    else:
        fig, axes = plt.subplots(3, len(steps), figsize=(2.6 * len(steps), 7.5), squeeze=False)
        low, high = np.nanmin(truth[:, 0]), np.nanmax(truth[:, 0])
        for column, n in enumerate(steps):
            rows = (truth[n - 1, 0], pred[n - 1, 0], pred[n - 1, 0] - truth[n - 1, 0])
            for row, (image, label) in enumerate(zip(rows, ("truth", "prediction", "error"))):
                ax = axes[row, column]
                limits = {"cmap": "RdBu_r"} if row == 2 else {"vmin": low, "vmax": high}
                shown = ax.imshow(image.T if image.ndim == 2 else image, origin="lower", **limits)
                fig.colorbar(shown, ax=ax, fraction=0.046)
                ax.set_title(f"{label}, step {n}", fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
    fig.suptitle(f"trajectory {index}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_spacetime(path: Path, index: int, truth: np.ndarray, pred: np.ndarray) -> Path:
    """1D trajectory as images over (step, x): truth, prediction, error of channel 0."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    images = (truth[:, 0], pred[:, 0], pred[:, 0] - truth[:, 0])
    for ax, image, label in zip(axes, images, ("truth", "prediction", "error")):
        shown = ax.imshow(image, aspect="auto", origin="lower")
        fig.colorbar(shown, ax=ax)
        ax.set_title(label)
        ax.set_xlabel("x index")
        ax.set_ylabel("rollout step - 1")
    fig.suptitle(f"trajectory {index}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw_rollout_figures(
    run_dir: Path,
    summary: dict[str, Any],
    shown: list[tuple[int, np.ndarray, np.ndarray]],
    window: int,
) -> list[Path]:
    """Every rollout figure into `run_dir`; returns their paths."""
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_error_curve(run_dir / "rollout_error.png", summary)]
    for index, truth, pred in shown:
        paths.append(
            plot_snapshots(run_dir / f"rollout_snapshots_{index}.png", index, truth, pred, window)
        )
        if truth.ndim == 3:
            paths.append(
                plot_spacetime(run_dir / f"rollout_spacetime_{index}.png", index, truth, pred)
            )
    return paths
