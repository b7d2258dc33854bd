"""GCRO-DR(m, k): GMRES with deflated restarting and a recycled subspace carried across systems.

Parks, de Sturler, Mackey, Johnson, Maiti (SIAM J. Sci. Comput. 2006); used across a sorted
sequence of systems by "Sorting Krylov Recycling" (Wang et al., ICLR 2024). With the operator
Â = A M^{-1} (right preconditioning), the solver keeps U (k vectors) and C = Â U with
orthonormal C. Each cycle runs m - k Arnoldi steps on (I - C C^T) Â, minimises the residual over
span(U, V), and, unless it met the tolerance, replaces U by the harmonic Ritz vectors of the k
smallest harmonic Ritz values — except where the next cycle is predicted to be short
(`skip_update`, `_steps_left`): there the update would cost more than the steps it saves. (A
solve hands on the space of its last restart: updating it after the converging cycle, usually
a short one, costs a full cycle-end and did not help the next systems — on 20 SKR-stencil
Darcy systems, iterations per system 245.9 with it and 246.5 without (no preconditioner), 30.1
and 27.2 (ILU(0)), 34.7 and 32.8 (SSOR).) For the next system, U is kept and C re-fitted to
the new operator by a QR of Â_new U (the k preconditioner applications done as one block
sweep); when the operator is unchanged (the same matrix and preconditioner: implicit time
steps, many right-hand sides) C = Â U still holds and is kept as is, with no matrix-vector
products and no QR.

Per cycle the work on vectors of length n is three matrix products — V^T U for the harmonic
Ritz problem, the new U and the new C — with everything else on small matrices: C^T U is
carried by its recurrence (C_new^T U_new = Q^T W^T Ŵ P R^{-1}) instead of recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.checks import require_float
from surrogate.solvers.arnoldi import (
    ArnoldiCycle,
    arnoldi_cycle,
    kernels,
    preconditioned_operator,
)
from surrogate.solvers.base import SOLVERS, OperatorMemo, SolveResult, Systems, checked
from surrogate.solvers.krylov import RecyclingMethod
from surrogate.solvers.preconditioners import Apply, apply_columns

# G's R with a pivot below this (relative) is rank-deficient: the QZ algorithm instead.
RANK_TOLERANCE = 1e-10
# Two eigenvalues this close (relative) to conjugate are one complex pair.
PAIR_TOLERANCE = 1e-8
# A cycle after a skipped update that needs more than this times the predicted steps marks
# the carried space stale: the next cycle that restarts updates it.
PREDICTION_SLACK = 1.5
# The prediction uses the rate of reduction over the last quarter of the cycle's steps (GMRES
# converges superlinearly within a cycle: the mean rate would predict too many steps).
RATE_WINDOW = 0.75


def harmonic_ritz_vectors(g: np.ndarray, wtw: np.ndarray, k: int) -> np.ndarray:
    """Coefficients P (cols, k) of the harmonic Ritz vectors for the k smallest |θ|.

    Solves G^T G z = θ G^T (W^T Ŵ) z, where operator(Ŵ) = W G. With G = Q R it is the standard
    eigenproblem (Q^T W^T Ŵ R^{-1}) x = x / θ, z = R^{-1} x: LAPACK's dgeev on the 40 × 40
    matrix of GCRO-DR(40, 20) instead of the QZ algorithm (dggev), which cost 1.0 of the 2.2
    ms of each recycle update on the SKR-stencil Darcy systems (docs/benchmarks.md, issue 14).
    QZ remains for a G that is (numerically) rank-deficient, where R has no inverse. Complex
    pairs contribute their real and imaginary parts, so P stays real and spans the same
    invariant space. Only the span matters, so P is returned orthonormalised: the real and
    imaginary parts of a nearly real eigenvector are nearly parallel and would make later
    triangular solves ill-conditioned.
    """
    q, r = np.linalg.qr(g)
    pivots = np.abs(np.diag(r))
    if pivots.min() > RANK_TOLERANCE * pivots.max():
        reduced = sla.solve_triangular(r, (q.T @ wtw).T, trans="T", check_finite=False).T
        inverse_values, vectors = np.linalg.eig(reduced)
        magnitude = np.abs(inverse_values)  # |1/θ|: the largest are wanted
        order = np.argsort(-magnitude, kind="stable")
        values = inverse_values
        vectors = sla.solve_triangular(r, vectors, check_finite=False)
        usable = magnitude > 0.0
    else:
        values, vectors = sla.eig(g.T @ g, g.T @ wtw, check_finite=False)
        magnitude = np.where(np.isfinite(values), np.abs(values), np.inf)
        order = np.argsort(magnitude, kind="stable")
        usable = np.isfinite(magnitude)
    columns: list[np.ndarray] = []
    taken_pairs: list[complex] = []
    for index in order:
        if len(columns) >= k or not usable[index]:
            break
        vector, value = vectors[:, index], values[index]
        if abs(value.imag) > 1e-14 * max(1.0, abs(value)):
            # QZ's two values of a pair (alpha / beta each) are conjugate only to rounding.
            if any(
                abs(np.conj(value) - taken) <= PAIR_TOLERANCE * abs(value) for taken in taken_pairs
            ):
                continue
            taken_pairs.append(value)
            columns.append(vector.real)
            if len(columns) < k:
                columns.append(vector.imag)
        else:
            columns.append(vector.real)
    orthonormal, _ = np.linalg.qr(np.stack(columns, axis=1))
    return orthonormal


@dataclass
class RecycledSpace:
    """What GCRO-DR carries from one system to the next; the chain owns it (`new_state`).

    U as rows (k, n), in the preconditioned space; C = Â U as rows, valid for `memo`'s operator
    only (None until a solve ends with a consistent pair); C^T U (k, k), with C.
    """

    recycled: np.ndarray | None = None
    images: np.ndarray | None = None
    overlap: np.ndarray | None = None
    memo: OperatorMemo = field(default_factory=OperatorMemo)
    stale: bool = False  # a skipped update's prediction failed: update at the next chance


@SOLVERS.register("gcrodr")
class GCRODR(RecyclingMethod):
    """Solves a sequence of systems, carrying the recycled space U from one to the next."""

    def __init__(self, m: int, k: int, rtol: float, maxiter: int, skip_update: float = 0.0) -> None:
        super().__init__(m, k, rtol, maxiter)
        self.skip_update = skip_update

    @classmethod
    def check_method(cls, cfg: DictConfig) -> None:
        super().check_method(cfg)
        if "skip_update" in cfg.solver:
            require_float(cfg, "solver.skip_update", minimum=0.0, at_most=1.0)

    @classmethod
    def from_config(cls, cfg: DictConfig, systems: Systems) -> GCRODR:
        # A config without the key (built by hand, not from conf/solver/gcrodr.yaml) runs the
        # classical method: an update after every cycle that restarts.
        skip = float(cfg.skip_update) if "skip_update" in cfg else 0.0
        return cls(int(cfg.m), int(cfg.k), float(cfg.rtol), int(cfg.maxiter), skip)

    def new_state(self) -> RecycledSpace:
        return RecycledSpace()

    def solve(
        self,
        matrix: sp.spmatrix,
        rhs: np.ndarray,
        x0: np.ndarray,
        precondition: Apply,
        state: RecycledSpace,
    ) -> SolveResult:
        """Solve A x = b to ||b - A x|| <= rtol ||b||, updating the recycled space `state`."""
        operator = preconditioned_operator(matrix, precondition)
        target = self.rtol * float(np.linalg.norm(rhs))
        x = x0.copy()
        r = rhs - matrix @ x
        matvecs, iterations = 1, 0
        u = c = ctu = None
        same_operator = state.memo.same(matrix, precondition)
        if state.recycled is not None and state.recycled.shape[1] == rhs.shape[0]:
            if same_operator and state.images is not None:
                u, c, ctu = state.recycled, state.images, state.overlap
            else:
                u, c, ctu = self._refit(matrix, precondition, state.recycled)
                matvecs += len(u)
        state.images = None  # until this solve ends with a consistent (U, C)
        predicted: float | None = None  # steps the next cycle needs, where an update was skipped
        while True:
            step = np.zeros_like(x)  # the correction in the preconditioned space, applied once
            while True:
                if c is not None:
                    step += self._project(r, u, c)
                beta = float(np.linalg.norm(r))
                if beta <= target or iterations >= self.maxiter:
                    break
                if c is None:
                    cycle = arnoldi_cycle(
                        operator, r, beta, min(self.m, self.maxiter - iterations), target
                    )
                    step += cycle.y @ cycle.krylov[: cycle.steps]
                    u, c, ctu = self._first_recycle(cycle)
                else:
                    steps = min(self.m - len(u), self.maxiter - iterations)
                    cycle = arnoldi_cycle(operator, r, beta, steps, target, deflate=c)
                    step += -(cycle.coupling @ cycle.y) @ u + cycle.y @ cycle.krylov[: cycle.steps]
                    if predicted is not None and cycle.steps > PREDICTION_SLACK * predicted:
                        state.stale = True  # the skipped update was needed after all
                    predicted = None
                    if cycle.residual_norm > target:  # another cycle follows: deflate better
                        predicted = self._steps_left(cycle, beta, target, steps, state)
                        if predicted is None:
                            u, c, ctu = self._next_recycle(cycle, u, ctu)
                            state.stale = False
                r = r - (cycle.hessenberg @ cycle.y) @ cycle.krylov
                iterations += cycle.steps
                matvecs += cycle.steps
            x += precondition(step)
            r = rhs - matrix @ x  # the recurrence can drift: confirm with the true residual
            matvecs += 1
            if float(np.linalg.norm(r)) <= target or iterations >= self.maxiter:
                break
        state.recycled, state.images, state.overlap = u, c, ctu
        return checked(matrix, rhs, x, iterations, matvecs, self.rtol)

    def _steps_left(
        self, cycle: ArnoldiCycle, beta: float, target: float, steps: int, state: RecycledSpace
    ) -> float | None:
        """The steps the next cycle needs at the rate of residual reduction of this cycle's last
        quarter, where that is at most `skip_update` of a cycle and the update may be skipped
        (None: update).

        An update costs about as much as 13 ILU(0)-preconditioned steps on an 80² Darcy system
        (docs/benchmarks.md, issue 14); after the last restart of a solve it buys only a few
        of them, and the carried space, refreshed whenever a prediction fails (`stale`), stays
        good for the next systems.
        """
        if self.skip_update <= 0.0 or state.stale or cycle.residual_norm <= 0.0:
            return None
        first = int(RATE_WINDOW * cycle.steps)
        start = beta if first == 0 else float(cycle.history[first - 1])
        rate = np.log(cycle.residual_norm / start) / (cycle.steps - first)
        if not rate < 0.0:
            return None
        left = float(np.log(target / cycle.residual_norm) / rate)
        return left if left <= self.skip_update * steps else None

    @staticmethod
    def _project(r: np.ndarray, u: np.ndarray, c: np.ndarray) -> np.ndarray:
        """r -= C C^T r in place; returns U C^T r, the minimal residual step over span(U).

        Done before every cycle so that r ⊥ range(C) to working precision, as the deflated
        Arnoldi assumes: when r is mostly in range(C) (a new right-hand side the recycled space
        nearly solves) or tiny (after a converged cycle), one pass leaves a rounding-level
        component along C that is large relative to what remains, and the basis built from r,
        then C itself, would lose orthogonality from solve to solve. A second pass (DGKS) fixes it.
        """
        norm = float(np.linalg.norm(r))
        coefficients = c @ r
        r -= coefficients @ c
        if float(np.linalg.norm(r)) < kernels.REORTHOGONALIZE * norm:
            correction = c @ r
            r -= correction @ c
            coefficients += correction
        return coefficients @ u

    @staticmethod
    def _refit(
        matrix: sp.spmatrix, precondition: Apply, u: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """U, C = orthonormalised Â U for a new operator (U rescaled so that Â U = C), C^T U.

        Â U is one block application of the preconditioner and one sparse-times-dense product.
        """
        au = sp.csr_matrix(matrix) @ apply_columns(precondition, np.ascontiguousarray(u.T))
        factored = _cholesky_qr(au)
        if factored is None:  # ill-conditioned or rank-deficient: Householder, dropping columns
            q, r = np.linalg.qr(au)
            keep = np.abs(np.diag(r)) > 1e-12 * np.abs(np.diag(r)).max()
            q, r, u = q[:, keep], r[np.ix_(keep, keep)], u[keep]
            c, inverse = np.ascontiguousarray(q.T), _upper_inverse(r)
        else:
            c, inverse = factored
        u = inverse.T @ u  # rows of U R^{-1}
        return u, c, c @ u.T

    def _first_recycle(self, cycle: ArnoldiCycle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """U, C, C^T U from the harmonic Ritz vectors of a plain GMRES cycle."""
        j = cycle.steps
        wtw = np.eye(j + 1, j)
        p, q, inverse = _ritz_basis(cycle.hessenberg, wtw, min(self.k, j))
        coefficients = p @ inverse  # U = V_j P R^{-1}, C = V_{j+1} Q
        return (
            coefficients.T @ cycle.krylov[:j],
            q.T @ cycle.krylov,
            q.T @ wtw @ coefficients,
        )

    def _next_recycle(
        self, cycle: ArnoldiCycle, u: np.ndarray, ctu: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """U, C, C^T U from the harmonic Ritz vectors of the augmented cycle:
        Â [Ũ V_j] = [C V_j+1] G, with Ũ = U diag(scale) of unit columns."""
        j, k = cycle.steps, len(u)
        scale = 1.0 / np.sqrt(np.einsum("ij,ij->i", u, u))
        g = np.zeros((k + j + 1, k + j))
        g[:k, :k] = np.diag(scale)
        g[:k, k:] = cycle.coupling
        g[k:, k:] = cycle.hessenberg
        wtw = np.zeros((k + j + 1, k + j))  # [C V_j+1]^T [Ũ V_j]
        wtw[:k, :k] = ctu * scale
        wtw[k:, :k] = (cycle.krylov @ u.T) * scale
        wtw[k:, k:] = np.eye(j + 1, j)
        p, q, inverse = _ritz_basis(g, wtw, min(self.k, k + j))
        coefficients = p @ inverse  # U_new = [Ũ V_j] P R^{-1}, C_new = [C V_j+1] Q
        u_new = (coefficients[:k] * scale[:, None]).T @ u + coefficients[k:].T @ cycle.krylov[:j]
        c_new = q.T @ cycle.basis  # the basis is [C; V_j+1]
        return u_new, c_new, q.T @ wtw @ coefficients


def _ritz_basis(
    g: np.ndarray, wtw: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P (harmonic Ritz coefficients), Q and R^{-1} of the QR factors of G P."""
    p = harmonic_ritz_vectors(g, wtw, k)
    q, r = np.linalg.qr(g @ p)
    return p, q, _upper_inverse(r)


def _cholesky_qr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Q^T (rows) and R^{-1} of X = Q R (X is (n, k)) by Cholesky QR, or None if X is too
    ill-conditioned for it (then Householder QR is needed).

    Two matrix products per pass instead of Householder's column-by-column sweeps; a second
    pass when X's condition number exceeds 3 (one pass loses about ε κ(X)^2 of orthogonality).
    """
    inverse = np.eye(x.shape[1])
    rows = x.T  # Q^T as rows, (k, n)
    for _ in range(2):
        gram = rows @ rows.T
        eigenvalues = np.linalg.eigvalsh(gram)
        if eigenvalues[0] <= 1e-12 * eigenvalues[-1]:
            return None
        step = _upper_inverse(np.linalg.cholesky(gram).T)
        rows, inverse = step.T @ rows, inverse @ step
        if eigenvalues[-1] <= 10.0 * eigenvalues[0]:
            break
    return rows, inverse


def _upper_inverse(r: np.ndarray) -> np.ndarray:
    """R^{-1} of a small upper triangular R."""
    return sla.solve_triangular(r, np.eye(len(r)), lower=False, check_finite=False)
