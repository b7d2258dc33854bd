"""Burgers (1D, periodic) batched in torch: the ETDRK4 scheme and steps of
`surrogate.pdes.burgers`, B trajectories at once with torch.fft in the run's `dtype` (float64, or
float32 with complex64 spectra; the coefficients are computed in float64 and rounded).

Each lane's step comes from its own initial condition (`Burgers.step_size`) and its ETDRK4
coefficients are the numpy code's own (`etdrk4_coefficients`), stacked per lane; lanes with
fewer steps per interval are left alone while the others take theirs (`step_lanes`).
"""

from __future__ import annotations

import time

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
from surrogate.pdes.burgers import Burgers, etdrk4_coefficients
from surrogate.pdes.spectral import truncate


@BATCHED.register("burgers")
class BatchedBurgers:
    """`Burgers.simulate` for a batch of streams."""

    def __init__(
        self, pde: Burgers, solver: DictConfig, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.pde = pde
        self.device, self.dtype = device, dtype
        self.flux = as_dtype(pde.flux, device, dtype)
        self.inputs = np.full((1, pde.n), pde.viscosity)

    def simulate(self, rngs: list[np.random.Generator]) -> list[Trajectory]:
        start = time.perf_counter()
        initial = np.stack([self.pde.initial(rng) for rng in rngs])
        states, steps = self.evolve(initial)
        return trajectories(self.inputs, states, steps, start)

    def nonlinear(self, v: torch.Tensor) -> torch.Tensor:
        return self.flux * torch.fft.rfft(torch.fft.irfft(v, self.pde.m) ** 2)

    def evolve(self, u0: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """States (B, T, 1, n) from u0 (B, m), and each lane's number of steps."""
        pde = self.pde
        lanes = len(u0)
        sizes, counts = zip(*(pde.step_size(field) for field in u0))
        e, e2, q, f1, f2, f3 = (
            as_dtype(np.stack(stage), self.device, self.dtype)
            for stage in zip(*(etdrk4_coefficients(pde.linear, dt) for dt in sizes))
        )

        def etdrk4(v: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
            le, le2, lq = e[active], e2[active], q[active]
            nv = self.nonlinear(v)
            a = le2 * v + lq * nv
            na = self.nonlinear(a)
            b = le2 * v + lq * na
            nb = self.nonlinear(b)
            c = le2 * a + lq * (2 * nb - nv)
            return (
                le * v
                + nv * f1[active]
                + 2 * (na + nb) * f2[active]
                + self.nonlinear(c) * f3[active]
            )

        states = np.empty((lanes, pde.time_steps, 1, pde.n), np.float32)
        for lane, field in enumerate(u0):
            states[lane, 0, 0] = truncate(field, pde.n)
        v = torch.fft.rfft(as_dtype(u0, self.device, self.dtype))
        for record in range(1, pde.time_steps):
            v = step_lanes(v, list(counts), etdrk4)
            states[:, record, 0] = truncate_spectrum(v, pde.m, pde.n).cpu().numpy()
        return states, [count * (pde.time_steps - 1) for count in counts]
