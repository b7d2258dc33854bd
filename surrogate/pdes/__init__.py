"""PDE families: random parameters, sparse systems, stored fields. Selected by `pde.name`."""

from __future__ import annotations

from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import PDEFamily
from surrogate.pdes.darcy import Darcy
from surrogate.pdes.darcy3d import Darcy3D
from surrogate.pdes.heat import Heat
from surrogate.pdes.helmholtz import Helmholtz
from surrogate.pdes.poisson import Poisson

FAMILIES: dict[str, type[PDEFamily]] = {
    "darcy": Darcy,
    "poisson": Poisson,
    "helmholtz": Helmholtz,
    "darcy3d": Darcy3D,
    "heat": Heat,
}


def build_pde(cfg: DictConfig) -> PDEFamily:
    if cfg.name not in FAMILIES:
        raise UserError(f"pde={cfg.name} is unknown; choose one of: {', '.join(FAMILIES)}")
    return FAMILIES[cfg.name](cfg)
