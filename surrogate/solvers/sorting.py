"""Orders in which to solve a split's systems so that neighbours are alike.

`greedy` is SKR's Algorithm 1: start at the first system and repeatedly append the unvisited
system whose parameters are nearest in Frobenius norm; O(N^2 d). `binned` scales to large N:
features are projected onto random directions as they are produced, samples are ordered along
a Hilbert curve through the two leading principal directions of those projections, cut into
bins, and chained greedily within each bin.

The greedy chain needs, at each step, the nearest unvisited row to the current one. Computing
those distances one row at a time (a matrix-vector product over all N rows per step) reads the
whole feature matrix N times and is memory-bound; instead, each row's `CANDIDATES` nearest
rows are found once, with the distances computed in blocks of rows as matrix-matrix products
(compute-bound BLAS), and a step takes the first unvisited one of them. Only when all of a
row's candidates are visited is a step computed directly, over the unvisited rows alone.
"""

from __future__ import annotations

import numpy as np

GREEDY_MEMORY_LIMIT = 2**30  # bytes of float32 features `greedy` may hold; beyond, use `binned`
CANDIDATES = 32  # nearest rows kept per row for the greedy chain
BLOCK_BYTES = 2**26  # size of one block of the distance matrix (float32)


def greedy_order(features: np.ndarray, start: int = 0, overwrite: bool = False) -> np.ndarray:
    """Nearest-neighbour chain through the rows of `features`, beginning at row `start`.

    Distances are |f_j|^2 - 2 f_i . f_j (|f_i|^2 is the same for every candidate j), in
    float32 products of the `centred` features; ties go to the lowest index. The shift changes
    no distance but removes the cancellation of the two terms where the rows share a large
    common part (Helmholtz's k channel: unshifted, rounding picked a neighbour that was not the
    nearest at 13 of 600 steps, measured against float64 distances). `overwrite`: `features`
    (float32) is the caller's to discard and is centred in place, saving a copy of N x d.
    """
    features = centred(features, out=features if overwrite else None)
    n = len(features)
    squared = np.einsum("ij,ij->i", features, features, dtype=np.float64)
    candidates = nearest_rows(features, squared, min(CANDIDATES, n - 1))
    visited = np.zeros(n, dtype=bool)
    order = np.empty(n, dtype=np.int64)
    unvisited = np.arange(n)  # the unvisited rows and, since the last direct step, some more
    current = start
    for position in range(n):
        order[position] = current
        visited[current] = True
        if position == n - 1:
            break
        free = candidates[current][~visited[candidates[current]]]
        if len(free):
            current = int(free[0])
            continue
        unvisited = unvisited[~visited[unvisited]]
        distances = squared[unvisited] - 2.0 * (features[unvisited] @ features[current]).astype(
            np.float64
        )
        current = int(unvisited[np.argmin(distances)])
    return order


def centred(features: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float32 features minus their column means rounded to integers, a block of rows at a time.

    The shift removes a large common part (Helmholtz's k ~ 15) and is an integer so that
    integer-valued features (two-phase coefficients) stay exact: their equal distances stay
    equal, and ties go to the lowest index as without the shift. `out` may be `features`.
    """
    shift = np.round(features.mean(axis=0, dtype=np.float64)).astype(np.float32)
    out = np.empty(features.shape, dtype=np.float32) if out is None else out
    rows = max(1, BLOCK_BYTES // (4 * max(1, features.shape[1])))
    for begin in range(0, len(features), rows):
        np.subtract(features[begin : begin + rows], shift, out=out[begin : begin + rows])
    return out


def nearest_rows(features: np.ndarray, squared: np.ndarray, k: int) -> np.ndarray:
    """(n, k): each row's k nearest other rows, nearest first (ties: lowest index first)."""
    n = len(features)
    nearest = np.empty((n, k), dtype=np.int64)
    if k == 0:
        return nearest
    rows_per_block = max(1, BLOCK_BYTES // (8 * n))
    for begin in range(0, n, rows_per_block):
        end = min(n, begin + rows_per_block)
        block = np.arange(end - begin)
        # squared - 2 f_i . f_j, in place: one float64 block alive, not three (same rounding)
        distances = (features[begin:end] @ features.T).astype(np.float64)
        distances *= -2.0
        distances += squared[None, :]
        distances[block, block + begin] = np.inf  # not itself
        chosen = np.argpartition(distances, k - 1, axis=1)[:, :k]
        chosen_distances = np.take_along_axis(distances, chosen, axis=1)
        by_distance = np.lexsort((chosen, chosen_distances), axis=1)
        chosen = np.take_along_axis(chosen, by_distance, axis=1)
        # Rows tied with the k-th distance but left out: the lowest indices must be the ones in.
        kth = np.take_along_axis(chosen_distances, by_distance[:, -1:], axis=1)
        ties = (distances == kth).sum(axis=1) > (chosen_distances == kth).sum(axis=1)
        for offset in np.flatnonzero(ties):
            row = distances[offset]
            below = np.flatnonzero(row < kth[offset, 0])
            tied = np.flatnonzero(row == kth[offset, 0])[: k - len(below)]
            picked = np.concatenate([below, tied])
            chosen[offset] = picked[np.lexsort((picked, row[picked]))]
        nearest[begin:end] = chosen
    return nearest


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
