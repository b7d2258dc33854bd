"""PDE families: random parameters, sparse systems, stored fields. Selected by `pde.name`.

A family registers itself in its own module (`@FAMILIES.register("darcy")`); the registry
imports the module named like the family first, so a run pays for its own family's imports
only (the spectral families pull in scipy.fft, for instance).
"""

from __future__ import annotations

from omegaconf import DictConfig

from surrogate.pdes.base import FAMILIES, PDEFamily
from surrogate.pdes.temporal import TimeDependentFamily


def build_pde(cfg: DictConfig) -> PDEFamily | TimeDependentFamily:
    return FAMILIES.get(cfg.name)(cfg)


__all__ = ["FAMILIES", "build_pde"]
