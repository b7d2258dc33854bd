"""Neural operators, built from the `model` config group by `model.name`."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from torch import nn

from surrogate.errors import UserError
from surrogate.models.deeponet import DeepONet
from surrogate.models.fno import FNO
from surrogate.models.galerkin import GalerkinTransformer
from surrogate.models.mgno import MgNO
from surrogate.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {
    "fno": FNO,
    "mgno": MgNO,
    "unet": UNet,
    "deeponet": DeepONet,
    "galerkin": GalerkinTransformer,
}


def build_model(
    cfg: DictConfig | dict, in_channels: int, out_channels: int, n_dims: int
) -> nn.Module:
    """`Model(in_channels, out_channels, n_dims, **hyper_parameters)` for `cfg.name`."""
    params = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    name = params.pop("name")
    if name not in MODELS:
        raise UserError(f"model={name} is unknown; choose one of: {', '.join(MODELS)}")
    try:
        return MODELS[name](in_channels, out_channels, n_dims, **params)
    except (TypeError, ValueError) as error:  # unknown or out-of-range hyper-parameter
        raise UserError(f"model={name}: {error}") from error
