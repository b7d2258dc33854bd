"""GCRO-DR(m, k): GMRES with deflated restarting and a recycled subspace carried across systems.

Parks, de Sturler, Mackey, Johnson, Maiti (SIAM J. Sci. Comput. 2006); used across a sorted
sequence of systems by "Sorting Krylov Recycling" (Wang et al., ICLR 2024). With the operator
Â = A M^{-1} (right preconditioning), the solver keeps U (k vectors) and C = Â U with
orthonormal C. Each cycle runs m - k Arnoldi steps on (I - C C^T) Â, minimises the residual over
span(U, V), and replaces U by the harmonic Ritz vectors of the k smallest harmonic Ritz values.
For the next system, U is kept and C re-fitted to the new operator by a QR of Â_new U; when the
operator is unchanged (the same matrix and preconditioner: implicit time steps, many right-hand
sides) C = Â U still holds and is kept as is, with no matrix-vector products and no QR.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from surrogate.solvers.arnoldi import (
    REORTHOGONALIZE,
    ArnoldiCycle,
    arnoldi_cycle,
    preconditioned_operator,
)
from surrogate.solvers.base import OperatorMemo
from surrogate.solvers.preconditioners import Apply


def harmonic_ritz_vectors(g: np.ndarray, wtw: np.ndarray, k: int) -> np.ndarray:
    """Coefficients P (cols, k) of the harmonic Ritz vectors for the k smallest |θ|.

    Solves G^T G z = θ G^T (W^T Ŵ) z, where operator(Ŵ) = W G. Complex pairs contribute their
    real and imaginary parts, so P stays real and spans the same invariant space. Only the span
    matters, so P is returned orthonormalised: the real and imaginary parts of a nearly real
    eigenvector are nearly parallel and would make later triangular solves ill-conditioned.
    """
    values, vectors = sla.eig(g.T @ g, g.T @ wtw, check_finite=False)
    magnitude = np.where(np.isfinite(values), np.abs(values), np.inf)
    columns: list[np.ndarray] = []
    taken_pairs: set[complex] = set()
    for index in np.argsort(magnitude, kind="stable"):
        if len(columns) >= k or not np.isfinite(magnitude[index]):
            break
        vector, value = vectors[:, index], values[index]
        if abs(value.imag) > 1e-14 * max(1.0, abs(value)):
            if np.conj(value) in taken_pairs:
                continue
            taken_pairs.add(value)
            columns.append(vector.real)
            if len(columns) < k:
                columns.append(vector.imag)
        else:
            columns.append(vector.real)
    orthonormal, _ = np.linalg.qr(np.stack(columns, axis=1))
    return orthonormal


class GCRODR:
    """Solves a sequence of systems, carrying the recycled space U from one to the next."""

    def __init__(self, m: int, k: int, rtol: float, maxiter: int) -> None:
        self.m, self.k, self.rtol, self.maxiter = m, k, rtol, maxiter
        self.recycled: np.ndarray | None = None  # U as rows (k, n), in the preconditioned space
        self.images: np.ndarray | None = None  # C = Â U as rows, valid for `memo`'s operator only
        self.memo = OperatorMemo()

    def solve(
        self, matrix: sp.spmatrix, rhs: np.ndarray, x0: np.ndarray, precondition: Apply
    ) -> tuple[np.ndarray, int, int]:
        """Solve A x = b to ||b - A x|| <= rtol ||b||; returns (x, iterations, matvecs)."""
        operator = preconditioned_operator(matrix, precondition)
        target = self.rtol * float(np.linalg.norm(rhs))
        x = x0.copy()
        r = rhs - matrix @ x
        matvecs, iterations = 1, 0
        u, c = None, None
        same_operator = self.memo.same(matrix, precondition)
        if self.recycled is not None and self.recycled.shape[1] == rhs.shape[0]:
            if same_operator and self.images is not None:
                u, c = self.recycled, self.images
            else:
                u, c = self._refit(operator, self.recycled)
                matvecs += len(u)
        self.images = None  # until this solve ends with a consistent (U, C)
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
                    u, c = self._first_recycle(cycle)
                else:
                    steps = min(self.m - len(u), self.maxiter - iterations)
                    cycle = arnoldi_cycle(operator, r, beta, steps, target, deflate=c)
                    step += -(cycle.coupling @ cycle.y) @ u + cycle.y @ cycle.krylov[: cycle.steps]
                    u, c = self._next_recycle(cycle, u, c)
                r = r - (cycle.hessenberg @ cycle.y) @ cycle.krylov
                iterations += cycle.steps
                matvecs += cycle.steps
            x += precondition(step)
            r = rhs - matrix @ x  # the recurrence can drift: confirm with the true residual
            matvecs += 1
            if float(np.linalg.norm(r)) <= target or iterations >= self.maxiter:
                break
        self.recycled, self.images = u, c
        return x, iterations, matvecs

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
        if float(np.linalg.norm(r)) < REORTHOGONALIZE * norm:
            correction = c @ r
            r -= correction @ c
            coefficients += correction
        return coefficients @ u

    def _refit(self, operator, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """C = orthonormalised Â U for the new operator, U scaled to keep Â U = C."""
        au = np.stack([operator(vector) for vector in u])
        q, r = np.linalg.qr(au.T)
        keep = np.abs(np.diag(r)) > 1e-12 * np.abs(np.diag(r)).max()
        q, r, u = q[:, keep], r[np.ix_(keep, keep)], u[keep]
        return _lower_solve(r, u), np.ascontiguousarray(q.T)

    def _first_recycle(self, cycle: ArnoldiCycle) -> tuple[np.ndarray, np.ndarray]:
        """U, C from the harmonic Ritz vectors of a plain GMRES cycle."""
        j = cycle.steps
        p, q, r = _ritz_basis(cycle.hessenberg, np.eye(j + 1, j), min(self.k, j))
        return _lower_solve(r, p.T @ cycle.krylov[:j]), q.T @ cycle.krylov

    def _next_recycle(
        self, cycle: ArnoldiCycle, u: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """U, C from the harmonic Ritz vectors of the augmented cycle: Â [Ũ V_j] = [C V_j+1] G."""
        j, k = cycle.steps, len(u)
        scale = 1.0 / np.linalg.norm(u, axis=1)
        u_scaled = u * scale[:, None]
        g = np.zeros((k + j + 1, k + j))
        g[:k, :k] = np.diag(scale)
        g[:k, k:] = cycle.coupling
        g[k:, k:] = cycle.hessenberg
        wtw = np.zeros((k + j + 1, k + j))  # [C V_j+1]^T [Ũ V_j]
        wtw[:k, :k] = c @ u_scaled.T
        wtw[k:, :k] = cycle.krylov @ u_scaled.T
        wtw[k:, k:] = np.eye(j + 1, j)
        p, q, r = _ritz_basis(g, wtw, min(self.k, k + j))
        u_new = _lower_solve(r, p[:k].T @ u_scaled + p[k:].T @ cycle.krylov[:j])
        c_new = q.T @ cycle.basis  # the basis is [C; V_j+1]
        return u_new, c_new


def _ritz_basis(
    g: np.ndarray, wtw: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P (harmonic Ritz coefficients) and the QR factors of G P."""
    p = harmonic_ritz_vectors(g, wtw, k)
    q, r = np.linalg.qr(g @ p)
    return p, q, r


def _lower_solve(r: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """R^{-T} rows, i.e. the rows of (Ŵ P) R^{-1}: one small inverse, then one BLAS product."""
    inverse = sla.solve_triangular(r.T, np.eye(len(r)), lower=True, check_finite=False)
    return inverse @ rows
