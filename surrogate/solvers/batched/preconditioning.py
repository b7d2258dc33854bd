"""`solver.preconditioner` for the batched Krylov solvers: z = M^{-1} r for every lane, built from
the lanes' own operators (none, Jacobi, or mg: the V-cycle of each lane's shifted operator
A + (1 + solver.shift) sigma I, which is A itself for the SPD families, sigma = 0)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from surrogate.solvers.batched.cg import Operator
from surrogate.solvers.batched.mg import Multigrid, Settings, shifted_operator
from surrogate.solvers.batched.stencil import Stencil


@dataclass(frozen=True)
class Preconditioning:
    """The preconditioner a solver config names, with mg's settings and shift where it is mg."""

    name: str
    mg: Settings | None
    shift: float | None

    @classmethod
    def from_config(cls, solver: DictConfig) -> Preconditioning:
        name = str(solver.preconditioner)
        if name != "mg":
            return cls(name, None, None)
        return cls(name, Settings(**solver.mg), float(solver.shift))

    def build(self, operator: Stencil) -> Operator:
        """z = M^{-1} r for every lane of `operator`."""
        if self.name == "mg":
            shifted = shifted_operator(operator, self.shift)
            return Multigrid(shifted, tuple(operator.diagonal.shape[1:]), self.mg)
        if self.name == "jacobi":
            inverse = 1.0 / operator.diagonal
            return lambda r: r * inverse
        return lambda r: r
