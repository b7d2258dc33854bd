"""SOR's relaxation factor chosen online across a sequence of systems from iteration counts.

After "Learning to Relax" (Khodak et al., ICLR 2024): a bandit over a grid of ω that only sees
the number of iterations each solve took approaches the best fixed ω for the sequence. This is
Exp3 with explicit exploration; losses are iteration counts scaled by twice the first one seen.
"""

from __future__ import annotations

import math

import numpy as np


class RelaxationBandit:
    """Proposes ω for the next system and learns from how many iterations it took."""

    def __init__(
        self, rng: np.random.Generator, horizon: int, grid: tuple[float, ...] | None = None
    ) -> None:
        self.grid = np.asarray(grid if grid is not None else np.round(np.arange(1.0, 1.95, 0.1), 2))
        arms = len(self.grid)
        self.rng = rng
        self.rate = math.sqrt(2.0 * math.log(arms) / (arms * max(horizon, 1)))
        self.exploration = min(1.0, arms * self.rate)
        self.log_weights = np.zeros(arms)
        self.scale: float | None = None
        self.arm = 0

    def probabilities(self) -> np.ndarray:
        weights = np.exp(self.log_weights - self.log_weights.max())
        return (1.0 - self.exploration) * weights / weights.sum() + self.exploration / len(weights)

    def propose(self) -> float:
        self.arm = int(self.rng.choice(len(self.grid), p=self.probabilities()))
        return float(self.grid[self.arm])

    def observe(self, iterations: int) -> None:
        if self.scale is None:
            self.scale = 2.0 * max(iterations, 1)
        loss = min(1.0, iterations / self.scale)
        self.log_weights[self.arm] -= self.rate * loss / self.probabilities()[self.arm]

    def best(self) -> float:
        """The ω the bandit currently believes best."""
        return float(self.grid[int(np.argmax(self.log_weights))])
