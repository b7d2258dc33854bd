"""Preconditioners M ≈ A, applied as z = M^{-1} r.

`sor` is the forward Gauss-Seidel-type sweep M = D/ω + L; `ssor` its symmetric version (usable
with CG; at ω = 1 what PETSc's default `sor` applies); `ilu` with the defaults (fill factor 1,
drop 0) the ILU(0) that PETSc and SKR use: L U with the sparsity of A, natural ordering.
(SuperLU's ILUTP at fill factor 1 is not ILU(0): it reorders (COLAMD) and keeps the largest
entries up to nnz(A), dropping some of A's own, and on heat_transient's I + τL it raised GMRES's
iterations per step from 23 to 34 where ILU(0) cuts them to 13.) Other fill/drop values use
ILUTP. `amg` one smoothed-aggregation V-cycle (pyamg), seeded by the matrix; `shifted_amg`
(shifted_amg.py) the same on a shifted operator, its hierarchy carried along a chain. The factorisation and every sweep are
compiled kernels (surrogate/solvers/kernels.py) on A's CSR arrays.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig, OmegaConf

from surrogate.checks import require_float
from surrogate.errors import UserError
from surrogate.lazy import lazy_module
from surrogate.registry import Registry

kernels = lazy_module("surrogate.solvers.kernels")
spla = lazy_module("scipy.sparse.linalg")  # ILU only; about 45 ms of import (scipy.linalg)
log = logging.getLogger(__name__)

Apply = Callable[[np.ndarray], np.ndarray]


class SparseRows:
    """A's CSR arrays with sorted indices and summed duplicates, and where each diagonal is."""

    def __init__(self, matrix: sp.spmatrix) -> None:
        csr = sp.csr_matrix(matrix)
        self.indptr, self.indices, self.data, self.diagonal = kernels.canonical_rows(
            csr.indptr, csr.indices, csr.data
        )


class Identity:
    """M = I."""

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return r

    def columns(self, block: np.ndarray) -> np.ndarray:
        return block


class Jacobi:
    """M = diag(A)."""

    def __init__(self, diagonal: np.ndarray) -> None:
        self.inverse = 1.0 / diagonal

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self.inverse * r

    def columns(self, block: np.ndarray) -> np.ndarray:
        return self.inverse[:, None] * block


class Sweep:
    """SOR (forward sweep with D/ω + L) or SSOR (forward, scale, backward), from zero."""

    def __init__(
        self, matrix: sp.spmatrix, diagonal: np.ndarray, omega: float, symmetric: bool
    ) -> None:
        self.rows = SparseRows(matrix)
        self.scaled_diagonal = diagonal / omega
        self.inverse = 1.0 / self.scaled_diagonal
        self.scaled = kernels.scale_rows(
            self.rows.indptr, self.rows.data, self.inverse, self.rows.indptr
        )
        self.factor = (2.0 - omega) / omega
        # Backward sweep of SSOR: right-hand side factor (D/ω) y times D^{-1}ω = factor y.
        self.backward_scale = np.full(len(diagonal), self.factor)
        self.symmetric = symmetric

    def __call__(self, r: np.ndarray) -> np.ndarray:
        rows = self.rows
        arrays = (rows.indptr, rows.indices, self.scaled, rows.diagonal)
        out = kernels.forward_sweep(*arrays, self.inverse, r, np.empty_like(r))
        if self.symmetric:
            kernels.backward_sweep(*arrays, self.backward_scale, out, out)
        return out

    def columns(self, block: np.ndarray) -> np.ndarray:
        """The same for every column of `block` (n, k) in one sweep."""
        rows, out = self.rows, np.empty_like(block)
        arrays = (rows.indptr, rows.indices, rows.data, rows.diagonal, self.inverse)
        kernels.lower_columns(*arrays, block, out)
        if self.symmetric:
            out *= (self.factor * self.scaled_diagonal)[:, None]
            kernels.upper_columns(*arrays, out, out)
        return out


