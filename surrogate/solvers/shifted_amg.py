"""`solver.preconditioner=shifted_amg`: AMG on the shifted Laplacian, its hierarchy reused.

For Helmholtz A = L - k^2 I (L = -div(a grad), SPD) the preconditioner is one smoothed-
aggregation V-cycle on M = L + beta k^2 I (`solver.shift` = beta >= 0; Erlangga, Vuik, Oosterlee
2004 with a real shift), SPD, where AMG works: the preconditioned eigenvalues
(lambda - k^2) / (lambda + beta k^2) are negative or near zero for lambda <= k^2 only, the few
that GCRO-DR's recycled space deflates (beta = 0 measured fastest, docs/solvers.md). Solvers know nothing of k:
M is taken from A alone as M = A + (1 + beta) sigma I with sigma = max_i (sum_{j != i} |a_ij| -
a_ii), the smallest shift that makes A + sigma I weakly diagonally dominant. For a diffusion
stencil minus k^2 (every row of L at an interior node sums to zero, the rows next to the
boundary to more) sigma is exactly k^2, whatever a is; for a diagonally dominant matrix (Darcy)
sigma <= 0 and M = A: plain AMG, with the hierarchy reuse below.

Along a chain (sorted neighbours are alike) the hierarchy's set-up — strength graph,
aggregates, smoothed prolongators P — is kept, and for each new matrix only the Galerkin coarse
operators P^T M P and the coarse solve are recomputed. The set-up is redone at every segment
start and whenever a solve needs more than `solver.shift_rebuild` times the iterations of the
first solve after the last set-up (0: a fresh hierarchy for every matrix).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.checks import require_float
from surrogate.solvers.preconditioners import PRECONDITIONERS, Apply, Preconditioner

SMOOTHER = ("gauss_seidel", {"sweep": "symmetric"})  # needs no set-up: kept with the hierarchy
ROUNDING = 1e-10  # relative: a smaller sigma is the rounding of a diagonally dominant matrix
MAX_COARSE = 100  # unknowns on the coarsest level (dense pseudo-inverse)


def diagonal_dominance_shift(matrix: sp.csr_matrix) -> float:
    """sigma = max_i (sum_{j != i} |a_ij| - a_ii): k^2 for a diffusion stencil minus k^2 on the
    diagonal; 0 where it is at most rounding (`ROUNDING` times the largest |a_ii|: an interior
    row of L sums to zero only to rounding) or negative."""
    diagonal = matrix.diagonal()
    absolute = np.asarray(abs(matrix).sum(axis=1)).ravel() - np.abs(diagonal)
    sigma = float(np.max(absolute - diagonal))
    return sigma if sigma > ROUNDING * float(np.abs(diagonal).max()) else 0.0


def shifted_operator(matrix: sp.csr_matrix, beta: float) -> sp.csr_matrix:
    """M = A + (1 + beta) sigma I (= L + beta k^2 I for A = L - k^2 I)."""
    sigma = diagonal_dominance_shift(matrix)
    shifted = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    if sigma > 0.0:
        shifted = (shifted + (1.0 + beta) * sigma * sp.identity(shifted.shape[0])).tocsr()
    shifted.sort_indices()
    return shifted


def _seeded_hierarchy(matrix: sp.csr_matrix):
    """pyamg's smoothed-aggregation hierarchy of `matrix`, its random start vectors (spectral
    radius estimates) seeded from the matrix's bytes, as the `amg` preconditioner does, so the
    result is a function of the matrix alone."""
    import pyamg

    seed = zlib.crc32(matrix.data.tobytes(), zlib.crc32(matrix.indices.tobytes()))
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return pyamg.smoothed_aggregation_solver(
            matrix, max_coarse=MAX_COARSE, presmoother=SMOOTHER, postsmoother=SMOOTHER
        )
    finally:
        np.random.set_state(state)


def _galerkin(template, matrix: sp.csr_matrix):
    """A hierarchy with `template`'s prolongators and restrictions and the coarse operators of
    `matrix` (R A P on every level), with a fresh coarse solve."""
    import pyamg
    from pyamg.multilevel import MultilevelSolver
    from pyamg.relaxation.smoothing import change_smoothers

    levels = []
    operator = matrix
    for old in template.levels:
        level = MultilevelSolver.Level()
        level.A = operator
        if hasattr(old, "P"):
            level.P, level.R = old.P, old.R
            operator = sp.csr_matrix(old.R @ operator @ old.P)
        levels.append(level)
    hierarchy = pyamg.multilevel.MultilevelSolver(levels)
    change_smoothers(hierarchy, SMOOTHER, SMOOTHER)
    return hierarchy


class CarriedHierarchy:
    """The hierarchy a chain segment carries from system to system, and when to set it up anew."""

    def __init__(self, settings: Any) -> None:
        self.beta = float(settings.shift)
        self.rebuild_ratio = float(settings.shift_rebuild)
        self.template = None  # the hierarchy of the last full set-up
        self.baseline: int | None = None  # iterations of the first solve after it
        self.stale = True
        self.setups = 0  # full set-ups so far (reported by the benchmark)

    def build(self, matrix: sp.csr_matrix) -> Apply:
        shifted = shifted_operator(sp.csr_matrix(matrix), self.beta)
        if self.stale:
            hierarchy = self.template = _seeded_hierarchy(shifted)
            self.baseline, self.stale = None, False
            self.setups += 1
        else:
            hierarchy = _galerkin(self.template, shifted)
        return hierarchy.aspreconditioner(cycle="V").matvec

    def observe(self, iterations: int) -> None:
        """The first solve after a set-up sets the baseline; one that needs more than
        `rebuild_ratio` times it asks for a new set-up (ratio 0: after every solve)."""
        if self.baseline is None:
            self.baseline = iterations
        self.stale = self.rebuild_ratio == 0 or iterations > self.rebuild_ratio * self.baseline


@PRECONDITIONERS.register("shifted_amg")
class ShiftedAMGPreconditioner(Preconditioner):
    symmetric = True  # M is SPD for a symmetric A (diagonally dominant, positive diagonal)
    bytes_per_nonzero = 60  # pyamg's hierarchy and prolongators, the shifted copy of A

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        return cls.carry(settings).build(matrix)

    @classmethod
    def carry(cls, settings: Any) -> CarriedHierarchy:
        return CarriedHierarchy(settings)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        if "shift" in cfg.solver:
            require_float(cfg, "solver.shift", minimum=0.0)
            require_float(cfg, "solver.shift_rebuild", minimum=0.0)
