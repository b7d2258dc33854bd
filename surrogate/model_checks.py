"""Every model's hyper-parameters, checked before any work, by the model's own hooks.

`check_model` runs the model's `check_config` (types, ranges, divisibility: the config only)
with the other checks of `surrogate train`, before any data is read. `check_model_size` runs once
the dataset's channels and dimensions are known: it counts the model's parameters from the same
formulas the models are built by (the model's `parameter_count`, written with the helpers
here), and refuses a model whose training state (weights, gradients
and AdamW's two moments: 16 bytes per parameter) does not fit in memory, before it is built.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.memory import SAFETY, available_memory, size_text

BYTES_PER_PARAMETER = 16  # float32 weights, gradients and AdamW's two moments


def check_model(cfg: DictConfig) -> None:
    """Types and ranges of `cfg.model`'s hyper-parameters (one-line UserError): the model's
    own `check_config`."""
    from surrogate.models import MODELS  # the models (and torch) are imported here

    MODELS.choose(cfg, "model.name").check_config(cfg)


def conv_parameters(dims: int, size: int, n_in: int, n_out: int, bias: bool = True) -> int:
    return size**dims * n_in * n_out + (n_out if bias else 0)


def linear_parameters(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def mlp_parameters(n_in: int, width: int, layers: int, n_out: int) -> int:
    """An MLP n_in -> `layers` hidden layers of `width` -> n_out (counted without building the
    list of its sizes: `layers` may be huge)."""
    return (
        linear_parameters(n_in, width)
        + (layers - 1) * linear_parameters(width, width)
        + linear_parameters(width, n_out)
    )


def parameter_count(model: dict[str, Any], in_channels: int, out_channels: int, dims: int) -> int:
    """The number of trainable parameters of `model` (a checked model config)."""
    from surrogate.models import MODELS

    return MODELS.get(model["name"]).parameter_count(model, in_channels, out_channels, dims)


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
