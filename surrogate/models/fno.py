"""Fourier neural operator (Li et al., ICLR 2021) in 1, 2 or 3 spatial dimensions.

Each layer is GELU(K u + W u) with K a convolution truncated to the lowest `modes` Fourier modes
per dimension and W a pointwise linear map. Grid coordinates are appended to the input; the input
is zero-padded on the far side of each axis for non-periodic problems, by at least `padding` of
its size, up to the next size whose prime factors are 2, 3, 5 and 7 only: FFTs of other sizes
are several times slower (at 64 points, 10 % padding would give 71, a prime: 3.6x slower than 72).

`factorization="cp"` stores each layer's spectral weights as a rank-`rank` CP (canonical
polyadic) decomposition over (corner, input channel, output channel, mode per axis), the
TFNO of Kossaifi et al.: far fewer parameters; the weights exist only transiently, rebuilt
from the factors in each forward pass.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from surrogate.checks import require_choice, require_float, require_int
from surrogate.model_checks import conv_parameters
from surrogate.models.base import MODELS
from surrogate.models.grid import node_coordinates

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
FAST_FFT_PRIMES = (2, 3, 5, 7)


def fast_fft_size(n: int) -> int:
    """The smallest size >= n whose prime factors are all in FAST_FFT_PRIMES."""
    size = n
    while True:
        rest = size
        for prime in FAST_FFT_PRIMES:
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
        size += 1


FACTORIZATIONS = (None, "cp")


def as_complex(pairs: torch.Tensor) -> torch.Tensor:
    """(..., 2) real pairs as a complex tensor (..., ). Unlike `view_as_complex` it copies, and
    torch.compile can then differentiate through any slice of it."""
    return torch.complex(pairs[..., 0], pairs[..., 1])


def held_modes(spatial: tuple[int, ...], modes: tuple[int, ...]) -> tuple[int, ...]:
    """Modes per axis that a grid of `spatial` points holds, at most `modes`: n // 2 positive
    and negative frequencies on every axis but the last, n // 2 + 1 on the last (rfft) axis."""
    limits = [s // 2 for s in spatial[:-1]] + [spatial[-1] // 2 + 1]
    return tuple(min(m, limit) for m, limit in zip(modes, limits))


def padded_size(n: int, padding: float) -> int:
    """Points of an axis of n points after FNO's padding (none when `padding` is 0)."""
    return fast_fft_size(n + math.ceil(padding * n)) if padding else n


class SpectralConv(nn.Module):
    """Multiplies the lowest Fourier modes by learned complex matrices, zeroes the others.

    Along every axis but the last (which `rfftn` halves), both the lowest positive and the
    lowest negative frequencies are kept: 2^(d-1) corner blocks of the spectrum.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...]) -> None:
        super().__init__()
        self.modes = modes
        self.n_dims = len(modes)
        self.out_channels = out_channels
        self._make_weights(in_channels, out_channels, 2 ** (self.n_dims - 1))

    def _make_weights(self, in_channels: int, out_channels: int, n_corners: int) -> None:
        scale = 1.0 / (in_channels * out_channels)
        # Real storage (..., 2) keeps optimisers, DDP and checkpoints free of complex tensors.
        self.weight = nn.Parameter(
            scale * torch.rand(n_corners, in_channels, out_channels, *self.modes, 2)
        )

    def _corners(
        self, shape: tuple[int, ...], kept: tuple[int, ...]
    ) -> list[tuple[tuple[slice, ...], tuple[slice, ...]]]:
        """(spectrum slices, weight slices) of each kept corner block of an rfft spectrum of
        `shape`, keeping `kept` modes per axis (the lowest positive and negative frequencies)."""
        per_axis = []
        for size, m, k in zip(shape[:-1], self.modes[:-1], kept[:-1]):
            # Weight index j of a negative corner is frequency j - m: the last k are -k .. -1.
            per_axis.append(((slice(0, k), slice(0, k)), (slice(size - k, size), slice(m - k, m))))
        last = (slice(0, kept[-1]), slice(0, kept[-1]))
        corners = itertools.product(*per_axis, [last])
        return [tuple(zip(*pairs)) for pairs in corners]

    # Inductor cannot differentiate through slices of complex tensors (it views their gradients
    # as real with the wrong strides), so torch.compile leaves the spectral product to eager
    # mode and compiles the rest of the model around it.
    @torch.compiler.disable
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """On a grid too coarse for all of `modes`, the modes it holds (the lowest ones) are used.

        The FFTs and the mixing run in (at least) float32 with autocast off, and the result is
        cast back to the input's dtype: cuFFT has no bfloat16 transform and computes float16
        ones only for power-of-two sizes, and autocast does not promote `torch.fft`.
        """
        dtype = x.dtype
        spatial = x.shape[2:]
        dims = tuple(range(-self.n_dims, 0))
        spectrum_shape = (*spatial[:-1], spatial[-1] // 2 + 1)
        kept = held_modes(tuple(spatial), self.modes)
        compute = torch.promote_types(dtype, torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x_ft = torch.fft.rfftn(x.to(compute), dim=dims, norm="ortho")
            out_ft = torch.zeros(
                x.shape[0], self.out_channels, *spectrum_shape, dtype=x_ft.dtype, device=x.device
            )
            for corner, (index, weight_index) in enumerate(self._corners(spectrum_shape, kept)):
                block = (slice(None), slice(None), *index)
                out_ft[block] = self._mix(x_ft[block], corner, weight_index, compute)
            out = torch.fft.irfftn(out_ft, s=spatial, dim=dims, norm="ortho")
        return out.to(dtype)

    def _mix(
        self, block: torch.Tensor, corner: int, index: tuple[slice, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        """(batch, in, *kept) spectrum block -> (batch, out, *kept) for one corner; `index`
        selects the kept modes' weights."""
        return torch.einsum("bi...,io...->bo...", block, self.dense_weight(corner, index, dtype))

    def dense_weight(
        self,
        corner: int,
        index: tuple[slice, ...] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """The complex (in, out, *modes) weights of one corner, the modes `index` selects."""
        weight = as_complex(self.weight[corner].to(dtype))
        return weight if index is None else weight[(slice(None), slice(None), *index)]


class CPSpectralConv(SpectralConv):
    """SpectralConv whose weights are stored as a rank-`rank` CP decomposition.

    W[c, i, o, m_1..m_d] = sum_r lambda_r A[c, r] B[i, r] C[o, r] D_1[m_1, r] ... D_d[m_d, r].
    """

    def __init__(
        self, in_channels: int, out_channels: int, modes: tuple[int, ...], rank: int
    ) -> None:
        self.rank = rank
        super().__init__(in_channels, out_channels, modes)

    def _make_weights(self, in_channels: int, out_channels: int, n_corners: int) -> None:
        def factor(size: int) -> nn.Parameter:
            return nn.Parameter(torch.rand(size, self.rank, 2))

        self.corner_factor = factor(n_corners)
        self.in_factor = factor(in_channels)
        self.out_factor = factor(out_channels)
        self.mode_factors = nn.ParameterList(factor(m) for m in self.modes)
        # Factors of order one; the real weights lambda carry the 1 / (in * out) scale.
        self.scale = nn.Parameter(torch.zeros(self.rank, 2))
        with torch.no_grad():
            self.scale[:, 0] = 1.0 / (in_channels * out_channels * self.rank)

    def dense_weight(
        self,
        corner: int,
        index: tuple[slice, ...] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        # Rebuilding the corner's weights and applying them is several times faster on CPU
        # than contracting the batch with the factors one by one.
        letters = "xyz"[: self.n_dims]
        index = index or (slice(None),) * self.n_dims

        def complex_(factor: torch.Tensor) -> torch.Tensor:
            return as_complex(factor.to(dtype))

        weights = complex_(self.scale) * complex_(self.corner_factor[corner])
        return torch.einsum(
            f"r,ir,or,{','.join(f'{a}r' for a in letters)}->io{letters}",
            weights,
            complex_(self.in_factor),
            complex_(self.out_factor),
            *(complex_(f)[i] for f, i in zip(self.mode_factors, index)),
        )


@MODELS.register("fno")
class FNO(nn.Module):
    """FNO mapping (batch, in_channels, *spatial) to (batch, out_channels, *spatial)."""

    @staticmethod
    def check_config(cfg: DictConfig) -> None:
        """The hyper-parameters' types and ranges under `cfg.model`, before any work (no torch)."""
        for key in ("modes", "width", "n_layers", "projection_width", "rank"):
            require_int(cfg, f"model.{key}", minimum=1)
        require_float(cfg, "model.padding", minimum=0.0, at_most=1.0)
        if cfg.model.factorization is not None:
            require_choice(cfg, "model.factorization", tuple(f for f in FACTORIZATIONS if f))

    @staticmethod
    def parameter_count(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
        """Trainable parameters, from the formulas the model is built by (it is not built)."""
        width, modes, layers = p["width"], p["modes"], p["n_layers"]
        corners = 2 ** (dims - 1)
        if p.get("factorization") == "cp":
            rank = p["rank"]
            spectral = (corners + 2 * width + dims * modes) * rank * 2 + 2 * rank
        else:
            spectral = corners * width * width * modes**dims * 2
        projection = p["projection_width"]
        return (
            conv_parameters(dims, 1, c_in + dims, width)
            + layers * (spectral + conv_parameters(dims, 1, width, width))
            + conv_parameters(dims, 1, width, projection)
            + conv_parameters(dims, 1, projection, c_out)
        )

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_dims: int,
        modes: int = 12,
        width: int = 32,
        n_layers: int = 4,
        projection_width: int = 128,
        padding: float = 0.0,
        factorization: str | None = None,
        rank: int = 16,
    ) -> None:
        super().__init__()
        if n_dims not in CONV:
            raise ValueError(f"FNO supports 1, 2 or 3 spatial dimensions, not {n_dims}")
        if factorization not in FACTORIZATIONS:
            raise ValueError(f"factorization={factorization!r}; choose null or cp")
        if factorization == "cp" and rank < 1:
            raise ValueError(f"rank={rank} must be >= 1")
        conv = CONV[n_dims]
        self.n_dims = n_dims
        self.padding = padding
        self.lift = conv(in_channels + n_dims, width, 1)
        mode_shape = (modes,) * n_dims
        self.spectral = nn.ModuleList(
            CPSpectralConv(width, width, mode_shape, rank)
            if factorization == "cp"
            else SpectralConv(width, width, mode_shape)
            for _ in range(n_layers)
        )
        self.pointwise = nn.ModuleList(conv(width, width, 1) for _ in range(n_layers))
        self.project = nn.Sequential(
            conv(width, projection_width, 1), nn.GELU(), conv(projection_width, out_channels, 1)
        )

    @staticmethod
    def fit_to_grid(params: dict, grid: tuple[int, ...]) -> tuple[dict, list[str]]:
        """`modes` capped to what the (padded) training grid holds, with a note if capped."""
        modes = params["modes"]
        padded = tuple(padded_size(n, params["padding"]) for n in grid)
        held = min(held_modes(padded, (modes,) * len(grid)))
        if held >= modes:
            return params, []
        shape = "x".join(map(str, grid))
        note = f"modes={held} (capped from {modes}: a {shape} grid holds {held} Fourier modes)"
        return {**params, "modes": held}, [note]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = tuple(x.shape[2:])
        grid = node_coordinates(spatial, device=x.device, dtype=x.dtype)
        x = torch.cat([x, grid.expand(x.shape[0], *grid.shape)], dim=1)
        x = self.lift(x)
        pads = [padded_size(s, self.padding) - s for s in spatial]
        if any(pads):
            # F.pad lists (left, right) pairs from the last axis backwards.
            x = F.pad(x, [p for pad in reversed(pads) for p in (0, pad)])
        for i, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise)):
            x = spectral(x) + pointwise(x)
            if i < len(self.spectral) - 1:
                x = F.gelu(x)
        if any(pads):
            x = x[(slice(None), slice(None), *(slice(0, s) for s in spatial))]
        return self.project(x)
