"""DeepONet (Lu et al., Nature Machine Intelligence 2021) on fields in 1, 2 or 3 dimensions.

The branch net sees the input field at fixed sensors, `n_sensors` per axis at the physical
positions (j + 1) / (n_sensors + 1), read from the grid by linear interpolation so that the
same sensors are used at every resolution. The trunk net sees the coordinates of each output
node. Output channel c at point y is sum_k branch_{c,k}(a) * trunk_{c,k}(y) + bias_c.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from surrogate.checks import require_int
from surrogate.model_checks import mlp_parameters
from surrogate.models.base import MODELS
from surrogate.models.grid import node_coordinates


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


def sample_at(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of (batch, channels, *spatial) node values at `positions` per axis.

    The nodes of an axis with n points lie at (i + 1) / (n + 1); positions outside the first
    and last node take the nearest node's value.
    """
    for axis in range(2, x.dim()):
        n = x.shape[axis]
        index = (positions * (n + 1) - 1).clamp(0, n - 1)
        low = index.floor().long()
        high = (low + 1).clamp(max=n - 1)
        weight = (index - low).view(-1, *([1] * (x.dim() - axis - 1)))
        x = x.index_select(axis, low) * (1 - weight) + x.index_select(axis, high) * weight
    return x


@MODELS.register("deeponet")
class DeepONet(nn.Module):
    """DeepONet mapping (batch, in_channels, *spatial) to (batch, out_channels, *spatial)."""

    @staticmethod
    def check_config(cfg: DictConfig) -> None:
        """The hyper-parameters' types and ranges under `cfg.model`, before any work (no torch)."""
        for key in ("n_sensors", "basis", "branch_width", "branch_layers", "trunk_width"):
            require_int(cfg, f"model.{key}", minimum=1)
        require_int(cfg, "model.trunk_layers", minimum=1)

    @staticmethod
    def parameter_count(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
        """Trainable parameters, from the formulas the model is built by (it is not built)."""
        outputs = c_out * p["basis"]
        sensors = c_in * p["n_sensors"] ** dims
        branch = mlp_parameters(sensors, p["branch_width"], p["branch_layers"], outputs)
        return branch + mlp_parameters(dims, p["trunk_width"], p["trunk_layers"], outputs) + c_out

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_dims: int,
        n_sensors: int = 16,
        basis: int = 64,
        branch_width: int = 128,
        branch_layers: int = 3,
        trunk_width: int = 128,
        trunk_layers: int = 3,
    ) -> None:
        super().__init__()
        if n_dims not in (1, 2, 3):
            raise ValueError(f"DeepONet supports 1, 2 or 3 spatial dimensions, not {n_dims}")
        if min(n_sensors, basis, branch_width, branch_layers, trunk_width, trunk_layers) < 1:
            raise ValueError("n_sensors, basis and the branch/trunk widths and layers must be >= 1")
        self.out_channels = out_channels
        self.basis = basis
        self.register_buffer(
            "sensors", torch.arange(1, n_sensors + 1, dtype=torch.float32) / (n_sensors + 1)
        )
        n_inputs = in_channels * n_sensors**n_dims
        self.branch = _mlp([n_inputs, *[branch_width] * branch_layers, out_channels * basis])
        self.trunk = _mlp([n_dims, *[trunk_width] * trunk_layers, out_channels * basis])
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = tuple(x.shape[2:])
        coefficients = self.branch(sample_at(x, self.sensors.to(x.dtype)).flatten(1))
        points = node_coordinates(spatial, device=x.device, dtype=x.dtype).flatten(1).T
        # Centred coordinates in (-1, 1): the trunk learns its basis several times faster.
        basis = self.trunk(2 * points - 1).view(-1, self.out_channels, self.basis)
        coefficients = coefficients.view(-1, self.out_channels, self.basis)
        out = torch.einsum("bck,nck->bcn", coefficients, basis)
        out = out + self.bias.view(1, -1, 1)
        return out.view(x.shape[0], self.out_channels, *spatial)
