"""Families batched in torch (`backend=torch`): B samples advanced or solved at once.

A batched family wraps the numpy family built for the same config: it draws each sample's
parameters with that family's own code from the sample's own stream, so sample i still depends
only on (seed, split, i), and computes the B samples together on one torch device in `dtype`
(float64, or float32: `dtype=`).
Each registers itself under its family's name (`@BATCHED.register("navier_stokes")`) in the
module named like it; `BATCHED.names()` is what `backend=torch` supports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from surrogate.registry import Registry

if TYPE_CHECKING:
    from surrogate.pdes.base import Trajectory

BATCHED: Registry[type] = Registry("pde (backend=torch)", "surrogate.pdes.batched")


class BatchedFamily(Protocol):
    """Built as `Batched(pde, solver_cfg, device, dtype)` from the numpy family `pde`."""

    def simulate(self, rngs: list[np.random.Generator]) -> list[Trajectory]:
        """One trajectory (or steady solution) per stream, as `pde.simulate` computes it for
        that stream alone; each result's `seconds` is its share of the batch's wall time."""
        ...


__all__ = ["BATCHED", "BatchedFamily"]