class ILU0:
    """r -> (L U)^{-1} r for the ILU(0) factors of `matrix` (no fill, natural ordering)."""

    def __init__(self, matrix: sp.spmatrix) -> None:
        rows = SparseRows(matrix)
        if np.any(rows.diagonal < 0):
            raise ArithmeticError("ILU(0) needs every diagonal entry in the sparsity pattern")
        factors, pivots, bad = kernels.ilu0_factor(
            rows.indptr, rows.indices, rows.data, rows.diagonal
        )
        if bad >= 0:
            raise ArithmeticError(f"ILU(0) hit a zero pivot in row {bad}")
        self.rows, self.factors, self.pivots = rows, factors, pivots
        self.unit = np.ones(len(pivots))  # L's diagonal
        # L as it is (unit diagonal), U divided by its pivots: the sweeps' form.
        self.scaled = kernels.scale_rows(rows.indptr, factors, pivots, rows.diagonal + 1)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        rows = self.rows
        arrays = (rows.indptr, rows.indices, self.scaled, rows.diagonal)
        out = kernels.forward_sweep(*arrays, self.unit, r, np.empty_like(r))
        return kernels.backward_sweep(*arrays, self.pivots, out, out)

    def columns(self, block: np.ndarray) -> np.ndarray:
        """The same for every column of `block` (n, k) in one sweep."""
        rows, out = self.rows, np.empty_like(block)
        arrays = (rows.indptr, rows.indices, self.factors, rows.diagonal)
        kernels.lower_columns(*arrays, self.unit, block, out)
        return kernels.upper_columns(*arrays, self.pivots, out, out)


def _amg(matrix: sp.csr_matrix) -> Apply:
    """One smoothed-aggregation V-cycle. pyamg estimates spectral radii (for the prolongator
    smoother) from random start vectors of numpy's global generator, which made two runs of the
    same generation differ by ~1e-9 in some samples; it is seeded here from the matrix's own
    bytes, so the hierarchy is a function of the matrix alone (whatever ran before in the
    process, in any worker, after any resume), and the global generator is left as it was."""
    import pyamg

    seed = zlib.crc32(matrix.data.tobytes(), zlib.crc32(matrix.indices.tobytes()))
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        hierarchy = pyamg.smoothed_aggregation_solver(matrix, max_coarse=100)
    finally:
        np.random.set_state(state)
    return hierarchy.aspreconditioner(cycle="V").matvec


class Preconditioner:
    """A kind of preconditioner, chosen by `solver.preconditioner`: registered by name with
    `@PRECONDITIONERS.register(name)` and built for each matrix by `build`.

    `symmetric`: M is symmetric positive definite for an SPD A (usable with CG). `relaxed`:
    takes SOR's ω (`solver.omega`, which may be learned online). `check` looks at the settings
    this preconditioner reads from the solver's config, where the config carries them.
    """

    symmetric: bool = False
    relaxed: bool = False
    # Set-up at its peak, bytes per non-zero of A (for the memory check before generation).
    bytes_per_nonzero: float = 0.0

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        raise NotImplementedError

    @classmethod
    def carry(cls, settings: Any) -> Any:
        """What a chain segment carries from one build to the next (None: nothing; else an
        object with `build(matrix)` and `observe(iterations)`, e.g. `shifted_amg`'s hierarchy)."""
        return None

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        """Reject bad values of this preconditioner's own settings under `cfg.solver`."""

    @classmethod
    def setup_bytes(cls, nonzeros: int, settings: Any) -> float:
        return cls.bytes_per_nonzero * nonzeros


PRECONDITIONERS: Registry[type[Preconditioner]] = Registry(
    "solver.preconditioner", "surrogate.solvers"
)


def _nonzero_diagonal(name: str, matrix: sp.spmatrix) -> np.ndarray:
    diagonal = matrix.diagonal()
    if np.any(diagonal == 0.0):
        raise UserError(f"preconditioner {name} needs a non-zero diagonal; use ilu or none")
    return diagonal


@PRECONDITIONERS.register("none")
class NoPreconditioner(Preconditioner):
    symmetric = True

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        return Identity()


