"""Training losses on (batch, channels, *spatial) tensors."""

from __future__ import annotations

import torch


def relative_l2(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample ||pred - target||_2 / ||target||_2 over all channels and points, shape (batch,)."""
    diff = (pred - target).flatten(1).norm(dim=1)
    return diff / (target.flatten(1).norm(dim=1) + eps)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error, shape (batch,)."""
    return ((pred - target) ** 2).flatten(1).mean(dim=1)


LOSSES = {"rel_l2": relative_l2, "mse": mse}
