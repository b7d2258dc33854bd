"""Fourier neural operator (Li et al., ICLR 2021) in 1, 2 or 3 spatial dimensions.

Each layer is GELU(K u + W u) with K a convolution truncated to the lowest `modes` Fourier modes
per dimension and W a pointwise skip (`skip`: linear, soft gating or identity). With
`channel_mlp`, each layer continues as GELU(M(v) + S u) with v that output, M a pointwise
two-layer MLP and S a second skip (`channel_mlp_skip`), as in neuraloperator's FNO blocks.
`lifting` maps the input to `width` channels by one pointwise linear map or a two-layer MLP.
Grid coordinates are appended to the input (`grid`: the datasets' interior nodes, or i / n on
[0, 1) as neuraloperator's grid embedding, which places a node at another physical position on
every grid). The input is zero-padded on the far side of each axis for non-periodic problems,
by at least `padding` of its size, up to the next size whose prime factors are 2, 3, 5 and 7
only: FFTs of other sizes are several times slower (at 64 points, 10 % padding would give 71,
a prime: 3.6x slower than 72).

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

from surrogate.checks import require_bool, require_choice, require_float, require_int
from surrogate.model_checks import conv_parameters
from surrogate.models.base import MODELS
from surrogate.models.grid import GRIDS, grid_coordinates
from surrogate.models.layers import CONV, SKIPS, ChannelMLP, skip_parameters
from surrogate.models.layers import skip as make_skip

LIFTINGS = ("linear", "mlp")
SPECTRAL_INITS = ("uniform", "normal")
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

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: tuple[int, ...],
        init: str = "uniform",
    ) -> None:
        super().__init__()
        if init not in SPECTRAL_INITS:
            raise ValueError(f"spectral_init={init!r}; choose one of: {', '.join(SPECTRAL_INITS)}")
        self.modes = modes
        self.n_dims = len(modes)
        self.out_channels = out_channels
        self.init = init
        self._make_weights(in_channels, out_channels, 2 ** (self.n_dims - 1))

    def _make_weights(self, in_channels: int, out_channels: int, n_corners: int) -> None:
        """`uniform`: U[0, 1 / (in * out)) per real and imaginary part (Li et al.), near zero:
        the layers start as their skips. `normal`: complex N(0, 2 / (in + out)), Glorot-like,
        neuraloperator's."""
        shape = (n_corners, in_channels, out_channels, *self.modes, 2)
        if self.init == "uniform":
            weight = torch.rand(shape) / (in_channels * out_channels)
        else:
            weight = torch.randn(shape) * math.sqrt(1.0 / (in_channels + out_channels))
        # Real storage (..., 2) keeps optimisers, DDP and checkpoints free of complex tensors.
        self.weight = nn.Parameter(weight)

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
    """FNO mapping (batch, in_channels, *spatial) to (batch, out_channels, *spatial).

    The keyword defaults are the original architecture, so checkpoints written before an
    option existed load as they were trained; conf/model/fno.yaml holds the defaults in use.
    """

    @staticmethod
    def check_config(cfg: DictConfig) -> None:
        """The hyper-parameters' types and ranges under `cfg.model`, before any work (no torch)."""
        for key in ("modes", "width", "n_layers", "projection_width", "rank"):
            require_int(cfg, f"model.{key}", minimum=1)
        for key in ("lifting_width", "channel_mlp_width"):
            require_int(cfg, f"model.{key}", minimum=1)
        require_float(cfg, "model.padding", minimum=0.0, at_most=1.0)
        if cfg.model.factorization is not None:
            require_choice(cfg, "model.factorization", tuple(f for f in FACTORIZATIONS if f))
        require_choice(cfg, "model.lifting", LIFTINGS)
        require_choice(cfg, "model.skip", SKIPS)
        require_choice(cfg, "model.channel_mlp_skip", SKIPS)
        require_choice(cfg, "model.grid", GRIDS)
        require_choice(cfg, "model.spectral_init", SPECTRAL_INITS)
        require_bool(cfg, "model.channel_mlp")

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
        layer = spectral + skip_parameters(p.get("skip", "linear"), width, dims)
        if p.get("channel_mlp", False):
            layer += ChannelMLP.parameter_count(dims, width, p["channel_mlp_width"], width)
            layer += skip_parameters(p["channel_mlp_skip"], width, dims)
        if p.get("lifting", "linear") == "mlp":
            lift = ChannelMLP.parameter_count(dims, c_in + dims, p["lifting_width"], width)
        else:
            lift = conv_parameters(dims, 1, c_in + dims, width)
        return (
            lift
            + layers * layer
            + ChannelMLP.parameter_count(dims, width, p["projection_width"], c_out)
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
        lifting: str = "linear",
        lifting_width: int = 64,
        skip: str = "linear",
        channel_mlp: bool = False,
        channel_mlp_width: int = 16,
        channel_mlp_skip: str = "soft_gating",
        grid: str = "interior",
        spectral_init: str = "uniform",
    ) -> None:
        super().__init__()
        if n_dims not in CONV:
            raise ValueError(f"FNO supports 1, 2 or 3 spatial dimensions, not {n_dims}")
        if factorization not in FACTORIZATIONS:
            raise ValueError(f"factorization={factorization!r}; choose null or cp")
        if factorization == "cp" and rank < 1:
            raise ValueError(f"rank={rank} must be >= 1")
        for name, value, choices in (
            ("lifting", lifting, LIFTINGS),
            ("skip", skip, SKIPS),
            ("channel_mlp_skip", channel_mlp_skip, SKIPS),
            ("grid", grid, GRIDS),
        ):
            if value not in choices:
                raise ValueError(f"{name}={value!r}; choose one of: {', '.join(choices)}")
        self.n_dims = n_dims
        self.padding = padding
        self.grid = grid
        lifted = in_channels + n_dims
        self.lift = (
            ChannelMLP(n_dims, lifted, lifting_width, width)
            if lifting == "mlp"
            else CONV[n_dims](lifted, width, 1)
        )
        mode_shape = (modes,) * n_dims
        self.spectral = nn.ModuleList(
            CPSpectralConv(width, width, mode_shape, rank)
            if factorization == "cp"
            else SpectralConv(width, width, mode_shape, spectral_init)
            for _ in range(n_layers)
        )
        # "pointwise" (not "skips") keeps the linear skip's weights under their original name.
        self.pointwise = nn.ModuleList(make_skip(skip, width, n_dims) for _ in range(n_layers))
        self.channel_mlps = nn.ModuleList(
            ChannelMLP(n_dims, width, channel_mlp_width, width)
            for _ in range(n_layers)
            if channel_mlp
        )
        self.channel_mlp_skips = nn.ModuleList(
            make_skip(channel_mlp_skip, width, n_dims) for _ in range(n_layers) if channel_mlp
        )
        self.project = ChannelMLP(n_dims, width, projection_width, out_channels)

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
        grid = grid_coordinates(self.grid, spatial, device=x.device, dtype=x.dtype)
        x = torch.cat([x, grid.expand(x.shape[0], *grid.shape)], dim=1)
        x = self.lift(x)
        pads = [padded_size(s, self.padding) - s for s in spatial]
        if any(pads):
            # F.pad lists (left, right) pairs from the last axis backwards.
            x = F.pad(x, [p for pad in reversed(pads) for p in (0, pad)])
        last = len(self.spectral) - 1
        for i, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise)):
            y = spectral(x) + pointwise(x)
            if self.channel_mlps:
                y = self.channel_mlps[i](F.gelu(y) if i < last else y)
                y = y + self.channel_mlp_skips[i](x)
            x = F.gelu(y) if i < last else y
        if any(pads):
            x = x[(slice(None), slice(None), *(slice(0, s) for s in spatial))]
        return self.project(x)
