"""Multigrid neural operator (He, Liu, Xu, ICLR 2024) in 1, 2 or 3 spatial dimensions.

Each layer is GELU(V(u) + W u + b) with W a 1x1 convolution and V one V-cycle of a learned
multigrid method applied to u as the right-hand side. The V-cycle is linear: on every level
l the iterate starts at zero and is smoothed as u <- u + S(f - A u) with 3x3 convolutions A and
S (weights per level, S per smoothing step); the residual f - A u is restricted by a stride-2
3x3 convolution, and on the way up the coarse correction is prolongated by a stride-2
transposed convolution to the exact fine shape (so odd sizes such as 33 work). Boundary
conditions enter through the convolutions' padding mode (zeros for Dirichlet problems).
Lifting and projection are 1x1 convolutions only.

The 3x3 stencils and the number of levels fix the physical scales a V-cycle sees only together
with the grid spacing: the same weights on a grid twice as fine see scales half as large
(trained at 16x16, evaluated at 33x33, the relative L2 error grew about tenfold). Trained on
one grid (`grid`, which training sets to the training grid), the model therefore runs on that
grid's nodes whatever grid it is given: the input is linearly interpolated onto them and the
output back (surrogate.models.grid.resample_nodes). On a grid r times finer (r (n + 1) - 1
nodes) the training grid's nodes are a subset of the given ones, where the prediction is
exactly the training-grid one; detail finer than the training grid is not resolved (other
variants measured worse: docs/models.md). Without `grid` the V-cycles run on whatever grid
they are given, as in the paper.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from surrogate.checks import require_choice, require_int
from surrogate.model_checks import conv_parameters
from surrogate.models.base import MODELS
from surrogate.models.grid import resample_nodes

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class VCycle(nn.Module):
    """One linear V-cycle with `n_levels` grids; maps f (batch, width, *spatial) to u."""

    def __init__(
        self, width: int, n_dims: int, n_levels: int, smoothing: int, padding_mode: str
    ) -> None:
        super().__init__()
        conv, transpose = CONV[n_dims], CONV_TRANSPOSE[n_dims]

        def stencil(stride: int = 1) -> nn.Module:
            return conv(width, width, 3, stride, 1, bias=False, padding_mode=padding_mode)

        # The coarsest level needs A only to smooth more than once (no residual goes below it).
        n_operators = n_levels if smoothing > 1 else n_levels - 1
        self.operators = nn.ModuleList(stencil() for _ in range(n_operators))
        self.smoothers = nn.ModuleList(
            nn.ModuleList(stencil() for _ in range(smoothing)) for _ in range(n_levels)
        )
        self.restrict = nn.ModuleList(stencil(stride=2) for _ in range(n_levels - 1))
        self.prolong = nn.ModuleList(
            transpose(width, width, 3, stride=2, padding=1, bias=False) for _ in range(n_levels - 1)
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        iterates, shapes = [], []
        for level, smoothers in enumerate(self.smoothers):
            u = smoothers[0](f)  # the first step from u = 0
            for smoother in smoothers[1:]:
                u = u + smoother(f - self.operators[level](u))
            iterates.append(u)
            shapes.append(f.shape[2:])
            if level < len(self.restrict):
                f = self.restrict[level](f - self.operators[level](u))
        u = iterates[-1]
        for level in reversed(range(len(self.prolong))):
            u = iterates[level] + self.prolong[level](u, output_size=shapes[level])
        return u


@MODELS.register("mgno")
class MgNO(nn.Module):
    """MgNO mapping (batch, in_channels, *spatial) to (batch, out_channels, *spatial)."""

    @staticmethod
    def check_config(cfg: DictConfig) -> None:
        """The hyper-parameters' types and ranges under `cfg.model`, before any work (no torch)."""
        for key in ("width", "n_layers", "n_levels", "smoothing"):
            require_int(cfg, f"model.{key}", minimum=1)
        require_choice(cfg, "model.padding_mode", PADDING_MODES)

    @staticmethod
    def parameter_count(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
        """Trainable parameters, from the formulas the model is built by (it is not built)."""
        width, levels, smoothing = p["width"], p["n_levels"], p["smoothing"]
        operators = levels if smoothing > 1 else levels - 1
        stencils = operators + levels * smoothing + 2 * (levels - 1)  # + restrict and prolong
        per_layer = stencils * 3**dims * width * width + conv_parameters(dims, 1, width, width)
        return (
            conv_parameters(dims, 1, c_in, width)
            + p["n_layers"] * per_layer
            + conv_parameters(dims, 1, width, c_out)
        )

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_dims: int,
        width: int = 32,
        n_layers: int = 4,
        n_levels: int = 4,
        smoothing: int = 1,
        padding_mode: str = "zeros",
        grid: tuple[int, ...] | list[int] | None = None,
    ) -> None:
        super().__init__()
        if n_dims not in CONV:
            raise ValueError(f"MgNO supports 1, 2 or 3 spatial dimensions, not {n_dims}")
        if grid is not None and (len(grid) != n_dims or min(grid) < 1):
            raise ValueError(f"grid={list(grid)} must give {n_dims} sizes >= 1")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode={padding_mode!r}; choose one of {PADDING_MODES}")
        if min(width, n_layers, n_levels, smoothing) < 1:
            raise ValueError("width, n_layers, n_levels and smoothing must be >= 1")
        conv = CONV[n_dims]
        self.grid = tuple(grid) if grid is not None else None
        self.lift = conv(in_channels, width, 1)
        self.cycles = nn.ModuleList(
            VCycle(width, n_dims, n_levels, smoothing, padding_mode) for _ in range(n_layers)
        )
        self.pointwise = nn.ModuleList(conv(width, width, 1) for _ in range(n_layers))
        self.project = conv(width, out_channels, 1)

    @staticmethod
    def fit_to_grid(params: dict, grid: tuple[int, ...]) -> tuple[dict, list[str]]:
        """Ties the V-cycles to the training grid's spacing (see the module docstring)."""
        shape = "x".join(map(str, grid))
        note = f"V-cycles at the {shape} grid's spacing (other grids are resampled to it)"
        return {**params, "grid": list(grid)}, [note]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = tuple(x.shape[2:])
        if self.grid is not None and spatial != self.grid:
            return resample_nodes(self._layers(resample_nodes(x, self.grid)), spatial)
        return self._layers(x)

    def _layers(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lift(x)
        for cycle, pointwise in zip(self.cycles, self.pointwise):
            x = F.gelu(cycle(x) + pointwise(x))
        return self.project(x)
