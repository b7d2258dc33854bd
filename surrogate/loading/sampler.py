"""The training data order: a permutation that depends only on (seed, epoch).

A run resumed from a checkpoint of epoch k then sees the same batches in epochs k+1, ... as the
uninterrupted run, whatever the global random state was when it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochShuffle(Sampler[int]):
    """Shuffles range(n) anew each epoch; Lightning calls `set_epoch` before each one."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        return iter(order.tolist())
