"""What every solver reports for each system it solves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class SolveResult:
    """A solution and its statistics; `residual` is the true ||b - A x|| / ||b||."""

    x: np.ndarray
    iterations: int
    matvecs: int
    seconds: float
    residual: float
    converged: bool
    fallback: bool = False  # the iterative method missed rtol and a direct solve replaced it


def relative_residual(matrix: sp.spmatrix, x: np.ndarray, b: np.ndarray) -> float:
    """True relative residual ||b - A x|| / ||b|| (||r|| itself when b = 0)."""
    norm_b = float(np.linalg.norm(b))
    norm_r = float(np.linalg.norm(b - matrix @ x))
    return norm_r / norm_b if norm_b > 0.0 else norm_r
