"""Orders in which to solve a split's systems so that neighbours are alike.

`greedy` is SKR's Algorithm 1: start at the first system and repeatedly append the unvisited
system whose parameters are nearest in Frobenius norm; O(N^2 d). `binned` scales to large N:
features are projected onto random directions as they are produced, samples are ordered along
a Hilbert curve through the two leading principal directions of those projections, cut into
bins, and chained greedily within each bin.
"""

from __future__ import annotations

import numpy as np

GREEDY_MEMORY_LIMIT = 2**30  # bytes of float32 features `greedy` may hold; beyond, use `binned`


def greedy_order(features: np.ndarray, start: int = 0) -> np.ndarray:
    """Nearest-neighbour chain through the rows of `features`, beginning at row `start`."""
    n = len(features)
    squared = np.einsum("ij,ij->i", features, features, dtype=np.float64)
    visited = np.zeros(n, dtype=bool)
    order = np.empty(n, dtype=np.int64)
    current = start
    for position in range(n):
        order[position] = current
        visited[current] = True
        if position == n - 1:
            break
        distances = squared - 2.0 * (features @ features[current]).astype(np.float64)
        distances[visited] = np.inf
        current = int(np.argmin(distances))
    return order


def hilbert_index(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    """Position along a Hilbert curve of integer points in [0, 2^bits)^2 (vectorised)."""
    x, y = x.astype(np.int64).copy(), y.astype(np.int64).copy()
    index = np.zeros_like(x)
    side = 1 << (bits - 1)
    while side > 0:
        rx = (x & side) > 0
        ry = (y & side) > 0
        index += side * side * ((3 * rx) ^ ry)
        # Rotate the quadrant so the curve inside it has the standard orientation.
        flip = ~ry
        swap_x = np.where(flip & rx, side - 1 - x, x)
        swap_y = np.where(flip & rx, side - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        side >>= 1
    return index


def binned_order(reduced: np.ndarray, bin_size: int) -> np.ndarray:
    """Hilbert-curve bins of `bin_size` samples, each chained greedily, bins joined end to start."""
    centred = reduced - reduced.mean(axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    leading = centred @ directions[:2].T
    if leading.shape[1] < 2:
        leading = np.column_stack([leading, np.zeros(len(leading))])
    low, high = leading.min(axis=0), leading.max(axis=0)
    grid = ((leading - low) / np.where(high > low, high - low, 1.0) * (2**16 - 1)).round()
    along_curve = np.argsort(hilbert_index(grid[:, 0], grid[:, 1]), kind="stable")
    order: list[np.ndarray] = []
    previous: np.ndarray | None = None
    for start in range(0, len(along_curve), bin_size):
        members = along_curve[start : start + bin_size]
        block = reduced[members]
        first = 0 if previous is None else int(np.argmin(((block - previous) ** 2).sum(axis=1)))
        chained = members[greedy_order(block, start=first)]
        order.append(chained)
        previous = reduced[chained[-1]]
    return np.concatenate(order)


class FeatureReducer:
    """Random projection of feature vectors to `dims` (Johnson-Lindenstrauss), seeded."""

    def __init__(self, n_features: int, dims: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.matrix = (rng.standard_normal((n_features, dims)) / np.sqrt(dims)).astype(np.float32)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return features.astype(np.float32) @ self.matrix
