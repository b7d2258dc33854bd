"""PDE families: random parameters, sparse systems, stored fields. Selected by `pde.name`.

A family's module is imported when it is built, so a run pays for its own family's imports
only (the spectral families pull in scipy.fft, for instance).
"""

from __future__ import annotations

import importlib

from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import PDEFamily
from surrogate.pdes.temporal import TimeDependentFamily

FAMILIES = {  # name -> module and class
    "darcy": ("surrogate.pdes.darcy", "Darcy"),
    "poisson": ("surrogate.pdes.poisson", "Poisson"),
    "helmholtz": ("surrogate.pdes.helmholtz", "Helmholtz"),
    "darcy3d": ("surrogate.pdes.darcy3d", "Darcy3D"),
    "heat": ("surrogate.pdes.heat", "Heat"),
    "heat_transient": ("surrogate.pdes.heat_transient", "HeatTransient"),
    "navier_stokes": ("surrogate.pdes.navier_stokes", "NavierStokes"),
    "burgers": ("surrogate.pdes.burgers", "Burgers"),
}


def build_pde(cfg: DictConfig) -> PDEFamily | TimeDependentFamily:
    if cfg.name not in FAMILIES:
        raise UserError(f"pde={cfg.name} is unknown; choose one of: {', '.join(FAMILIES)}")
    module, name = FAMILIES[cfg.name]
    return getattr(importlib.import_module(module), name)(cfg)
