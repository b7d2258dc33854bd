"""Per-channel Gaussian normalisation, fitted by streaming over a training split.

Statistics are per channel, not per grid point, so a model trained at one resolution can be
applied at another. They live in module buffers and therefore in every checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn


class ChannelNormalizer(nn.Module):
    """x -> (x - mean) / std per channel on (batch, channels, *spatial) tensors."""

    def __init__(self, channels: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def _shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (1, -1) + (1,) * (x.dim() - 2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.view(self._shape(x))) / (self.std.view(self._shape(x)) + self.eps)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.std.view(self._shape(x)) + self.eps) + self.mean.view(self._shape(x))

    def set(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype))


def fit_statistics(
    path: Path, key: str, indices: np.ndarray, block: int = 64, changes: bool = False
) -> dict[str, np.ndarray]:
    """Per-channel mean and std, and the pointwise mean field, of `key` over `indices`.

    Trajectories (N, T, C, *spatial) count every state as one sample; `changes=True` fits the
    increments u[t+1] - u[t] instead, which predicting the change normalises by. Reads `block`
    samples at a time (float64 sums) so the split never has to fit in memory.
    """
    indices = np.sort(np.asarray(indices))
    with h5py.File(path, "r") as file:
        data = file[key]
        temporal = key == "outputs" and int(file.attrs.get("time_steps", 0)) > 0
        if changes and not temporal:
            raise ValueError(f"{path}: increments exist only for trajectories")
        state_shape = data.shape[2:] if temporal else data.shape[1:]
        total = np.zeros(state_shape, np.float64)
        total_sq = np.zeros(state_shape[0], np.float64)
        count = 0
        for start in range(0, len(indices), block):
            chunk = data[indices[start : start + block]].astype(np.float64)
            if temporal:
                chunk = np.diff(chunk, axis=1) if changes else chunk
                chunk = chunk.reshape(-1, *state_shape)
            total += chunk.sum(axis=0)
            total_sq += (chunk**2).sum(axis=tuple(i for i in range(chunk.ndim) if i != 1))
            count += len(chunk)
    field_mean = total / count
    per_point = count * int(np.prod(field_mean.shape[1:]))
    mean = field_mean.reshape(field_mean.shape[0], -1).mean(axis=1)
    var = np.maximum(total_sq / per_point - mean**2, 0.0)
    return {"mean": mean, "std": np.sqrt(var), "field_mean": field_mean}
