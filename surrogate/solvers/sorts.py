"""The orders a split's systems can be solved in, chosen by the `sort` config group.

Each is a `Sort` registered in `SORTS` with its config check and its `order`; `auto` stands for
another one, chosen with the solver (`concrete`; the rule in docs/solvers.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from omegaconf import DictConfig, OmegaConf

from surrogate.checks import require_int
from surrogate.errors import UserError
from surrogate.registry import Registry
from surrogate.solvers.base import Systems, concrete_solver
from surrogate.solvers.chain import gains_from_order
from surrogate.solvers.sorting import (
    GREEDY_MEMORY_LIMIT,
    FeatureReducer,
    binned_order,
    greedy_order,
)

Features = Callable[[int], np.ndarray]  # sample index -> its sorting features


class Sort:
    """An order of samples 0..n-1 from their features (drawn one sample at a time)."""

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        """Reject bad values under `cfg.sort`."""

    @classmethod
    def concrete(cls, cfg: DictConfig, systems: Systems, n: int, feature_bytes: int) -> DictConfig:
        """The sort config as it runs for a split of `n` samples (`auto` resolved)."""
        return cfg.sort

    @classmethod
    def order(cls, sort: DictConfig, features: Features, n: int, width: int, seed: int):
        raise NotImplementedError


SORTS: Registry[type[Sort]] = Registry("sort", "surrogate.solvers")
FEWEST_SORTED = 3  # a split of fewer samples has one order worth solving in: the index order


@SORTS.register("auto")
class AutoOrder(Sort):
    """`none` where the solver gains nothing from the order (and for families without linear
    systems), else `greedy` up to `sort.greedy_max` samples and `GREEDY_MEMORY_LIMIT` bytes of
    features for the split, `binned` above."""

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        require_int(cfg, "sort.greedy_max", minimum=0)
        _check_binned(cfg)

    @classmethod
    def concrete(cls, cfg: DictConfig, systems: Systems, n: int, feature_bytes: int) -> DictConfig:
        sort = cfg.sort
        if systems.per_sample == 0 or not gains_from_order(concrete_solver(cfg.solver, systems)):
            return OmegaConf.create({"name": "none"})
        if n <= int(sort.greedy_max) and feature_bytes <= GREEDY_MEMORY_LIMIT:
            return OmegaConf.create({"name": "greedy"})
        settings = {key: sort[key] for key in ("dims", "curve_dims", "bin_size")}
        return OmegaConf.create({"name": "binned", **settings})


@SORTS.register("none")
class IndexOrder(Sort):
    """Sample-index order."""

    @classmethod
    def order(cls, sort: DictConfig, features: Features, n: int, width: int, seed: int):
        return np.arange(n)


@SORTS.register("greedy")
class GreedyOrder(Sort):
    """SKR's nearest-neighbour chain: N x d features held in memory."""

    @classmethod
    def order(cls, sort: DictConfig, features: Features, n: int, width: int, seed: int):
        if n * width * 4 > GREEDY_MEMORY_LIMIT:
            raise UserError(
                f"sort=greedy would hold {n * width * 4 / 2**30:.1f} GiB of features "
                f"for {n} samples; use sort=binned"
            )
        matrix = np.empty((n, width), dtype=np.float32)
        for index in range(n):
            matrix[index] = features(index)
        return greedy_order(matrix, overwrite=True)


def _check_binned(cfg: DictConfig) -> None:
    require_int(cfg, "sort.dims", minimum=1)
    require_int(cfg, "sort.bin_size", minimum=1)
    curve = require_int(cfg, "sort.curve_dims", minimum=1)
    if curve != 2:
        raise UserError(f"sort.curve_dims={curve}: only the 2D Hilbert curve is implemented; use 2")


@SORTS.register("binned")
class BinnedOrder(Sort):
    """Random projections on a Hilbert curve, cut into bins, greedy within bins."""

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        _check_binned(cfg)

    @classmethod
    def order(cls, sort: DictConfig, features: Features, n: int, width: int, seed: int):
        reducer = FeatureReducer(width, int(sort.dims), seed)
        reduced = np.stack([reducer(features(i)) for i in range(n)])
        return binned_order(reduced, int(sort.bin_size))
