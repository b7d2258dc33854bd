"""2D Darcy flow -div(a grad u) = f on the unit square with u = 0 on the boundary.

Five-point finite differences on the (n x n) interior nodes x_i = i h, h = 1 / (n + 1). The flux
between two nodes uses the harmonic mean of their coefficients (exact for a piecewise-constant
coefficient across the face); a node next to the boundary uses its own coefficient for the
boundary face, so the stored (n x n) coefficient alone determines the solution. The matrix is
symmetric positive definite.

`pde.stencil=skr` uses instead the stencil of the SKR paper's Darcy generator: diagonal 4 K_i / h^2,
off-diagonal A[i, j] = -K_j / h^2 (the neighbour's coefficient). That matrix is the 5-point
Laplacian times diag(K), i.e. it discretises -Laplacian(K u) = f (second order), which differs from
-div(K grad u) = f unless K is constant. It is not symmetric (its eigenvalues are those of the
SPD matrix K^(1/2) L K^(1/2), so real and positive), hence `symmetric` and `spd` are False for it.

`pde.stencil=skr_reference` rebuilds the SKR code's own systems, slip included (indefinite; see
surrogate/pdes/skr_reference.py): a reproduction of the paper's benchmark, not a discretisation.

`problems` makes a block of samples (the generator's 32 at 64²) bitwise as `problem` makes each:
the coefficients drawn one stream at a time by the same code (the random field's two BLAS
products stay per sample: a stacked product was slower, and its rounding could depend on the
block), the stencils (harmonic, skr) assembled together; skr_reference goes one by one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes import skr_reference
from surrogate.pdes.base import FAMILIES, FieldSpec, Problem, SteadyFamily
from surrogate.pdes.coefficients import RandomCoefficient
from surrogate.pdes.random_fields import sample_grf
from surrogate.pdes.stencil import (  # noqa: F401 (harmonic_mean re-exported)
    assemble_stencil,
    harmonic_mean,
    stencil_matrices,
    with_boundary,
)

STENCILS = ("harmonic", "skr", "skr_reference")


def interior_points(n: int) -> np.ndarray:
    """Coordinates of the n interior nodes of [0, 1]."""
    return np.arange(1, n + 1) / (n + 1)


def assemble_darcy(
    coefficient: np.ndarray, forcing: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Matrix and right-hand side for nodal coefficients on the full (n+2) x (n+2) grid.

    `coefficient` includes the boundary ring; `forcing` is given on the (n x n) interior nodes.
    Unknowns are numbered row-major: index = i * n + j for node (x_i, y_j). Off-diagonals couple
    interior neighbours only (boundary values are zero); the flux to (i +- 1, j) and (i, j +- 1)
    uses the harmonic mean of the two nodes' coefficients.
    """
    return assemble_stencil(coefficient), forcing.astype(np.float64).ravel()


