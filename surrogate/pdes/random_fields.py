"""Gaussian random fields on the unit square, as used by the FNO and SKR data generators.

The field is a cosine series u(x, y) = sum_k xi_k * lambda_k * cos(pi k1 x) cos(pi k2 y) with
xi_k ~ N(0, 1) and lambda_k the square root of the eigenvalues of (-Laplacian + tau^2)^(-alpha)
with Neumann conditions; the mean mode is zero. The series is evaluated at the requested points,
so the same coefficients give the same field at every resolution.
"""

from __future__ import annotations

import numpy as np


def grf_spectrum(modes: int, alpha: float, tau: float) -> np.ndarray:
    """Standard deviations lambda_k of the (modes x modes) cosine coefficients."""
    k = np.arange(modes)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    sigma = tau ** (0.5 * (2.0 * alpha - 2.0))
    spectrum = np.sqrt(2.0) * sigma * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    spectrum[0, 0] = 0.0
    return spectrum


def sample_grf(
    rng: np.random.Generator,
    points: np.ndarray,
    modes: int,
    alpha: float,
    tau: float,
) -> np.ndarray:
    """Sample a GRF on the tensor grid points x points (1D array in [0, 1]); shape (n, n)."""
    coefficients = rng.standard_normal((modes, modes)) * grf_spectrum(modes, alpha, tau)
    basis = np.cos(np.pi * np.outer(points, np.arange(modes)))  # (n, modes)
    return basis @ coefficients @ basis.T
