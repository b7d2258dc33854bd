"""Batched restarted GMRES(m) in torch, right-preconditioned: lane b solves A_b x_b = b_b to
||b_b - A_b x_b|| <= rtol ||b_b||, as `surrogate.solvers.gmres.GMRES` does one system.

Every lane runs its own Arnoldi cycle (classical Gram-Schmidt, a second pass where a lane
needs it, one matrix product per lane) and stops it on its own residual estimate: a lane that
has met its target or used its steps is frozen while the others go on, and each cycle restarts
from the true residual. The least-squares problem is kept in QR form by accumulating the
Givens rotations as one small (m + 1)^2 matrix per lane, so a step costs the same few kernels
whatever its index.
The preconditioner is any fixed linear operator applied on the right (`precondition`): the
identity, Jacobi, or the multigrid V-cycle of the lanes' shifted operators
(`surrogate.solvers.batched.mg`). `arnoldi_cycle` also serves the batched GCRO-DR (its
deflated cycles).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from surrogate.solvers.arnoldi import kernels
from surrogate.solvers.batched.cg import lane_norm

Flat = Callable[[torch.Tensor], torch.Tensor]  # (B, N) -> (B, N)


@dataclass
class Cycle:
    """One batched Arnoldi cycle: rows V (B, m + 1, N), the Hessenberg H (B, m + 1, m) and,
    when deflated against C, the coupling C Â V (B, k, m); each lane's `steps`, its
    least-squares solution y (B, m) (zero beyond its steps) and its residual estimate."""

    krylov: torch.Tensor
    hessenberg: torch.Tensor
    coupling: torch.Tensor | None
    steps: torch.Tensor
    y: torch.Tensor
    residual: torch.Tensor


def lane_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a[l] @ b[l] for every lane l, one product per lane: a lane's result is then the same
    whatever the batch (torch.bmm's (B, j, N) x (B, N, 1) was not, and slower on the CPU)."""
    return torch.stack([x @ y for x, y in zip(a, b)])


