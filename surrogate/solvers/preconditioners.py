"""Preconditioners M ≈ A, applied as z = M^{-1} r.

`sor` is the forward Gauss-Seidel-type sweep M = D/ω + L; `ssor` its symmetric version (usable
with CG); `ilu` an incomplete LU (SuperLU's ILUTP; by default limited to the fill of A with no
dropping, close to the ILU(0) that PETSc and SKR use); `amg` one smoothed-aggregation V-cycle
(pyamg). Triangular sweeps are done by SuperLU on the triangular factor with natural ordering,
about 8x faster than `scipy.sparse.linalg.spsolve_triangular`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from surrogate.errors import UserError

log = logging.getLogger(__name__)

PRECONDITIONERS = ("none", "jacobi", "sor", "ssor", "ilu", "amg")
SYMMETRIC_PRECONDITIONERS = ("none", "jacobi", "ssor", "amg")

Apply = Callable[[np.ndarray], np.ndarray]


def _triangular_solver(triangle: sp.spmatrix) -> Apply:
    factor = spla.splu(
        sp.csc_matrix(triangle),
        permc_spec="NATURAL",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    return factor.solve


def _identity(r: np.ndarray) -> np.ndarray:
    return r


def build_preconditioner(
    name: str,
    matrix: sp.csr_matrix,
    omega: float = 1.0,
    ilu_drop_tol: float = 0.0,
    ilu_fill_factor: float = 1.0,
) -> Apply:
    """The function r -> M^{-1} r for the preconditioner `name` of `matrix`."""
    if name == "none":
        return _identity
    diagonal = matrix.diagonal()
    if name in ("jacobi", "sor", "ssor") and np.any(diagonal == 0.0):
        raise UserError(f"preconditioner {name} needs a non-zero diagonal; use ilu or none")
    if name == "jacobi":
        inverse = 1.0 / diagonal
        return lambda r: inverse * r
    if name == "sor":
        return _triangular_solver(sp.tril(matrix, -1) + sp.diags(diagonal / omega))
    if name == "ssor":
        scaled = diagonal / omega
        lower = _triangular_solver(sp.tril(matrix, -1) + sp.diags(scaled))
        upper = _triangular_solver(sp.triu(matrix, 1) + sp.diags(scaled))
        factor = (2.0 - omega) / omega
        return lambda r: factor * upper(scaled * lower(r))
    if name == "ilu":
        csc = sp.csc_matrix(matrix)
        try:
            return spla.spilu(csc, drop_tol=ilu_drop_tol, fill_factor=ilu_fill_factor).solve
        except RuntimeError:  # a zero pivot (indefinite systems): more fill usually avoids it
            log.info("ILU hit a zero pivot; retrying with fill 10 and drop 1e-4")
            return spla.spilu(csc, drop_tol=1e-4, fill_factor=max(10.0, ilu_fill_factor)).solve
    if name == "amg":
        import pyamg

        hierarchy = pyamg.smoothed_aggregation_solver(sp.csr_matrix(matrix), max_coarse=100)
        cycle = hierarchy.aspreconditioner(cycle="V")
        return cycle.matvec
    raise UserError(
        f"solver.preconditioner={name} is unknown; choose one of: {', '.join(PRECONDITIONERS)}"
    )
