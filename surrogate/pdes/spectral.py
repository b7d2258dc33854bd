"""Shared pieces of the periodic pseudo-spectral families (unit period, real FFTs).

Grids are x_i = i / n; wavenumbers are angular (2 pi k). Derivative wavenumbers drop the
Nyquist mode (its derivative is not real), and the 2/3 rule keeps |k| <= n / 3 of a product.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as fft
from omegaconf import DictConfig

from surrogate.checks import require_float, require_int
from surrogate.errors import UserError


class SpectralFamily:
    """What both periodic pseudo-spectral families share: no linear system, and the grid and
    time settings read and checked from `pde.*` (`root` = {"pde": <family config>})."""

    spd = symmetric = True  # no linear systems: any solver config is accepted and ignored
    linear_solves = 0
    min_resolution = 8

    def __init__(self, root: DictConfig) -> None:
        self.n = require_int(root, "pde.resolution", minimum=self.min_resolution)  # stored grid
        solve = root.pde.get("solve_resolution")
        self.m = self.n if solve is None else require_int(root, "pde.solve_resolution", minimum=1)
        if self.m < self.n:
            raise UserError(
                f"pde.solve_resolution={self.m} must be >= pde.resolution={self.n} (or null)"
            )
        self.viscosity = require_float(root, "pde.viscosity", above=0.0)
        self.time_steps = require_int(root, "pde.time_steps", minimum=2)
        self.record_dt = require_float(root, "pde.record_dt", above=0.0)
        self.cfl = require_float(root, "pde.cfl", above=0.0, at_most=1.0)
        self.max_dt = require_float(root, "pde.max_dt", above=0.0)
        self.points = np.arange(self.n) / self.n


def wavenumbers(n: int, real: bool = False) -> np.ndarray:
    """Angular wavenumbers 2 pi k of an n-point FFT (`real`: of an rfft), Nyquist set to 0."""
    k = np.fft.rfftfreq(n, 1.0 / n) if real else np.fft.fftfreq(n, 1.0 / n)
    if n % 2 == 0:
        k[n // 2 if not real else -1] = 0.0
    return 2.0 * np.pi * k


def dealias_mask(n: int, real: bool = False) -> np.ndarray:
    """1 where |k| <= n / 3 (the 2/3 rule), else 0, in FFT (or rfft) order."""
    k = np.fft.rfftfreq(n, 1.0 / n) if real else np.fft.fftfreq(n, 1.0 / n)
    return (np.abs(k) <= n / 3).astype(np.float64)


def truncate(field: np.ndarray, n: int) -> np.ndarray:
    """A periodic field on m points per axis (1D or 2D) resampled to n <= m by dropping modes.

    Keeps the Fourier modes |k| < n / 2 exactly (the stored field is the solved one, band-limited
    to the coarse grid), so no aliasing: what FNO's pointwise subsampling of a 256^2 solve does
    only for fields already resolved at n.
    """
    m = field.shape[0]
    if m == n:
        return field.copy()
    keep = (n + 1) // 2  # modes 0 .. keep - 1 and their negatives; the Nyquist mode is dropped
    if field.ndim == 1:
        coefficients = fft.rfft(field)[:keep]
        return fft.irfft(coefficients, n) * (n / m)
    coefficients = fft.rfft2(field)
    coarse = np.zeros((n, n // 2 + 1), complex)
    rows = np.r_[0:keep, m - keep + 1 : m]
    coarse[np.r_[0:keep, n - keep + 1 : n], :keep] = coefficients[rows, :keep]
    return fft.irfft2(coarse, (n, n)) * (n / m) ** 2


def periodic_grf(
    rng: np.random.Generator, n: int, dims: int, alpha: float, tau: float, scale: float
) -> np.ndarray:
    """A periodic Gaussian random field on n^dims points with zero mean, as FNO samples it.

    u = Re sum_k lambda_k xi_k exp(2 pi i k.x) over the n^dims grid modes, xi_k standard complex
    normal, lambda_k = scale (4 pi^2 |k|^2 + tau^2)^(-alpha / 2), lambda_0 = 0 (FNO's
    `GaussianRF`, whose scale is sqrt(2) tau^(alpha - 1)): the covariance is
    scale^2 (-Laplacian + tau^2)^(-alpha) without its constant mode.
    """
    k = np.fft.fftfreq(n, 1.0 / n)
    squared = sum(np.meshgrid(*([k**2] * dims), indexing="ij"))
    spectrum = scale * (4.0 * np.pi**2 * squared + tau**2) ** (-alpha / 2.0)
    spectrum.flat[0] = 0.0
    shape = (n,) * dims
    xi = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return np.real(fft.ifftn(spectrum * xi)) * n**dims
