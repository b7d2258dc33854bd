"""Sparse direct solves of each system, with the true residual checked.

Two back-ends: SuperLU (scipy, always there) and MKL PARDISO (the optional `pypardiso`
package, x86-64). PARDISO's symbolic analysis (ordering, elimination tree) depends only on the
sparsity pattern, which every system of a family shares: it is done once per chain and only the
numeric factorisation is repeated. When a system has the very same matrix as the previous one
(families where only the right-hand side is random, such as Poisson), both back-ends reuse the
factors and only solve.

What is costly to set up and carries no values is made once: MKL's runtime library is located
once per process (pypardiso's own search walks the whole environment, about 0.5 s, on every
construction), and a chain keeps its PARDISO handle from segment to segment (`restart`).
"""

from __future__ import annotations

import functools
import os
import site
import sys
import time
from ctypes.util import find_library
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.checks import require_choice
from surrogate.errors import UserError
from surrogate.lazy import lazy_module
from surrogate.solvers.base import (
    SOLVERS,
    LinearSolver,
    SolveResult,
    Systems,
    relative_residual,
    same_matrix,
)

BACKENDS = ("auto", "superlu", "pardiso")
# SuperLU only: PARDISO runs never import it (about 45 ms, scipy.linalg with it).
spla = lazy_module("scipy.sparse.linalg")


MKL_RUNTIME = "PYPARDISO_MKL_RT"  # pypardiso's setting: the path of MKL's runtime library


@functools.cache
def locate_mkl() -> None:
    """Tell pypardiso where MKL's runtime library is, once per process (and, through the
    environment, the worker processes spawned later).

    Searched in pypardiso's order (the system's library path first) but only where pip and
    conda put the library; if it is not there, pypardiso's own search runs as before.
    """
    if os.environ.get(MKL_RUNTIME):
        return
    found = find_library("mkl_rt")
    for directory in (Path(sys.prefix, "lib"), Path(sys.prefix, "Library", "bin")):
        found = found or min(map(str, directory.glob("*mkl_rt*")), key=len, default=None)
    found = found or min(
        map(str, Path(site.USER_BASE, "lib").glob("*mkl_rt*")), key=len, default=None
    )
    if found:
        os.environ[MKL_RUNTIME] = found


@functools.cache
def pardiso_available() -> bool:
    locate_mkl()  # before the import: importing pypardiso builds a solver, which searches for MKL
    try:
        import pypardiso  # noqa: F401
    except ImportError:
        return False
    return True


class SuperLU:
    """SuperLU; for SPD matrices minimum degree on A + A^T without pivoting (symmetric mode),
    1.2-1.6x faster than the default COLAMD on 2D Darcy."""

    def __init__(self, spd: bool, reuse: bool = True) -> None:
        self.reuse = reuse
        self.options = (
            {
                "permc_spec": "MMD_AT_PLUS_A",
                "diag_pivot_thresh": 0.0,
                "options": {"SymmetricMode": True},
            }
            if spd
            else {"permc_spec": "COLAMD"}
        )

        self.factor: spla.SuperLU | None = None
        self.factored: sp.csr_matrix | None = None

    def __call__(self, matrix: sp.spmatrix, rhs: np.ndarray) -> np.ndarray:
        if not (self.reuse and same_matrix(matrix, self.factored)):
            self.factor = spla.splu(sp.csc_matrix(matrix), **self.options)
            self.factored = sp.csr_matrix(matrix, copy=True)
        return self.factor.solve(rhs)

    def restart(self) -> None:
        """A new segment keeps the factors: SuperLU is deterministic, so solving with the kept
        factors of an identical matrix gives the very numbers a new factorisation would."""

    def close(self) -> None:
        self.factor = self.factored = None


class Stored(NamedTuple):
    """A CSR matrix as PARDISO is handed it: its arrays only, without a scipy matrix's
    construction and format checks (about 70 µs each, several per solve at 64²)."""

    data: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    shape: tuple[int, int]


