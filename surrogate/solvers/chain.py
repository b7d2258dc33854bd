"""Solving a chain of similar systems in order, reusing what neighbours share.

A `ChainSolver` owns one Krylov method (with its recycled subspace for GCRO-DR and GCROT),
the preconditioner and when to rebuild it, the warm start from the previous solution, SOR's
online ω, and the safety net: the true residual is always checked, and a system that misses
`rtol` is solved again directly and flagged `fallback`. A system whose matrix equals the
previous one (implicit time steps) keeps the preconditioner, ω and the recycled C = Â U.

A chain is cut into segments, each solved as if by a new solver (`restart`), so that any segment
can be redone on its own with the same results; what is costly to set up and carries no values
from system to system (the parsed settings, the direct back-end's PARDISO handle) is kept.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from surrogate.solvers.base import OperatorMemo, SolveResult, relative_residual, same_matrix
from surrogate.solvers.cg import cg
from surrogate.solvers.direct import DirectSolver
from surrogate.solvers.gcrodr import GCRODR
from surrogate.solvers.gmres import gmres
from surrogate.solvers.preconditioners import build_preconditioner
from surrogate.solvers.relaxation import RelaxationBandit


class GCROTRecycler:
    """scipy's GCROT(m, k) with its recycled vectors carried from one system to the next.

    C = A U is recomputed for each new operator (a stale C makes GCROT converge badly or fail)
    and kept while the operator is unchanged.
    """

    def __init__(self, m: int, k: int, rtol: float, maxiter: int) -> None:
        self.m, self.k, self.rtol, self.maxiter = m, k, rtol, maxiter
        self.cu: list = []
        self.memo = OperatorMemo()

    def solve(self, matrix, rhs, x0, precondition) -> tuple[np.ndarray, int, int]:
        counter = {"matvecs": 0}

        def matvec(v: np.ndarray) -> np.ndarray:
            counter["matvecs"] += 1
            return matrix @ v

        if not self.memo.same(matrix, precondition):
            self.cu = [(None, u) for _, u in self.cu]
        operator = spla.LinearOperator(matrix.shape, matvec=matvec, dtype=np.float64)
        inverse = spla.LinearOperator(matrix.shape, matvec=precondition, dtype=np.float64)
        cycles = max(1, self.maxiter // self.m)
        x, _ = spla.gcrotmk(
            operator,
            rhs,
            x0=x0,
            rtol=self.rtol,
            atol=0.0,
            maxiter=cycles,
            M=inverse,
            m=self.m,
            k=self.k,
            CU=self.cu,
            discard_C=False,
        )
        return x, counter["matvecs"], counter["matvecs"]


class ChainSolver:
    """Solves the systems of one chain in order; `solve` returns the checked result."""

    def __init__(self, cfg: Any, spd: bool, rng: np.random.Generator, chain_length: int) -> None:
        self.cfg = cfg
        self.method = str(cfg.name)
        self.rtol = float(cfg.rtol)
        self.direct = DirectSolver(
            rtol=self.rtol,
            symmetric=spd,
            backend=str(cfg.get("backend", "superlu")),
            reuse_analysis=bool(cfg.get("reuse_analysis", True)),
        )
        if self.method != "direct":
            self.preconditioner = str(cfg.preconditioner)
            self.warm_start = bool(cfg.warm_start)
            self.rebuild_every = int(cfg.reuse_preconditioner) if cfg.reuse_preconditioner else 1
            self.fallback = bool(cfg.fallback)
            self.omega = cfg.get("omega", 1.0)
            self.ilu = {
                "ilu_fill_factor": float(cfg.get("ilu_fill_factor", 1.0)),
                "ilu_drop_tol": float(cfg.get("ilu_drop_tol", 0.0)),
            }
        self.restart(rng, chain_length)

    def restart(self, rng: np.random.Generator, chain_length: int) -> None:
        """Start a segment of `chain_length` systems: from here on the results are those of a
        new `ChainSolver(cfg, spd, rng, chain_length)`, whatever was solved before.

        Dropped: the recycled subspace, the previous solution (warm start), the preconditioner,
        the bandit's ω and what it learned; the direct back-end keeps only what cannot change
        a value (`DirectSolver.restart`).
        """
        self.direct.restart()
        if self.method == "direct":
            return
        cfg = self.cfg
        self.bandit = (
            RelaxationBandit(rng, chain_length)
            if self.omega == "auto" and self.preconditioner in ("sor", "ssor")
            else None
        )
        maxiter = int(cfg.maxiter)
        if self.method == "gcrodr":
            self.krylov = GCRODR(int(cfg.m), int(cfg.k), self.rtol, maxiter).solve
        elif self.method == "gcrotmk":
            self.krylov = GCROTRecycler(int(cfg.m), int(cfg.k), self.rtol, maxiter).solve
        elif self.method == "gmres":
            m = int(cfg.m)
            self.krylov = lambda a, b, x0, pc: gmres(a, b, x0, pc, m, self.rtol, maxiter)
        else:
            self.krylov = lambda a, b, x0, pc: cg(a, b, x0, pc, self.rtol, maxiter)
        self.previous: np.ndarray | None = None
        self.matrix: sp.csr_matrix | None = None  # a copy of the last matrix, to spot a repeat
        self.matrices = 0  # distinct matrices seen: `reuse_preconditioner` counts these
        self.observed = True  # whether the bandit has seen this matrix's first solve
        self._apply = None
        self._omega = 1.0 if self.omega == "auto" else float(self.omega)

    def close(self) -> None:
        """Free the direct back-end's factors (and MKL's memory) at the end of the chain."""
        self.direct.close()

    def solve(self, matrix: sp.csr_matrix, rhs: np.ndarray) -> SolveResult:
        if self.method == "direct":
            return self.direct.solve(matrix, rhs)
        start = time.perf_counter()
        new_matrix = not same_matrix(matrix, self.matrix)
        if new_matrix:  # ω is proposed, and the preconditioner rebuilt, per distinct matrix
            rebuild = self.bandit is not None or self.matrices % self.rebuild_every == 0
            self.matrix = sp.csr_matrix(matrix, copy=True)
            self.matrices += 1
            if self.bandit:
                self._omega, self.observed = self.bandit.propose(), False
            if rebuild:
                self._apply = None
        x0 = self.previous if self.warm_start and self.previous is not None else np.zeros_like(rhs)
        try:
            if self._apply is None:
                self._apply = build_preconditioner(
                    self.preconditioner, matrix, omega=self._omega, **self.ilu
                )
            x, iterations, matvecs = self.krylov(matrix, rhs, x0, self._apply)
        except (RuntimeError, ArithmeticError, np.linalg.LinAlgError):
            # A breakdown (a singular ILU pivot, a singular small matrix): the direct fallback below.
            self._apply = None
            x, iterations, matvecs = np.full_like(rhs, np.nan), 0, 0
        residual = relative_residual(matrix, x, rhs)
        matvecs += 1
        if self.bandit and not self.observed:  # later solves of a matrix gain from recycling
            self.bandit.observe(iterations)
            self.observed = True
        converged = bool(np.isfinite(residual) and residual <= self.rtol)
        fallback = False
        if not converged and self.fallback:
            exact = self.direct.solve(matrix, rhs)
            x, residual, converged, fallback = exact.x, exact.residual, exact.converged, True
        self.previous = x
        return SolveResult(
            x=x,
            iterations=iterations,
            matvecs=matvecs,
            seconds=time.perf_counter() - start,
            residual=residual,
            converged=converged,
            fallback=fallback,
        )
