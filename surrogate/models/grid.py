"""The datasets' node grid: coordinates as model inputs, and resampling between resolutions."""

from __future__ import annotations

import torch


def node_coordinates(shape: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
    """Interior-node coordinates (i + 1) / (n + 1) per axis, shape (len(shape), *shape).

    They match the datasets' grids at every resolution, so a model sees the same physical
    positions when it is evaluated on a finer grid than it was trained on.
    """
    axes = [torch.arange(1, n + 1, device=device, dtype=dtype) / (n + 1) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


GRIDS = ("interior", "periodic")


def grid_coordinates(kind: str, shape: tuple[int, ...], device=None, dtype=torch.float32):
    """Coordinates (len(shape), *shape) of the kind a model appends to its input: `interior`,
    the datasets' nodes (`node_coordinates`), or `periodic`, i / n on [0, 1) (neuraloperator's
    grid embedding: the nodes of a periodic grid starting at 0; on the datasets' grids the same
    coordinate value lies at another physical position at every resolution)."""
    if kind == "interior":
        return node_coordinates(shape, device=device, dtype=dtype)
    axes = [torch.arange(n, device=device, dtype=dtype) / n for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def resample_nodes(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """(batch, channels, *spatial) node values linearly interpolated onto the interior nodes
    of another grid of the same domain, `shape` points per axis.

    Node i of an axis of n points lies at (i + 1) / (n + 1), as in `node_coordinates`; between
    the outermost node and the domain's edge the two outermost nodes' line is extended. The
    weights of each output value sum to one, so resampling commutes with normalisation. When
    one grid's nodes are a subset of the other's (n and 2n + 1), shared nodes keep their values.
    """
    for axis, m in zip(range(2, x.dim()), shape):
        n = x.shape[axis]
        if n == m:
            continue
        if n == 1:
            x = x.expand(*x.shape[:axis], m, *x.shape[axis + 1 :])
            continue
        position = torch.arange(1, m + 1, device=x.device, dtype=torch.float64) / (m + 1)
        index = position * (n + 1) - 1
        low = index.floor().long().clamp(0, n - 2)
        weight = (index - low).to(x.dtype).view(-1, *([1] * (x.dim() - axis - 1)))
        x = x.index_select(axis, low) * (1 - weight) + x.index_select(axis, low + 1) * weight
    return x
