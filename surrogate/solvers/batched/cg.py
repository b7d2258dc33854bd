"""Batched preconditioned CG in torch: lane b solves A_b x_b = b_b to
||b_b - A_b x_b|| <= rtol ||b_b||, as `surrogate.solvers.cg.CG` does one system.

A lane that has converged (or used `maxiter` iterations) is frozen while the others go on, so
its iterates are those of its own solve whatever else is in the batch. As in the numpy CG, the
recurrence is restarted from the true residual when it drifted below it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Operator = Callable[[torch.Tensor], torch.Tensor]


def lane_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-lane inner products (B,) of (B, ...) tensors."""
    return (a * b).flatten(1).sum(dim=1)


def lane_norm(a: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(a.flatten(1), dim=1)


def batched_cg(
    apply: Operator,
    rhs: torch.Tensor,
    precondition: Operator,
    rtol: float,
    maxiter: int,
    x0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[int], list[int]]:
    """(x, iterations, matrix products) per lane from `x0` (None: zero), the products counted
    as the numpy CG counts them (the final check included); `precondition` is z = M^{-1} r for
    every lane (symmetric positive definite: identity, Jacobi, a multigrid V-cycle)."""
    lanes = rhs.shape[0]
    column = (lanes,) + (1,) * (rhs.dim() - 1)

    target = rtol * lane_norm(rhs)
    x = torch.zeros_like(rhs) if x0 is None else x0.clone()
    iterations = torch.zeros(lanes, dtype=torch.long, device=rhs.device)
    products = torch.ones_like(iterations)  # the true residual checked after the solve
    pending = torch.ones(lanes, dtype=torch.bool, device=rhs.device)  # lanes not returned yet
    while True:
        r = rhs - apply(x)
        products += pending.long()
        active = pending & (lane_norm(r) > target) & (iterations < maxiter)
        pending = active
        if not bool(active.any()):
            return x, iterations.tolist(), products.tolist()
        z = precondition(r)
        p = z.clone()
        rz = lane_dot(r, z)
        while bool(active.any()):
            q = apply(p)
            alpha = rz / lane_dot(p, q)
            moving = active.reshape(column)
            x = torch.where(moving, x + alpha.reshape(column) * p, x)
            r = torch.where(moving, r - alpha.reshape(column) * q, r)
            z = precondition(r)
            rz, rz_old = torch.where(active, lane_dot(r, z), rz), rz
            p = torch.where(moving, z + (rz / rz_old).reshape(column) * p, p)
            iterations += active.long()
            products += active.long()
            active = active & (lane_norm(r) > target) & (iterations < maxiter)
