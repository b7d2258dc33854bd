"""Transient heat / reaction-diffusion batched in torch: B trajectories of
`surrogate.pdes.heat_transient` advanced together, every implicit step one batched CG solve.

Each lane's (conductivity, initial temperature) is drawn by the numpy family's own `sample`
from the lane's own stream. Its operator L (the Darcy harmonic-mean 5-point stencil of its
conductivity) and its step matrix I + theta tau L (L's faces scaled by theta tau, 1 added to
the diagonal) are applied matrix-free (`Stencil`). The step matrix is the same at every step of
a trajectory, so its preconditioner (Jacobi's inverse diagonal, or the multigrid hierarchy of
`solver.preconditioner=mg`) is built once per batch and serves all the steps. The explicit part
(1 - theta) tau L u and the explicit Fisher reaction are the numpy code's.

`solver.warm_start=true` starts each step's CG from the lane's state before the step; the
numpy chain starts from its previous solution, the same state except at a trajectory's first
step (the previous sample's last state there, the lane's u0 here). false: from zero, as numpy.

Every step's true residual ||rhs - A x|| / ||rhs|| is computed on the lane's operator; a lane
that misses rtol is solved directly on its CSR matrix (the factor kept for the trajectory's
later steps) and flagged `fallback`, as the numpy chain does. A lane's statistics add up its
steps as `StepStats` does; a lane's arithmetic never involves another lane.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import torch
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.batched.steady import PRECONDITIONERS
from surrogate.pdes.heat_transient import HeatTransient
from surrogate.pdes.temporal import Trajectory
from surrogate.solvers.base import SolveResult
from surrogate.solvers.batched.cg import batched_cg, lane_norm
from surrogate.solvers.batched.preconditioning import Preconditioning
from surrogate.solvers.batched.stencil import Stencil
from surrogate.solvers.direct import DirectSolver


class LaneStats:
    """The steps of a batch's trajectories added up lane by lane, as `StepStats` adds one's."""

    def __init__(self, lanes: int) -> None:
        self.iterations = np.zeros(lanes, np.int64)
        self.matvecs = np.zeros(lanes, np.int64)
        self.residual = np.zeros(lanes)
        self.converged = np.ones(lanes, bool)
        self.fallback = np.zeros(lanes, bool)

    def add(
        self,
        iterations: list[int],
        products: list[int],
        residual: np.ndarray,
        converged: np.ndarray,
        fallback: np.ndarray,
    ) -> None:
        self.iterations += iterations
        self.matvecs += products
        self.residual = np.maximum(self.residual, residual)
        self.converged &= converged
        self.fallback |= fallback

    def result(self, lane: int, finite: bool, seconds: float) -> SolveResult:
        return SolveResult(
            x=np.empty(0),
            iterations=int(self.iterations[lane]),
            matvecs=int(self.matvecs[lane]),
            seconds=seconds,
            residual=float(self.residual[lane]),
            converged=bool(self.converged[lane]) and finite,
            fallback=bool(self.fallback[lane]),
        )


@BATCHED.register("heat_transient")
class BatchedHeatTransient:
    """`HeatTransient.simulate` for a batch of streams, every step by batched CG."""

    def __init__(
        self, pde: HeatTransient, solver: DictConfig, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.pde = pde
        self.device = device  # float64 only (`check`)
        self.rtol, self.maxiter = float(solver.rtol), int(solver.maxiter)
        self.preconditioning = Preconditioning.from_config(solver)
        self.warm_start = bool(solver.warm_start)
        self.fallback = bool(solver.fallback)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        """Only batched CG (the step matrices are SPD) with none, Jacobi or mg, in float64 (no
        refinement of its steps in float32 yet)."""
        if cfg.dtype != "float64":
            raise UserError(
                f"backend=torch steps pde=heat_transient in float64 only (got dtype={cfg.dtype}); "
                "pass dtype=float64"
            )
        solver = cfg.solver
        allowed = PRECONDITIONERS["cg"]
        if solver.name != "cg" or solver.preconditioner not in allowed:
            preconditioner = solver.get("preconditioner", "none")
            raise UserError(
                f"backend=torch solves pde=heat_transient with solver=cg with "
                f"solver.preconditioner={' or '.join(allowed)} only (got solver={solver.name}, "
                f"preconditioner {preconditioner}); pass one of those, or use backend=numpy"
            )

    def simulate(self, rngs: list[np.random.Generator]) -> list[Trajectory]:
        start = time.perf_counter()
        kappa, u0 = (np.stack(fields) for fields in zip(*(self.pde.sample(rng) for rng in rngs)))
        states, stats = self.evolve(kappa, u0)
        share = (time.perf_counter() - start) / len(rngs)
        return [
            Trajectory(k[None], lane, stats.result(b, bool(np.isfinite(lane).all()), share))
            for b, (k, lane) in enumerate(zip(kappa, states))
        ]

    def evolve(self, kappa: np.ndarray, u0: np.ndarray) -> tuple[np.ndarray, LaneStats]:
        """States (B, T, 1, n, n) from kappa and u0 (B, n, n), and the lanes' statistics."""
        pde = self.pde
        lanes = len(kappa)
        tau = pde.dt / pde.substeps
        explicit = (1.0 - pde.theta) * tau
        laplacian, matrix = step_operators(pde, torch.as_tensor(kappa, device=self.device))
        precondition = self.preconditioning.build(matrix)  # once: the matrix is fixed
        direct = DirectFallback(pde, kappa, tau, self.rtol)
        stats = LaneStats(lanes)
        states = np.empty((lanes, pde.time_steps, 1, pde.n, pde.n), np.float32)
        states[:, 0, 0] = u0
        u = torch.as_tensor(u0, device=self.device)
        try:
            for step in range(1, pde.time_steps):
                for _ in range(pde.substeps):
                    rhs = u - explicit * laplacian(u) if explicit else u.clone()
                    if pde.reaction == "fisher":
                        rhs += tau * pde.rate * u * (1.0 - u)
                    x0 = u if self.warm_start else None
                    u, iterations, products = batched_cg(
                        matrix, rhs, precondition, self.rtol, self.maxiter, x0
                    )
                    residual = relative_residuals(matrix, u, rhs)
                    converged = np.isfinite(residual) & (residual <= self.rtol)
                    fallback = ~converged if self.fallback else np.zeros(lanes, bool)
                    for lane in np.flatnonzero(fallback):
                        x, residual[lane], converged[lane] = direct.solve(lane, rhs[lane])
                        u[lane] = torch.as_tensor(x, device=self.device).reshape(u.shape[1:])
                    stats.add(iterations, products, residual, converged, fallback)
                states[:, step, 0] = u.cpu().numpy()
        finally:
            direct.close()
        return states, stats


