"""Steady heat conduction on the slotted domain (`surrogate.pdes.heat`) batched in torch: one
matrix-free operator for every lane, batched CG (Jacobi or mg) or GMRES / GCRO-DR.

The family's matrix depends only on its constant conductivity, so every lane of every batch
has the same one: the finite-volume 5-point stencil on the full n x n grid of nodes, its x- and
y-face weights the conductivity times the geometry's transmissibilities (anisotropic: hy / hx
and hx / hy, halved at the slot walls, zero across the slot). The outer Dirichlet ring is
decoupled (diagonal `scale`, no faces; its couplings are in the numpy right-hand side, as the
numpy assembly moves them), and so are the nodes strictly inside the slot, which are no
unknowns of the numpy system: rows `scale` u = 0. The decoupled rows make the grid's operator
block diagonal, the numpy matrix one block (its nodes in the same row-major order) and
`scale` I the other, so each lane's solution gathered at the domain nodes (`unknowns`) is the
numpy solution vector, and its residual on the full grid bounds the numpy system's.

The preconditioner (Jacobi's inverse diagonal, the multigrid hierarchy of mg) is built once,
from the one operator, and serves every lane of every batch. mg's Galerkin coarse operators
R A P of this SPD operator are SPD, so the V-cycle is a valid CG preconditioner; the coarse
grids ignore the slot and the decoupled ring (linear interpolation across them), which costs
iterations but not correctness (measured in docs/torch_backend.md).
"""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig

from surrogate.pdes.base import Problem
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.batched.steady import BatchedSteady
from surrogate.pdes.heat import Heat, SlotGeometry
from surrogate.solvers.batched.cg import Operator
from surrogate.solvers.batched.stencil import Stencil


def slot_stencil(geometry: SlotGeometry, conductivity: float) -> Stencil:
    """The system matrix of `geometry.operator(conductivity)` on the full n x n grid, one lane,
    with the slot's inner nodes decoupled like the Dirichlet ring."""
    n = geometry.n
    edges = (n - 1) * n
    t = conductivity * geometry.transmissibility
    tx, ty = t[:edges].reshape(n - 1, n), t[edges:].reshape(n, n - 1)
    free = (geometry.mask & ~geometry.dirichlet).astype(np.float64)
    # Each node's transmissibility to its neighbour one step along (axis, step), 0 off the grid.
    to = {
        (0, -1): np.pad(tx, ((1, 0), (0, 0))),
        (0, 1): np.pad(tx, ((0, 1), (0, 0))),
        (1, -1): np.pad(ty, ((0, 0), (1, 0))),
        (1, 1): np.pad(ty, ((0, 0), (0, 1))),
    }
    neighbour_free = {
        (0, -1): np.pad(free[:-1], ((1, 0), (0, 0))),
        (0, 1): np.pad(free[1:], ((0, 1), (0, 0))),
        (1, -1): np.pad(free[:, :-1], ((0, 0), (1, 0))),
        (1, 1): np.pad(free[:, 1:], ((0, 0), (0, 1))),
    }
    faces = [free * to[move] * neighbour_free[move] for move in to]
    diagonal = free * sum(to.values()) + (1.0 - free) * geometry.scale(conductivity)
    return Stencil(
        torch.from_numpy(diagonal[None]), [torch.from_numpy(face[None]) for face in faces]
    )


@BATCHED.register("heat")
class BatchedHeat(BatchedSteady):
    """The one operator of the family, its right-hand sides scattered onto the full grid."""

    def __init__(
        self, pde: Heat, solver: DictConfig, device: torch.device, dtype: torch.dtype
    ) -> None:
        super().__init__(pde, solver, device, dtype)
        stencil = slot_stencil(pde.geometry, pde.conductivity)
        self.stencil = Stencil(
            stencil.diagonal.to(device), [face.to(device) for face in stencil.faces]
        )
        self.preconditioners: dict[torch.dtype, Operator] = {}  # float32: refinement's

    def operator(self, problems: list[Problem]) -> Stencil:
        """The one operator, as views of B lanes."""
        lanes, stencil = len(problems), self.stencil
        grid = stencil.diagonal.shape[1:]
        return Stencil(
            stencil.diagonal.expand(lanes, *grid),
            [face.expand(lanes, *grid) for face in stencil.faces],
        )

    def precondition(self, operator: Stencil) -> Operator:
        """Built once per dtype, from the one-lane operator; it broadcasts over a batch's lanes."""
        dtype = operator.diagonal.dtype
        if dtype not in self.preconditioners:
            one = Stencil(
                self.stencil.diagonal.to(dtype), [f.to(dtype) for f in self.stencil.faces]
            )
            self.preconditioners[dtype] = super().precondition(one)
        return self.preconditioners[dtype]

    def on_grid(self, rhs: np.ndarray) -> np.ndarray:
        full = np.zeros(self.pde.n * self.pde.n)
        full[self.pde.geometry.unknowns] = rhs
        return full

    def at_unknowns(self, x: np.ndarray) -> np.ndarray:
        return x[:, self.pde.geometry.unknowns]
