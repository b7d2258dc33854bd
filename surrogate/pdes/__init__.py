"""PDE families: random parameters, sparse systems, stored fields. Selected by `pde.name`."""

from __future__ import annotations

from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import PDEFamily
from surrogate.pdes.burgers import Burgers
from surrogate.pdes.darcy import Darcy
from surrogate.pdes.darcy3d import Darcy3D
from surrogate.pdes.heat import Heat
from surrogate.pdes.heat_transient import HeatTransient
from surrogate.pdes.helmholtz import Helmholtz
from surrogate.pdes.navier_stokes import NavierStokes
from surrogate.pdes.poisson import Poisson
from surrogate.pdes.temporal import TimeDependentFamily

FAMILIES: dict[str, type[PDEFamily] | type[TimeDependentFamily]] = {
    "darcy": Darcy,
    "poisson": Poisson,
    "helmholtz": Helmholtz,
    "darcy3d": Darcy3D,
    "heat": Heat,
    "heat_transient": HeatTransient,
    "navier_stokes": NavierStokes,
    "burgers": Burgers,
}


def build_pde(cfg: DictConfig) -> PDEFamily | TimeDependentFamily:
    if cfg.name not in FAMILIES:
        raise UserError(f"pde={cfg.name} is unknown; choose one of: {', '.join(FAMILIES)}")
    return FAMILIES[cfg.name](cfg)
