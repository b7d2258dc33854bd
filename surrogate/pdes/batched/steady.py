"""What the batched steady families share: each lane's problem drawn and assembled by the numpy
family (the same draws, inputs and right-hand side), the (2d + 1)-point diffusion stencil applied
matrix-free in torch from the lane's face coefficients (`surrogate.solvers.batched.stencil`),
a batched Krylov solver, and the numpy path's safety net: each lane's true residual is checked
on its own CSR matrix, and a lane that misses `solver.rtol` is solved again directly and
flagged `fallback`.

Supported: solver=cg (symmetric positive definite families), gmres or gcrodr (every family;
GCRO-DR carries its recycled space from batch to batch as `solver.recycle_batch` says, reset at
each segment), each with solver.preconditioner=none, jacobi or mg (a geometric multigrid
V-cycle of each lane's A + (1 + solver.shift) sigma I, `surrogate.solvers.batched.mg`, settings
`solver.mg`: sigma = k^2 for Helmholtz, 0 for the SPD families). No warm start
(a batch has no previous solution); the faces use the harmonic mean of the two nodes'
coefficients as `surrogate.pdes.stencil.assemble_stencil` does, h = 1 / (n + 1), unless a family
builds its operator itself (heat: finite volumes on a slotted domain, its right-hand sides
scattered onto the full grid and its solutions gathered back, `on_grid` / `at_unknowns`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np
import torch
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import Problem, Trajectory
from surrogate.solvers.base import SolveResult, relative_residual
from surrogate.solvers.batched.cg import Operator, batched_cg
from surrogate.solvers.batched.gcrodr import RECYCLE_BATCH, BatchRecycling, solve_recycling
from surrogate.solvers.batched.gmres import batched_gmres
from surrogate.solvers.batched.mg import Multigrid, Settings, shifted_operator
from surrogate.solvers.batched.stencil import Stencil
from surrogate.solvers.direct import DirectSolver

PRECONDITIONERS = {name: ("none", "jacobi", "mg") for name in ("cg", "gmres", "gcrodr")}


class BatchedSteady(ABC):
    """`SteadyFamily.simulate` with a batched Krylov solver for a batch of streams; a family
    says how a problem's coefficient on the full grid is found (`coefficient`), or its whole
    operator (`operator`), and whether its systems are SPD (`spd`: CG applies)."""

    spd = True

    def __init__(self, pde: object, solver: DictConfig, device: torch.device) -> None:
        self.pde = pde
        self.device = device
        self.solver = solver
        self.rtol, self.maxiter = float(solver.rtol), int(solver.maxiter)
        self.preconditioner = str(solver.preconditioner)
        self.mg = Settings(**solver.mg) if self.preconditioner == "mg" else None
        self.shift = float(solver.shift) if self.preconditioner == "mg" else None
        self.fallback = bool(solver.fallback)
        recycling = solver.name == "gcrodr"
        self.recycling = BatchRecycling(str(solver.recycle_batch)) if recycling else None

    def restart(self) -> None:
        """A new segment: nothing carried from the batches before (the recycled space)."""
        if self.recycling is not None:
            self.recycling.restart()

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        """Only what is batched: CG (SPD families), GMRES or GCRO-DR with none, Jacobi or mg,
        no warm start (mg's settings and solver.shift are checked with the solver's, as for the
        numpy path)."""
        solver = cfg.solver
        allowed = [name for name in PRECONDITIONERS if cls.spd or name != "cg"]
        if solver.name not in allowed or solver.preconditioner not in PRECONDITIONERS[solver.name]:
            preconditioner = solver.get("preconditioner", "none")
            choices = "; ".join(
                f"solver={name} with solver.preconditioner={' or '.join(PRECONDITIONERS[name])}"
                for name in allowed
            )
            raise UserError(
                f"backend=torch solves pde={cfg.pde.name} with {choices} only (got solver="
                f"{solver.name}, preconditioner {preconditioner}); pass one of those, or use "
                "backend=numpy"
            )
        if solver.name == "gcrodr" and solver.recycle_batch not in RECYCLE_BATCH:
            raise UserError(
                f"solver.recycle_batch={solver.recycle_batch} is not one of "
                f"{', '.join(RECYCLE_BATCH)}"
            )
        if solver.warm_start:
            raise UserError(
                "solver.warm_start=true has no previous solution within a batch with "
                "backend=torch; pass solver.warm_start=false"
            )

    @abstractmethod
    def coefficient(self, problem: Problem) -> np.ndarray:
        """The problem's diffusion coefficient on the full (n + 2, n + 2) grid."""

    def operator(self, problems: list[Problem]) -> Stencil:
        """The lanes' operators, matrix-free."""
        coefficients = np.stack([self.coefficient(p) for p in problems])
        return Stencil.from_coefficient(torch.as_tensor(coefficients, device=self.device))

    def solve(
        self, operator: Stencil, rhs: torch.Tensor
    ) -> tuple[torch.Tensor, list[int], list[int]]:
        """x, iterations and matrix products per lane, by `solver.name`."""
        solver = self.solver
        precondition = self.precondition(operator)
        if solver.name == "cg":
            return batched_cg(operator, rhs, precondition, self.rtol, self.maxiter)
        if solver.name == "gmres":
            m = int(solver.m)
            return batched_gmres(operator, rhs, precondition, self.rtol, m, self.maxiter)
        start = self.recycling.start(rhs.shape[0])
        m, k = int(solver.m), int(solver.k)
        x, iterations, products, spaces = solve_recycling(
            operator, rhs, precondition, self.rtol, m, k, self.maxiter, start
        )
        self.recycling.keep(spaces)
        return x, iterations, products

    def simulate(self, rngs: list[np.random.Generator]) -> list[Trajectory]:
        start = time.perf_counter()
        problems = [self.pde.problem(rng) for rng in rngs]  # type: ignore[attr-defined]
        shape = (len(problems), *problems[0].inputs.shape[1:])
        operator = self.operator(problems)
        rhs = np.stack([self.on_grid(p.rhs) for p in problems])
        x, iterations, products = self.solve(
            operator, torch.as_tensor(rhs, device=self.device).reshape(shape)
        )
        solutions = self.at_unknowns(x.reshape(len(problems), -1).cpu().numpy())
        share = (time.perf_counter() - start) / len(problems)
        return [
            self.checked(problem, solution, count, product, share)
            for problem, solution, count, product in zip(problems, solutions, iterations, products)
        ]

    def on_grid(self, rhs: np.ndarray) -> np.ndarray:
        """A lane's right-hand side on the operator's grid (the unknowns are its nodes)."""
        return rhs

    def at_unknowns(self, x: np.ndarray) -> np.ndarray:
        """The lanes' solution vectors (B, unknowns) from their values on the grid."""
        return x

    def precondition(self, operator: Stencil) -> Operator:
        """z = M^{-1} r for every lane, built from the lanes' own operators (mg: the V-cycle of
        each lane's shifted operator, which is the operator itself for the SPD families)."""
        if self.preconditioner == "mg":
            shifted = shifted_operator(operator, self.shift)
            return Multigrid(shifted, tuple(operator.diagonal.shape[1:]), self.mg)
        if self.preconditioner == "jacobi":
            inverse = 1.0 / operator.diagonal
            return lambda r: r * inverse
        return lambda r: r

    def checked(
        self,
        problem: Problem,
        x: np.ndarray,
        iterations: int,
        products: int,
        share: float,
    ) -> Trajectory:
        """The lane's result with its true residual; solved directly if it missed rtol."""
        residual = relative_residual(problem.matrix, x, problem.rhs)
        converged = bool(np.isfinite(residual) and residual <= self.rtol)
        fallback = False
        seconds = share
        if not converged and self.fallback:
            begin = time.perf_counter()
            spd = bool(self.pde.spd)  # type: ignore[attr-defined]
            direct = DirectSolver(rtol=self.rtol, symmetric=spd)
            try:
                exact = direct.solve(problem.matrix, problem.rhs)
            finally:
                direct.close()
            x, residual, converged, fallback = exact.x, exact.residual, exact.converged, True
            seconds += time.perf_counter() - begin
        result = SolveResult(
            np.empty(0), iterations, products, seconds, residual, converged, fallback
        )
        outputs = self.pde.solution_fields(x)  # type: ignore[attr-defined]
        return Trajectory(problem.inputs, outputs, result, problem.params)
