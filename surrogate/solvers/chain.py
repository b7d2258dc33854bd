"""Solving a chain of similar systems in order, reusing what neighbours share.

A `ChainSolver` owns one method (`SOLVERS`, direct included) and its recycling state, the
preconditioner and when to rebuild it, the warm start from the previous solution, SOR's online
ω, and the safety net: the true residual is always checked, and a system that misses `rtol` is
solved again directly and flagged `fallback`. A system whose matrix equals the previous one
(implicit time steps) keeps the preconditioner, ω and the recycled C = Â U.

A chain is cut into segments, each solved as if by a new solver (`restart`), so that any segment
can be redone on its own with the same results; what is costly to set up and carries no values
from system to system (the parsed settings, the direct back-end's PARDISO handle) is kept.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from surrogate.solvers.base import SOLVERS, SolveResult, Systems, relative_residual, same_matrix
from surrogate.solvers.direct import DirectSolver
from surrogate.solvers.preconditioners import PRECONDITIONERS, build_preconditioner
from surrogate.solvers.relaxation import RelaxationBandit


def gains_from_order(cfg: Any) -> bool:
    """Whether a (concrete) solver carries something from one system to the next that is worth
    more when neighbours are alike: a recycled subspace, a warm start, a preconditioner kept
    for several systems, or SOR's learned ω. Direct solves carry nothing the order changes
    (PARDISO's analysis depends on the sparsity pattern alone; identical matrices, as in
    Poisson, are identical in any order)."""
    method = SOLVERS.get(cfg.name)
    if not method.preconditioned:
        return False
    learned_omega = cfg.omega == "auto" and PRECONDITIONERS.get(cfg.preconditioner).relaxed
    return (
        method.recycles
        or bool(cfg.warm_start)
        or int(cfg.reuse_preconditioner) > 1
        or learned_omega
    )


class Preconditioning:
    """The preconditioner of a chain: which one, when it is rebuilt, and its ω (fixed, or
    proposed per distinct matrix by SOR's bandit)."""

    def __init__(self, cfg: Any) -> None:
        self.name = str(cfg.preconditioner)
        self.settings = cfg
        self.relaxed = PRECONDITIONERS.get(self.name).relaxed
        self.learned = cfg.omega == "auto" and self.relaxed
        self.fixed_omega = 1.0 if cfg.omega == "auto" else float(cfg.omega)
        self.rebuild_every = int(cfg.reuse_preconditioner) if cfg.reuse_preconditioner else 1
        self.kind = PRECONDITIONERS.get(self.name)

    def restart(self, rng: np.random.Generator, chain_length: int) -> None:
        self.bandit = RelaxationBandit(rng, chain_length) if self.learned else None
        self.matrix: sp.csr_matrix | None = None  # a copy of the last matrix, to spot a repeat
        self.matrices = 0  # distinct matrices seen: `reuse_preconditioner` counts these
        self.observed = True  # whether the bandit has seen this matrix's first solve
        self.apply = None
        self.omega = self.fixed_omega
        self.carried = self.kind.carry(self.settings)  # e.g. an AMG hierarchy, per segment

    def prepare(self, matrix: sp.csr_matrix) -> None:
        """Note a new matrix: ω is proposed, and the preconditioner rebuilt, per distinct one."""
        if same_matrix(matrix, self.matrix):
            return
        rebuild = self.bandit is not None or self.matrices % self.rebuild_every == 0
        self.matrix = sp.csr_matrix(matrix, copy=True)
        self.matrices += 1
        if self.bandit:
            self.omega, self.observed = self.bandit.propose(), False
        if rebuild:
            self.apply = None

    def get(self, matrix: sp.csr_matrix):
        if self.apply is None:
            self.apply = build_preconditioner(
                self.name, matrix, self.settings, self.omega, self.carried
            )
        return self.apply

    def observe(self, iterations: int) -> None:
        """The bandit learns from the first solve of each matrix (later ones gain from
        recycling); what is carried sees every solve (to tell when to set up anew)."""
        if self.carried is not None:
            self.carried.observe(iterations)
        if self.bandit and not self.observed:
            self.bandit.observe(iterations)
            self.observed = True


def projected_start(
    matrix: sp.csr_matrix, rhs: np.ndarray, basis: list[np.ndarray], spd: bool
) -> np.ndarray:
    """The start in span(basis) closest to the solution: least A-norm error for an SPD matrix
    (Galerkin, what CG minimises), else least residual (what GMRES minimises). Never worse
    than zero or any basis vector alone in that norm; one matrix product per vector."""
    if not basis:
        return np.zeros_like(rhs)
    vectors = np.stack(basis, axis=1)
    images = matrix @ vectors
    if spd:
        coefficients = np.linalg.lstsq(vectors.T @ images, vectors.T @ rhs, rcond=None)[0]
    else:
        coefficients = np.linalg.lstsq(images, rhs, rcond=None)[0]
    return vectors @ coefficients


class ChainSolver:
    """Solves the systems of one chain in order; `solve` returns the checked result."""

    def __init__(
        self, cfg: Any, systems: Systems, rng: np.random.Generator, chain_length: int
    ) -> None:
        self.cfg = cfg
        self.rtol = float(cfg.rtol)
        self.method = SOLVERS.get(str(cfg.name)).from_config(cfg, systems)
        iterative = self.method.preconditioned  # direct solves need no chain settings
        self.preconditioning = Preconditioning(cfg) if iterative else None
        self.warm_start = iterative and bool(cfg.warm_start)
        self.spd = systems.spd
        self.fallback = (
            DirectSolver(rtol=self.rtol, symmetric=systems.spd)
            if iterative and cfg.fallback
            else None
        )
        self.restart(rng, chain_length)

    def restart(self, rng: np.random.Generator, chain_length: int) -> None:
        """Start a segment of `chain_length` systems: from here on the results are those of a
        new `ChainSolver(cfg, systems, rng, chain_length)`, whatever was solved before.

        Dropped: the recycled subspace, the previous solution (warm start), the preconditioner,
        the bandit's ω and what it learned; a direct back-end keeps only what cannot change a
        value (`DirectSolver.restart`).
        """
        self.method.restart()
        if self.fallback is not None:
            self.fallback.restart()
        self.state = self.method.new_state()
        self.previous: np.ndarray | None = None
        if self.preconditioning is not None:
            self.preconditioning.restart(rng, chain_length)

    def close(self) -> None:
        """Free the direct back-ends' factors (and MKL's memory) at the end of the chain."""
        self.method.close()
        if self.fallback is not None:
            self.fallback.close()

    def solve(
        self, matrix: sp.csr_matrix, rhs: np.ndarray, guess: np.ndarray | None = None
    ) -> SolveResult:
        """Solve one system of the chain; `guess` (a model's prediction) is a candidate start."""
        start = time.perf_counter()
        preconditioning = self.preconditioning
        if preconditioning is not None:
            preconditioning.prepare(matrix)
        x0 = self._start(matrix, rhs, guess)
        try:
            precondition = preconditioning.get(matrix) if preconditioning else None
            result = self.method.solve(matrix, rhs, x0, precondition, self.state)
        except (RuntimeError, ArithmeticError, np.linalg.LinAlgError):
            # A breakdown (a singular ILU pivot, a singular small matrix): the direct fallback below.
            preconditioning.apply = None
            result = self._breakdown(matrix, rhs)
        if preconditioning is not None:
            preconditioning.observe(result.iterations)
        if not result.converged and self.fallback is not None:
            exact = self.fallback.solve(matrix, rhs)
            result.x, result.residual, result.converged = exact.x, exact.residual, exact.converged
            result.fallback = True
        self.previous = result.x
        result.seconds = time.perf_counter() - start
        return result

    def _start(
        self, matrix: sp.csr_matrix, rhs: np.ndarray, guess: np.ndarray | None
    ) -> np.ndarray:
        """Where the iteration starts: without a guess the previous solution (warm start) or
        zero; with one, the best combination of the guess and the previous solution
        (`projected_start`)."""
        previous = self.previous if self.warm_start else None
        if guess is None:
            return previous if previous is not None else np.zeros_like(rhs)
        basis = [v for v in (guess, previous) if v is not None and np.isfinite(v).all()]
        return projected_start(matrix, rhs, basis, self.spd)

    def _breakdown(self, matrix: sp.csr_matrix, rhs: np.ndarray) -> SolveResult:
        """What a solve that broke down reports: no solution, its residual checked."""
        x = np.full_like(rhs, np.nan)
        residual = relative_residual(matrix, x, rhs)
        return SolveResult(x, 0, 1, 0.0, residual, False)
