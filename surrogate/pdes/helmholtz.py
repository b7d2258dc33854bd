"""2D Helmholtz -div(a grad u) - k^2 u = f on the unit square with u = 0 on the boundary.

The Darcy discretisation (5-point FD, harmonic-mean faces, see `darcy.py`) minus k^2 on the
diagonal, with the coefficient a sampled as in Darcy (`lognormal` exp(GRF) by default, or
`two_phase`) and the wavenumber k ~ U(k_min, k_max) per sample. SKR's Helmholtz used k ~ U(0, 1),
which leaves the matrix positive definite; the default range here, k in [10, 20], puts several
(about 6 to 30) eigenvalues of the Darcy operator below k^2 for a ~ 1: the matrix is symmetric
and indefinite, the hard case for Krylov methods. A sample whose k^2 falls very close to an
eigenvalue is nearly singular (a resonance); the direct solver still solves it.

Resolution: the wave needs several nodes per wavelength 2 pi / k. With h = 1 / (n + 1), k_max h
above 0.6 (fewer than about 10 nodes per wavelength) logs a warning, above pi / 2 (fewer than 4)
is refused. The check uses k alone (local wavenumber k / sqrt(a) is larger where a < 1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import FAMILIES, FieldSpec, Problem, SteadyFamily
from surrogate.pdes.darcy import Darcy, assemble_darcy
from surrogate.pdes.stencil import diagonal_positions, stencil_data, stencil_matrix, with_boundary

log = logging.getLogger(__name__)

WARN_KH = 0.6
MAX_KH = np.pi / 2


def assemble_helmholtz(
    coefficient: np.ndarray, wavenumber: float, forcing: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """`assemble_darcy` (same arguments and numbering) minus wavenumber^2 on the diagonal."""
    matrix, rhs = assemble_darcy(coefficient, forcing)
    matrix.data[diagonal_positions(coefficient.shape[0] - 2, 2)] -= wavenumber**2
    matrix.eliminate_zeros()  # a diagonal that became 0 is dropped, as sparse subtraction does
    return matrix, rhs


def read_wavenumbers(cfg: DictConfig, n: int, family: str) -> tuple[float, float]:
    """`pde.wavenumber.min` and `.max`, checked, and resolved on n nodes per side (h = 1/(n+1)):
    k_max h above `WARN_KH` warns, above `MAX_KH` is refused (any dimension)."""
    k = cfg.wavenumber
    for key in ("min", "max"):
        value = k[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UserError(f"pde.wavenumber.{key}={value!r} must be a number >= 0")
    k_min, k_max = float(k["min"]), float(k["max"])
    if k_min > k_max:
        raise UserError(f"pde.wavenumber.min={k_min} must be <= pde.wavenumber.max={k_max}")
    kh = k_max / (n + 1)
    if kh > MAX_KH:
        raise UserError(
            f"pde.wavenumber.max={k_max} is not resolved at pde.resolution={n} "
            f"(k h = {kh:.2f} > pi/2, under 4 nodes per wavelength); "
            f"use pde.resolution >= {int(np.ceil(k_max / WARN_KH)) - 1}"
        )
    if kh > WARN_KH:
        log.warning(
            "%s: k_max h = %.2f > %.1f: under 10 nodes per wavelength at "
            "pde.resolution=%d; the discrete waves are inaccurate (resolution >= %d resolves)",
            family,
            kh,
            WARN_KH,
            n,
            int(np.ceil(k_max / WARN_KH)) - 1,
        )
    return k_min, k_max


@FAMILIES.register("helmholtz")
class Helmholtz(SteadyFamily):
    """Random coefficient and wavenumber; symmetric, indefinite once k^2 passes an eigenvalue."""

    name = "helmholtz"
    spd = False
    symmetric = True
    diffusion: type = Darcy  # its coefficient sampling, resolution and forcing (harmonic stencil)
    assemble = staticmethod(assemble_helmholtz)  # `problems` assembles the same, a block at once
    block_assembly = True  # a block's stencils assembled together

    def __init__(self, cfg: DictConfig) -> None:
        self.darcy = self.diffusion(cfg)
        self.n = self.darcy.n
        self.k_min, self.k_max = read_wavenumbers(cfg, self.n, self.name)
        self.channel = bool(cfg.wavenumber_channel)

    @property
    def fields(self) -> FieldSpec:
        names = ("coefficient", "wavenumber") if self.channel else ("coefficient",)
        return FieldSpec(names, ("solution",), (self.n,) * self.dimensions, ("wavenumber",))

    def grid(self) -> dict[str, np.ndarray]:
        return self.darcy.grid()

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """The coefficient and the wavenumber, drawn in this order from `rng`."""
        return self.darcy.sample_coefficient(rng), float(rng.uniform(self.k_min, self.k_max))

    def features(self, rng: np.random.Generator) -> np.ndarray:
        """The sort's features of the sample `rng` draws (coefficient, then k on every node),
        without assembling."""
        coefficient, k = self.sample(rng)
        return np.stack([coefficient, np.full_like(coefficient, k)]).ravel()

    def problem(self, rng: np.random.Generator) -> Problem:
        coefficient, k = self.sample(rng)
        matrix, rhs = self.assemble(
            np.pad(coefficient, 1, mode="edge"), k, np.full(coefficient.shape, self.darcy.forcing)
        )
        both = np.stack([coefficient, np.full_like(coefficient, k)])
        return Problem(
            matrix=matrix,
            rhs=rhs,
            inputs=both if self.channel else both[:1],
            features=both.ravel(),
            params={"wavenumber": k},
        )

    def problems(self, rngs: Sequence[np.random.Generator]) -> list[Problem]:
        """`problem` of each of `rngs`, bitwise: each coefficient and k drawn from its own
        stream as `problem` draws them (the random field's matrix products one sample at a
        time: a stacked product's rounding could depend on the block), the stencils of the block
        assembled together, then k^2 off each diagonal as `assemble` takes it."""
        draws = [self.sample(rng) for rng in rngs]
        coefficients = np.stack([coefficient for coefficient, _ in draws])
        d, n = self.dimensions, self.n
        inputs = np.empty((len(rngs), 2, *coefficients.shape[1:]))
        inputs[:, 0] = coefficients
        rhs = np.full((len(rngs), n**d), self.darcy.forcing)
        diagonal = diagonal_positions(n, d)
        problems = []
        for b, data in enumerate(stencil_data(with_boundary(coefficients, d))):
            k = draws[b][1]
            inputs[b, 1] = k
            data[diagonal] -= k**2
            matrix = stencil_matrix(data, n, d)
            matrix.eliminate_zeros()  # as `assemble` does
            both = inputs[b]
            problems.append(
                Problem(
                    matrix=matrix,
                    rhs=rhs[b],
                    inputs=both if self.channel else both[:1],
                    features=both.ravel(),
                    params={"wavenumber": k},
                )
            )
        return problems

    def solution_fields(self, solution: np.ndarray) -> np.ndarray:
        return solution.reshape(1, *(self.n,) * self.dimensions)

    def solution_vector(self, fields: np.ndarray) -> np.ndarray:
        """The solution vector of stored output fields (the inverse of `solution_fields`), for
        the PDE residual of a prediction in eval."""
        return np.asarray(fields, np.float64).reshape(-1)
