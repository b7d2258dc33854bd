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

`dtype=float32`: mixed-precision iterative refinement (`refine`) around the same solve. The
residual b - A x and the solution are float64; each correction A d = r is solved by the same
batched method in float32 (operator, preconditioner and Krylov vectors) to a loose tolerance,
so every lane still reaches `solver.rtol` in float64 and is checked on its CSR matrix as in
float64.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod

import numpy as np
import torch
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import Problem, Trajectory
from surrogate.solvers.base import SolveResult, relative_residual
from surrogate.solvers.batched.cg import Operator, batched_cg, lane_norm
from surrogate.solvers.batched.gcrodr import (
    RECYCLE_BATCH,
    BatchRecycling,
    Spaces,
    solve_recycling,
)
from surrogate.solvers.batched.gmres import batched_gmres
from surrogate.solvers.batched.preconditioning import Preconditioning
from surrogate.solvers.batched.stencil import Stencil
from surrogate.solvers.direct import DirectSolver

PRECONDITIONERS = {name: ("none", "jacobi", "mg") for name in ("cg", "gmres", "gcrodr")}
# dtype=float32: the correction solves' tolerances, relative to their right sides; looser than
# what float32 can compute of b - A x (about eps32 || |A| |x| || / ||b||, growing as n^2), else
# the solve runs to maxiter. The first correction (x = A^-1 b, smooth: the largest |A| |x|) is the
# hardest: at 1e-3, 2 of 8 lanes of float32 mg-CG on darcy 256^2 ran to maxiter there, while every
# later correction (a rough residual) met 1e-3 in 3-4 iterations; for GCRO-DR on helmholtz 64^2
# a first 1e-2 doubled the iterations against 1e-3 (docs/torch_backend.md).
FIRST_CORRECTION_RTOL = {"cg": 1e-2, "gmres": 1e-3, "gcrodr": 1e-3}
CORRECTION_RTOL = 1e-3
REFINEMENTS = 10  # correction solves per lane at most; a lane still above rtol falls back


