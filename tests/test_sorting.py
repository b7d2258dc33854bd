"""Sorting: permutations, shorter chains than the index order, the Hilbert curve."""

from __future__ import annotations

import numpy as np

from surrogate.solvers.sorting import FeatureReducer, binned_order, greedy_order, hilbert_index


def clustered(n: int = 300, d: int = 40, clusters: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((clusters, d)) * 10
    return (centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, d))).astype(np.float32)


def path_length(features: np.ndarray, order: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(features[order], axis=0), axis=1).sum())


def test_greedy_is_a_nearest_neighbour_chain_from_the_first_system():
    features = clustered()
    order = greedy_order(features)
    assert order[0] == 0 and sorted(order) == list(range(len(features)))
    second = np.argmin(np.linalg.norm(features[1:] - features[0], axis=1)) + 1
    assert order[1] == second
    assert path_length(features, order) < 0.5 * path_length(features, np.arange(len(features)))


def test_binned_order_is_a_permutation_and_keeps_neighbours_close():
    features = clustered()
    reduced = FeatureReducer(features.shape[1], 16, seed=0)(features)
    order = binned_order(reduced, bin_size=64)
    assert sorted(order) == list(range(len(features)))
    assert path_length(features, order) < 0.6 * path_length(features, np.arange(len(features)))


def test_hilbert_curve_visits_grid_neighbours_in_turn():
    x, y = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    index = hilbert_index(x.ravel(), y.ravel(), bits=4)
    assert sorted(index) == list(range(256))
    points = np.stack([x.ravel(), y.ravel()], axis=1)[np.argsort(index)]
    assert np.all(np.abs(np.diff(points, axis=0)).sum(axis=1) == 1)
