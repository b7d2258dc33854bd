"""Galerkin transformer (Cao, NeurIPS 2021): softmax-free attention on grid nodes.

The points are the grid nodes with their coordinates appended to the input channels. Each
layer is u <- u + Attn(u), u <- u + FFN(u), where per head Attn(u) = Q (K^T V) / n with layer
norm on K and V: a Petrov-Galerkin projection whose cost is linear in the number of points n
(K^T V is a head_dim x head_dim matrix), and which is the same operator at every resolution.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from surrogate.checks import require_int
from surrogate.errors import UserError
from surrogate.model_checks import linear_parameters
from surrogate.models.base import MODELS
from surrogate.models.grid import node_coordinates


class GalerkinAttention(nn.Module):
    """Multi-head Q (LN(K)^T LN(V)) / n on (batch, n, width) point features."""

    def __init__(self, width: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = width // n_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.norm_k = nn.LayerNorm(self.head_dim)
        self.norm_v = nn.LayerNorm(self.head_dim)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n, width = x.shape
        # (3, batch, heads, n, head_dim): batched matrix products per head.
        q, k, v = self.qkv(x).view(batch, n, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k, v = self.norm_k(k), self.norm_v(v)
        context = k.transpose(-2, -1) @ v / n
        return self.out((q @ context).transpose(1, 2).reshape(batch, n, width))


class GalerkinLayer(nn.Module):
    def __init__(self, width: int, n_heads: int, ffn_width: int) -> None:
        super().__init__()
        self.attention = GalerkinAttention(width, n_heads)
        self.ffn = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.ffn(x)


@MODELS.register("galerkin")
class GalerkinTransformer(nn.Module):
    """Maps (batch, in_channels, *spatial) to (batch, out_channels, *spatial)."""

    @staticmethod
    def check_config(cfg: DictConfig) -> None:
        """The hyper-parameters' types and ranges under `cfg.model`, before any work (no torch)."""
        for key in ("width", "n_layers", "n_heads", "ffn_width"):
            require_int(cfg, f"model.{key}", minimum=1)
        width, heads = int(cfg.model.width), int(cfg.model.n_heads)
        if width % heads:
            raise UserError(
                f"model.width={width} must be divisible by model.n_heads={heads} (each head gets "
                f"width / n_heads features), e.g. model.width={heads * max(1, round(width / heads))}"
            )

    @staticmethod
    def parameter_count(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
        """Trainable parameters, from the formulas the model is built by (it is not built)."""
        width, ffn = p["width"], p["ffn_width"]
        head = width // p["n_heads"]
        layer = linear_parameters(width, 3 * width) + 4 * head + linear_parameters(width, width)
        layer += linear_parameters(width, ffn) + linear_parameters(ffn, width)
        return (
            linear_parameters(c_in + dims, width)
            + p["n_layers"] * layer
            + linear_parameters(width, ffn)
            + linear_parameters(ffn, c_out)
        )

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_dims: int,
        width: int = 64,
        n_layers: int = 4,
        n_heads: int = 4,
        ffn_width: int = 128,
    ) -> None:
        super().__init__()
        if n_dims not in (1, 2, 3):
            raise ValueError(f"Galerkin supports 1, 2 or 3 spatial dimensions, not {n_dims}")
        if min(width, n_layers, n_heads, ffn_width) < 1 or width % n_heads:
            raise ValueError(
                f"width={width} must be divisible by n_heads={n_heads}; all sizes >= 1"
            )
        self.lift = nn.Linear(in_channels + n_dims, width)
        self.layers = nn.ModuleList(
            GalerkinLayer(width, n_heads, ffn_width) for _ in range(n_layers)
        )
        self.project = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, spatial = x.shape[0], tuple(x.shape[2:])
        grid = node_coordinates(spatial, device=x.device, dtype=x.dtype)
        x = torch.cat([x, grid.expand(batch, *grid.shape)], dim=1)
        x = self.lift(x.flatten(2).transpose(1, 2))
        for layer in self.layers:
            x = layer(x)
        return self.project(x).transpose(1, 2).reshape(batch, -1, *spatial)
