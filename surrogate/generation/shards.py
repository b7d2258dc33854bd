"""`shard=i/n`: a run that solves the i-th of n contiguous pieces of each split's order, into
its own shard file; a later run without `shard` merges the finished shards. A piece is made of
whole segments, so the segments (and the data of solvers that carry a state along one) are
those of a run without shards."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from surrogate.errors import UserError


def parse_shard(shard: object) -> tuple[int, int] | None:
    """`shard=i/n` -> (i, n): this run solves the i-th of n contiguous pieces of the order."""
    if shard is None:
        return None
    parts = str(shard).split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not int(parts[0]) < int(parts[1]):
        raise UserError(f"shard={shard} must be i/n with 0 <= i < n, e.g. shard=0/4")
    return int(parts[0]), int(parts[1])


def shard_path(path: Path, shard: tuple[int, int]) -> Path:
    return path.with_name(f"{path.stem}.shard-{shard[0]}-of-{shard[1]}.h5")


def shard_of(order: np.ndarray, segment: int, shard: tuple[int, int]) -> np.ndarray:
    """The i-th of n contiguous runs of the order's segments of `segment` samples (empty when
    there are fewer segments than shards)."""
    index, count = shard
    segments = np.array_split(np.arange(math.ceil(len(order) / segment)), count)[index]
    if not len(segments):
        return order[:0]
    return order[segments[0] * segment : (segments[-1] + 1) * segment]
