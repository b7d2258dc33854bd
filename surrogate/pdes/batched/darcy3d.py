"""3D Darcy flow batched in torch: the matrix-free 7-point stencil (harmonic-mean faces), batched
CG with Jacobi or the 3D multigrid V-cycle (`solver.preconditioner=mg`)."""

from __future__ import annotations

import numpy as np

from surrogate.pdes.base import Problem
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.batched.steady import BatchedDiffusion


@BATCHED.register("darcy3d")
class BatchedDarcy3D(BatchedDiffusion):
    """The stored coefficient, extended to the boundary as `Darcy3D.problem` does."""

    def coefficient(self, problem: Problem) -> np.ndarray:
        return np.pad(problem.inputs[0], 1, mode="edge")
