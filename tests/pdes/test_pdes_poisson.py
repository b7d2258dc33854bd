"""Poisson family: second-order convergence, SPD matrix, consistent boundary data, generation."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.pdes.darcy import interior_points
from surrogate.pdes.poisson import Poisson, assemble_poisson
from surrogate.pdes.random_fields import SquareBoundary
from tests.conftest import compose_stage


def exact_u(x, y):
    """Non-zero on the boundary; Laplacian(u) = (4 - 9) u, so f = 5 u."""
    return np.sin(3 * x + 1) * np.exp(2 * y) + x * y


def solve_manufactured(n: int) -> float:
    full = np.linspace(0.0, 1.0, n + 2)
    xf, yf = np.meshgrid(full, full, indexing="ij")
    inner = interior_points(n)
    xi, yi = np.meshgrid(inner, inner, indexing="ij")
    forcing = 5 * np.sin(3 * xi + 1) * np.exp(2 * yi)
    matrix, rhs = assemble_poisson(forcing, exact_u(xf, yf))
    u = spla.spsolve(matrix.tocsc(), rhs).reshape(n, n)
    return float(np.abs(u - exact_u(xi, yi)).max())


def test_manufactured_solution_converges_at_second_order():
    errors = [solve_manufactured(n) for n in (15, 31, 63)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-3  # |u| reaches about 8
    assert np.all(orders > 1.9), orders


def poisson(n: int = 8, **overrides) -> Poisson:
    cfg = {"resolution": n, "degree": 5, "forcing_scale": 1.0, "boundary_scale": 1.0}
    return Poisson(OmegaConf.create({**cfg, **overrides}))


def test_matrix_is_symmetric_positive_definite_and_sample_is_reproducible():
    pde = poisson(6)
    problem = pde.problem(np.random.default_rng(0))
    dense = problem.matrix.toarray()
    np.testing.assert_allclose(dense, dense.T)
    assert np.linalg.eigvalsh(dense).min() > 0
    assert (pde.spd, pde.symmetric) == (True, True)
    again = pde.problem(np.random.default_rng(0))
    np.testing.assert_array_equal(problem.rhs, again.rhs)
    assert problem.inputs.shape == (2, 6, 6) and problem.features.shape == (72,)


def test_boundary_sides_agree_at_corners_and_extension_matches_them():
    boundary = SquareBoundary(np.random.default_rng(1).uniform(-1, 1, (4, 6)))
    side = boundary.side
    assert side("south", 0.0) == pytest.approx(side("west", 0.0))
    assert side("south", 1.0) == pytest.approx(side("east", 0.0))
    assert side("north", 0.0) == pytest.approx(side("west", 1.0))
    assert side("north", 1.0) == pytest.approx(side("east", 1.0))
    t = np.linspace(0, 1, 7)
    np.testing.assert_allclose(boundary.extend(t, 0 * t), side("south", t))
    np.testing.assert_allclose(boundary.extend(t, 0 * t + 1), side("north", t))
    np.testing.assert_allclose(boundary.extend(0 * t, t), side("west", t))
    np.testing.assert_allclose(boundary.extend(0 * t + 1, t), side("east", t))


def test_family_solution_converges_to_its_boundary_data():
    """|u - g| on the first interior row is O(h): it halves with h (the data are steep)."""
    gaps = []
    for n in (19, 39):
        problem = poisson(n).problem(np.random.default_rng(2))
        u = spla.spsolve(problem.matrix.tocsc(), problem.rhs).reshape(n, n)
        gaps.append(np.abs(u[0] - problem.inputs[1, 0]).max())
    assert 1.4 < gaps[0] / gaps[1] < 2.6


def test_bad_degree_is_a_user_error():
    with pytest.raises(UserError, match="pde.degree=-1 must be an integer >= 0"):
        poisson(degree=-1)


def test_generate_through_the_cli_config(tmp_path):
    from surrogate.generation.run import generate

    cfg = compose_stage(
        "generate",
        tmp_path,
        ["pde=poisson", "pde.resolution=16", "n_train=4", "n_test=2", "name=x"],
    )
    generate(cfg)
    with h5py.File(tmp_path / "data" / "x" / "test.h5") as file:
        assert file["inputs"].shape == (2, 2, 16, 16) and file["outputs"].shape == (2, 1, 16, 16)
        assert np.isfinite(file["outputs"][:]).all() and file["completed"][:].all()


def test_a_block_of_problems_is_bitwise_each_sample_made_alone():
    """`problems` evaluates a block's series together; every number equals the sample's own
    (its draws, one unbatched Chebyshev grid, Coons patch and right-hand side)."""
    pde = poisson(9)
    rngs = [np.random.default_rng(seed) for seed in range(5)]
    block = pde.problems(rngs)
    t = 2.0 * pde.points - 1.0
    for seed, problem in enumerate(block):
        coefficients, sides = pde.sample(np.random.default_rng(seed))
        forcing = np.polynomial.chebyshev.chebgrid2d(t, t, coefficients)
        g = SquareBoundary(sides).extend(pde.full[:, None], pde.full[None, :])
        _, rhs = assemble_poisson(forcing, g)
        np.testing.assert_array_equal(problem.rhs, rhs)
        np.testing.assert_array_equal(problem.inputs, np.stack([forcing, g[1:-1, 1:-1]]))
        np.testing.assert_array_equal(problem.features, problem.inputs.ravel())
        np.testing.assert_array_equal(problem.features, pde.features(np.random.default_rng(seed)))
        assert problem.matrix is block[0].matrix  # one matrix for every sample


def test_the_shared_matrix_refuses_changes_in_place():
    matrix = poisson(6).problem(np.random.default_rng(0)).matrix
    with pytest.raises(ValueError, match="read-only"):
        matrix.data *= 2.0


def test_a_block_of_boundaries_is_bitwise_each_boundary_alone():
    coefficients = np.random.default_rng(2).uniform(-1, 1, (2, 3, 4, 6))
    x = np.linspace(0, 1, 9)
    block = SquareBoundary(coefficients)
    patch = block.extend(x[:, None], x[None, :])
    assert patch.shape == (2, 3, 9, 9)
    for i, j in np.ndindex(2, 3):
        alone = SquareBoundary(coefficients[i, j])
        np.testing.assert_array_equal(patch[i, j], alone.extend(x[:, None], x[None, :]))
        np.testing.assert_array_equal(block.side("west", x)[i, j], alone.side("west", x))
        assert block.side("east", 0.25)[i, j] == alone.side("east", 0.25)