class BatchedSteady(ABC):
    """`SteadyFamily.simulate` with a batched Krylov solver for a batch of streams; a family
    says what its lanes' operator is (`operator`; `BatchedDiffusion`: from a coefficient) and
    whether its systems are SPD (`spd`: CG applies)."""

    spd = True

    def __init__(
        self, pde: object, solver: DictConfig, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.pde = pde
        self.device, self.dtype = device, dtype
        self.solver = solver
        self.rtol, self.maxiter = float(solver.rtol), int(solver.maxiter)
        self.preconditioning = Preconditioning.from_config(solver)
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
        if not cls.spd and cfg.dtype != "float64":  # docs/torch_backend.md, "float32"
            raise UserError(
                f"dtype={cfg.dtype} is refused for pde={cfg.pde.name}: its indefinite systems are "
                "too ill-conditioned for float32 corrections (at 256² one ran to solver.maxiter); "
                "pass dtype=float64"
            )

    @abstractmethod
    def operator(self, problems: list[Problem]) -> Stencil:
        """The lanes' operators, matrix-free."""

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
        problems = self.pde.problems(rngs)  # type: ignore[attr-defined]
        shape = (len(problems), *problems[0].inputs.shape[1:])
        operator = self.operator(problems)
        rhs = np.stack([self.on_grid(p.rhs) for p in problems])
        rhs = torch.as_tensor(rhs, device=self.device).reshape(shape)
        if self.dtype == torch.float64:
            x, iterations, products = self.solve(operator, rhs)
        else:
            x, iterations, products = self.refine(operator, rhs)
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

    def refine(
        self, operator: Stencil, rhs: torch.Tensor
    ) -> tuple[torch.Tensor, list[int], list[int]]:
        """`solve` in `self.dtype` by iterative refinement: r = b - A x in float64, A d = r / ||r||
        solved by `solve` in `self.dtype` to FIRST_CORRECTION_RTOL (by method), then CORRECTION_RTOL
        (scaled, so that a small residual does not underflow), x += ||r|| d in float64, until ||r|| <= rtol ||b||, REFINEMENTS
        corrections, a correction that did not lower ||r||, or one that used `maxiter` (float32
        could not meet CORRECTION_RTOL: the lane falls back if it is still above rtol). Each
        correction solves only the lanes still above rtol, so a lane's arithmetic is its own.
        Iterations and products are summed over the corrections, each float64 residual counted
        as a product."""
        lanes = rhs.shape[0]
        column = (-1,) + (1,) * (rhs.dim() - 1)
        low = Stencil(operator.diagonal.to(self.dtype), [f.to(self.dtype) for f in operator.faces])
        correction = copy.copy(self)  # the same solver, to the correction's tolerance
        if self.recycling is not None:  # GCRO-DR: each lane's space from correction to correction
            correction.recycling = LaneSpaces(self.recycling.start(lanes), lanes)
        x = torch.zeros_like(rhs)
        r = rhs.clone()
        target, norms = self.rtol * lane_norm(rhs), lane_norm(rhs)
        iterations, products = [0] * lanes, [0] * lanes
        active = norms > target
        for refinement in range(REFINEMENTS):
            tolerance = CORRECTION_RTOL if refinement else FIRST_CORRECTION_RTOL[self.solver.name]
            correction.rtol = max(self.rtol, tolerance)
            lanes_left = torch.nonzero(active).flatten()
            if len(lanes_left) == 0:
                break
            scale = norms[lanes_left].reshape(column)
            part = Stencil(low.diagonal[lanes_left], [f[lanes_left] for f in low.faces])
            if self.recycling is not None:
                correction.recycling.lanes = lanes_left
            d, counts, matvecs = correction.solve(part, (r[lanes_left] / scale).to(self.dtype))
            x[lanes_left] += d.to(x.dtype) * scale
            r = rhs - operator(x)
            previous, norms = norms, lane_norm(r)
            for lane, count, matvec in zip(lanes_left.tolist(), counts, matvecs):
                iterations[lane] += count
                products[lane] += matvec + 1
                if count >= self.maxiter:  # stalled above CORRECTION_RTOL: no use going on
                    active[lane] = False
            active = active & (norms > target) & (norms < previous)
        if self.recycling is not None and correction.recycling.spaces is not None:
            self.recycling.keep(correction.recycling.spaces)  # each lane's last, for the next batch
        return x, iterations, products

    def precondition(self, operator: Stencil) -> Operator:
        """z = M^{-1} r for every lane, built from the lanes' own operators."""
        return self.preconditioning.build(operator)

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


class LaneSpaces:
    """The recycled spaces of `refine`'s GCRO-DR corrections, one per lane of the batch: a lane's
    correction starts from the space its previous correction ended with (its own operator), the
    first from what `solver.recycle_batch` gave the batch; `lanes` are the lanes being solved."""

    def __init__(self, spaces: Spaces | None, batch: int) -> None:
        self.spaces, self.batch = spaces, batch
        self.lanes = torch.empty(0, dtype=torch.long)

    def start(self, lanes: int) -> Spaces | None:
        if self.spaces is None:
            return None
        rows = self.lanes.to(self.spaces.recycled.device)
        return Spaces(self.spaces.recycled[rows], self.spaces.count[self.lanes.cpu().numpy()])

    def keep(self, spaces: Spaces) -> None:
        if self.spaces is None:  # none yet: zero rows hold no vectors (count 0)
            recycled = spaces.recycled.new_zeros((self.batch, *spaces.recycled.shape[1:]))
            self.spaces = Spaces(recycled, np.zeros(self.batch, dtype=spaces.count.dtype))
        self.spaces.recycled[self.lanes.to(spaces.recycled.device)] = spaces.recycled
        self.spaces.count[self.lanes.cpu().numpy()] = spaces.count


class BatchedDiffusion(BatchedSteady):
    """A family whose operator is the harmonic-mean diffusion stencil of a coefficient that
    each problem gives on the full grid (`coefficient`)."""

    @abstractmethod
    def coefficient(self, problem: Problem) -> np.ndarray:
        """The problem's diffusion coefficient on the full (n + 2, ...) grid."""

    def operator(self, problems: list[Problem]) -> Stencil:
        coefficients = np.stack([self.coefficient(p) for p in problems])
        return Stencil.from_coefficient(torch.as_tensor(coefficients, device=self.device))
