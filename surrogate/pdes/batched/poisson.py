"""Poisson batched in torch: the 5-point Laplacian matrix-free (coefficient 1), batched CG with
Jacobi or the multigrid V-cycle (`solver.preconditioner=mg`)."""

from __future__ import annotations

import numpy as np

from surrogate.pdes.base import Problem
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.batched.steady import BatchedDiffusion


@BATCHED.register("poisson")
class BatchedPoisson(BatchedDiffusion):
    """Every sample's matrix is the Laplacian: a coefficient of ones."""

    def coefficient(self, problem: Problem) -> np.ndarray:
        n = problem.inputs.shape[-1]
        return np.ones((n + 2, n + 2))
