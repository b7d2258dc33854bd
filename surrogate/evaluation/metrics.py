"""Per-sample error metrics on (batch, channels, *spatial) tensors; each returns shape (batch,).

RMSE, nRMSE, max error, bRMSE and fRMSE follow PDEBench's definitions (Takamoto et al.,
NeurIPS 2022 Datasets and Benchmarks; `metric_func` in pdebench/models/metrics.py), computed
per sample so that eval can report distributions, not only batch means; like PDEBench, each is
computed per channel and then averaged over the channels. With e = pred - target, u = target,
mean_x over the grid points of one channel:

    RMSE   = sqrt(mean_x e^2)
    nRMSE  = sqrt(mean_x e^2) / sqrt(mean_x u^2)
    max    = max_x |e|
    bRMSE  = sqrt(mean of e^2 over the points of the 2d boundary faces)   (corners once per face)
    fRMSE  = mean over the wavenumber shells k of a band of sqrt(E_k) * prod(L) / prod(n)

where E_k sums |FFT(e)|^2 over the modes with floor(|(i, j, ...)|) = k. As in PDEBench, 1D
uses the one-sided spectrum (k = 0..n//2, E_k = |FFT(e)_k|^2), 2D/3D the non-negative
quadrant/octant i, j, ... < n//2 with shells k < min(n//2); the bands are k in [0, low),
[low, high) and [high, ...) (PDEBench's iLow=4, iHigh=12). L is the domain length per axis,
n times the grid spacing. PDEBench pools E_k over the batch before the square root; here it is
per sample. Note the quadrant restriction (PDEBench's): in 2D a mode cos(2 pi (k x - l y))
lies outside the quadrant and is not seen by fRMSE.

Relative L2 and H1 are the training losses' (surrogate/training/losses.py), pooled over
channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from surrogate.training.losses import relative_h1, relative_l2

BANDS = ("low", "mid", "high")
LABELS = {
    "rel_l2": "relative L2",
    "rel_h1": "relative H1",
    "nrmse": "nRMSE",
    "rmse": "RMSE",
    "max_error": "max abs error",
    "brmse": "boundary RMSE",
    "frmse_low": "fRMSE low k",
    "frmse_mid": "fRMSE mid k",
    "frmse_high": "fRMSE high k",
}


def _channel_rms(u: torch.Tensor) -> torch.Tensor:
    """Root mean square over the points of each channel, shape (batch, channels)."""
    return u.flatten(2).square().mean(dim=2).sqrt()


def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _channel_rms(pred - target).mean(dim=1)


def nrmse(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return (_channel_rms(pred - target) / (_channel_rms(target) + eps)).mean(dim=1)


def max_abs_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().flatten(2).max(dim=2).values.mean(dim=1)


def boundary_rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    squared = (pred - target).square()
    batch, channels = squared.shape[:2]
    faces = [
        squared.select(axis, end).reshape(batch, channels, -1)
        for axis in range(2, squared.dim())
        for end in (0, -1)
    ]
    return torch.cat(faces, dim=2).mean(dim=2).sqrt().mean(dim=1)


def fourier_shells(error: torch.Tensor, lengths: Sequence[float]) -> torch.Tensor:
    """PDEBench's spectral error per wavenumber shell, shape (batch, channels, shells)."""
    spatial = error.shape[2:]
    scale = math.prod(lengths) / math.prod(spatial)
    if len(spatial) == 1:
        return torch.fft.rfft(error, dim=2).abs() * scale
    dims = tuple(range(2, error.dim()))
    power = torch.fft.fftn(error, dim=dims).abs().square()
    power = power[(..., *(slice(0, n // 2) for n in spatial))].flatten(2)
    axes = (torch.arange(n // 2, device=error.device) for n in spatial)
    indices = torch.stack(torch.meshgrid(*axes, indexing="ij")).flatten(1)
    radius = indices.square().sum(dim=0).double().sqrt().floor().long()
    n_shells = min(n // 2 for n in spatial)
    inside = radius < n_shells
    shells = power.new_zeros(*power.shape[:2], n_shells)
    shells.index_add_(2, radius[inside], power[..., inside])
    return shells.sqrt() * scale


def fourier_rmse(
    pred: torch.Tensor,
    target: torch.Tensor,
    lengths: Sequence[float],
    low: int = 4,
    high: int = 12,
) -> dict[str, torch.Tensor]:
    """fRMSE in the low, mid and high bands, each (batch,); NaN where a band has no shell."""
    shells = fourier_shells(pred - target, lengths)
    bands = (slice(0, low), slice(low, high), slice(high, None))
    return {name: shells[..., band].mean(dim=2).mean(dim=1) for name, band in zip(BANDS, bands)}


def per_sample_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    spacing: Sequence[float],
    low: int = 4,
    high: int = 12,
) -> dict[str, torch.Tensor]:
    """Every metric of `LABELS` per sample, on a uniform grid with `spacing` per axis."""
    lengths = [step * n for step, n in zip(spacing, target.shape[2:])]
    bands = fourier_rmse(pred, target, lengths, low, high)
    return {
        "rel_l2": relative_l2(pred, target),
        "rel_h1": relative_h1(pred, target, spacing=spacing),
        "nrmse": nrmse(pred, target),
        "rmse": rmse(pred, target),
        "max_error": max_abs_error(pred, target),
        "brmse": boundary_rmse(pred, target),
        **{f"frmse_{name}": value for name, value in bands.items()},
    }


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined value (an empty fRMSE band) becomes null."""
    return float(value) if np.isfinite(value) else None


def distribution(values: np.ndarray) -> dict[str, float | None]:
    """Mean, median, std, min and max of one metric's per-sample values."""
    if not np.all(np.isfinite(values)):
        return dict.fromkeys(("mean", "median", "std", "min", "max"))
    return {
        "mean": _number(values.mean()),
        "median": _number(np.median(values)),
        "std": _number(values.std()),
        "min": _number(values.min()),
        "max": _number(values.max()),
    }
