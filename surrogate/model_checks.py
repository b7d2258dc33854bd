"""Every model's hyper-parameters, checked before any work.

`check_model` needs the config only (types, ranges, divisibility) and runs with the other
checks of `surrogate train` before anything is imported or read. `check_model_size` runs once
the dataset's channels and dimensions are known: it counts the model's parameters from the same
formulas the models are built by, and refuses a model whose training state (weights, gradients
and AdamW's two moments: 16 bytes per parameter) does not fit in memory, before it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from surrogate.checks import require_choice, require_float, require_int
from surrogate.errors import UserError
from surrogate.memory import SAFETY, available_memory, size_text

BYTES_PER_PARAMETER = 16  # float32 weights, gradients and AdamW's two moments
FNO_FACTORIZATIONS = ("cp",)
MGNO_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _fno(cfg: DictConfig) -> None:
    for key in ("modes", "width", "n_layers", "projection_width", "rank"):
        require_int(cfg, f"model.{key}", minimum=1)
    require_float(cfg, "model.padding", minimum=0.0, at_most=1.0)
    if cfg.model.factorization is not None:
        require_choice(cfg, "model.factorization", FNO_FACTORIZATIONS)


def _mgno(cfg: DictConfig) -> None:
    for key in ("width", "n_layers", "n_levels", "smoothing"):
        require_int(cfg, f"model.{key}", minimum=1)
    require_choice(cfg, "model.padding_mode", MGNO_PADDING_MODES)


def _unet(cfg: DictConfig) -> None:
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


def _deeponet(cfg: DictConfig) -> None:
    for key in ("n_sensors", "basis", "branch_width", "branch_layers", "trunk_width"):
        require_int(cfg, f"model.{key}", minimum=1)
    require_int(cfg, "model.trunk_layers", minimum=1)


def _galerkin(cfg: DictConfig) -> None:
    for key in ("width", "n_layers", "n_heads", "ffn_width"):
        require_int(cfg, f"model.{key}", minimum=1)
    width, heads = int(cfg.model.width), int(cfg.model.n_heads)
    if width % heads:
        raise UserError(
            f"model.width={width} must be divisible by model.n_heads={heads} (each head gets "
            f"width / n_heads features), e.g. model.width={heads * max(1, round(width / heads))}"
        )


CHECKS: dict[str, Callable[[DictConfig], None]] = {
    "fno": _fno,
    "mgno": _mgno,
    "unet": _unet,
    "deeponet": _deeponet,
    "galerkin": _galerkin,
}


def check_model(cfg: DictConfig) -> None:
    """Types and ranges of `cfg.model`'s hyper-parameters (one-line UserError)."""
    CHECKS[require_choice(cfg, "model.name", tuple(CHECKS))](cfg)


def _conv(dims: int, size: int, n_in: int, n_out: int, bias: bool = True) -> int:
    return size**dims * n_in * n_out + (n_out if bias else 0)


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def _mlp(n_in: int, width: int, layers: int, n_out: int) -> int:
    """An MLP n_in -> `layers` hidden layers of `width` -> n_out (counted without building the
    list of its sizes: `layers` may be huge)."""
    return _linear(n_in, width) + (layers - 1) * _linear(width, width) + _linear(width, n_out)


def _fno_parameters(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
    width, modes, layers = p["width"], p["modes"], p["n_layers"]
    corners = 2 ** (dims - 1)
    if p.get("factorization") == "cp":
        rank = p["rank"]
        spectral = (corners + 2 * width + dims * modes) * rank * 2 + 2 * rank
    else:
        spectral = corners * width * width * modes**dims * 2
    projection = p["projection_width"]
    return (
        _conv(dims, 1, c_in + dims, width)
        + layers * (spectral + _conv(dims, 1, width, width))
        + _conv(dims, 1, width, projection)
        + _conv(dims, 1, projection, c_out)
    )


def _mgno_parameters(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
    width, levels, smoothing = p["width"], p["n_levels"], p["smoothing"]
    operators = levels if smoothing > 1 else levels - 1
    stencils = operators + levels * smoothing + 2 * (levels - 1)  # + restrict and prolong
    per_layer = stencils * 3**dims * width * width + _conv(dims, 1, width, width)
    return _conv(dims, 1, c_in, width) + p["n_layers"] * per_layer + _conv(dims, 1, width, c_out)


def _unet_parameters(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
    def block(n_in: int, n_out: int) -> int:
        skip = 0 if n_in == n_out else _conv(dims, 1, n_in, n_out)
        return (
            2 * n_in + 2 * n_out + _conv(dims, 3, n_in, n_out) + _conv(dims, 3, n_out, n_out) + skip
        )

    widths = [p["width"] * m for m in p["channel_multipliers"]]
    blocks = p["blocks_per_level"]
    total = _conv(dims, 3, c_in, p["width"])
    channels = p["width"]
    for level, width in enumerate(widths):
        total += block(channels, width) + (blocks - 1) * block(width, width)
        channels = width
        if level < len(widths) - 1:
            total += _conv(dims, 3, channels, channels)
    for width in reversed(widths[:-1]):
        total += _conv(dims, 2, channels, width)
        total += block(2 * width, width) + (blocks - 1) * block(width, width)
        channels = width
    return total + 2 * channels + _conv(dims, 1, channels, c_out)


def _deeponet_parameters(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
    outputs = c_out * p["basis"]
    sensors = c_in * p["n_sensors"] ** dims
    branch = _mlp(sensors, p["branch_width"], p["branch_layers"], outputs)
    return branch + _mlp(dims, p["trunk_width"], p["trunk_layers"], outputs) + c_out


def _galerkin_parameters(p: dict[str, Any], c_in: int, c_out: int, dims: int) -> int:
    width, ffn = p["width"], p["ffn_width"]
    head = width // p["n_heads"]
    layer = _linear(width, 3 * width) + 4 * head + _linear(width, width)
    layer += _linear(width, ffn) + _linear(ffn, width)
    return (
        _linear(c_in + dims, width)
        + p["n_layers"] * layer
        + _linear(width, ffn)
        + _linear(ffn, c_out)
    )


PARAMETERS: dict[str, Callable[[dict[str, Any], int, int, int], int]] = {
    "fno": _fno_parameters,
    "mgno": _mgno_parameters,
    "unet": _unet_parameters,
    "deeponet": _deeponet_parameters,
    "galerkin": _galerkin_parameters,
}


def parameter_count(model: dict[str, Any], in_channels: int, out_channels: int, dims: int) -> int:
    """The number of trainable parameters of `model` (a checked model config)."""
    return PARAMETERS[model["name"]](model, in_channels, out_channels, dims)


def check_model_size(model: dict[str, Any], in_channels: int, out_channels: int, dims: int) -> None:
    """Refuse a model whose training state does not fit in memory, before it is built."""
    count = parameter_count(model, in_channels, out_channels, dims)
    needed = count * BYTES_PER_PARAMETER
    available = available_memory()
    if needed * SAFETY > available:
        sizes = ", ".join(
            f"model.{key}={value}"
            for key, value in model.items()
            if key != "name" and isinstance(value, int) and not isinstance(value, bool)
        )
        raise UserError(
            f"model={model['name']} with {sizes} has {count:.3g} parameters: training it needs "
            f"about {size_text(needed)} (weights, gradients, optimizer state) and "
            f"{size_text(available)} are available; choose smaller sizes"
        )