def step_operators(pde: HeatTransient, kappa: torch.Tensor) -> tuple[Stencil, Stencil]:
    """L and the step matrix I + theta tau L of conductivities (B, n, n), matrix-free."""
    padded = torch.nn.functional.pad(kappa[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    laplacian = Stencil.from_coefficient(padded)
    implicit = pde.theta * pde.dt / pde.substeps
    faces = [implicit * face for face in laplacian.faces]
    return laplacian, Stencil(1.0 + implicit * laplacian.diagonal, faces)


def relative_residuals(matrix: Stencil, x: torch.Tensor, rhs: torch.Tensor) -> np.ndarray:
    """Each lane's true ||rhs - A x|| / ||rhs|| (||r|| itself where rhs = 0), as
    `relative_residual` computes one."""
    norm_b, norm_r = lane_norm(rhs), lane_norm(rhs - matrix(x))
    return torch.where(norm_b > 0, norm_r / norm_b, norm_r).cpu().numpy()


class DirectFallback:
    """Direct solves of the step systems of the lanes that missed rtol, on each lane's CSR
    matrix I + theta tau L assembled as the numpy family assembles it; a lane's factor is kept
    for its later steps (the matrix does not change along the trajectory)."""

    def __init__(self, pde: HeatTransient, kappa: np.ndarray, tau: float, rtol: float) -> None:
        self.pde, self.kappa, self.tau, self.rtol = pde, kappa, tau, rtol
        self.solvers: dict[int, tuple[sp.csr_matrix, DirectSolver]] = {}

    def solve(self, lane: int, rhs: torch.Tensor) -> tuple[np.ndarray, float, bool]:
        """(x, its true relative residual, converged) of the lane's step system."""
        if lane not in self.solvers:
            pde = self.pde
            identity = sp.identity(pde.n * pde.n, format="csr")
            matrix = (identity + pde.theta * self.tau * pde.operator(self.kappa[lane])).tocsr()
            self.solvers[lane] = matrix, DirectSolver(rtol=self.rtol, symmetric=True)
        matrix, solver = self.solvers[lane]
        exact = solver.solve(matrix, rhs.reshape(-1).cpu().numpy())
        return exact.x, exact.residual, exact.converged

    def close(self) -> None:
        for _, solver in self.solvers.values():
            solver.close()
