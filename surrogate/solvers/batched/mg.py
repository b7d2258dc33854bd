"""Batched geometric multigrid in torch: one symmetric V-cycle per application, the
preconditioner `solver.preconditioner=mg` of batched CG, GMRES and GCRO-DR, every lane with its
own hierarchy.

The V-cycle is that of each lane's shifted operator M = A + (1 + beta) sigma I
(`shifted_operator`, beta = `solver.shift`), sigma the shift that makes A weakly diagonally
dominant, as `surrogate.solvers.shifted_amg` defines it: k^2 for Helmholtz (A = L - k^2 I, so
M = L + beta k^2 I: the shifted Laplacian, SPD where A is indefinite), 0 for a diagonally
dominant stencil (Darcy, Poisson: M = A). A fixed number of sweeps from zero makes the V-cycle
a fixed linear operator, so it serves as a right preconditioner of GMRES and GCRO-DR as it is.

Grids: the vertex-centred interior nodes of (n + 2)^d with zero Dirichlet data. Each level keeps
every second node along each axis (fine indices 1, 3, 5, ...: n -> n // 2), so any n >= 2
coarsens, odd or even: for n = 2^k - 1 the coarse grids are the usual uniform ones; for even n
the last coarse node sits next to the boundary (one fine step from it), which the Galerkin
operator accounts for. Prolongation P is linear interpolation along each axis (a node between a
coarse node and the boundary takes half the coarse value), restriction R = P^T.

Coarse operators are Galerkin products A_c = R A P, built from each lane's fine operator by
probing: with bilinear (trilinear) P they are 3^d-point stencils, found exactly by 3^d
applications of R A P to the indicators of the coarse nodes of each colour (index mod 3 per
axis). Galerkin rather than harmonic-average rediscretisation because it is defined for any
coarse spacing (the even-n grids above are not uniform next to the boundary), keeps every coarse
operator SPD, and makes the coarse correction the A-orthogonal projection onto the coarse
space, from nothing but the fine operator (so the numpy path's `mg` builds it from a CSR matrix).

Smoother: damped Jacobi, `smoothing_steps` sweeps before and after the coarse correction (the
same sweeps, so the V-cycle is a symmetric positive definite operator and CG stays valid);
Jacobi is elementwise, so it batches perfectly. The coarsest level (at most `coarsest` unknowns
per lane: 8^2 or 4^3 by default) is solved exactly: a dense Cholesky factor per lane, factored
and applied lane by lane.
A lane's arithmetic never involves another lane.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from surrogate.solvers.batched.stencil import Stencil, moves, pad, shifted
from surrogate.solvers.shifted_amg import ROUNDING


class Compact:
    """A 3^d-point stencil: weights (3^d, B, *grid), (A u)_J = sum_o w_o,J u_{J+o} over the
    offsets o in {-1, 0, 1}^d (C order); the coarse levels' operators."""

    def __init__(self, weights: torch.Tensor, d: int) -> None:
        self.weights, self.d = weights, d
        self.offsets = list(itertools.product((-1, 0, 1), repeat=d))
        self.diagonal = weights[self.offsets.index((0,) * d)]

    def entries(self) -> list[tuple[tuple[int, ...], torch.Tensor]]:
        """(offset, weight (B, *grid)) of every point of the stencil."""
        return list(zip(self.offsets, self.weights))

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        padded = pad(u, self.d)
        out = self.diagonal * u
        for weight, offset in zip(self.weights, self.offsets):
            if any(offset):
                out += weight * shifted(padded, offset)
        return out


Operator = Stencil | Compact


def dominance_shift(stencil: Stencil) -> torch.Tensor:
    """sigma (B,) per lane: max_i (sum_{j != i} |a_ij| - a_ii) over the rows of the matrix (a
    face to the boundary is no entry of it), 0 where that is at most rounding or negative, as
    `surrogate.solvers.shifted_amg.diagonal_dominance_shift` finds it on a CSR matrix."""
    lanes, d = stencil.diagonal.shape[0], stencil.d
    off = torch.zeros_like(stencil.diagonal)
    for face, (axis, step) in zip(stencil.faces, moves(d)):
        inside = torch.ones_like(off, dtype=torch.bool)
        inside.select(1 + axis, 0 if step < 0 else -1).fill_(False)
        off = off + torch.where(inside, face.abs(), 0.0)
    sigma = (off - stencil.diagonal).reshape(lanes, -1).amax(dim=1)
    scale = stencil.diagonal.abs().reshape(lanes, -1).amax(dim=1)
    return torch.where(sigma > ROUNDING * scale, sigma, 0.0)


def shifted_operator(stencil: Stencil, beta: float) -> Stencil:
    """M = A + (1 + beta) sigma I per lane (the same faces); A itself where every sigma is 0."""
    sigma = dominance_shift(stencil)
    if not bool((sigma > 0).any()):
        return stencil
    column = sigma.reshape(-1, *(1,) * stencil.d)
    return Stencil(stencil.diagonal + (1.0 + beta) * column, stencil.faces)


def coarse_size(n: int) -> int:
    return n // 2


def prolong(coarse: torch.Tensor, fine: tuple[int, ...]) -> torch.Tensor:
    """Linear interpolation of (..., *coarse grid) onto the (..., *fine) grid, axis by axis."""
    d = len(fine)
    for axis, n in enumerate(fine):
        dim = coarse.dim() - d + axis
        moved = coarse.movedim(dim, -1)
        padded = torch.nn.functional.pad(moved, (1, 1))
        nc = moved.shape[-1]
        out = moved.new_empty((*moved.shape[:-1], n))
        out[..., 1::2] = moved
        even = n - nc
        out[..., 0::2] = 0.5 * (padded[..., :even] + padded[..., 1 : even + 1])
        coarse = out.movedim(-1, dim)
    return coarse