def lane_rows(coefficients: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """sum_i coefficients[b, i] rows[b, i]: (B, j) with (B, j, N) -> (B, N)."""
    return lane_matmul(coefficients, rows)


def lane_products(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """rows[b] @ w[b]: (B, j, N) with (B, N) -> (B, j)."""
    return lane_matmul(rows, w)


def orthogonalize(w: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """w minus its components along the orthonormal rows, and those components: classical
    Gram-Schmidt, with a second pass for the lanes whose norm fell below kernels.REORTHOGONALIZE of
    what it was (DGKS, as the numpy Arnoldi does); the other lanes are left as they are."""
    before = lane_norm(w)
    h = lane_products(rows, w)
    w = w - lane_rows(h, rows)
    again = (lane_norm(w) < kernels.REORTHOGONALIZE * before).unsqueeze(1)
    if not bool(again.any()):
        return w, h
    correction = torch.where(again, lane_products(rows, w), 0.0)
    return torch.where(again, w - lane_rows(correction, rows), w), h + correction


def arnoldi_cycle(
    operator: Flat,
    r: torch.Tensor,
    beta: torch.Tensor,
    limit: torch.Tensor,
    target: torch.Tensor,
    m: int,
    deflate: torch.Tensor | None = None,
) -> Cycle:
    """Up to `limit[b]` (<= m) Arnoldi steps per lane on `operator` from r / beta, each lane
    stopping once its residual estimate is <= target; `deflate` (B, k, N), orthonormal rows (or
    zero rows): the steps are on (I - C^T C) Â, as GCRO-DR's are."""
    lanes, n = r.shape
    options = {"dtype": r.dtype, "device": r.device}
    krylov = torch.zeros(lanes, m + 1, n, **options)
    krylov[:, 0] = r / torch.where(beta > 0, beta, 1.0).unsqueeze(1)
    hessenberg = torch.zeros(lanes, m + 1, m, **options)
    triangle = torch.zeros(lanes, m, m, **options)  # R of H = Q R
    rotations = torch.eye(m + 1, **options).repeat(lanes, 1, 1)  # Q^T
    coupling = None if deflate is None else torch.zeros(lanes, deflate.shape[1], m, **options)
    steps = torch.zeros(lanes, dtype=torch.long, device=r.device)
    residual = beta.clone()
    running = (limit > 0) & (beta > target)
    for j in range(m):
        if not bool(running.any()):
            break
        w = operator(krylov[:, j])
        if deflate is not None:
            w, c = orthogonalize(w, deflate)
            coupling[:, :, j] = torch.where(running.unsqueeze(1), c, 0.0)
        w, h = orthogonalize(w, krylov[:, : j + 1])
        norm = lane_norm(w)
        column = torch.cat([h, norm.unsqueeze(1)], dim=1)  # (B, j + 2)
        column = torch.where(running.unsqueeze(1), column, 0.0)
        hessenberg[:, : j + 2, j] = column
        safe = torch.where(norm > 0, norm, 1.0).unsqueeze(1)
        krylov[:, j + 1] = torch.where(running.unsqueeze(1), w / safe, 0.0)
        rotated = (rotations[:, : j + 2, : j + 2] * column.unsqueeze(1)).sum(dim=2)
        a, b = rotated[:, j], rotated[:, j + 1]
        radius = torch.sqrt(a * a + b * b)
        cos = torch.where(radius > 0, a / torch.where(radius > 0, radius, 1.0), 1.0)
        sin = torch.where(radius > 0, b / torch.where(radius > 0, radius, 1.0), 0.0)
        upper, lower = rotations[:, j].clone(), rotations[:, j + 1].clone()
        turn = running.unsqueeze(1)
        rotations[:, j] = torch.where(
            turn, cos.unsqueeze(1) * upper + sin.unsqueeze(1) * lower, upper
        )
        rotations[:, j + 1] = torch.where(
            turn, cos.unsqueeze(1) * lower - sin.unsqueeze(1) * upper, lower
        )
        rotated[:, j] = radius
        triangle[:, : j + 1, j] = torch.where(turn, rotated[:, : j + 1], 0.0)
        steps += running.long()
        residual = torch.where(running, (rotations[:, j + 1, 0] * beta).abs(), residual)
        running = running & (residual > target) & (steps < limit)
    return Cycle(
        krylov,
        hessenberg,
        coupling,
        steps,
        least_squares(triangle, rotations, beta, steps),
        residual,
    )


def least_squares(
    triangle: torch.Tensor, rotations: torch.Tensor, beta: torch.Tensor, steps: torch.Tensor
) -> torch.Tensor:
    """y (B, m) minimising ||beta e1 - H y|| over each lane's first `steps` columns: R y = Q^T
    beta e1, with the unused part of R replaced by the identity (so y is zero there)."""
    m = triangle.shape[-1]
    index = torch.arange(m, device=triangle.device)
    used = index.unsqueeze(0) < steps.unsqueeze(1)  # (B, m)
    block = used.unsqueeze(2) & used.unsqueeze(1)
    eye = torch.eye(m, dtype=triangle.dtype, device=triangle.device).expand_as(triangle)
    system = torch.where(block, triangle, eye)
    rhs = torch.where(used, rotations[:, :m, 0] * beta.unsqueeze(1), 0.0)
    return torch.linalg.solve_triangular(system, rhs.unsqueeze(2), upper=True).squeeze(2)


ALIGN_BYTES = 64


def flatten(fields: torch.Tensor) -> torch.Tensor:
    """(B, ...) fields as (B, N) vectors, N padded with zeros to a multiple of ALIGN_BYTES: every
    lane's vectors then start on the same alignment as a lone lane's, and BLAS kernels, whose
    summation order follows the alignment, give each lane the same bits in any batch."""
    flat = fields.reshape(fields.shape[0], -1)
    return torch.nn.functional.pad(flat, (0, -flat.shape[1] % (ALIGN_BYTES // flat.itemsize)))


def unflatten(vectors: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The inverse of `flatten`."""
    return vectors[:, : shape[1:].numel()].reshape(shape)


def flat_operator(apply: Callable[[torch.Tensor], torch.Tensor], shape: torch.Size) -> Flat:
    """The stencil `apply` on (B, ...) fields as an operator on flattened vectors."""
    return lambda v: flatten(apply(unflatten(v, shape)))


def batched_gmres(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    precondition: Callable[[torch.Tensor], torch.Tensor],
    rtol: float,
    m: int,
    maxiter: int,
) -> tuple[torch.Tensor, list[int], list[int]]:
    """(x, iterations, matrix products) per lane from x0 = 0, counted as the numpy GMRES counts
    them (Arnoldi steps; products include each restart's residual and the final check);
    `precondition` is z = M^{-1} r on the right for every lane (a fixed linear operator on
    (B, ...) fields: identity, Jacobi, a multigrid V-cycle), each lane's from its own data."""
    shape, lanes = rhs.shape, rhs.shape[0]
    matrix = flat_operator(apply, shape)
    right = flat_operator(precondition, shape)
    b = flatten(rhs)
    target = rtol * lane_norm(b)
    x = torch.zeros_like(b)
    iterations = torch.zeros(lanes, dtype=torch.long, device=b.device)
    products = torch.ones_like(iterations)  # the true residual checked after the solve
    active = torch.ones(lanes, dtype=torch.bool, device=b.device)
    while True:
        r = b - matrix(x)
        products += active.long()
        beta = lane_norm(r)
        active = active & (beta > target) & (iterations < maxiter)
        if not bool(active.any()):
            return unflatten(x, shape), iterations.tolist(), products.tolist()
        limit = torch.where(active, (maxiter - iterations).clamp(max=m), 0)
        cycle = arnoldi_cycle(lambda v: matrix(right(v)), r, beta, limit, target, m)
        iterations += cycle.steps
        products += cycle.steps
        x = x + right(lane_rows(cycle.y, cycle.krylov[:, :m]))
