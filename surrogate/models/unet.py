"""A modern U-Net (PDEArena style) in 1, 2 or 3 spatial dimensions.

Residual blocks of GroupNorm -> GELU -> 3x3 conv (twice) with a 1x1 skip where the width
changes; stride-2 convolutions down, stride-2 transposed convolutions up, skip connections by
concatenation. The input is padded on the far side of each axis to a multiple of
2^(levels) and the output cropped back, so any grid size works.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from surrogate.checks import require_int
from surrogate.errors import UserError
from surrogate.model_checks import conv_parameters
from surrogate.models.base import MODELS

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def _groups(channels: int, wanted: int) -> int:
    """The largest group count <= `wanted` that divides `channels`."""
    return next(g for g in range(min(wanted, channels), 0, -1) if channels % g == 0)


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, n_dims: int, groups: int) -> None:
        super().__init__()
        conv = CONV[n_dims]
        self.body = nn.Sequential(
            nn.GroupNorm(_groups(in_channels, groups), in_channels),
            nn.GELU(),
            conv(in_channels, out_channels, 3, padding=1),
            nn.GroupNorm(_groups(out_channels, groups), out_channels),
            nn.GELU(),
            conv(out_channels, out_channels, 3, padding=1),
        )
        self.skip = (
            nn.Identity() if in_channels == out_channels else conv(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


@MODELS.register("unet")
class UNet(nn.Module):
    """U-Net mapping (batch, in_channels, *spatial) to (batch, out_channels, *spatial)."""

    resolution_dependent = True  # convolutions see the grid spacing (models/base.py)

    @staticmethod
    def check_config(cfg: DictConfig) -> None:
        """The hyper-parameters' types and ranges under `cfg.model`, before any work (no torch)."""
        for key in ("width", "blocks_per_level", "groups"):
            require_int(cfg, f"model.{key}", minimum=1)
        multipliers = OmegaConf.select(cfg, "model.channel_multipliers")
        if not OmegaConf.is_list(multipliers) or not multipliers:
            raise UserError(
                f"model.channel_multipliers={multipliers!r} must be a non-empty list of integers, "
                "e.g. [1,2,2,4]"
            )
        for index in range(len(multipliers)):
            require_int(cfg, f"model.channel_multipliers.{index}", minimum=1)

    @staticmethod
    def parameter_count(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
        """Trainable parameters, from the formulas the model is built by (it is not built)."""

        def block(n_in: int, n_out: int) -> int:
            skip = 0 if n_in == n_out else conv_parameters(dims, 1, n_in, n_out)
            return (
                2 * n_in
                + 2 * n_out
                + conv_parameters(dims, 3, n_in, n_out)
                + conv_parameters(dims, 3, n_out, n_out)
                + skip
            )

        widths = [p["width"] * m for m in p["channel_multipliers"]]
        blocks = p["blocks_per_level"]
        total = conv_parameters(dims, 3, c_in, p["width"])
        channels = p["width"]
        for level, width in enumerate(widths):
            total += block(channels, width) + (blocks - 1) * block(width, width)
            channels = width
            if level < len(widths) - 1:
                total += conv_parameters(dims, 3, channels, channels)
        for width in reversed(widths[:-1]):
            total += conv_parameters(dims, 2, channels, width)
            total += block(2 * width, width) + (blocks - 1) * block(width, width)
            channels = width
        return total + 2 * channels + conv_parameters(dims, 1, channels, c_out)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_dims: int,
        width: int = 32,
        channel_multipliers: tuple[int, ...] | list[int] = (1, 2, 2, 4),
        blocks_per_level: int = 1,
        groups: int = 8,
    ) -> None:
        super().__init__()
        if n_dims not in CONV:
            raise ValueError(f"UNet supports 1, 2 or 3 spatial dimensions, not {n_dims}")
        if (
            not channel_multipliers
            or min(width, blocks_per_level, groups, *channel_multipliers) < 1
        ):
            raise ValueError(
                "width, blocks_per_level, groups and channel_multipliers must be >= 1 "
                "(channel_multipliers not empty)"
            )
        conv, transpose = CONV[n_dims], CONV_TRANSPOSE[n_dims]
        widths = [width * m for m in channel_multipliers]
        self.n_down = len(widths) - 1
        self.lift = conv(in_channels, width, 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        channels = width
        for level, level_width in enumerate(widths):
            blocks = []
            for _ in range(blocks_per_level):
                blocks.append(ResidualBlock(channels, level_width, n_dims, groups))
                channels = level_width
            self.down_blocks.append(nn.Sequential(*blocks))
            if level < self.n_down:
                self.downsample.append(conv(channels, channels, 3, stride=2, padding=1))
        self.upsample = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for level_width in reversed(widths[:-1]):
            self.upsample.append(transpose(channels, level_width, 2, stride=2))
            blocks = [ResidualBlock(2 * level_width, level_width, n_dims, groups)]
            blocks += [
                ResidualBlock(level_width, level_width, n_dims, groups)
                for _ in range(blocks_per_level - 1)
            ]
            self.up_blocks.append(nn.Sequential(*blocks))
            channels = level_width
        self.project = nn.Sequential(
            nn.GroupNorm(_groups(channels, groups), channels),
            nn.GELU(),
            conv(channels, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = x.shape[2:]
        multiple = 2**self.n_down
        pads = [-s % multiple for s in spatial]
        if any(pads):
            # F.pad lists (left, right) pairs from the last axis backwards.
            x = F.pad(x, [p for pad in reversed(pads) for p in (0, pad)], mode="replicate")
        x = self.lift(x)
        skips = []
        for level, blocks in enumerate(self.down_blocks):
            x = blocks(x)
            if level < self.n_down:
                skips.append(x)
                x = self.downsample[level](x)
        for upsample, blocks in zip(self.upsample, self.up_blocks):
            x = blocks(torch.cat([upsample(x), skips.pop()], dim=1))
        x = self.project(x)
        return x[(slice(None), slice(None), *(slice(0, s) for s in spatial))]