def restrict(fine: torch.Tensor, d: int) -> torch.Tensor:
    """R = P^T: (..., *fine grid) onto the coarse grid, axis by axis."""
    for axis in range(d):
        dim = fine.dim() - d + axis
        moved = fine.movedim(dim, -1)
        nc = coarse_size(moved.shape[-1])
        evens = torch.nn.functional.pad(moved[..., 0::2], (0, 1))
        out = moved[..., 1::2] + 0.5 * (evens[..., :nc] + evens[..., 1 : nc + 1])
        fine = out.movedim(-1, dim)
    return fine


def galerkin(operator: Operator, fine: tuple[int, ...]) -> Compact:
    """R A P as a 3^d-point stencil on the coarse grid, by probing with 3^d colour vectors."""
    d = len(fine)
    lanes = operator.diagonal.shape[0]
    coarse = tuple(coarse_size(n) for n in fine)
    index = torch.stack(torch.meshgrid(*(torch.arange(n) for n in coarse), indexing="ij")).to(
        operator.diagonal.device
    )
    colours = list(itertools.product(range(3), repeat=d))
    probes = []
    for colour in colours:
        mask = torch.ones(coarse, dtype=torch.bool, device=index.device)
        for axis, c in enumerate(colour):
            mask &= index[axis] % 3 == c
        probe = mask.to(operator.diagonal.dtype).expand(lanes, *coarse)
        probes.append(restrict(operator(prolong(probe, fine)), d))
    responses = torch.stack(probes)  # (colours, B, *coarse)
    weights = []
    for offset in itertools.product((-1, 0, 1), repeat=d):
        colour = torch.zeros(coarse, dtype=torch.long, device=index.device)
        for axis, o in enumerate(offset):
            colour = colour * 3 + (index[axis] + o) % 3
        weights.append(torch.gather(responses, 0, colour.expand(1, lanes, *coarse))[0])
    return Compact(torch.stack(weights), d)


def dense(operator: Operator, grid: tuple[int, ...]) -> torch.Tensor:
    """The operator as (B, N, N) matrices, each stencil entry scattered to its place."""
    lanes, d, device = operator.diagonal.shape[0], len(grid), operator.diagonal.device
    size = math.prod(grid)
    matrices = operator.diagonal.new_zeros((lanes, size, size))
    index = torch.stack(
        torch.meshgrid(*(torch.arange(n, device=device) for n in grid), indexing="ij")
    )
    rows = torch.arange(size, device=device).reshape(grid)
    for offset, weight in operator.entries():
        target = index + torch.tensor(offset, device=device).reshape(d, *(1,) * d)
        inside = torch.ones(grid, dtype=torch.bool, device=device)
        columns = torch.zeros(grid, dtype=torch.long, device=device)
        for axis, n in enumerate(grid):
            inside &= (target[axis] >= 0) & (target[axis] < n)
            columns = columns * n + target[axis].clamp(0, n - 1)
        matrices[:, rows[inside], columns[inside]] += weight[:, inside]
    return matrices


@dataclass(frozen=True)
class Settings:
    """`solver.mg`: sweeps of damped Jacobi before and after each coarse correction, its
    damping, and the unknowns per lane at or below which a level is solved directly."""

    smoothing_steps: int
    omega: float
    coarsest: int


class Multigrid:
    """z = M^{-1} r by one V-cycle from zero for every lane of `operator` on `grid`."""

    def __init__(self, operator: Stencil, grid: tuple[int, ...], settings: Settings) -> None:
        self.settings = settings
        self.levels: list[tuple[Operator, tuple[int, ...], torch.Tensor]] = []
        current: Operator = operator
        while math.prod(grid) > settings.coarsest and max(grid) > 1:
            self.levels.append((current, grid, settings.omega / current.diagonal))
            current, grid = galerkin(current, grid), tuple(coarse_size(n) for n in grid)
        # One factor per lane: torch's batched Cholesky and triangular solves block the
        # batch, and a lane's bits then depended on how many lanes were with it (seen at odd
        # coarsest sizes from 9 unknowns up).
        self.factors = [torch.linalg.cholesky(matrix) for matrix in dense(current, grid)]

    @property
    def depth(self) -> int:
        """Levels, the directly solved one included."""
        return len(self.levels) + 1

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        return self.cycle(0, r)

    def cycle(self, level: int, b: torch.Tensor) -> torch.Tensor:
        if level == len(self.levels):
            flat = b.reshape(b.shape[0], -1, 1)
            factors = self.factors * len(flat) if len(self.factors) == 1 else self.factors
            solved = [torch.cholesky_solve(v, factor) for v, factor in zip(flat, factors)]
            return torch.stack(solved).reshape(b.shape)
        operator, grid, scaled_inverse = self.levels[level]
        x = scaled_inverse * b
        for _ in range(self.settings.smoothing_steps - 1):
            x = x + scaled_inverse * (b - operator(x))
        correction = self.cycle(level + 1, restrict(b - operator(x), len(grid)))
        x = x + prolong(correction, grid)
        for _ in range(self.settings.smoothing_steps):
            x = x + scaled_inverse * (b - operator(x))
        return x
