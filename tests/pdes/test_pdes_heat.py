"""Heat on the slotted rectangle: second order with Neumann slot walls, SPD, geometry, generation."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.pdes.heat import Heat, SlotGeometry
from tests.conftest import compose_stage

K = 2.0  # conductivity in the manufactured problem


def exact_u(x, y):
    return np.exp(x) * np.sin(2 * y + 1) + x * x * y


def grad_u(x, y):
    return np.exp(x) * np.sin(2 * y + 1) + 2 * x * y, 2 * np.exp(x) * np.cos(2 * y + 1) + x * x


def source(x, y):
    """-div(K grad u) = -K (u_xx + u_yy) = -K (-3 e^x sin(2y + 1) + 2 y)."""
    return K * (3 * np.exp(x) * np.sin(2 * y + 1) - 2 * y)


def solve_manufactured(n: int) -> float:
    geo = SlotGeometry(n)
    x, y = np.meshgrid(geo.x, geo.y, indexing="ij")
    ux, uy = grad_u(geo.wall_x, geo.wall_y)
    flux = K * (ux * geo.wall_nx + uy * geo.wall_ny)  # q = k du/dn on the slot walls
    matrix, rhs = geo.assemble(K, exact_u(x, y), flux, source(x, y))
    u = spla.spsolve(matrix.tocsc(), rhs)
    return float(np.abs(u - exact_u(x, y).ravel()[geo.unknowns]).max())


def test_manufactured_solution_converges_at_second_order_with_neumann_walls():
    errors = [solve_manufactured(n) for n in (21, 41, 81)]  # exact geometry: n - 1 = 20 m
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-4  # |u| reaches about 1.6
    assert np.all(orders > 1.9), orders


def test_geometry_is_exact_when_the_slot_lies_on_grid_lines_and_snapped_otherwise():
    geo = SlotGeometry(21)
    assert geo.slot == pytest.approx((0.05, 0.4))
    # the slot removes the nodes strictly inside it: x = 0, |y| < 0.4 (9 nodes at hy = 0.08)
    assert (~geo.mask).sum() == 9 and not geo.mask[10, 10] and geo.mask[10, 5]
    coarse = SlotGeometry(16)
    assert (~coarse.mask).sum() > 0 and coarse.mask[:, [0, -1]].all() and coarse.mask[[0, -1]].all()


def heat(n: int = 12, **overrides) -> Heat:
    cfg = {
        "resolution": n,
        "degree": 5,
        "temperature_scale": 1.0,
        "flux_scale": 1.0,
        "conductivity": 1.0,
    }
    return Heat(OmegaConf.create({**cfg, **overrides}))


def test_matrix_is_symmetric_positive_definite_and_fields_are_masked():
    pde = heat(12)
    problem = pde.problem(np.random.default_rng(0))
    dense = problem.matrix.toarray()
    np.testing.assert_allclose(dense, dense.T)
    assert np.linalg.eigvalsh(dense).min() > 0
    assert (pde.spd, pde.symmetric) == (True, True)
    mask, temperature, flux = problem.inputs
    assert problem.inputs.shape == (3, 12, 12) and dense.shape[0] == mask.sum()
    u = spla.spsolve(problem.matrix.tocsc(), problem.rhs)
    field = pde.solution_fields(u)[0]
    np.testing.assert_allclose(field[0], temperature[0])  # Dirichlet ring holds g
    assert np.all(field[mask == 0] == 0) and np.all(flux[mask == 0] == 0)
    assert np.abs(flux).max() > 0 and np.all(flux[[0, -1]] == 0)
    np.testing.assert_array_equal(pde.problem(np.random.default_rng(0)).rhs, problem.rhs)


def test_constant_temperature_and_no_flux_give_a_constant_solution():
    geo = SlotGeometry(21)
    matrix, rhs = geo.assemble(1.0, np.full((21, 21), 3.0), np.zeros(len(geo.wall_node)))
    np.testing.assert_allclose(spla.spsolve(matrix.tocsc(), rhs), 3.0)


def test_bad_values_are_user_errors():
    with pytest.raises(UserError, match="pde.resolution=5 is too coarse"):
        heat(5)
    with pytest.raises(UserError, match="pde.conductivity=0 must be a number > 0"):
        heat(conductivity=0)


def test_generate_through_the_cli_config(tmp_path):
    from surrogate.generation.run import generate

    overrides = ["pde=heat", "pde.resolution=16", "n_train=4", "n_test=2", "name=x"]
    generate(compose_stage("generate", tmp_path, overrides))
    with h5py.File(tmp_path / "data" / "x" / "test.h5") as file:
        assert file["inputs"].shape == (2, 3, 16, 16) and file["outputs"].shape == (2, 1, 16, 16)
        assert np.isfinite(file["outputs"][:]).all() and file["completed"][:].all()
        assert len(file["grid/y"]) == 16 and file["grid/y"][-1] == pytest.approx(0.8)


def test_a_block_of_problems_is_bitwise_each_sample_made_alone():
    """`boundary_data` evaluates a block's series together; every number equals the sample's
    own (its draws, one unbatched Coons patch and one series per wall)."""
    from surrogate.pdes.heat import BOX
    from surrogate.pdes.random_fields import SquareBoundary, chebyshev

    pde = heat(13)
    geo = pde.geometry
    rngs = [np.random.default_rng(seed) for seed in range(4)]
    temperature, flux = pde.boundary_data(rngs)
    block = pde.problems([np.random.default_rng(seed) for seed in range(4)])
    for seed in range(4):
        rng = np.random.default_rng(seed)
        outer = SquareBoundary(pde.temperature_scale * rng.uniform(-1, 1, (4, pde.degree + 1)))
        walls = pde.flux_scale * rng.uniform(-1, 1, (4, pde.degree + 1))
        s = (geo.x + BOX[0]) / (2 * BOX[0])
        t = (geo.y + BOX[1]) / (2 * BOX[1])
        np.testing.assert_array_equal(temperature[seed], outer.extend(s[:, None], t[None, :]))
        along_y = (geo.wall_y + geo.slot[1]) / (2 * geo.slot[1])
        along_x = (geo.wall_x + geo.slot[0]) / (2 * geo.slot[0])
        sides = [chebyshev(walls[k], along_y if k < 2 else along_x) for k in range(4)]
        normals = [geo.wall_nx > 0, geo.wall_nx < 0, geo.wall_ny > 0, geo.wall_ny < 0]
        np.testing.assert_array_equal(flux[seed], np.select(normals, sides))
        alone = pde.problem(np.random.default_rng(seed))
        np.testing.assert_array_equal(block[seed].rhs, alone.rhs)
        np.testing.assert_array_equal(block[seed].inputs, alone.inputs)
        assert block[seed].matrix is alone.matrix  # one read-only matrix, not a copy each
    with pytest.raises(ValueError, match="read-only"):
        block[0].matrix.data[0] = 0.0
