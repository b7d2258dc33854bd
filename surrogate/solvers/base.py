"""What every solver is told, how it is called and what it reports for each system."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.registry import Registry


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


def same_matrix(matrix: sp.spmatrix, previous: sp.csr_matrix | None) -> bool:
    """Whether `matrix` equals `previous` entry for entry (e.g. Poisson: one matrix, many rhs).

    An O(nnz) comparison with a private copy rather than identity, so a matrix changed in place
    is still seen as new; it costs less than one matrix-vector product.
    """
    if previous is None or matrix.shape != previous.shape:
        return False
    current = sp.csr_matrix(matrix)
    if current.nnz != previous.nnz or not np.array_equal(current.data[:64], previous.data[:64]):
        return False  # a new matrix of a chain usually differs at once: no full comparison
    return (
        np.array_equal(current.indptr, previous.indptr)
        and np.array_equal(current.indices, previous.indices)
        and np.array_equal(current.data, previous.data)
    )


class OperatorMemo:
    """Tells whether a solve has the same operator A M^{-1} as the previous one.

    Same operator: an equal matrix (`same_matrix`) and the very same preconditioner function
    (a `ChainSolver` keeps its function while the matrix is unchanged).
    """

    def __init__(self) -> None:
        self.matrix: sp.csr_matrix | None = None
        self.precondition: object = None

    def same(self, matrix: sp.spmatrix, precondition: object) -> bool:
        """Compare with the remembered operator, then remember this one."""
        if precondition is self.precondition and same_matrix(matrix, self.matrix):
            return True
        self.matrix = sp.csr_matrix(matrix, copy=True)
        self.precondition = precondition
        return False


@dataclass(frozen=True)
class Systems:
    """What a solver is told of the systems it will solve (solvers know nothing of PDEs).

    `spd`: every matrix symmetric positive definite; `dims`: spatial dimensions of the grid
    (direct factorisations fill in badly in 3D); `per_sample`: systems per sample (0: the
    family has none, e.g. pseudo-spectral); `family`: the family's name, for messages.
    """

    spd: bool
    dims: int
    per_sample: int = 1
    family: str = ""


class LinearSolver:
    """One way of solving A x = b, chosen by `solver.name`: every method, direct included.

    A subclass registers itself with `@SOLVERS.register(name)`, checks its own config (`check`,
    on the whole config so that keys are named as users type them) and builds itself from it
    (`from_config`). `solve(matrix, rhs, x0, precondition, state)` is the one call of every
    method: `precondition` (r -> M^{-1} r) is None for a method that takes none, `state` the
    recycling state the chain owns (`new_state`; None for a method that carries nothing). The
    result's `residual` is the true one and counts in `matvecs`.
    """

    preconditioned: bool = True  # takes a preconditioner and the chain's iterative settings
    recycles: bool = False  # carries a subspace from one system to the next (`new_state`)
    needs_spd: bool = False  # only for symmetric positive definite systems (CG)
    rtol: float

    @classmethod
    def check(cls, cfg: DictConfig, systems: Systems) -> None:
        """Reject a config under `cfg.solver` that cannot work for these systems (UserError)."""

    @classmethod
    def concrete(cls, cfg: DictConfig, systems: Systems) -> DictConfig:
        """The config this choice runs as (`solver=auto` stands for another method)."""
        return cfg

    @classmethod
    def from_config(cls, cfg: DictConfig, systems: Systems) -> LinearSolver:
        """The method as a (concrete) solver config `cfg` describes it."""
        raise NotImplementedError

    @classmethod
    def work_vectors(cls, cfg: DictConfig) -> int:
        """Vectors of length N the method holds at its peak (basis, recycled space, work), for
        the memory check before generation."""
        return 8

    def new_state(self) -> Any:
        """A fresh recycling state (what a new chain segment starts from)."""
        return None

    def solve(
        self,
        matrix: sp.spmatrix,
        rhs: np.ndarray,
        x0: np.ndarray,
        precondition: Callable[[np.ndarray], np.ndarray] | None,
        state: Any,
    ) -> SolveResult:
        raise NotImplementedError

    def restart(self) -> None:
        """A new segment begins: drop whatever could change its numbers (none by default)."""

    def close(self) -> None:
        """Free what the method holds (factors, MKL's memory) at the end of a chain."""


SOLVERS: Registry[type[LinearSolver]] = Registry("solver", "surrogate.solvers")


def concrete_solver(cfg: DictConfig, systems: Systems) -> DictConfig:
    """The solver config as it runs: `solver=auto` resolved, any other as given."""
    return SOLVERS.get(cfg.name).concrete(cfg, systems)


def checked(
    matrix: sp.spmatrix, rhs: np.ndarray, x: np.ndarray, iterations: int, matvecs: int, rtol: float
) -> SolveResult:
    """The result of an iterative solve with its true residual (one more matrix product)."""
    residual = relative_residual(matrix, x, rhs)
    return SolveResult(
        x=x,
        iterations=iterations,
        matvecs=matvecs + 1,
        seconds=0.0,  # the chain times the whole solve, preconditioner set-up included
        residual=residual,
        converged=bool(np.isfinite(residual) and residual <= rtol),
    )
