"""2D Poisson -Laplacian(u) = f on the unit square with u = g on the boundary (SKR's family).

f is a random tensor Chebyshev series sum_{k,l <= degree} c_kl T_k(2x - 1) T_l(2y - 1) and the
boundary data are four random 1D Chebyshev series of the same degree, one per side, all with
coefficients U(-1, 1) (SKR: degree 5). The four sides are made continuous at the corners by
`SquareBoundary`: each corner takes the mean of the two sides' values there and each side is
corrected by a linear function (so g is continuous and each side stays a degree-5 polynomial).

Five-point finite differences on the (n x n) interior nodes x_i = i h, h = 1 / (n + 1); the known
boundary values are moved to the right-hand side, so the matrix is the (SPD) 5-point Laplacian for
every sample and only the right-hand side varies. Stored inputs on the interior nodes: `forcing`
(f) and `boundary` (g extended into the square by transfinite (Coons) interpolation of the four
sides, a smooth field equal to g on the boundary; its values next to the boundary carry g).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import FAMILIES, FieldSpec, Problem, SteadyFamily, read_only
from surrogate.pdes.darcy import assemble_darcy, interior_points
from surrogate.pdes.random_fields import SquareBoundary


def assemble_poisson(forcing: np.ndarray, boundary: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """5-point Laplacian on the (n x n) interior nodes and rhs f + (boundary neighbours) / h^2.

    `forcing` is (n, n) on the interior nodes; `boundary` is (n+2, n+2) on the full grid, of which
    only the boundary ring is read. Unknowns are numbered row-major like `assemble_darcy`. Leading
    axes are a block of samples (rhs (*batch, n^2), elementwise: bitwise each sample's alone).
    The matrix is the one `laplacian` keeps, read-only: shared by every sample, not copied.
    """
    n = forcing.shape[-1]
    h2 = (1.0 / (n + 1)) ** 2
    ring = np.array(boundary, np.float64, copy=True)
    ring[..., 1:-1, 1:-1] = 0.0
    neighbours = (
        ring[..., :-2, 1:-1] + ring[..., 2:, 1:-1] + ring[..., 1:-1, :-2] + ring[..., 1:-1, 2:]
    )
    rhs = (forcing + neighbours / h2).astype(np.float64)
    return laplacian(n), rhs.reshape(rhs.shape[:-2] + (n * n,))


@functools.cache
def laplacian(n: int) -> sp.csr_matrix:
    """The 5-point Laplacian on n x n interior nodes (Darcy's matrix with a = 1), built once and
    read-only (a change in place would change every sample's matrix: it raises instead)."""
    matrix = assemble_darcy(np.ones((n + 2, n + 2)), np.zeros((n, n)))[0]
    return read_only(matrix)


@FAMILIES.register("poisson")
class Poisson(SteadyFamily):
    """Random smooth forcing and boundary data; the matrix is the same for every sample."""

    name = "poisson"
    spd = True
    symmetric = True
    block_assembly = True  # one shared matrix; the data of a block evaluated together

    def __init__(self, cfg: DictConfig) -> None:
        self.n = int(cfg.resolution)
        self.degree = cfg.degree
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 0:
            raise UserError(f"pde.degree={self.degree!r} must be an integer >= 0 (SKR: 5)")
        if self.degree > self.n:  # its coefficients do not decay: higher degrees are noise
            raise UserError(
                f"pde.degree={self.degree} is more than the grid resolves; use at most "
                f"pde.resolution={self.n} (SKR: 5)"
            )
        self.forcing_scale = _positive(cfg, "forcing_scale")
        self.boundary_scale = _positive(cfg, "boundary_scale")
        self.points = interior_points(self.n)
        self.full = np.linspace(0.0, 1.0, self.n + 2)

    @property
    def fields(self) -> FieldSpec:
        return FieldSpec(("forcing", "boundary"), ("solution",), (self.n, self.n))

    def grid(self) -> dict[str, np.ndarray]:
        return {"x": self.points, "y": self.points}

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Chebyshev coefficients of f ((degree+1)^2) and of the four sides (4, degree+1), all
        U(-1, 1) * scale."""
        d = self.degree + 1
        forcing = self.forcing_scale * rng.uniform(-1.0, 1.0, (d, d))
        sides = self.boundary_scale * rng.uniform(-1.0, 1.0, (4, d))
        return forcing, sides

    def sample_fields(self, rngs: Sequence[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
        """f on the interior nodes (B, n, n) and g on the full grid (B, n+2, n+2) of the samples
        `rngs` draw (each from its own stream), evaluated as one block: g's boundary ring is the
        data, inside is its extension. Bitwise each sample's fields alone (elementwise series)."""
        draws = [self.sample(rng) for rng in rngs]
        coefficients = np.stack([forcing for forcing, _ in draws], axis=-1)  # (d, d, B)
        boundary = SquareBoundary(np.stack([sides for _, sides in draws]))
        t = 2.0 * self.points - 1.0
        forcing = np.polynomial.chebyshev.chebgrid2d(t, t, coefficients)  # (B, n, n)
        return forcing, boundary.extend(self.full[:, None], self.full[None, :])

    def features(self, rng: np.random.Generator) -> np.ndarray:
        """The sort's features of the sample `rng` draws (the stored inputs), without assembling."""
        forcing, g = self.sample_fields([rng])
        return np.stack([forcing[0], g[0, 1:-1, 1:-1]]).ravel()

    def problem(self, rng: np.random.Generator) -> Problem:
        return self.problems([rng])[0]

    def problems(self, rngs: Sequence[np.random.Generator]) -> list[Problem]:
        """The samples' problems, sampled and assembled as one block; one shared matrix."""
        forcing, g = self.sample_fields(rngs)
        matrix, rhs = assemble_poisson(forcing, g)
        inputs = np.stack([forcing, g[:, 1:-1, 1:-1]], axis=1)  # (B, 2, n, n)
        return [
            Problem(matrix=matrix, rhs=rhs[b], inputs=inputs[b], features=inputs[b].ravel())
            for b in range(len(rngs))
        ]

    def solution_fields(self, solution: np.ndarray) -> np.ndarray:
        return solution.reshape(1, self.n, self.n)

    def solution_vector(self, fields: np.ndarray) -> np.ndarray:
        """The solution vector of stored output fields (the inverse of `solution_fields`), for
        the PDE residual of a prediction in eval."""
        return np.asarray(fields, np.float64).reshape(-1)


def _positive(cfg: DictConfig, key: str) -> float:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UserError(f"pde.{key}={value!r} must be a number > 0")
    return float(value)
