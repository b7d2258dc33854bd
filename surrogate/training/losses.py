"""Training losses on (batch, channels, *spatial) tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from surrogate.registry import Registry

if TYPE_CHECKING:
    import torch

LOSSES: Registry = Registry("loss")  # `@LOSSES.register(name)`: per-sample loss, shape (batch,)


@LOSSES.register("rel_l2")
def relative_l2(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample ||pred - target||_2 / ||target||_2 over all channels and points, shape (batch,)."""
    diff = (pred - target).flatten(1).norm(dim=1)
    return diff / (target.flatten(1).norm(dim=1) + eps)


@LOSSES.register("h1")
def relative_h1(
    pred: torch.Tensor,
    target: torch.Tensor,
    eps: float = 1e-12,
    spacing: Sequence[float] | None = None,
) -> torch.Tensor:
    """Per-sample relative H1 error, shape (batch,): sqrt(|e|^2 + |grad e|^2) / same of target.

    Gradients are central finite differences (one-sided at the edges) with the grid `spacing`
    per spatial axis; by default that of the datasets' node grid on the unit cube, 1 / (n + 1),
    so the derivative term has its physical scale at every resolution. `eval` passes the
    spacing read from the dataset's grid.
    """
    import torch  # here, so that the config checks can list the losses without torch

    spatial = pred.shape[2:]
    steps = [1.0 / (n + 1) for n in spatial] if spacing is None else list(spacing)

    def squared_norm(u: torch.Tensor) -> torch.Tensor:
        total = u.flatten(1).square().sum(dim=1)
        for axis, step in enumerate(steps, start=2):
            derivative = torch.gradient(u, spacing=step, dim=axis)[0]
            total = total + derivative.flatten(1).square().sum(dim=1)
        return total

    return (squared_norm(pred - target) / (squared_norm(target) + eps)).sqrt()


@LOSSES.register("mse")
def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error, shape (batch,)."""
    return ((pred - target) ** 2).flatten(1).mean(dim=1)
