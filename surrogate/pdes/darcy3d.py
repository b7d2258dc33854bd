"""3D Darcy flow -div(a grad u) = f on the unit cube with u = 0 on the boundary.

The 2D Darcy scheme in three dimensions: 7-point finite differences on the (n x n x n) interior
nodes x_i = i h, h = 1 / (n + 1), harmonic-mean coefficients on the faces, a node next to the
boundary using its own coefficient for the boundary face. The coefficient is a 3D Gaussian random
field (cosine series, `sample_grf_3d`) mapped through exp (`lognormal`, SKR's alpha = 2.5,
tau = 7 by default) or thresholded (`two_phase`). The matrix is symmetric positive definite.
Stored fields have shape (C, n, n, n).

`problems` makes a block of samples (the generator's 4 at 32³) bitwise as `problem` makes each,
as 2D Darcy does: each coefficient drawn from its own stream by the per-sample code, the block's
stencils assembled together (`stencil_matrices`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.pdes.base import FAMILIES, FieldSpec, Problem, SteadyFamily
from surrogate.pdes.coefficients import RandomCoefficient
from surrogate.pdes.darcy import coefficient_problems, interior_points
from surrogate.pdes.random_fields import sample_grf_3d
from surrogate.pdes.stencil import assemble_stencil, stencil_matrices


def assemble_diffusion(
    coefficient: np.ndarray, forcing: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """-div(a grad u) = f with zero Dirichlet data on the unit cube of any dimension d.

    `coefficient` is on the full (n+2)^d grid (boundary layer included), `forcing` on the n^d
    interior nodes; unknowns are numbered in C order of the interior index (i, j, k).
    """
    return assemble_stencil(coefficient), forcing.astype(np.float64).ravel()


@FAMILIES.register("darcy3d")
class Darcy3D(SteadyFamily):
    """Random-coefficient Darcy flow in the unit cube."""

    name = "darcy3d"
    dimensions = 3
    spd = True
    symmetric = True
    block_assembly = True  # a block's stencils assembled together

    def __init__(self, cfg: DictConfig) -> None:
        self.n = int(cfg.resolution)
        self.coefficient = RandomCoefficient.read(cfg, self.n, dims=3)
        self.forcing = float(cfg.forcing)
        self.points = interior_points(self.n)

    @property
    def fields(self) -> FieldSpec:
        return FieldSpec(("coefficient",), ("solution",), (self.n, self.n, self.n))

    def grid(self) -> dict[str, np.ndarray]:
        return {"x": self.points, "y": self.points, "z": self.points}

    def sample_coefficient(self, rng: np.random.Generator) -> np.ndarray:
        return self.coefficient.sample(rng, self.points, sample_grf_3d)

    def features(self, rng: np.random.Generator) -> np.ndarray:
        """The sort's features of the sample `rng` draws (its coefficient), without assembling."""
        return self.sample_coefficient(rng).ravel()

    def problem(self, rng: np.random.Generator) -> Problem:
        coefficient = self.sample_coefficient(rng)
        matrix, rhs = assemble_diffusion(
            np.pad(coefficient, 1, mode="edge"), np.full(coefficient.shape, self.forcing)
        )
        return Problem(
            matrix=matrix, rhs=rhs, inputs=coefficient[None], features=coefficient.ravel()
        )

    def problems(self, rngs: Sequence[np.random.Generator]) -> list[Problem]:
        """`problem` of each of `rngs`, bitwise: each coefficient drawn from its own stream as
        `problem` draws it (the random field's contractions per sample, whose rounding a stacked
        product could change), the block's stencils assembled together."""
        coefficients = np.stack([self.sample_coefficient(rng) for rng in rngs])
        return coefficient_problems(coefficients, stencil_matrices(coefficients), self.forcing)

    def solution_fields(self, solution: np.ndarray) -> np.ndarray:
        return solution.reshape(1, self.n, self.n, self.n)

    def solution_vector(self, fields: np.ndarray) -> np.ndarray:
        """The solution vector of stored output fields (the inverse of `solution_fields`), for
        the PDE residual of a prediction in eval."""
        return np.asarray(fields, np.float64).reshape(-1)
