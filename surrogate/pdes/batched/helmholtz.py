"""Helmholtz batched in torch: the Darcy stencil minus k^2 on the diagonal, matrix-free (each
lane its own coefficient and wavenumber), solved by batched GMRES or GCRO-DR (the systems are
symmetric and indefinite, so CG is refused); with solver.preconditioner=mg each lane's V-cycle
is that of the shifted Laplacian L + solver.shift k^2 I (`surrogate.solvers.batched.mg` finds
k^2 from the stencil, as the numpy `shifted_amg` does from the matrix)."""

from __future__ import annotations

import numpy as np
import torch

from surrogate.pdes.base import Problem
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.batched.steady import BatchedDiffusion
from surrogate.solvers.batched.stencil import Stencil


@BATCHED.register("helmholtz")
class BatchedHelmholtz(BatchedDiffusion):
    """The coefficient extended to the boundary as `Helmholtz.problem` does, and each lane's
    k^2 taken off its diagonal, as `assemble_helmholtz` does."""

    spd = False

    def coefficient(self, problem: Problem) -> np.ndarray:
        return np.pad(problem.inputs[0], 1, mode="edge")

    def operator(self, problems: list[Problem]) -> Stencil:
        stencil = super().operator(problems)
        squares = [p.params["wavenumber"] ** 2 for p in problems]
        shift = torch.as_tensor(squares, dtype=stencil.diagonal.dtype, device=self.device)
        stencil.diagonal = stencil.diagonal - shift.reshape(-1, 1, 1)
        return stencil
