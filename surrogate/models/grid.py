"""Coordinates of the stored grid, for models that take positions as extra input channels."""

from __future__ import annotations

import torch


def node_coordinates(shape: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
    """Interior-node coordinates (i + 1) / (n + 1) per axis, shape (len(shape), *shape).

    They match the datasets' grids at every resolution, so a model sees the same physical
    positions when it is evaluated on a finer grid than it was trained on.
    """
    axes = [torch.arange(1, n + 1, device=device, dtype=dtype) / (n + 1) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))