def assemble_darcy_skr(
    coefficient: np.ndarray, forcing: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """SKR's stencil: A[i, i] = 4 K_i / h^2, A[i, j] = -K_j / h^2 for interior neighbours j.

    Same arguments and numbering as `assemble_darcy`; only the interior coefficients matter (the
    boundary values of u, hence of K u, are zero). Non-symmetric for non-constant K.
    """
    laplacian, _ = assemble_darcy(np.ones_like(coefficient), forcing)  # 4 / h^2, -1 / h^2
    matrix = (laplacian @ sp.diags(coefficient[1:-1, 1:-1].ravel())).tocsr()  # column j * K_j
    return matrix, forcing.astype(np.float64).ravel()


@functools.cache
def skr_pattern(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(factors, indices, indptr) of `assemble_darcy_skr`'s matrix on n x n nodes, in the entry
    order of its sparse product (scipy lists each row's columns in decreasing order): for a
    coefficient K without zeros the values are factors * K[indices], as the product computes
    them (0 + factor * K_j), elementwise.

    Found once per n by multiplying the Laplacian's entry numbers (exact in float64) by ones,
    so the order is the product's own; read-only.
    """
    laplacian, _ = assemble_darcy(np.ones((n + 2, n + 2)), np.zeros((n, n)))
    numbers = np.arange(1, laplacian.nnz + 1, dtype=np.float64)
    numbered = sp.csr_matrix((numbers, laplacian.indices, laplacian.indptr), laplacian.shape)
    product = (numbered @ sp.diags(np.ones(n * n))).tocsr()
    factors = laplacian.data[product.data.astype(np.intp) - 1]
    pattern = (factors, product.indices, product.indptr)
    for array in pattern:
        array.flags.writeable = False
    return pattern


def skr_matrices(coefficients: np.ndarray, forcing: np.ndarray) -> list[sp.csr_matrix]:
    """`assemble_darcy_skr`'s matrix of each interior coefficient (B, n, n) of a block, bitwise.

    A sample with a zero product entry (which the sparse product drops) is assembled alone.
    """
    n = coefficients.shape[-1]
    factors, indices, indptr = skr_pattern(n)
    matrices = []
    for coefficient in coefficients:
        values = factors * coefficient.reshape(-1).take(indices)
        if values.all():
            matrix = sp.csr_matrix((values, indices.copy(), indptr.copy()), shape=(n * n, n * n))
        else:
            matrix = assemble_darcy_skr(with_boundary(coefficient, 2), forcing)[0]
        matrices.append(matrix)
    return matrices


def coefficient_problems(
    coefficients: np.ndarray, matrices: Sequence[sp.csr_matrix], forcing: float
) -> list[Problem]:
    """The problems of a block of coefficients (B, *grid) and their matrices, under a constant
    forcing: each stores and is sorted on its coefficient."""
    rhs = np.full((len(coefficients), coefficients[0].size), forcing)
    return [
        Problem(
            matrix=matrix,
            rhs=rhs[b],
            inputs=coefficients[b : b + 1],
            features=coefficients[b].ravel(),
        )
        for b, matrix in enumerate(matrices)
    ]


@FAMILIES.register("darcy")
class Darcy(SteadyFamily):
    """Random-coefficient Darcy flow: parameters from a seed, systems from parameters."""

    name = "darcy"
    block_assembly = True  # a block's stencils assembled together (skr_reference: `__init__`)

    def __init__(self, cfg: DictConfig) -> None:
        self.n = int(cfg.resolution)
        self.stencil = str(cfg.get("stencil", "harmonic"))
        if self.stencil not in STENCILS:
            raise UserError(
                f"pde.stencil={self.stencil} is unknown; choose one of: {', '.join(STENCILS)}"
            )
        # Solvers read these: SKR's stencil is neither symmetric nor (hence) SPD.
        self.symmetric = self.spd = self.stencil == "harmonic"
        # skr_reference's problems are made one at a time, each just before its solve.
        self.block_assembly = self.stencil != "skr_reference"
        self.coefficient = RandomCoefficient.read(cfg, self.n)
        if self.stencil == "skr_reference" and (
            self.coefficient.kind != "lognormal" or cfg.grf.modes is not None
        ):
            raise UserError(
                "pde.stencil=skr_reference reproduces SKR's lognormal systems (FNO's periodic "
                "GRF on the full grid): set pde.coefficient=lognormal and leave pde.grf.modes null"
            )
        if self.stencil == "skr_reference" and self.n % 2:
            raise UserError(
                f"pde.stencil=skr_reference needs an even pde.resolution (FNO's periodic GRF "
                f"takes an even grid, resolution + 2 points per side); got {self.n}: use "
                f"pde.resolution={self.n - 1} or {self.n + 1} (SKR's benchmark: 78)"
            )
        self.forcing = float(cfg.forcing)
        self.points = interior_points(self.n)

    @property
    def fields(self) -> FieldSpec:
        return FieldSpec(("coefficient",), ("solution",), (self.n, self.n))

    def grid(self) -> dict[str, np.ndarray]:
        return {"x": self.points, "y": self.points}

    def sample_coefficient(self, rng: np.random.Generator) -> np.ndarray:
        return self.coefficient.sample(rng, self.points, sample_grf)

    def features(self, rng: np.random.Generator) -> np.ndarray:
        """The sort's features of the sample `rng` draws (its coefficient; skr_reference's
        edited grid, as its problem carries), without assembling."""
        if self.stencil == "skr_reference":
            return self._skr_reference_coefficient(rng).ravel()
        return self.sample_coefficient(rng).ravel()

    def problem(self, rng: np.random.Generator) -> Problem:
        if self.stencil == "skr_reference":
            return self._skr_reference_problem(rng)
        coefficient = self.sample_coefficient(rng)
        assemble = assemble_darcy if self.stencil == "harmonic" else assemble_darcy_skr
        matrix, rhs = assemble(
            np.pad(coefficient, 1, mode="edge"), np.full((self.n, self.n), self.forcing)
        )
        return Problem(
            matrix=matrix,
            rhs=rhs,
            inputs=coefficient[None],
            features=coefficient.ravel(),
        )

    def problems(self, rngs: Sequence[np.random.Generator]) -> list[Problem]:
        """`problem` of each of `rngs`, bitwise: each coefficient drawn from its own stream as
        `problem` draws it (the random field's two matrix products per sample: a stacked
        product's rounding could depend on the block), the stencils of the block assembled
        together. skr_reference (a float32 FFT field, a coordinate assembly) goes one by one."""
        if self.stencil == "skr_reference":
            return super().problems(rngs)
        coefficients = np.stack([self.sample_coefficient(rng) for rng in rngs])
        if self.stencil == "harmonic":
            matrices = stencil_matrices(coefficients)
        else:
            matrices = skr_matrices(coefficients, np.full((self.n, self.n), self.forcing))
        return coefficient_problems(coefficients, matrices, self.forcing)

    def _skr_reference_problem(self, rng: np.random.Generator) -> Problem:
        """SKR's system; stored input: the interior coefficient; sorted on the edited grid."""
        edited = self._skr_reference_coefficient(rng)
        matrix, rhs = skr_reference.assemble(edited, self.forcing)
        return Problem(
            matrix=matrix, rhs=rhs, inputs=edited[None, 1:-1, 1:-1], features=edited.ravel()
        )

    def _skr_reference_coefficient(self, rng: np.random.Generator) -> np.ndarray:
        """SKR's coefficient on the full (n + 2)² grid, its boundary columns edited as SKR's."""
        return skr_reference.edit_boundary_columns(
            skr_reference.sample_coefficient(
                rng, self.n, self.coefficient.alpha, self.coefficient.tau
            )
        )

    def solution_fields(self, solution: np.ndarray) -> np.ndarray:
        """Stored output fields (C_out, n, n) from the solution vector."""
        return solution.reshape(1, self.n, self.n)

    def solution_vector(self, fields: np.ndarray) -> np.ndarray:
        """The solution vector of stored output fields (the inverse of `solution_fields`), for
        the PDE residual of a prediction in eval."""
        return np.asarray(fields, np.float64).reshape(-1)
