"""Per-sample error metrics on (batch, channels, *spatial) tensors; each returns shape (batch,)."""

from __future__ import annotations

import torch

from surrogate.training.losses import relative_l2


def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).flatten(1).mean(dim=1).sqrt()


def max_abs_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().flatten(1).max(dim=1).values


PER_SAMPLE = {"rel_l2": relative_l2, "rmse": rmse, "max_error": max_abs_error}
