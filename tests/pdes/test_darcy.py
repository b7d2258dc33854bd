"""Darcy assembly: symmetry, definiteness, second-order convergence on a manufactured solution."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.generation.solving import sample_rng
from surrogate.pdes import stencil as stencil_module
from surrogate.pdes.darcy import (
    Darcy,
    assemble_darcy,
    assemble_darcy_skr,
    interior_points,
    skr_matrices,
)
from surrogate.pdes.random_fields import sample_grf
from surrogate.pdes.stencil import stencil_data, stencil_matrix
from tests.generation.test_features import coordinate_assembly

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


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_problems(one: list, block: list) -> None:
    """Bitwise the same matrices (data, indices, indptr), right-hand sides, inputs, features
    and params."""
    assert len(one) == len(block)
    for a, b in zip(one, block):
        assert a.matrix.shape == b.matrix.shape
        for key in ("data", "indices", "indptr"):
            assert same_bits(getattr(a.matrix, key), getattr(b.matrix, key)), key
        for key in ("rhs", "inputs", "features"):
            assert same_bits(getattr(a, key), getattr(b, key)), key
        assert a.params == b.params


def sample_streams(count: int) -> list[np.random.Generator]:
    return [sample_rng(0, "train", index) for index in range(count)]


@pytest.mark.parametrize(
    "stencil, kind, n",
    [
        (stencil, kind, n)
        for stencil, kind in [
            ("harmonic", "two_phase"),
            ("harmonic", "lognormal"),
            ("skr", "two_phase"),
            ("skr", "lognormal"),
            ("skr_reference", "lognormal"),
        ]
        for n in ([6, 12] if stencil == "skr_reference" else [5, 12])  # FNO's GRF: even sizes
    ],
)
def test_a_block_of_problems_is_bitwise_each_problem_alone(monkeypatch, stencil, kind, n):
    monkeypatch.setattr(stencil_module, "CHUNK_VALUES", 2 * n * n)  # chunks of 2, one partial
    pde = darcy(kind, n, stencil=stencil)
    assert pde.block_assembly == (stencil != "skr_reference")  # which draws one at a time
    assert_same_problems(
        [pde.problem(r) for r in sample_streams(7)], pde.problems(sample_streams(7))
    )


def test_skr_block_assembles_a_sample_with_a_zero_product_alone():
    """The sparse product drops a zero entry; the block's pattern would keep it."""
    rng = np.random.default_rng(4)
    coefficients = np.exp(rng.standard_normal((3, 6, 6)))
    coefficients[1, 2, 3] = 0.0
    forcing = np.ones((6, 6))
    for matrix, coefficient in zip(skr_matrices(coefficients, forcing), coefficients):
        expected, _ = assemble_darcy_skr(np.pad(coefficient, 1, mode="edge"), forcing)
        for key in ("data", "indices", "indptr"):
            assert same_bits(getattr(matrix, key), getattr(expected, key)), key
    assert skr_matrices(coefficients, forcing)[1].nnz < skr_matrices(coefficients, forcing)[0].nnz


@pytest.mark.parametrize("d", [2, 3])
def test_stencil_block_is_bitwise_the_coordinate_assembly_with_extreme_values(monkeypatch, d):
    """A face's harmonic mean is computed once for both its nodes only where swapping the two
    coefficients gives the same bits; a chunk with inf, NaN or values near the float64 limit
    is computed both ways, as the coordinate assembly is."""
    monkeypatch.setattr(stencil_module, "CHUNK_VALUES", 3**d)  # one sample per chunk
    rng = np.random.default_rng(d)
    coefficients = np.exp(rng.standard_normal((5, *(5,) * d)))
    node, neighbour = (1,) * (d - 1) + (2,), (1,) * (d - 1) + (3,)  # interior, adjacent
    coefficients[1][node], coefficients[1][neighbour] = 1.7e308, 0.25  # 2 a overflows, 2 b not
    coefficients[2][node] = np.inf
    coefficients[3][node] = np.nan
    with np.errstate(over="ignore", invalid="ignore"):
        block = stencil_data(coefficients)
        for data, coefficient in zip(block, coefficients):
            expected = coordinate_assembly(coefficient)
            assert same_bits(data, expected.data)
            assert same_bits(stencil_matrix(data, 3, d).indices, expected.indices)