class UpperTriangle:
    """The upper triangle of CSR matrices as `sp.triu` gives it (sorted indices), from the
    positions of the last sparsity pattern seen: a mask of the values instead of a conversion
    to coordinates and back (about 4x faster on Darcy at 64² and 256²)."""

    def __init__(self) -> None:
        self.pattern: tuple[np.ndarray, np.ndarray] | None = None
        self.keep = np.empty(0)
        self.upper: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))

    def parts(self, matrix: sp.spmatrix) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """The triangle's values and its (indptr, indices): the same tuple object, owned here
        and never changed, for as long as the pattern of the matrices stays the same."""
        csr = sp.csr_matrix(matrix)
        if not csr.has_canonical_format:  # unsorted or repeated entries: the general route
            upper = sp.triu(csr, format="csr")
            upper.sort_indices()
            return upper.data, (upper.indptr, upper.indices)
        if self.pattern is None or not (
            np.array_equal(csr.indptr, self.pattern[0])
            and np.array_equal(csr.indices, self.pattern[1])
        ):
            n = csr.shape[0]
            rows = np.repeat(np.arange(n), np.diff(csr.indptr))
            self.keep = csr.indices >= rows
            counts = np.bincount(rows[self.keep], minlength=n)
            indptr = np.concatenate([[0], np.cumsum(counts)]).astype(csr.indptr.dtype)
            self.upper = (indptr, csr.indices[self.keep])
            self.pattern = (csr.indptr.copy(), csr.indices.copy())
        return csr.data[self.keep], self.upper

    def __call__(self, matrix: sp.spmatrix) -> sp.csr_matrix:
        data, (indptr, indices) = self.parts(matrix)
        return sp.csr_matrix((data, indices.copy(), indptr.copy()), shape=matrix.shape)


class Pardiso:
    """MKL PARDISO with the symbolic analysis kept while the sparsity pattern is unchanged.

    SPD matrices use PARDISO's Cholesky (mtype 2, upper triangle only), others LU (mtype 11).
    """

    def __init__(self, spd: bool, reuse_analysis: bool = True) -> None:
        locate_mkl()
        from pypardiso import PyPardisoSolver

        self.spd = spd
        self.reuse_analysis = reuse_analysis
        self.solver = PyPardisoSolver(mtype=2 if spd else 11)
        self.solver.set_statistical_info_off()
        self.pattern: tuple[np.ndarray, np.ndarray] | None = None  # of the last analysis
        self.factored: Stored | None = None  # the matrix the factors are of (its values copied)
        self.upper = UpperTriangle()

    def __call__(self, matrix: sp.spmatrix, rhs: np.ndarray) -> np.ndarray:
        # MKL reads and writes the right-hand side as contiguous float64 with no check of its
        # own (pypardiso's checks are bypassed here): anything else would corrupt memory.
        rhs = np.ascontiguousarray(rhs, dtype=np.float64)
        if self.spd:
            data, pattern = self.upper.parts(matrix)
        else:
            csr = sp.csr_matrix(matrix)
            csr.sort_indices()
            data, pattern = csr.data, (csr.indptr, csr.indices)
        stored = Stored(data, *pattern, shape=matrix.shape)
        same = self._analysed(pattern)
        if self.reuse_analysis and same and self._factored(stored):
            self.solver.set_phase(33)  # the very same matrix: solve with its factors
            return self.solver._call_pardiso(stored, rhs)
        if not (same and self.reuse_analysis):
            self.factored = None
            self.solver.set_phase(11)  # analysis: once per pattern
            self.solver._call_pardiso(stored, rhs)
            # The triangle's pattern is owned by `self.upper` and never changed; a caller's
            # matrix may be, so its pattern is copied.
            owned = self.spd and pattern is self.upper.upper
            self.pattern = pattern if owned else (pattern[0].copy(), pattern[1].copy())
        self.solver.set_phase(23)  # numeric factorisation and solve
        # The triangle's values are a new array (a mask's gather); a caller's are copied.
        self.factored = stored if self.spd else stored._replace(data=data.copy())
        return self.solver._call_pardiso(stored, rhs)

    def _analysed(self, pattern: tuple[np.ndarray, np.ndarray]) -> bool:
        """Whether `pattern` is that of the last analysis (the same object: no comparison)."""
        return pattern is self.pattern or (
            self.pattern is not None
            and all(np.array_equal(a, b) for a, b in zip(pattern, self.pattern))
        )

    def _factored(self, stored: Stored) -> bool:
        """Whether `stored` (of the analysed pattern) is the matrix the factors are of."""
        factored = self.factored
        return (
            factored is not None
            and factored.shape == stored.shape
            and np.array_equal(factored.data, stored.data)
        )

    def restart(self) -> None:
        """Start a new segment with what must be fresh for its results not to depend on the
        segments before it.

        Cholesky's analysis (mtype 2: ordering and symbolic factorisation) depends on the
        sparsity pattern alone, so it and the factors are kept: the numbers come out bit for
        bit as from a new handle (tested). LU's analysis (mtype 11) also scales and permutes by
        the values of the matrix it analysed (MKL's default weighted matching), so the next
        system's factors would depend on which matrix came first: the handle is released to
        the state of a new one.
        """
        if not self.spd:
            self.close()

    def close(self) -> None:
        """Free MKL's memory of this handle and set it back to the state of a new one."""
        if self.solver.pt.any():  # MKL holds memory for this handle
            self.solver.free_memory(everything=True)
        self.solver.pt[:] = 0
        self.solver.iparm[:] = 0
        self.pattern = self.factored = None


