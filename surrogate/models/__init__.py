"""Neural operators, built from the `model` config group by `model.name`."""

from __future__ import annotations

import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from surrogate.errors import UserError
from surrogate.models.base import MODELS

# The built-in models, importable from here; each registers itself in its own module, and
# these imports fix the order the registry lists them in (a new model needs no line here).
# isort: off
from surrogate.models.fno import FNO
from surrogate.models.mgno import MgNO
from surrogate.models.unet import UNet
from surrogate.models.deeponet import DeepONet
from surrogate.models.galerkin import GalerkinTransformer

# isort: on

__all__ = ["MODELS", "DeepONet", "FNO", "GalerkinTransformer", "MgNO", "UNet", "build_model"]


def resolution_dependent(name: str) -> bool:
    """Whether model `name`'s weights are tied to the training grid's spacing."""
    return bool(getattr(MODELS.get(name), "resolution_dependent", False))


def effective_config(
    cfg: DictConfig | dict, grid: tuple[int, ...] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Every hyper-parameter `cfg.name`'s model is built with (the config over the class's
    defaults), fitted to the training `grid` when given, and a note per value the grid changed
    (FNO's modes capped to what the grid holds; MgNO's V-cycle tied to the grid's spacing)."""
    params = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    name = params.pop("name", None)
    model_class = MODELS.get(name)
    signature = inspect.signature(model_class)
    defaults = {
        key: p.default
        for key, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    params = {"name": name, **defaults, **params}
    fit = getattr(model_class, "fit_to_grid", None)
    if grid is None or fit is None:
        return params, []
    try:
        return fit(params, tuple(grid))
    except (TypeError, ValueError) as error:  # a hyper-parameter of the wrong type
        raise UserError(f"model={name}: {error}") from error


def build_model(
    cfg: DictConfig | dict,
    in_channels: int,
    out_channels: int,
    n_dims: int,
    grid: tuple[int, ...] | None = None,
) -> nn.Module:
    """`Model(in_channels, out_channels, n_dims, **hyper_parameters)` for `cfg.name`, fitted
    to the training `grid` when given (see `effective_config`)."""
    params, _ = effective_config(cfg, grid)
    name = params.pop("name")
    try:
        return MODELS[name](in_channels, out_channels, n_dims, **params)
    except (TypeError, ValueError) as error:  # unknown or out-of-range hyper-parameter
        raise UserError(f"model={name}: {error}") from error
