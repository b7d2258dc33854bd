"""scipy's GCROT(m, k) with its recycled vectors carried from one system to the next."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from surrogate.solvers.base import SOLVERS, OperatorMemo, SolveResult, checked
from surrogate.solvers.krylov import RecyclingMethod
from surrogate.solvers.preconditioners import Apply


@dataclass
class CarriedVectors:
    """GCROT's (C, U) pairs, carried to the next system; C = A U is valid for `memo`'s operator
    only and recomputed for a new one (a stale C makes GCROT converge badly or fail)."""

    cu: list = field(default_factory=list)
    memo: OperatorMemo = field(default_factory=OperatorMemo)


@SOLVERS.register("gcrotmk")
class GCROTMK(RecyclingMethod):
    """A second recycling engine, scipy's, beside our GCRO-DR."""

    def new_state(self) -> CarriedVectors:
        return CarriedVectors()

    def solve(
        self,
        matrix: sp.spmatrix,
        rhs: np.ndarray,
        x0: np.ndarray,
        precondition: Apply,
        state: CarriedVectors,
    ) -> SolveResult:
        counter = {"matvecs": 0}

        def matvec(v: np.ndarray) -> np.ndarray:
            counter["matvecs"] += 1
            return matrix @ v

        if not state.memo.same(matrix, precondition):
            state.cu = [(None, u) for _, u in state.cu]
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
            CU=state.cu,
            discard_C=False,
        )
        matvecs = counter["matvecs"]
        return checked(matrix, rhs, x, matvecs, matvecs, self.rtol)
