"""What the batched pseudo-spectral families share: spectral truncation of a batch, the lanes
of a batch that still have steps to take, and the family's arrays in the run's `dtype` (float64,
or float32 with complex64 spectra: the whole step then runs in single precision).

Lanes take their own numbers of steps (each its own CFL step, as the numpy code chooses it): a
step is applied to the lanes that still have one, the others are left as they are, so every
lane's arithmetic is that of its sample alone, whatever else is in the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from surrogate.pdes.base import Trajectory
from surrogate.solvers.base import SolveResult


def as_dtype(array: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`array` on `device` in `dtype`, or in its complex counterpart if `array` is complex."""
    tensor = torch.as_tensor(array, device=device)
    return tensor.to(dtype.to_complex() if tensor.is_complex() else dtype)


def truncate_spectrum(coefficients: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """The fields (B, n) or (B, n, n) of rfft coefficients (B, m // 2 + 1) or (B, m, m // 2 + 1)
    of fields on m points per axis, resampled to n <= m by dropping modes, as
    `surrogate.pdes.spectral.truncate` does (the modes |k| < n / 2 kept, the Nyquist dropped)."""
    two_d = coefficients.dim() == 3
    if m == n:
        return (
            torch.fft.irfft2(coefficients, s=(m, m)) if two_d else torch.fft.irfft(coefficients, m)
        )
    keep = (n + 1) // 2
    if not two_d:
        return torch.fft.irfft(coefficients[:, :keep], n) * (n / m)
    device = coefficients.device
    rows = torch.cat([torch.arange(0, keep), torch.arange(m - keep + 1, m)]).to(device)
    targets = torch.cat([torch.arange(0, keep), torch.arange(n - keep + 1, n)]).to(device)
    coarse = coefficients.new_zeros((coefficients.shape[0], n, n // 2 + 1))
    coarse[:, targets, :keep] = coefficients[:, rows, :keep]
    return torch.fft.irfft2(coarse, s=(n, n)) * (n / m) ** 2


def step_lanes(
    state: torch.Tensor,
    steps: list[int],
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Advance lane b of `state` by steps[b] applications of `step(lanes_state, lanes)`, where
    `lanes` indexes the lanes being advanced (for their own coefficients)."""
    counts = torch.tensor(steps)
    everyone = torch.arange(len(steps), device=state.device)
    for taken in range(max(steps, default=0)):
        active = torch.nonzero(counts > taken).flatten()
        if len(active) == len(steps):
            state = step(state, everyone)
        else:
            lanes = active.to(state.device)
            state = state.index_copy(0, lanes, step(state.index_select(0, lanes), lanes))
    return state


def trajectories(
    inputs: np.ndarray, states: np.ndarray, steps: list[int], start: float
) -> list[Trajectory]:
    """One `Trajectory` per lane of `states` (B, T, C, *spatial) with the lane's step count;
    unconverged where a state is not finite, as `StepStats.total` marks it; the batch's wall time
    since `start` shared equally."""
    share = (time.perf_counter() - start) / len(steps)
    return [
        Trajectory(
            inputs,
            lane,
            SolveResult(
                x=np.empty(0),
                iterations=count,
                matvecs=0,
                seconds=share,
                residual=0.0,
                converged=bool(np.isfinite(lane).all()),
                fallback=False,
            ),
        )
        for lane, count in zip(states, steps)
    ]
