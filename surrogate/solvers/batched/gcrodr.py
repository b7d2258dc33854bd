"""Batched GCRO-DR(m, k) in torch: `surrogate.solvers.gcrodr.GCRODR` for B lanes at once, each
with its own recycled space U (k rows, in the preconditioned space) and C = Â_b U orthonormal.

The lanes' vectors live on the device as (B, k, N) and (B, m + 1, N) tensors, and every product
on them is a batched matrix product; what is small — Gram matrices, the harmonic Ritz problems,
their QR factors — is solved per lane in numpy on the host (k, m <= a few dozen). A lane may
hold fewer than k recycled vectors (rank lost in a re-fit, or before its first cycle): its
unused rows of U and C are zero, which leaves the projection and the deflation unchanged, so
every lane runs the same kernels and no lane's arithmetic reads another's.

`solve_recycling` takes the recycled spaces to start from (None: none) and returns the ones the
lanes end with; `BatchRecycling` decides what the next batch starts from.

Preconditioning is on the right, Â = A M^{-1} with M^{-1} any fixed linear operator (identity,
Jacobi, the multigrid V-cycle): U holds directions of the preconditioned space and the solution
is x = M^{-1} (U c + V y), M^{-1} applied once per restart, as in the numpy GCRO-DR. Within a
solve M is fixed, so C = Â U holds throughout. Across batches both A and M change (new lanes,
each with its own matrix and its own V-cycle), and `refit` re-establishes C = Â_new U by
applying the new lanes' A M^{-1} to the carried U: the pair stays exactly consistent, so
nothing has to be reset for correctness. What a new preconditioner changes is only how close
the carried U (harmonic Ritz vectors of the previous lanes' A M^{-1}) is to the new lanes'
small harmonic Ritz vectors, which is what the benchmark measures against recycle_batch=none
(docs/benchmarks.md, "Batched Krylov with multigrid").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import torch

from surrogate.solvers.batched.cg import lane_norm
from surrogate.solvers.batched.gmres import (
    Cycle,
    arnoldi_cycle,
    flat_operator,
    flatten,
    lane_matmul,
    lane_products,
    lane_rows,
    unflatten,
)
from surrogate.solvers.gcrodr import harmonic_ritz_vectors

RECYCLE_BATCH = ("none", "shared", "lane")


@dataclass
class Spaces:
    """Recycled spaces: U rows (B, k, N), zero beyond each lane's `count`."""

    recycled: torch.Tensor
    count: np.ndarray