@PRECONDITIONERS.register("jacobi")
class JacobiPreconditioner(Preconditioner):
    symmetric = True
    bytes_per_nonzero = 2

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        return Jacobi(_nonzero_diagonal("jacobi", matrix))


def _check_omega(cfg: DictConfig) -> None:
    """ω is a fixed number in (0, 2), where SOR converges, or `auto` (learned online)."""
    if "omega" not in cfg.solver or cfg.solver.omega == "auto":
        return
    omega = require_float(cfg, "solver.omega", above=0.0)
    if not 0.0 < omega < 2.0:
        raise UserError(f"solver.omega={cfg.solver.omega} must lie in (0, 2), or be auto")


@PRECONDITIONERS.register("sor")
class SORPreconditioner(Preconditioner):
    relaxed = True
    bytes_per_nonzero = 30

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        return Sweep(matrix, _nonzero_diagonal("sor", matrix), omega, symmetric=False)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        _check_omega(cfg)


@PRECONDITIONERS.register("ssor")
class SSORPreconditioner(Preconditioner):
    symmetric = True
    relaxed = True
    bytes_per_nonzero = 65

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        return Sweep(matrix, _nonzero_diagonal("ssor", matrix), omega, symmetric=True)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        _check_omega(cfg)


@PRECONDITIONERS.register("ilu")
class ILUPreconditioner(Preconditioner):
    """ILU(0) at fill factor 1 and drop 0 (the defaults), SuperLU's ILUTP otherwise; its
    set-up holds the index arrays and triangular factors (times the fill)."""

    bytes_per_nonzero = 150

    @classmethod
    def setup_bytes(cls, nonzeros: int, settings: Any) -> float:
        return cls.bytes_per_nonzero * nonzeros * float(settings.ilu_fill_factor)

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        fill, drop = float(settings.ilu_fill_factor), float(settings.ilu_drop_tol)
        try:
            if fill == 1.0 and drop == 0.0:
                return ILU0(matrix)
            return spla.spilu(sp.csc_matrix(matrix), drop_tol=drop, fill_factor=fill).solve
        except (RuntimeError, ArithmeticError):  # a zero pivot: more fill usually avoids it
            log.info("ILU hit a zero pivot; retrying with fill 10 and drop 1e-4")
            return spla.spilu(
                sp.csc_matrix(matrix), drop_tol=1e-4, fill_factor=max(10.0, fill)
            ).solve

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        if "ilu_fill_factor" in cfg.solver:
            require_float(cfg, "solver.ilu_fill_factor", minimum=1.0)
            require_float(cfg, "solver.ilu_drop_tol", minimum=0.0, at_most=1.0)


@PRECONDITIONERS.register("amg")
class AMGPreconditioner(Preconditioner):
    symmetric = True
    bytes_per_nonzero = 45  # pyamg's hierarchy, strength matrix and prolongators

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        return _amg(sp.csr_matrix(matrix))


ILU0_SETTINGS = {"ilu_fill_factor": 1.0, "ilu_drop_tol": 0.0}


def build_preconditioner(
    name: str,
    matrix: sp.csr_matrix,
    settings: Any = None,
    omega: float = 1.0,
    carried: Any = None,
) -> Apply:
    """The function r -> M^{-1} r for the preconditioner `name` of `matrix`; `settings` holds
    what it reads of the solver's config (ILU's fill and drop; ILU(0)'s when None); `carried`,
    what a chain carries for it (`Preconditioner.carry`), builds it where given."""
    if carried is not None:
        return carried.build(matrix)
    preconditioner = PRECONDITIONERS.get(name)
    settings = OmegaConf.create(ILU0_SETTINGS) if settings is None else settings
    return preconditioner.build(matrix, settings, omega)


def apply_columns(precondition: Apply, block: np.ndarray) -> np.ndarray:
    """M^{-1} applied to every column of `block` (n, k): one compiled sweep where there is one."""
    columns = getattr(precondition, "columns", None)
    if columns is not None:
        return columns(block)
    return np.stack([precondition(block[:, i]) for i in range(block.shape[1])], axis=1)
