"""2D incompressible Navier-Stokes in vorticity form on the periodic unit square (FNO benchmark).

w_t + u . grad w = nu Laplacian w + f, u = (psi_y, -psi_x), -Laplacian psi = w. Pseudo-spectral
(real FFTs), the advection term computed on the grid and dealiased by the 2/3 rule; Crank-Nicolson
for the viscous term with Heun's predictor-corrector for advection and forcing (the scheme of
FNO's `ns_2d.py`). The internal step is record_dt / s with s the smallest integer that keeps
it below `max_dt` and the CFL bound cfl * h / (max|u| + max|v|), chosen afresh for each stored
interval. FNO data: f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y)), w0 ~ FNO's GaussianRF
(alpha 2.5, tau 7), nu in {1e-3, 1e-4, 1e-5}, solved at 256^2 with step 1e-4 and subsampled.
No linear system: the solver config is ignored; iterations record the internal steps.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as fft
from omegaconf import DictConfig

from surrogate.checks import require_float
from surrogate.pdes.base import FAMILIES, FieldSpec
from surrogate.pdes.coefficients import check_grf
from surrogate.pdes.spectral import (
    SpectralFamily,
    dealias_mask,
    periodic_grf,
    truncate,
    wavenumbers,
)
from surrogate.pdes.temporal import StepStats, Trajectory, pde_root


@FAMILIES.register("navier_stokes")
class NavierStokes(SpectralFamily):
    """Random initial vorticity, fixed forcing and viscosity; a trajectory of vorticity fields."""

    name = "navier_stokes"
    dimensions = 2

    def __init__(self, cfg: DictConfig) -> None:
        root = pde_root(cfg)
        super().__init__(root)
        self.amplitude = require_float(root, "pde.forcing_amplitude", minimum=0.0)
        self.alpha = require_float(root, "pde.initial.alpha", above=1.0)
        self.tau = require_float(root, "pde.initial.tau", above=0.0)
        check_grf(self.alpha, self.tau, "pde.initial")  # FNO's scale sqrt(2) tau^(alpha - 1)
        m = self.m
        self.kx = wavenumbers(m)[:, None]
        self.ky = wavenumbers(m, real=True)[None, :]
        squared = (2.0 * np.pi) ** 2 * (
            np.fft.fftfreq(m, 1.0 / m)[:, None] ** 2 + np.fft.rfftfreq(m, 1.0 / m)[None, :] ** 2
        )
        self.laplacian = -squared
        squared[0, 0] = np.inf
        self.inverse_laplacian = 1.0 / squared  # psi_hat = w_hat / |k|^2, mean mode 0
        self.dealias = dealias_mask(m)[:, None] * dealias_mask(m, real=True)[None, :]
        self.forcing_hat = fft.rfft2(self.forcing(np.arange(m) / m))

    @property
    def fields(self) -> FieldSpec:
        return FieldSpec(
            ("forcing",),
            ("vorticity",),
            (self.n, self.n),
            time_steps=self.time_steps,
            dt=self.record_dt,
        )

    def grid(self) -> dict[str, np.ndarray]:
        return {"x": self.points, "y": self.points}

    def forcing(self, points: np.ndarray) -> np.ndarray:
        """f on the tensor grid of `points`: amplitude (sin 2 pi (x + y) + cos 2 pi (x + y))."""
        phase = 2.0 * np.pi * (points[:, None] + points[None, :])
        return self.amplitude * (np.sin(phase) + np.cos(phase))

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """w0 on the solve grid: FNO's GaussianRF(alpha, tau), scale sqrt(2) tau^(alpha - 1)."""
        scale = math.sqrt(2.0) * self.tau ** (self.alpha - 1.0)
        return periodic_grf(rng, self.m, 2, self.alpha, self.tau, scale)

    def features(self, rng: np.random.Generator) -> np.ndarray:
        return truncate(self.initial(rng), self.n).ravel()

    def simulate(self, rng: np.random.Generator, solver: object = None) -> Trajectory:
        stats = StepStats()
        states = self.evolve(self.initial(rng), stats)
        inputs = self.forcing(self.points)[None]
        return Trajectory(inputs, states, stats.total(bool(np.isfinite(states).all())))

    def velocity(self, w_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) = (psi_y, -psi_x) on the solve grid."""
        psi = w_hat * self.inverse_laplacian
        u, v = fft.irfft2(np.stack([1j * self.ky * psi, -1j * self.kx * psi]), (self.m, self.m))
        return u, v

    def advection(self, w_hat: np.ndarray) -> np.ndarray:
        """Dealiased Fourier coefficients of u . grad w."""
        psi = w_hat * self.inverse_laplacian
        terms = np.stack(
            [1j * self.ky * psi, -1j * self.kx * psi, 1j * self.kx * w_hat, 1j * self.ky * w_hat]
        )
        u, v, wx, wy = fft.irfft2(terms, (self.m, self.m))
        return fft.rfft2(u * wx + v * wy) * self.dealias

    def evolve(self, w0: np.ndarray, stats: StepStats) -> np.ndarray:
        """States (T, 1, n, n) from w0 (m, m); internal steps are counted in `stats`."""
        h = 1.0 / self.m
        w_hat = fft.rfft2(w0)
        states = np.empty((self.time_steps, 1, self.n, self.n), np.float32)
        states[0, 0] = truncate(w0, self.n)
        for step in range(1, self.time_steps):
            u, v = self.velocity(w_hat)
            speed = float(np.abs(u).max() + np.abs(v).max())
            dt = min(self.max_dt, self.cfl * h / speed if speed > 0 else math.inf)
            substeps = max(1, math.ceil(self.record_dt / dt - 1e-9))
            dt = self.record_dt / substeps
            half = 0.5 * dt * self.viscosity * self.laplacian
            explicit, implicit = 1.0 + half, 1.0 / (1.0 - half)
            for _ in range(substeps):
                advection = self.advection(w_hat)
                predicted = (explicit * w_hat + dt * (self.forcing_hat - advection)) * implicit
                advection = 0.5 * (advection + self.advection(predicted))
                w_hat = (explicit * w_hat + dt * (self.forcing_hat - advection)) * implicit
            stats.add_steps(substeps)
            if not np.isfinite(w_hat).all():
                states[step:] = np.nan
                break
            states[step, 0] = truncate(fft.irfft2(w_hat, (self.m, self.m)), self.n)
        return states