class BatchRecycling:
    """What a batch's lanes start from (`solver.recycle_batch`): none, the space the previous
    batch's last lane (the nearest sorted neighbour of this batch's first sample) ended with,
    shared by every lane, or lane b's own space from lane b of the previous batch. `restart`
    forgets it: each segment starts from none, as the numpy chain does."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.spaces: Spaces | None = None

    def restart(self) -> None:
        self.spaces = None

    def start(self, lanes: int) -> Spaces | None:
        if self.spaces is None or self.mode == "none":
            return None
        if self.mode == "shared":
            last = self.spaces.recycled[-1:]
            return Spaces(
                last.expand(lanes, -1, -1).clone(), np.repeat(self.spaces.count[-1:], lanes)
            )
        # lane b's own; a lane the previous batch did not have takes its last lane's
        source = np.minimum(np.arange(lanes), len(self.spaces.count) - 1)
        return Spaces(self.spaces.recycled[source], self.spaces.count[source])

    def keep(self, spaces: Spaces) -> None:
        if self.mode != "none":
            self.spaces = spaces


def solve_recycling(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    precondition: Callable[[torch.Tensor], torch.Tensor],
    rtol: float,
    m: int,
    k: int,
    maxiter: int,
    start: Spaces | None,
) -> tuple[torch.Tensor, list[int], list[int], Spaces]:
    """(x, iterations, matrix products, the recycled spaces at the end) per lane from x0 = 0,
    counted as the numpy GCRO-DR counts them (the re-fit's k products included); `precondition`
    is z = M^{-1} r on the right for every lane, a fixed linear operator on (B, ...) fields."""
    shape, lanes = rhs.shape, rhs.shape[0]
    matrix = flat_operator(apply, shape)
    right = flat_operator(precondition, shape)

    def operator(v: torch.Tensor) -> torch.Tensor:
        return matrix(right(v))

    b = flatten(rhs)
    target = rtol * lane_norm(b)
    x = torch.zeros_like(b)
    r = b.clone()
    iterations = np.zeros(lanes, dtype=np.int64)
    products = np.full(lanes, 2)  # the initial residual and the final check
    if start is None:
        u = torch.zeros(lanes, k, b.shape[1], dtype=b.dtype, device=b.device)
        c, ctu, count = u.clone(), np.zeros((lanes, k, k)), np.zeros(lanes, dtype=np.int64)
    else:
        products += start.count
        u, c, ctu, count = refit(operator, start.recycled, start.count)
    finished = np.zeros(lanes, dtype=bool)
    while True:
        step = torch.zeros_like(b)  # the correction in the preconditioned space
        while True:
            r, coefficients = project(r, c)
            step = step + lane_rows(coefficients, u)
            beta = lane_norm(r)
            active = (beta > target) & torch.as_tensor(iterations < maxiter, device=b.device)
            if not bool(active.any()):
                break
            room = np.minimum(m - count, maxiter - iterations)
            limit = torch.where(active, torch.as_tensor(room, device=b.device), 0)
            cycle = arnoldi_cycle(operator, r, beta, limit, target, m, deflate=c)
            correction = lane_rows(cycle.y, cycle.krylov[:, :m])
            step = step + correction - lane_rows(lane_products(cycle.coupling, cycle.y), u)
            fitted = lane_products(cycle.hessenberg, cycle.y)  # H y, (B, m + 1)
            r = r - lane_rows(fitted, cycle.krylov)
            steps = cycle.steps.cpu().numpy()
            iterations += steps
            products += steps
            first = (count == 0) & (steps > 0)  # a plain GMRES cycle: recycle from it anyway
            more = (count > 0) & (steps > 0) & (cycle.residual > target).cpu().numpy()
            if (first | more).any():
                u, c, ctu, count = recycle(cycle, u, c, ctu, count, first, more, k)
        pending = torch.as_tensor(~finished, device=b.device).unsqueeze(1)
        x = x + right(torch.where(pending, step, 0.0))  # a finished lane stays as it is
        r = b - matrix(x)
        products += ~finished
        finished = finished | ((lane_norm(r) <= target).cpu().numpy()) | (iterations >= maxiter)
        if finished.all():
            break
    return unflatten(x, shape), iterations.tolist(), products.tolist(), Spaces(u, count)


def project(r: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """r minus its components along C's rows (two passes, as the numpy `_project`), and them."""
    coefficients = lane_products(c, r)
    r = r - lane_rows(coefficients, c)
    correction = lane_products(c, r)
    return r - lane_rows(correction, c), coefficients + correction


def refit(
    operator, u: torch.Tensor, count: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """U, C = orthonormalised Â U for the lanes' new operators (U transformed alike, so that
    Â U = C still), C U^T and the vectors kept: k applications of the batch's operator, then a
    symmetric orthonormalisation from each lane's Gram matrix, twice (as Cholesky QR2 is done)
    and dropping directions whose Gram eigenvalue is below 1e-12 of the largest."""
    images = torch.stack([operator(u[:, i]) for i in range(u.shape[1])], dim=1)
    for _ in range(2):
        gram = lane_matmul(images, images.transpose(1, 2)).cpu().numpy()
        transform = np.zeros_like(gram)
        kept = np.zeros_like(count)
        for lane, size in enumerate(count):
            if size == 0:
                continue
            values, vectors = np.linalg.eigh(gram[lane, :size, :size])
            keep = values > 1e-12 * values[-1]
            kept[lane] = int(keep.sum())
            transform[lane, :size, : kept[lane]] = vectors[:, keep] / np.sqrt(values[keep])
        mix = torch.as_tensor(transform, device=u.device).transpose(1, 2)
        images, u, count = lane_matmul(mix, images), lane_matmul(mix, u), kept
    overlap = lane_matmul(images, u.transpose(1, 2)).cpu().numpy()
    return u, images, overlap, count


def recycle(
    cycle: Cycle,
    u: torch.Tensor,
    c: torch.Tensor,
    ctu: np.ndarray,
    count: np.ndarray,
    first: np.ndarray,
    more: np.ndarray,
    k: int,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """New U, C, C U^T and counts from the harmonic Ritz vectors of the cycle: of its plain
    Hessenberg for `first` lanes, of the augmented Â [Ũ V_j] = [C V_j+1] G for `more` lanes
    (as the numpy `_first_recycle` and `_next_recycle`); other lanes keep theirs."""
    lanes, m = cycle.hessenberg.shape[0], cycle.hessenberg.shape[2]
    hessenberg = cycle.hessenberg.cpu().numpy()
    coupling = cycle.coupling.cpu().numpy()
    vu = lane_matmul(cycle.krylov, u.transpose(1, 2)).cpu().numpy()  # (B, m + 1, k)
    norms = lane_norm(u.reshape(-1, u.shape[-1])).reshape(lanes, k).cpu().numpy()
    steps = cycle.steps.cpu().numpy()
    keep_u = np.zeros((lanes, k, k))  # U_new = keep_u^T U + from_v^T V_m
    from_v = np.zeros((lanes, m, k))
    keep_c = np.zeros((lanes, k, k))  # C_new = keep_c^T C + from_w^T V_m+1
    from_w = np.zeros((lanes, m + 1, k))
    new_ctu, new_count = ctu.copy(), count.copy()
    for lane in range(lanes):
        j, size = int(steps[lane]), int(count[lane])
        if first[lane]:
            wtw = np.eye(j + 1, j)
            p, q, inverse = ritz_basis(hessenberg[lane, : j + 1, :j], wtw, min(k, j))
            coefficients = p @ inverse
            width = coefficients.shape[1]
            from_v[lane, :j, :width], from_w[lane, : j + 1, :width] = coefficients, q
        elif more[lane]:
            scale = 1.0 / norms[lane, :size]
            g = np.zeros((size + j + 1, size + j))
            g[:size, :size] = np.diag(scale)
            g[:size, size:] = coupling[lane, :size, :j]
            g[size:, size:] = hessenberg[lane, : j + 1, :j]
            wtw = np.zeros((size + j + 1, size + j))
            wtw[:size, :size] = ctu[lane, :size, :size] * scale
            wtw[size:, :size] = vu[lane, : j + 1, :size] * scale
            wtw[size:, size:] = np.eye(j + 1, j)
            p, q, inverse = ritz_basis(g, wtw, min(k, size + j))
            coefficients = p @ inverse
            width = coefficients.shape[1]
            keep_u[lane, :size, :width] = coefficients[:size] * scale[:, None]
            from_v[lane, :j, :width] = coefficients[size:]
            keep_c[lane, :size, :width], from_w[lane, : j + 1, :width] = q[:size], q[size:]
        else:
            keep_u[lane], keep_c[lane] = np.eye(k), np.eye(k)
            continue
        new_ctu[lane] = 0.0
        new_ctu[lane, :width, :width] = q.T @ wtw @ coefficients
        new_count[lane] = width

    def mixed(old_mix: np.ndarray, old: torch.Tensor, new_mix: np.ndarray, rows: torch.Tensor):
        to = {"dtype": old.dtype, "device": old.device}
        old_part = lane_matmul(torch.as_tensor(old_mix, **to).transpose(1, 2), old)
        return old_part + lane_matmul(torch.as_tensor(new_mix, **to).transpose(1, 2), rows)

    u_new = mixed(keep_u, u, from_v, cycle.krylov[:, :m])
    c_new = mixed(keep_c, c, from_w, cycle.krylov)
    return u_new, c_new, new_ctu, new_count


def ritz_basis(g: np.ndarray, wtw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P (harmonic Ritz coefficients), Q and R^{-1} of the QR factors of G P."""
    p = harmonic_ritz_vectors(g, wtw, k)
    q, r = np.linalg.qr(g @ p)
    return p, q, sla.solve_triangular(r, np.eye(len(r)), lower=False, check_finite=False)
