"""Small time-dependent datasets with an analytic evolution, written as `surrogate generate` would.

heat2d: periodic heat equation on an n x n grid, u_t = nu Laplace u, random low Fourier modes
decaying exactly (exp(-nu |k|^2 t)); the static input is the per-trajectory nu as a field.
advect1d: a 1D profile shifted one cell per step and damped by `decay`: u[t+1](x) = decay u[t](x-h);
the static input is a constant field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from surrogate.data.writer import SplitWriter
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult

SOLVER_SECONDS = 0.5  # per trajectory, as the generator stores it


def heat2d(rng: np.random.Generator, n: int, steps: int, dt: float) -> tuple[np.ndarray, ...]:
    """(static (1, n, n), trajectory (steps, 1, n, n)) of one random heat-equation solution."""
    nu = rng.uniform(0.5, 1.0)
    k = np.fft.fftfreq(n, 1.0 / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    coeffs = (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) * (k2 <= 8) * (k2 > 0)
    times = dt * np.arange(steps)
    modes = coeffs[None] * np.exp(-nu * k2[None] * times[:, None, None])
    states = np.fft.ifft2(modes).real
    states /= np.abs(states[0]).max()
    return np.full((1, n, n), nu), states[:, None]


def advect1d(
    rng: np.random.Generator, n: int, steps: int, decay: float = 0.95
) -> tuple[np.ndarray, ...]:
    """(static (1, n), trajectory (steps, 1, n)): low modes shifted one cell and damped per step."""
    x = np.arange(n) / n
    u0 = sum(
        rng.normal() * np.sin(2 * np.pi * m * x + rng.uniform(0, 2 * np.pi)) for m in range(1, 4)
    )
    states = np.stack([decay**t * np.roll(u0, t) for t in range(steps)])
    return np.ones((1, n)), states[:, None]


def write_temporal_dataset(
    directory: Path,
    kind: str,
    counts: dict[str, int],
    n: int = 16,
    steps: int = 6,
    dt: float = 0.01,
    seed: int = 0,
) -> Path:
    """Writes <directory>/<split>.h5 for each split in `counts`; returns `directory`."""
    spatial = (n, n) if kind == "heat2d" else (n,)
    spec = FieldSpec(("nu",), ("u",), spatial, time_steps=steps, dt=dt)
    grid = {axis: np.arange(n) / n for axis in "xy"[: len(spatial)]}
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        attrs = {"name": directory.name, "split": split, "pde": kind, "config": f"{kind} {seed}"}
        writer = SplitWriter(directory / f"{split}.h5", count, spec, grid, attrs)
        for index in range(count):
            if kind == "heat2d":
                static, states = heat2d(rng, n, steps, dt)
            else:
                static, states = advect1d(rng, n, steps)
            result = SolveResult(np.zeros(1), steps, steps, SOLVER_SECONDS, 1e-10, True)
            writer.write(index, static, states, {}, result)
        writer.finish()
    return directory
