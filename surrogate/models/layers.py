"""Pointwise building blocks shared by the FNO's layers: channel MLPs and skip connections.

Pointwise (1x1) maps act on each node alone, so they see no grid spacing: a model built from
them and from spectral convolutions evaluates on any grid of the same domain.
"""

from __future__ import annotations

import torch
from torch import nn

from surrogate.model_checks import conv_parameters

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
SKIPS = ("linear", "soft_gating", "identity")


class ChannelMLP(nn.Sequential):
    """in -> hidden -> out channels at every node, GELU between: a per-point two-layer MLP."""

    def __init__(self, n_dims: int, in_channels: int, hidden: int, out_channels: int) -> None:
        conv = CONV[n_dims]
        super().__init__(conv(in_channels, hidden, 1), nn.GELU(), conv(hidden, out_channels, 1))

    @staticmethod
    def parameter_count(n_dims: int, in_channels: int, hidden: int, out_channels: int) -> int:
        return conv_parameters(n_dims, 1, in_channels, hidden) + conv_parameters(
            n_dims, 1, hidden, out_channels
        )


class SoftGating(nn.Module):
    """A learned scale per channel (a diagonal linear map), one at initialisation."""

    def __init__(self, channels: int, n_dims: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, *([1] * n_dims)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x


def skip(kind: str, channels: int, n_dims: int) -> nn.Module:
    """The skip connection beside a layer: `linear` (1x1 convolution with bias, the W of Li et
    al.), `soft_gating` (a scale per channel) or `identity`."""
    if kind == "linear":
        return CONV[n_dims](channels, channels, 1)
    if kind == "soft_gating":
        return SoftGating(channels, n_dims)
    if kind == "identity":
        return nn.Identity()
    raise ValueError(f"skip={kind!r}; choose one of: {', '.join(SKIPS)}")


def skip_parameters(kind: str, channels: int, n_dims: int) -> int:
    """Trainable parameters of `skip(kind, channels, n_dims)`."""
    return {
        "linear": conv_parameters(n_dims, 1, channels, channels),
        "soft_gating": channels,
        "identity": 0,
    }[kind]
