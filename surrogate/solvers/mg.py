"""`solver.preconditioner=mg` for the numpy path: the batched geometric multigrid V-cycle of
`surrogate.solvers.batched.mg` on one lane, its fine operator read off the CSR matrix of a
(2d + 1)-point stencil on a full n^d grid (darcy, poisson, darcy3d, heat_transient, helmholtz,
helmholtz3d), shifted as `shifted_amg` shifts (A + (1 + solver.shift) sigma I: the shifted
Laplacian for Helmholtz, A itself for the SPD families). The same V-cycle as with
backend=torch, so the two backends take the same CG, GMRES and GCRO-DR iterations; it runs in
torch on the CPU (torch is imported only when mg is chosen)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig, OmegaConf

from surrogate.checks import require_float, require_int
from surrogate.errors import UserError
from surrogate.solvers.preconditioners import PRECONDITIONERS, Apply, Preconditioner

MAX_SMOOTHING_STEPS = 100
MAX_COARSEST = 4096


def check_mg(cfg: DictConfig) -> None:
    """`solver.mg`'s values, where the solver's config carries them; mg needs them, and
    systems that are stencils on a full n^d grid (tried on the family's first system)."""
    chosen = cfg.solver.get("preconditioner") == "mg"
    if "mg" not in cfg.solver:
        if chosen:
            raise UserError(
                f"solver.preconditioner=mg needs solver.mg settings, which solver="
                f"{cfg.solver.name} has not; use solver=cg, gmres or gcrodr"
            )
        return
    steps = require_int(cfg, "solver.mg.smoothing_steps", minimum=1)
    if steps > MAX_SMOOTHING_STEPS:
        raise UserError(
            f"solver.mg.smoothing_steps={steps} must be <= {MAX_SMOOTHING_STEPS} (1-3 is usual: "
            "more sweeps cost more than the iterations they save)"
        )
    require_float(cfg, "solver.mg.omega", above=0.0, at_most=1.0)
    coarsest = require_int(cfg, "solver.mg.coarsest", minimum=1)
    if coarsest > MAX_COARSEST:
        raise UserError(
            f"solver.mg.coarsest={coarsest} must be <= {MAX_COARSEST}: the coarsest level is a "
            f"dense Cholesky factor per lane ({MAX_COARSEST} unknowns: 128 MiB)"
        )
    numpy = OmegaConf.select(cfg, "backend", default="numpy") == "numpy"
    if chosen and numpy and OmegaConf.select(cfg, "pde") is not None:
        check_stencil_grid(cfg)


def check_stencil_grid(cfg: DictConfig) -> None:
    """The family's first system is a (2d + 1)-point stencil on n^d (heat's slotted domain is
    not); a family that assembles its systems while it steps (heat_transient) is not tried.
    Only for backend=numpy: a batched family builds its stencil itself (heat's on the full
    grid, `surrogate.pdes.batched.heat`)."""
    from surrogate.pdes import build_pde
    from surrogate.solvers.batched.stencil import Stencil

    pde = build_pde(cfg.pde)
    if not hasattr(pde, "problem"):
        return
    try:
        Stencil.from_matrix(pde.problem(np.random.default_rng(0)).matrix)
    except UserError as error:
        raise UserError(f"pde={cfg.pde.name}: {error}") from None


@PRECONDITIONERS.register("mg")
class MultigridPreconditioner(Preconditioner):
    """One symmetric V-cycle with Galerkin coarse grids of the shifted operator: SPD (CG) for
    an SPD stencil, whose shift is zero."""

    symmetric = True
    # Estimated by counting arrays (not measured), per non-zero of the fine (2d + 1)-point
    # stencil: the levels' stencils ~15, the V-cycle's work fields ~11, the set-up's probes.
    bytes_per_nonzero = 40

    @classmethod
    def build(cls, matrix: sp.csr_matrix, settings: Any, omega: float) -> Apply:
        import torch

        from surrogate.solvers.batched.mg import Multigrid, Settings
        from surrogate.solvers.batched.stencil import Stencil
        from surrogate.solvers.shifted_amg import shifted_operator

        stencil = Stencil.from_matrix(shifted_operator(sp.csr_matrix(matrix), settings.shift))
        grid = tuple(stencil.diagonal.shape[1:])
        cycle = Multigrid(stencil, grid, Settings(**settings.mg))

        def apply(r: np.ndarray) -> np.ndarray:
            return (
                cycle(torch.from_numpy(np.ascontiguousarray(r)).reshape(1, *grid)).numpy().ravel()
            )

        return apply

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        check_mg(cfg)
