"""Sorting: permutations, shorter chains than the index order, the Hilbert curve, the blocked
greedy chain against the step-by-step one."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate.pdes.base import systems_of
from surrogate.solvers import sorting
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


def naive_greedy(features: np.ndarray, start: int = 0) -> np.ndarray:
    """SKR's Algorithm 1 step by step: one matrix-vector product per step over all rows."""
    squared = np.einsum("ij,ij->i", features, features, dtype=np.float64)
    visited = np.zeros(len(features), dtype=bool)
    order = [start]
    visited[start] = True
    for _ in range(len(features) - 1):
        distances = squared - 2.0 * (features @ features[order[-1]]).astype(np.float64)
        distances[visited] = np.inf
        order.append(int(np.argmin(distances)))
        visited[order[-1]] = True
    return np.array(order)


@pytest.mark.parametrize(
    ("n", "d", "candidates", "block_bytes"),
    [
        (2, 3, 64, 2**26),
        (7, 2, 3, 2**26),
        (60, 5, 4, 2**26),
        (200, 16, 8, 4096),
        (150, 30, 64, 999),
    ],
)
def test_blocked_greedy_equals_the_naive_chain(monkeypatch, n, d, candidates, block_bytes):
    """Few candidates (steps computed directly when all are visited) and small blocks (many
    matrix-matrix products) give the very order of the step-by-step algorithm."""
    monkeypatch.setattr(sorting, "CANDIDATES", candidates)
    monkeypatch.setattr(sorting, "BLOCK_BYTES", block_bytes)
    walk = np.random.default_rng(n).standard_normal((n, d)).cumsum(axis=0).astype(np.float32)
    for start in (0, n - 1):
        np.testing.assert_array_equal(greedy_order(walk, start), naive_greedy(walk, start))


def test_blocked_greedy_breaks_ties_by_the_lowest_index(monkeypatch):
    monkeypatch.setattr(sorting, "CANDIDATES", 3)
    grid = np.random.default_rng(1).integers(0, 3, (80, 2)).astype(np.float32)  # many exact ties
    np.testing.assert_array_equal(greedy_order(grid), naive_greedy(grid))
    constant = np.ones((20, 4), dtype=np.float32)
    np.testing.assert_array_equal(greedy_order(constant), np.arange(20))


SOLVERS_AND_SORTS = [  # solver overrides -> what sort=auto orders a split of 100 by
    (["solver=direct"], "none"),
    (["solver=auto"], "none"),  # 2D: a direct solve (PARDISO or SuperLU), or AMG-CG + warm start
    (["solver=gmres"], "none"),  # nothing carried: no warm start, a fresh preconditioner
    (["solver=gmres", "solver.warm_start=true"], "greedy"),
    (["solver=gmres", "solver.reuse_preconditioner=5"], "greedy"),
    (["solver=gmres", "solver.preconditioner=ssor", "solver.omega=auto"], "greedy"),
    (["solver=gcrodr"], "greedy"),
    (["solver=gcrotmk"], "greedy"),
    (["solver=cg", "solver.warm_start=true"], "greedy"),
    (["pde=darcy3d", "solver=auto"], "greedy"),  # AMG-CG warm-started from the neighbour
    (["pde=navier_stokes", "solver=gcrodr"], "none"),  # no linear systems
]


@pytest.mark.parametrize(("overrides", "expected"), SOLVERS_AND_SORTS)
def test_the_default_sort_is_chosen_with_the_solver(make_cfg, overrides, expected):
    from surrogate.pdes import build_pde
    from surrogate.solvers import resolve_sort
    from surrogate.solvers.direct import pardiso_available

    cfg = make_cfg("generate", *overrides)
    assert cfg.sort.name == "auto"
    if overrides == ["solver=auto"] and not pardiso_available():
        expected = "greedy"  # AMG-CG with warm start
    assert resolve_sort(cfg, systems_of(build_pde(cfg.pde)), 100, 100 * 4096 * 4).name == expected


def test_auto_sort_turns_binned_above_its_size_or_memory_limit(make_cfg):
    from surrogate.pdes import build_pde
    from surrogate.solvers import resolve_sort

    cfg = make_cfg("generate", "solver=gcrodr", "sort.greedy_max=50", "sort.bin_size=32")
    pde = build_pde(cfg.pde)
    assert resolve_sort(cfg, systems_of(pde), 50, 1000).name == "greedy"
    binned = resolve_sort(cfg, systems_of(pde), 51, 1000)
    assert (binned.name, binned.bin_size, binned.dims) == ("binned", 32, 64)
    assert resolve_sort(cfg, systems_of(pde), 10, sorting.GREEDY_MEMORY_LIMIT + 1).name == "binned"


@pytest.mark.parametrize("sort", ["none", "greedy", "binned"])
def test_an_explicit_sort_is_kept_whatever_the_solver(make_cfg, sort):
    from surrogate.pdes import build_pde
    from surrogate.solvers import resolve_sort

    for solver in ("direct", "gcrodr"):
        cfg = make_cfg("generate", f"solver={solver}", f"sort={sort}")
        assert resolve_sort(cfg, systems_of(build_pde(cfg.pde)), 10**6, 10**12).name == sort


def test_greedy_is_exact_on_features_with_a_large_common_part():
    """Rows sharing a large constant part (like Helmholtz's k channel, k near 15) in float32:
    the chain is the one float64 distances give (unshifted float32 products got it wrong)."""
    rng = np.random.default_rng(0)
    k = np.repeat(rng.uniform(14.5, 15.5, (200, 1)), 800, axis=1)
    features = np.hstack([0.3 * rng.standard_normal((200, 800)), k]).astype(np.float32)
    exact = naive_greedy(features.astype(np.float64))
    np.testing.assert_array_equal(greedy_order(features), exact)
    # centred in place (the sort's own matrix, one copy fewer): the same chain
    scratch = features.copy()
    np.testing.assert_array_equal(greedy_order(scratch, overwrite=True), exact)
    assert not np.array_equal(scratch, features)  # it was the working array
