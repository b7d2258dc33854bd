"""3D Helmholtz family: second-order convergence, symmetric indefinite matrix, the CLI config."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.pdes.darcy import interior_points
from surrogate.pdes.helmholtz3d import Helmholtz3D, assemble_helmholtz_3d
from tests.conftest import compose_stage
from tests.pdes.test_pdes_darcy3d import coefficient, exact_u
from tests.pdes.test_pdes_darcy3d import forcing as darcy_forcing

K = 5.0


def manufactured_error(n: int) -> float:
    full = np.linspace(0.0, 1.0, n + 2)
    xf, yf, zf = np.meshgrid(full, full, full, indexing="ij")
    inner = interior_points(n)
    xi, yi, zi = np.meshgrid(inner, inner, inner, indexing="ij")
    forcing = darcy_forcing(xi, yi, zi) - K**2 * exact_u(xi, yi, zi)
    matrix, rhs = assemble_helmholtz_3d(coefficient(xf, yf, zf), K, forcing)
    u = spla.spsolve(matrix.tocsc(), rhs).reshape(n, n, n)
    return float(np.abs(u - exact_u(xi, yi, zi)).max())


def test_manufactured_solution_converges_at_second_order():
    errors = [manufactured_error(n) for n in (7, 15)]
    assert errors[-1] < 2e-2
    assert np.log2(errors[0] / errors[1]) > 1.8, errors


def helmholtz3d(n: int = 8, k_min: float = 8.0, k_max: float = 12.0) -> Helmholtz3D:
    cfg = {
        "resolution": n,
        "coefficient": "lognormal",
        "values": [12.0, 3.0],
        "grf": {"alpha": None, "tau": None, "modes": None},
        "forcing": 1.0,
        "wavenumber": {"min": k_min, "max": k_max},
        "wavenumber_channel": True,
    }
    return Helmholtz3D(OmegaConf.create(cfg))


def test_matrix_is_symmetric_and_indefinite_with_the_default_wavenumbers():
    pde = helmholtz3d(8)
    problem = pde.problem(np.random.default_rng(0))
    dense = problem.matrix.toarray()
    np.testing.assert_allclose(dense, dense.T)
    eigenvalues = np.linalg.eigvalsh(dense)
    assert (eigenvalues < 0).sum() >= 3 and (eigenvalues > 0).sum() > 0
    assert (pde.spd, pde.symmetric, pde.dimensions) == (False, True, 3)
    k = problem.params["wavenumber"]
    assert 8.0 <= k <= 12.0
    assert problem.inputs.shape == (2, 8, 8, 8) and np.all(problem.inputs[1] == k)
    # The 3D Darcy matrix of the same coefficient, minus k^2 on the diagonal.
    darcy = pde.darcy.problem(np.random.default_rng(0)).matrix.toarray()
    np.testing.assert_allclose(dense, darcy - k**2 * np.eye(len(dense)))


def test_unresolved_wavenumber_is_refused():
    with pytest.raises(UserError, match="pde.wavenumber.max=12.0 is not resolved"):
        helmholtz3d(6)


def test_generate_through_the_cli_config(tmp_path):
    from surrogate.generation.run import generate

    overrides = ["pde=helmholtz3d", "pde.resolution=8", "n_train=3", "n_test=1", "name=x"]
    generate(compose_stage("generate", tmp_path, [*overrides, "solver=auto"]))
    with h5py.File(tmp_path / "data" / "x" / "train.h5") as file:
        assert file["inputs"].shape == (3, 2, 8, 8, 8) and file["outputs"].shape == (3, 1, 8, 8, 8)
        assert np.isfinite(file["outputs"][:]).all() and file["completed"][:].all()
