"""The random coefficient k(x) of the diffusion families (darcy, darcy3d, heat_transient).

Three kinds, from one Gaussian random field (GRF) per sample (surrogate/pdes/random_fields.py):
`two_phase` is values[0] where the GRF is >= 0 and values[1] elsewhere (the FNO benchmark),
`lognormal` is exp(GRF) (SKR), `constant` a fixed value (no randomness). The GRF's alpha and tau
default by kind to the benchmark that uses it; `pde.grf.modes` defaults to the resolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from surrogate.errors import UserError

MAX_SCALE_EXPONENT = 700.0  # ln of the largest float64 is 709.8


def check_grf(alpha: float, tau: float, prefix: str, dims: int = 2) -> None:
    """A GRF's (alpha, tau): tau > 0, alpha > dims / 2 (a field that stays bounded as modes are
    added) and its scale tau^(alpha - dims / 2) a finite float64."""
    if not tau > 0:
        raise UserError(f"{prefix}.tau={tau} must be > 0")
    if not alpha > dims / 2:
        raise UserError(
            f"{prefix}.alpha={alpha} must be > {dims / 2:g}: smaller values give a field that "
            f"grows without bound as modes are added (FNO: 2, SKR: 2.5)"
        )
    if (alpha - dims / 2) * math.log(tau) > MAX_SCALE_EXPONENT:
        raise UserError(
            f"{prefix}.alpha={alpha} with {prefix}.tau={tau}: the field's scale "
            f"tau^(alpha - {dims / 2:g}) overflows; use a smaller alpha or tau"
        )


GRF_DEFAULTS = {"two_phase": (2.0, 3.0), "lognormal": (2.5, 7.0)}  # (alpha, tau): FNO, SKR

# (rng, points, modes, alpha, tau) -> GRF on the tensor grid of `points`
GRFSampler = Callable[[np.random.Generator, np.ndarray, int, float, float], np.ndarray]


@dataclass(frozen=True)
class RandomCoefficient:
    kind: str
    alpha: float
    tau: float
    modes: int
    values: tuple[float, ...]
    constant: float = 1.0

    @classmethod
    def read(
        cls,
        cfg: DictConfig,
        resolution: int,
        kinds: tuple[str, ...] = tuple(GRF_DEFAULTS),
        dims: int = 2,
    ) -> RandomCoefficient:
        """From a family's config (`coefficient`, `values`, `grf.*`, `conductivity` for
        constant); a bad value is a one-line UserError naming the `pde.` key."""
        kind = str(cfg.coefficient)
        if kind not in kinds:
            raise UserError(
                f"pde.coefficient={kind!r} is unknown; choose one of: {', '.join(kinds)}"
            )
        values = tuple(float(v) for v in cfg["values"])
        if len(values) != 2 or min(values) <= 0:
            raise UserError(f"pde.values={list(values)} must be two numbers > 0")
        default_alpha, default_tau = GRF_DEFAULTS["lognormal" if kind == "constant" else kind]
        grf = cfg.grf
        modes = int(grf.modes if grf.modes is not None else resolution)
        if modes < 1:
            raise UserError(f"pde.grf.modes={modes} must be >= 1 (or null = resolution)")
        alpha = float(grf.alpha if grf.alpha is not None else default_alpha)
        tau = float(grf.tau if grf.tau is not None else default_tau)
        check_grf(alpha, tau, "pde.grf", dims)
        return cls(
            kind=kind,
            alpha=alpha,
            tau=tau,
            modes=modes,
            values=values,
            constant=float(cfg.get("conductivity", 1.0)),
        )

    def sample(self, rng: np.random.Generator, points: np.ndarray, grf: GRFSampler) -> np.ndarray:
        """k at the tensor grid of `points`, drawn from `rng` (nothing is drawn for constant)."""
        if self.kind == "constant":
            return np.full((len(points),) * 2, self.constant)
        field = grf(rng, points, self.modes, self.alpha, self.tau)
        if self.kind == "two_phase":
            return np.where(field >= 0.0, self.values[0], self.values[1])
        return np.exp(field)
