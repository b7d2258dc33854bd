"""backend=torch dtype=float32: the spectral families' float32 trajectories agree with float64's
to single precision after the whole horizon; the steady families' float32 refinement still meets
solver.rtol in the true float64 residual of every sample (checked on its CSR matrix), agrees with
the float64 solution within the tolerance, and a lane float32 cannot take to rtol falls back;
dtype is recorded only where it acts, and refused with backend=numpy before any work."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_cli
from split_files import bytes_without_timings

from surrogate.errors import UserError
from surrogate.generation.run import generate

TORCH = ["backend=torch", "device=cpu"]
SPECTRAL = {  # lane-dependent step counts, as in test_generate_torch.py
    "navier_stokes": ["pde=navier_stokes", "pde.resolution=12", "pde.solve_resolution=16",
                      "pde.time_steps=4", "pde.record_dt=0.25", "pde.max_dt=1.0", "pde.cfl=0.2"],
    "burgers": ["pde=burgers", "pde.resolution=16", "pde.solve_resolution=32",
                "pde.time_steps=4", "pde.viscosity=0.02", "pde.cfl=0.2"],
}  # fmt: skip
STEADY = {
    "darcy cg mg": ["pde=darcy", "pde.resolution=12", "solver=cg", "solver.preconditioner=mg"],
    "darcy cg jacobi": ["pde=darcy", "pde.resolution=13", "solver=cg",
                        "solver.preconditioner=jacobi"],
    "poisson cg mg": ["pde=poisson", "pde.resolution=12", "solver=cg", "solver.preconditioner=mg"],
    "darcy3d cg mg": ["pde=darcy3d", "pde.resolution=7", "solver=cg", "solver.preconditioner=mg"],
    "darcy gmres": ["pde=darcy", "pde.resolution=12", "solver=gmres",
                    "solver.preconditioner=jacobi"],
    "darcy gcrodr": ["pde=darcy", "pde.resolution=16", "solver=gcrodr",
                     "solver.preconditioner=jacobi", "batch_size=3"],
    "heat cg mg": ["pde=heat", "pde.resolution=16", "solver=cg", "solver.preconditioner=mg"],
}  # fmt: skip


def stored(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as file:
        keys = ("outputs", "solver/iterations", "solver/residual", "solver/fallback")
        return {key: file[key][:] for key in keys}


def run(make_cfg, tmp_path: Path, name: str, *args: str) -> Path:
    generate(make_cfg("generate", *args, "name=r", f"paths.data_dir={tmp_path / name}"))
    return tmp_path / name / "r" / "train.h5"


@pytest.mark.parametrize("family", list(SPECTRAL))
def test_float32_trajectories_agree_with_float64_to_single_precision(make_cfg, tmp_path, family):
    args = [*SPECTRAL[family], *TORCH, "n_train=5", "n_test=0", "seed=3"]
    double = stored(run(make_cfg, tmp_path, "f64", *args, "dtype=float64"))
    single = stored(run(make_cfg, tmp_path, "f32", *args, "dtype=float32"))
    np.testing.assert_array_equal(double["solver/iterations"], single["solver/iterations"])
    for a, b in zip(double["outputs"], single["outputs"]):  # every sample, the whole horizon
        assert np.isfinite(b).all()
        final = np.linalg.norm(a[-1] - b[-1]) / np.linalg.norm(a[-1])
        assert 0 < final <= 1e-4  # single precision, not float64 bits
        assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


@pytest.mark.parametrize("case", list(STEADY))
def test_float32_refinement_meets_rtol_in_float64(make_cfg, tmp_path, case):
    args = [*STEADY[case], *TORCH, "n_train=6", "n_test=0", "seed=2"]
    double = stored(run(make_cfg, tmp_path, "f64", *args))
    single = stored(run(make_cfg, tmp_path, "f32", *args, "dtype=float32"))
    assert not single["solver/fallback"].any()
    assert (single["solver/residual"] <= 1e-8).all()  # the CSR matrix's true residual
    for a, b in zip(double["outputs"], single["outputs"]):
        assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max()
    # float32 corrections take no more than twice float64's iterations on these
    assert single["solver/iterations"].sum() <= 2 * double["solver/iterations"].sum()


def test_float32_cg_and_gmres_lanes_do_not_depend_on_the_batch(make_cfg, tmp_path):
    for case in ("darcy cg mg", "darcy gmres"):
        args = [*STEADY[case], *TORCH, "n_train=5", "n_test=0", "dtype=float32"]
        one = run(make_cfg, tmp_path, f"{case} 1", *args, "batch_size=1")
        five = run(make_cfg, tmp_path, f"{case} 5", *args, "batch_size=5")
        assert bytes_without_timings(one) == bytes_without_timings(five)


def test_a_lane_float32_cannot_take_to_rtol_falls_back(make_cfg, tmp_path):
    args = [*STEADY["darcy cg jacobi"], *TORCH, "n_train=3", "n_test=0", "dtype=float32"]
    data = stored(run(make_cfg, tmp_path, "f32", *args, "solver.maxiter=3"))
    assert data["solver/fallback"].all()  # every correction stalled at maxiter
    assert (data["solver/residual"] <= 1e-8).all()


def test_dtype_with_numpy_or_unknown_is_one_line_before_any_work(make_cfg, tmp_path):
    with pytest.raises(UserError, match="dtype=float16 is not one of float64, float32"):
        generate(make_cfg("generate", *TORCH, "dtype=float16", "n_train=1", "n_test=0"))
    result = run_cli(["generate", "dtype=float32", "n_train=1", "n_test=0"], tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        "error: dtype=float32 needs backend=torch (backend=numpy computes in float64 only); "
        "pass backend=torch or dtype=float64"
    )
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("family", "message"),
    [
        (["pde=helmholtz", "solver=gcrodr"], "dtype=float32 is refused for pde=helmholtz"),
        (["pde=heat_transient", "solver=cg"], "pde=heat_transient in float64 only"),
    ],
    ids=["helmholtz", "heat_transient"],
)
def test_families_without_float32_refuse_it_before_any_work(make_cfg, tmp_path, family, message):
    cfg = make_cfg("generate", *family, "pde.resolution=8", *TORCH, "dtype=float32",
                   "n_train=1", "n_test=0", f"paths.data_dir={tmp_path}")  # fmt: skip
    with pytest.raises(UserError, match=message):
        generate(cfg)
    assert not any(tmp_path.iterdir())
