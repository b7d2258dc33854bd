"""1D viscous Burgers u_t + (u^2 / 2)_x = nu u_xx on the periodic unit interval (FNO benchmark).

Pseudo-spectral (real FFTs) with ETDRK4 (Cox-Matthews, coefficients by Kassam-Trefethen's
contour integrals): the viscous term is integrated exactly, the flux term explicitly, dealiased
by the 2/3 rule. The internal step is record_dt / s with s the smallest integer that keeps it
below `max_dt` and cfl * h / max|u0| (the maximum principle keeps max|u| <= max|u0|, so one step
serves the whole trajectory). FNO data: u0 ~ N(0, 625 (-Laplacian + 25 I)^(-2)) (its constant
mode dropped here: the mean is conserved and only translates the solution), nu = 0.1, the map
t = 0 -> 1. No linear system: the solver config is ignored; iterations record the steps.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as fft
from omegaconf import DictConfig

from surrogate.checks import require_float
from surrogate.pdes.base import FAMILIES, FieldSpec
from surrogate.pdes.spectral import (
    SpectralFamily,
    dealias_mask,
    periodic_grf,
    truncate,
    wavenumbers,
)
from surrogate.pdes.temporal import StepStats, Trajectory, pde_root

CONTOUR_POINTS = 32


def etdrk4_coefficients(linear: np.ndarray, dt: float) -> tuple[np.ndarray, ...]:
    """(E, E2, Q, f1, f2, f3) of ETDRK4 for the diagonal linear part `linear` and step dt."""
    roots = np.exp(1j * np.pi * (np.arange(1, CONTOUR_POINTS + 1) - 0.5) / CONTOUR_POINTS)
    lr = dt * linear[:, None] + roots[None, :]
    exp_lr = np.exp(lr)

    def mean(values: np.ndarray) -> np.ndarray:
        return dt * np.real(values.mean(axis=1))

    return (
        np.exp(dt * linear),
        np.exp(dt * linear / 2),
        mean((np.exp(lr / 2) - 1) / lr),
        mean((-4 - lr + exp_lr * (4 - 3 * lr + lr**2)) / lr**3),
        mean((2 + lr + exp_lr * (-2 + lr)) / lr**3),
        mean((-4 - 3 * lr - lr**2 + exp_lr * (4 - lr)) / lr**3),
    )


@FAMILIES.register("burgers")
class Burgers(SpectralFamily):
    """Random initial condition, fixed viscosity; a trajectory of u."""

    name = "burgers"
    dimensions = 1

    def __init__(self, cfg: DictConfig) -> None:
        root = pde_root(cfg)
        super().__init__(root)
        self.alpha = require_float(root, "pde.initial.alpha", above=0.5)
        self.tau = require_float(root, "pde.initial.tau", above=0.0)
        self.scale = require_float(root, "pde.initial.scale", above=0.0)
        self.k = wavenumbers(self.m, real=True)
        self.linear = -self.viscosity * (2.0 * np.pi * np.fft.rfftfreq(self.m, 1.0 / self.m)) ** 2
        self.flux = -0.5j * self.k * dealias_mask(self.m, real=True)  # d/dx (.)/2, dealiased

    @property
    def fields(self) -> FieldSpec:
        return FieldSpec(
            ("viscosity",), ("u",), (self.n,), time_steps=self.time_steps, dt=self.record_dt
        )

    def grid(self) -> dict[str, np.ndarray]:
        return {"x": self.points}

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """u0 on the solve grid: N(0, scale^2 (-Laplacian + tau^2)^(-alpha)), zero mean."""
        return periodic_grf(rng, self.m, 1, self.alpha, self.tau, self.scale)

    def features(self, rng: np.random.Generator) -> np.ndarray:
        return truncate(self.initial(rng), self.n)

    def simulate(self, rng: np.random.Generator, solver: object = None) -> Trajectory:
        stats = StepStats()
        states = self.evolve(self.initial(rng), stats)
        inputs = np.full((1, self.n), self.viscosity)
        return Trajectory(inputs, states, stats.total(bool(np.isfinite(states).all())))

    def step_size(self, u0: np.ndarray) -> tuple[float, int]:
        """(dt, steps per stored interval)."""
        speed = float(np.abs(u0).max())
        dt = min(self.max_dt, self.cfl / (self.m * speed) if speed > 0 else math.inf)
        substeps = max(1, math.ceil(self.record_dt / dt - 1e-9))
        return self.record_dt / substeps, substeps

    def evolve(self, u0: np.ndarray, stats: StepStats) -> np.ndarray:
        """States (T, 1, n) from u0 (m,); steps are counted in `stats`."""
        dt, substeps = self.step_size(u0)
        e, e2, q, f1, f2, f3 = etdrk4_coefficients(self.linear, dt)
        m = self.m

        def nonlinear(v: np.ndarray) -> np.ndarray:
            return self.flux * fft.rfft(fft.irfft(v, m) ** 2)

        v = fft.rfft(u0)
        states = np.empty((self.time_steps, 1, self.n), np.float32)
        states[0, 0] = truncate(u0, self.n)
        for step in range(1, self.time_steps):
            for _ in range(substeps):
                nv = nonlinear(v)
                a = e2 * v + q * nv
                na = nonlinear(a)
                b = e2 * v + q * na
                nb = nonlinear(b)
                c = e2 * a + q * (2 * nb - nv)
                v = e * v + nv * f1 + 2 * (na + nb) * f2 + nonlinear(c) * f3
            stats.add_steps(substeps)
            states[step, 0] = truncate(fft.irfft(v, m), self.n)
        return states