@SOLVERS.register("direct")
class DirectSolver(LinearSolver):
    """Direct solves with the chosen back-end; `rtol` bounds the accepted residual.

    One more method, as PETSc's PREONLY with an LU preconditioner: it takes no preconditioner,
    ignores the initial guess, and carries only its back-end (kept across segments).
    """

    preconditioned = False

    def __init__(
        self,
        rtol: float,
        symmetric: bool = False,
        backend: str = "superlu",
        reuse_analysis: bool = True,
    ) -> None:
        self.rtol = rtol
        if backend == "auto":
            backend = "pardiso" if pardiso_available() else "superlu"
        if backend == "pardiso" and not pardiso_available():
            raise UserError(
                "solver.backend=pardiso needs pypardiso: pip install 'surrogate[pardiso]'"
            )
        self.backend = backend
        self._factor_and_solve: SuperLU | Pardiso = (
            Pardiso(symmetric, reuse_analysis)
            if backend == "pardiso"
            else SuperLU(symmetric, reuse_analysis)
        )

    @classmethod
    def check(cls, cfg: DictConfig, systems: Systems) -> None:
        backend = require_choice(cfg, "solver.backend", BACKENDS)
        if backend == "pardiso" and not pardiso_available():
            raise UserError(
                "solver.backend=pardiso needs pypardiso: pip install 'surrogate[pardiso]'"
            )

    @classmethod
    def from_config(cls, cfg: DictConfig, systems: Systems) -> DirectSolver:
        return cls(
            float(cfg.rtol),
            symmetric=systems.spd,
            backend=str(cfg.backend),
            reuse_analysis=bool(cfg.reuse_analysis),
        )

    def restart(self) -> None:
        """Start a new segment (see the back-ends' `restart`)."""
        self._factor_and_solve.restart()

    def close(self) -> None:
        """Free the factors (and MKL's memory)."""
        self._factor_and_solve.close()

    def solve(
        self,
        matrix: sp.spmatrix,
        rhs: np.ndarray,
        x0: np.ndarray | None = None,
        precondition: Any = None,
        state: Any = None,
    ) -> SolveResult:
        start = time.perf_counter()
        x = self._factor_and_solve(matrix, rhs)
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
