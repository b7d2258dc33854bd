"""Transient heat / reaction-diffusion u_t = div(k grad u) + r(u) on the unit square, u = 0 on
the boundary, with implicit time stepping: every step is one linear solve by the chain's solver.

Space: the `darcy` 5-point finite differences (harmonic-mean faces) on the n x n interior nodes,
h = 1 / (n + 1), giving the SPD matrix L ~ -div(k grad). Time: theta-scheme with the reaction
explicit (IMEX), (I + theta tau L) u' = (I - (1 - theta) tau L) u + tau r(u), tau = dt / substeps,
theta = 1 (backward Euler) or 1/2 (Crank-Nicolson). The matrix is the same at every step of a
sample and changes only with k between samples: what recycling (and a reused factorisation)
exploit. k is a random field (lognormal or two-phase, as in `darcy`) or constant; the initial
condition a Gaussian random sine series (zero on the boundary); r = 0 or Fisher-KPP
rate u (1 - u), whose initial condition is the positive part of the series scaled into [0, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.checks import require_choice, require_float, require_int
from surrogate.errors import UserError
from surrogate.pdes.base import FAMILIES, FieldSpec
from surrogate.pdes.coefficients import RandomCoefficient, check_grf
from surrogate.pdes.darcy import assemble_darcy, interior_points
from surrogate.pdes.random_fields import grf_spectrum, sample_grf
from surrogate.pdes.temporal import StepStats, Trajectory, pde_root

if TYPE_CHECKING:
    from surrogate.solvers.chain import ChainSolver

SCHEMES = {"backward_euler": 1.0, "crank_nicolson": 0.5}
REACTIONS = ("none", "fisher")
COEFFICIENTS = ("lognormal", "two_phase", "constant")


def sine_series(rng: np.random.Generator, points: np.ndarray, modes: int, alpha: float, tau: float):
    """Gaussian random sine series sum_kl xi_kl lambda_kl sin(pi k x) sin(pi l y), k, l >= 1.

    lambda_kl as in `grf_spectrum` (covariance (-Laplacian + tau^2)^(-alpha), Dirichlet modes):
    the field vanishes on the boundary, as the initial condition of a zero-Dirichlet problem must.
    """
    coefficients = rng.standard_normal((modes, modes)) * grf_spectrum(modes + 1, alpha, tau)[1:, 1:]
    basis = np.sin(np.pi * np.outer(points, np.arange(1, modes + 1)))
    return basis @ coefficients @ basis.T


@FAMILIES.register("heat_transient")
class HeatTransient:
    """Random conductivity and initial temperature; a trajectory of implicit steps."""

    name = "heat_transient"
    dimensions = 2
    spd = True
    symmetric = True

    def __init__(self, cfg: DictConfig) -> None:
        root = pde_root(cfg)
        self.n = require_int(root, "pde.resolution", minimum=3)
        self.time_steps = require_int(root, "pde.time_steps", minimum=2)
        self.dt = require_float(root, "pde.dt", above=0.0)
        self.substeps = require_int(root, "pde.substeps", minimum=1)
        self.theta = SCHEMES[require_choice(root, "pde.scheme", tuple(SCHEMES))]
        self.reaction = require_choice(root, "pde.reaction", REACTIONS)
        self.rate = require_float(root, "pde.reaction_rate", minimum=0.0)
        if self.reaction == "fisher" and self.rate * self.dt / self.substeps > 1.0:
            raise UserError(
                f"pde.reaction_rate * pde.dt / pde.substeps = {self.rate * self.dt / self.substeps:.3g}"
                " > 1: the explicit reaction step is unstable; raise pde.substeps"
            )
        require_float(root, "pde.conductivity", above=0.0)
        self.coefficient = RandomCoefficient.read(cfg, self.n, COEFFICIENTS)
        self.initial_alpha = require_float(root, "pde.initial.alpha", above=1.0)
        self.initial_tau = require_float(root, "pde.initial.tau", above=0.0)
        self.initial_scale = require_float(root, "pde.initial.scale", above=0.0)
        check_grf(self.initial_alpha, self.initial_tau, "pde.initial")
        modes = cfg.initial.modes
        self.initial_modes = (
            require_int(root, "pde.initial.modes", minimum=1) if modes is not None else self.n
        )
        self.points = interior_points(self.n)
        self.linear_solves = (self.time_steps - 1) * self.substeps

    @property
    def steps_per_trajectory(self) -> int:
        """Implicit steps of one trajectory (fixed: no CFL), for the resource check."""
        return (self.time_steps - 1) * self.substeps

    @property
    def fields(self) -> FieldSpec:
        return FieldSpec(
            ("conductivity",),
            ("temperature",),
            (self.n, self.n),
            time_steps=self.time_steps,
            dt=self.dt,
        )

    def grid(self) -> dict[str, np.ndarray]:
        return {"x": self.points, "y": self.points}

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(conductivity, initial temperature), each (n, n) at the interior nodes."""
        kappa = self.coefficient.sample(rng, self.points, sample_grf)
        u0 = self.initial_scale * sine_series(
            rng, self.points, self.initial_modes, self.initial_alpha, self.initial_tau
        )
        if self.reaction == "fisher":  # a population density in [0, 1]
            u0 = np.maximum(u0, 0.0) / max(float(u0.max()), 1e-300)
        return kappa, u0

    def features(self, rng: np.random.Generator) -> np.ndarray:
        return np.concatenate([field.ravel() for field in self.sample(rng)])

    def operator(self, kappa: np.ndarray) -> sp.csr_matrix:
        """L ~ -div(k grad) at the interior nodes (SPD)."""
        matrix, _ = assemble_darcy(np.pad(kappa, 1, mode="edge"), np.zeros_like(kappa))
        return matrix

    def simulate(self, rng: np.random.Generator, solver: ChainSolver) -> Trajectory:
        stats = StepStats()
        kappa, u0 = self.sample(rng)
        states = self.evolve(kappa, u0, solver, stats)
        return Trajectory(kappa[None], states, stats.total(bool(np.isfinite(states).all())))

    def evolve(
        self, kappa: np.ndarray, u0: np.ndarray, solver: ChainSolver, stats: StepStats
    ) -> np.ndarray:
        """States (T, 1, n, n) from u0; every implicit step is `solver.solve(A, rhs)`."""
        tau = self.dt / self.substeps
        laplacian = self.operator(kappa)
        identity = sp.identity(self.n * self.n, format="csr")
        matrix = (identity + self.theta * tau * laplacian).tocsr()
        explicit = (1.0 - self.theta) * tau
        states = np.empty((self.time_steps, 1, self.n, self.n), np.float32)
        states[0, 0] = u0
        u = u0.ravel().astype(np.float64)
        for step in range(1, self.time_steps):
            for _ in range(self.substeps):
                rhs = u - explicit * (laplacian @ u) if explicit else u.copy()
                if self.reaction == "fisher":
                    rhs += tau * self.rate * u * (1.0 - u)
                result = solver.solve(matrix, rhs)
                stats.add(result)
                u = result.x
            states[step, 0] = u.reshape(self.n, self.n)
        return states
