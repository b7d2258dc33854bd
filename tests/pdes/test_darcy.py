"""Darcy assembly: symmetry, definiteness, second-order convergence on a manufactured solution."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.pdes.darcy import Darcy, assemble_darcy, assemble_darcy_skr, interior_points
from surrogate.pdes.random_fields import sample_grf

PI = np.pi


def exact_u(x, y):
    return np.sin(PI * x) * np.sin(2 * PI * y) * np.exp(x)


def coefficient(x, y):
    return 2.0 + np.sin(2 * PI * x) * np.cos(PI * y)


def forcing(x, y):
    """f = -div(a grad u) for exact_u and coefficient, computed by hand."""
    s1, c1 = np.sin(PI * x), np.cos(PI * x)
    s2, c2 = np.sin(2 * PI * y), np.cos(2 * PI * y)
    e = np.exp(x)
    ux = (PI * c1 + s1) * s2 * e
    uy = 2 * PI * s1 * c2 * e
    uxx = (2 * PI * c1 + (1 - PI**2) * s1) * s2 * e
    uyy = -4 * PI**2 * s1 * s2 * e
    ax = 2 * PI * np.cos(2 * PI * x) * np.cos(PI * y)
    ay = -PI * np.sin(2 * PI * x) * np.sin(PI * y)
    return -(ax * ux + ay * uy + coefficient(x, y) * (uxx + uyy))


def solve_manufactured(n: int) -> float:
    full = np.linspace(0.0, 1.0, n + 2)
    xf, yf = np.meshgrid(full, full, indexing="ij")
    inner = interior_points(n)
    xi, yi = np.meshgrid(inner, inner, indexing="ij")
    matrix, rhs = assemble_darcy(coefficient(xf, yf), forcing(xi, yi))
    u = spla.spsolve(matrix.tocsc(), rhs).reshape(n, n)
    return float(np.abs(u - exact_u(xi, yi)).max())


def test_manufactured_solution_converges_at_second_order():
    errors = [solve_manufactured(n) for n in (15, 31, 63)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 2e-3  # |u| reaches about 2
    assert np.all(orders > 1.9), orders


def test_matrix_is_symmetric_positive_definite():
    rng = np.random.default_rng(0)
    a = np.exp(rng.standard_normal((10, 10)))
    matrix, _ = assemble_darcy(a, np.ones((8, 8)))
    dense = matrix.toarray()
    np.testing.assert_allclose(dense, dense.T)
    assert np.linalg.eigvalsh(dense).min() > 0


def test_constant_coefficient_is_the_five_point_laplacian():
    n = 5
    matrix, _ = assemble_darcy(np.full((n + 2, n + 2), 3.0), np.ones((n, n)))
    h2 = (1 / (n + 1)) ** 2
    dense = matrix.toarray() * h2 / 3.0
    assert np.allclose(np.diag(dense), 4.0)
    assert dense[0, 1] == pytest.approx(-1.0) and dense[0, n] == pytest.approx(-1.0)
    assert dense[n - 1, n] == 0.0  # end of a grid row does not couple to the next row's start


def darcy(kind: str, n: int = 16, stencil: str = "harmonic") -> Darcy:
    return Darcy(
        OmegaConf.create(
            {
                "resolution": n,
                "stencil": stencil,
                "coefficient": kind,
                "values": [12.0, 3.0],
                "grf": {"alpha": None, "tau": None, "modes": None},
                "forcing": 1.0,
            }
        )
    )


def test_two_phase_coefficient_takes_both_values_and_lognormal_is_positive():
    two_phase = darcy("two_phase").sample_coefficient(np.random.default_rng(1))
    assert set(np.unique(two_phase)) == {3.0, 12.0}
    lognormal = darcy("lognormal").sample_coefficient(np.random.default_rng(1))
    assert lognormal.min() > 0 and lognormal.std() > 0


def test_grf_is_the_same_field_at_every_resolution():
    """The same coefficients evaluated on a grid and on its every-other-node subgrid agree."""
    coarse_points, fine_points = interior_points(7), interior_points(15)
    coarse = sample_grf(np.random.default_rng(3), coarse_points, 8, 2.0, 3.0)
    fine = sample_grf(np.random.default_rng(3), fine_points, 8, 2.0, 3.0)
    np.testing.assert_allclose(fine[1::2, 1::2], coarse, atol=1e-12)


def test_problem_solution_is_positive_for_positive_forcing():
    pde = darcy("two_phase", 12)
    problem = pde.problem(np.random.default_rng(0))
    u = spla.spsolve(problem.matrix.tocsc(), problem.rhs)
    assert problem.inputs.shape == (1, 12, 12)
    assert u.min() > 0  # maximum principle
    assert pde.solution_fields(u).shape == (1, 12, 12)


def laplacian_of_w(x, y):
    """Laplacian of w = sin(pi x) sin(2 pi y) exp(x) (the exact_u above), by hand."""
    s1, c1 = np.sin(PI * x), np.cos(PI * x)
    s2 = np.sin(2 * PI * y)
    e = np.exp(x)
    return (2 * PI * c1 + (1 - PI**2) * s1) * s2 * e - 4 * PI**2 * s1 * s2 * e


def solve_skr_manufactured(n: int) -> float:
    """SKR's stencil discretises -Laplacian(K u) = f: take K u = w, so u = w / K, f = -Lap w."""
    full = np.linspace(0.0, 1.0, n + 2)
    xf, yf = np.meshgrid(full, full, indexing="ij")
    inner = interior_points(n)
    xi, yi = np.meshgrid(inner, inner, indexing="ij")
    matrix, rhs = assemble_darcy_skr(coefficient(xf, yf), -laplacian_of_w(xi, yi))
    u = spla.spsolve(matrix.tocsc(), rhs).reshape(n, n)
    return float(np.abs(u - exact_u(xi, yi) / coefficient(xi, yi)).max())


def test_skr_stencil_converges_at_second_order_for_laplacian_of_k_u():
    errors = [solve_skr_manufactured(n) for n in (15, 31, 63)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 2e-3
    assert np.all(orders > 1.9), orders


def test_skr_stencil_entries_and_flags():
    rng = np.random.default_rng(0)
    n = 4
    a = np.exp(rng.standard_normal((n + 2, n + 2)))
    matrix, _ = assemble_darcy_skr(a, np.ones((n, n)))
    dense = matrix.toarray() * (1 / (n + 1)) ** 2
    k = a[1:-1, 1:-1].ravel()
    np.testing.assert_allclose(np.diag(dense), 4 * k)
    assert dense[0, 1] == pytest.approx(-k[1]) and dense[1, 0] == pytest.approx(-k[0])
    assert dense[0, n] == pytest.approx(-k[n]) and dense[n - 1, n] == 0.0
    assert not np.allclose(dense, dense.T)
    assert np.linalg.eigvals(dense).real.min() > 0  # similar to K^1/2 L K^1/2
    pde = darcy("lognormal", 8, stencil="skr")
    assert (pde.spd, pde.symmetric) == (False, False)
    assert (darcy("lognormal", 8).spd, darcy("lognormal", 8).symmetric) == (True, True)
    problem = pde.problem(np.random.default_rng(0))
    assert not np.allclose(problem.matrix.toarray(), problem.matrix.toarray().T)


def test_unknown_stencil_is_a_user_error():
    with pytest.raises(
        UserError, match="pde.stencil=fancy is unknown; choose one of: harmonic, skr"
    ):
        darcy("lognormal", 8, stencil="fancy")
