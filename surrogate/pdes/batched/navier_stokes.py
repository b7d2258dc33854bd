"""Navier-Stokes (vorticity, periodic) batched in torch: the scheme and steps of
`surrogate.pdes.navier_stokes`, B trajectories at once with torch.fft in the run's `dtype`
(float64, or float32 with complex64 spectra).

Each lane chooses its own internal step per stored interval from its own velocity (the CFL
bound), exactly as the numpy code does, and takes that many steps (`step_lanes`); a lane whose
state stops being finite is stored as NaN from that interval on and stepped no further.
"""

from __future__ import annotations

import math
import time
from functools import partial

import numpy as np
import torch
from omegaconf import DictConfig

from surrogate.pdes.base import Trajectory
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.batched.spectral import (
    as_dtype,
    step_lanes,
    trajectories,
    truncate_spectrum,
)
from surrogate.pdes.navier_stokes import NavierStokes
from surrogate.pdes.spectral import truncate


@BATCHED.register("navier_stokes")
class BatchedNavierStokes:
    """`NavierStokes.simulate` for a batch of streams."""

    def __init__(
        self, pde: NavierStokes, solver: DictConfig, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.pde = pde
        self.device, self.dtype = device, dtype
        self.ikx = as_dtype(1j * pde.kx, device, dtype)
        self.iky = as_dtype(1j * pde.ky, device, dtype)
        self.laplacian = as_dtype(pde.laplacian, device, dtype)
        self.inverse_laplacian = as_dtype(pde.inverse_laplacian, device, dtype)
        self.dealias = as_dtype(pde.dealias, device, dtype)
        self.forcing_hat = as_dtype(pde.forcing_hat, device, dtype)
        self.inputs = pde.forcing(pde.points)[None]

    def simulate(self, rngs: list[np.random.Generator]) -> list[Trajectory]:
        start = time.perf_counter()
        initial = np.stack([self.pde.initial(rng) for rng in rngs])
        states, steps = self.evolve(initial)
        return trajectories(self.inputs, states, steps, start)

    def spatial(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Grid values (..., m, m) of rfft2 coefficients (..., m, m // 2 + 1)."""
        return torch.fft.irfft2(coefficients, s=(self.pde.m, self.pde.m))

    def velocity(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        psi = w_hat * self.inverse_laplacian
        u, v = self.spatial(torch.stack([self.iky * psi, -self.ikx * psi]))
        return u, v

    def advection(self, w_hat: torch.Tensor) -> torch.Tensor:
        psi = w_hat * self.inverse_laplacian
        terms = torch.stack([self.iky * psi, -self.ikx * psi, self.ikx * w_hat, self.iky * w_hat])
        u, v, wx, wy = self.spatial(terms)
        return torch.fft.rfft2(u * wx + v * wy) * self.dealias

    def heun(
        self,
        explicit: torch.Tensor,
        implicit: torch.Tensor,
        dt: torch.Tensor,
        w_hat: torch.Tensor,
        lanes: torch.Tensor,
    ) -> torch.Tensor:
        """One Crank-Nicolson + Heun step of the lanes `lanes` (their coefficients taken from
        the batch's (B, ...) `explicit`, `implicit` and `dt`)."""
        e, i, h = explicit[lanes], implicit[lanes], dt[lanes]
        advection = self.advection(w_hat)
        predicted = (e * w_hat + h * (self.forcing_hat - advection)) * i
        advection = 0.5 * (advection + self.advection(predicted))
        return (e * w_hat + h * (self.forcing_hat - advection)) * i

    def step_sizes(self, w_hat: torch.Tensor, alive: list[bool]) -> tuple[list[float], list[int]]:
        """Each lane's (dt, steps) for the next stored interval; 0 steps for a dead lane."""
        pde = self.pde
        u, v = self.velocity(w_hat)
        speeds = (u.abs().amax(dim=(-2, -1)) + v.abs().amax(dim=(-2, -1))).tolist()
        sizes, counts = [], []
        for speed, living in zip(speeds, alive):
            if not living:
                sizes.append(pde.record_dt)
                counts.append(0)
                continue
            dt = min(pde.max_dt, pde.cfl * (1.0 / pde.m) / speed if speed > 0 else math.inf)
            substeps = max(1, math.ceil(pde.record_dt / dt - 1e-9))
            sizes.append(pde.record_dt / substeps)
            counts.append(substeps)
        return sizes, counts

    def evolve(self, w0: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """States (B, T, 1, n, n) from w0 (B, m, m), and each lane's number of internal steps."""
        pde = self.pde
        lanes = len(w0)
        states = np.empty((lanes, pde.time_steps, 1, pde.n, pde.n), np.float32)
        for lane, field in enumerate(w0):
            states[lane, 0, 0] = truncate(field, pde.n)
        w_hat = torch.fft.rfft2(as_dtype(w0, self.device, self.dtype))
        alive, total = [True] * lanes, [0] * lanes
        for record in range(1, pde.time_steps):
            sizes, counts = self.step_sizes(w_hat, alive)
            column = (lanes, 1, 1)
            dt = torch.tensor(sizes, dtype=self.dtype, device=self.device).reshape(column)
            half = (
                torch.tensor(
                    [0.5 * size * pde.viscosity for size in sizes],
                    dtype=self.dtype,
                    device=self.device,
                ).reshape(column)
                * self.laplacian
            )
            explicit, implicit = 1.0 + half, 1.0 / (1.0 - half)
            w_hat = step_lanes(w_hat, counts, partial(self.heun, explicit, implicit, dt))
            total = [t + c for t, c in zip(total, counts)]
            finite = torch.isfinite(w_hat).flatten(1).all(dim=1).tolist()
            fields = truncate_spectrum(w_hat, pde.m, pde.n).cpu().numpy()
            for lane in range(lanes):
                if not alive[lane]:
                    continue
                if not finite[lane]:
                    states[lane, record:] = np.nan
                    alive[lane] = False
                else:
                    states[lane, record, 0] = fields[lane]
        return states, total
