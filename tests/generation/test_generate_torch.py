"""backend=torch: the spectral families batched in torch give the numpy path's samples (to
1e-6 after the whole horizon), batched CG gives the numpy CG's iterations and the direct
solutions within its tolerance (a lane that misses it falls back), batching changes no byte, and shards and a resume after SIGKILL
give the file of one uninterrupted run. Every run here is on CPU tensors: the same code runs on
a GPU with device=cuda."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from interruption import interrupt_and_resume
from omegaconf import OmegaConf
from split_files import bytes_without_timings

from surrogate.checks import check_generate
from surrogate.errors import UserError
from surrogate.generation.batched import check_backend, torch_device
from surrogate.generation.run import generate
from surrogate.pdes import build_pde
from surrogate.pdes.batched import BATCHED
from surrogate.pdes.temporal import StepStats

# Fine solve grids (the truncation to the stored grid), and steps that differ from lane to lane:
# Navier-Stokes limited by each lane's CFL bound, Burgers by each lane's max|u0|.
TINY = {
    "navier_stokes": ["pde=navier_stokes", "pde.resolution=12", "pde.solve_resolution=16",
                      "pde.time_steps=4", "pde.record_dt=0.25", "pde.max_dt=1.0", "pde.cfl=0.2"],
    "burgers": ["pde=burgers", "pde.resolution=16", "pde.solve_resolution=32",
                "pde.time_steps=4", "pde.viscosity=0.02", "pde.cfl=0.2"],
}  # fmt: skip
TORCH = ["backend=torch", "device=cpu"]
CG = ["solver=cg", "solver.preconditioner=jacobi"]
STEADY = {
    "darcy": ["pde=darcy", "pde.resolution=12"],
    "poisson": ["pde=poisson", "pde.resolution=12"],
}


def stored(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as file:
        return {key: file[key][:] for key in ("inputs", "outputs", "solver/iterations")}


@pytest.mark.parametrize("family", list(TINY))
def test_torch_agrees_with_numpy_and_the_batch_size_changes_no_byte(make_cfg, tmp_path, family):
    args = [*TINY[family], "n_train=7", "n_test=0", "seed=3"]
    generate(make_cfg("generate", *args, "name=r", f"paths.data_dir={tmp_path / 'numpy'}"))
    files = []
    for size in (1, 7, 3):
        data = tmp_path / f"b{size}"
        generate(make_cfg("generate", *args, *TORCH, f"batch_size={size}", "name=r",
                          f"paths.data_dir={data}"))  # fmt: skip
        files.append(data / "r" / "train.h5")
    assert bytes_without_timings(files[0]) == bytes_without_timings(files[1])
    assert bytes_without_timings(files[0]) == bytes_without_timings(files[2])

    numpy, torched = stored(tmp_path / "numpy" / "r" / "train.h5"), stored(files[1])
    assert len(set(numpy["solver/iterations"])) > 1  # lanes took their own numbers of steps
    np.testing.assert_array_equal(numpy["solver/iterations"], torched["solver/iterations"])
    np.testing.assert_array_equal(numpy["inputs"], torched["inputs"])
    for a, b in zip(numpy["outputs"], torched["outputs"]):  # every sample, the whole horizon
        assert np.isfinite(a).all()
        assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max()


@pytest.mark.parametrize("family", list(STEADY))
def test_torch_cg_agrees_with_numpy_cg_and_direct_and_batching_changes_no_byte(
    make_cfg, tmp_path, family
):
    args = [*STEADY[family], "n_train=7", "n_test=0", "seed=2", "name=r"]
    runs = {
        "direct": args,
        "numpy_cg": [*args, *CG],
        "b1": [*args, *CG, *TORCH, "batch_size=1"],
        "b7": [*args, *CG, *TORCH, "batch_size=7"],
    }
    for run, overrides in runs.items():
        generate(make_cfg("generate", *overrides, f"paths.data_dir={tmp_path / run}"))
    files = {run: tmp_path / run / "r" / "train.h5" for run in runs}
    assert bytes_without_timings(files["b1"]) == bytes_without_timings(files["b7"])
    direct, numpy_cg, torched = (stored(files[run]) for run in ("direct", "numpy_cg", "b7"))
    np.testing.assert_array_equal(numpy_cg["solver/iterations"], torched["solver/iterations"])
    np.testing.assert_array_equal(direct["inputs"], torched["inputs"])
    for a, b in zip(direct["outputs"], torched["outputs"]):
        assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max()
    with h5py.File(files["b7"]) as file:
        assert (file["solver/residual"][:] <= 1e-8).all() and file["solver/converged"][:].all()
        assert not file["solver/fallback"][:].any()


def test_a_lane_that_misses_rtol_is_solved_directly_and_flagged(make_cfg, tmp_path):
    args = [*STEADY["darcy"], *CG, "solver.maxiter=5", "n_train=3", "n_test=0", "name=r"]
    generate(make_cfg("generate", *args, *TORCH, f"paths.data_dir={tmp_path / 't'}"))
    generate(make_cfg("generate", *STEADY["darcy"], "n_train=3", "n_test=0", "name=r",
                      f"paths.data_dir={tmp_path / 'd'}"))  # fmt: skip
    with h5py.File(tmp_path / "t" / "r" / "train.h5") as file:
        assert file["solver/fallback"][:].all() and file["solver/converged"][:].all()
        np.testing.assert_array_equal(file["solver/iterations"][:], 5)
    torched, direct = (
        stored(tmp_path / "t" / "r" / "train.h5"),
        stored(tmp_path / "d" / "r" / "train.h5"),
    )
    np.testing.assert_allclose(torched["outputs"], direct["outputs"], rtol=1e-6, atol=0)


def test_a_lane_that_blows_up_is_stored_as_nan_and_leaves_the_others_alone():
    cfg = OmegaConf.merge(
        OmegaConf.load(Path(__file__).parents[2] / "conf/pde/navier_stokes.yaml"),
        {"resolution": 8, "time_steps": 3, "record_dt": 0.05},
    )
    pde = build_pde(cfg)
    rng = np.random.default_rng(0)
    w0 = np.stack([pde.initial(rng), pde.initial(rng)])
    w0[1, 2, 3] = np.nan
    states, steps = BATCHED.get("navier_stokes")(
        pde, None, torch.device("cpu"), torch.float64
    ).evolve(w0)
    for lane in range(2):
        stats = StepStats()
        expected = pde.evolve(w0[lane], stats)
        np.testing.assert_array_equal(states[lane], expected)
        assert steps[lane] == stats.iterations
    assert np.isnan(states[1, 1:]).all() and steps[1] < steps[0]


def test_torch_shards_merge_to_the_file_of_one_run(make_cfg, tmp_path):
    args = [*TINY["burgers"], *TORCH, "n_train=6", "n_test=0", "batch_size=4", "segment=2"]
    generate(make_cfg("generate", *args, "name=s", f"paths.data_dir={tmp_path / 'one'}"))
    for i in range(2):
        generate(make_cfg("generate", *args, "name=s", f"shard={i}/2"))
    assert generate(make_cfg("generate", *args, "name=s"))["train"]["solved_now"] == 0
    assert bytes_without_timings(tmp_path / "one" / "s" / "train.h5") == bytes_without_timings(
        tmp_path / "data" / "s" / "train.h5"
    )


def test_torch_generation_killed_with_sigkill_resumes_to_the_identical_file(tmp_path):
    def command(run: Path) -> list[str]:
        return [
            sys.executable, "-m", "surrogate.cli.generate", "pde=navier_stokes",
            "pde.resolution=16", "pde.time_steps=3", "pde.record_dt=0.3", "n_train=240",
            "n_test=0", "segment=24", "batch_size=8", *TORCH, "name=kill", "flush_seconds=0.1",
            f"paths.data_dir={run}",
        ]  # fmt: skip

    code, _ = interrupt_and_resume(tmp_path, command, "kill/train.h5", signal.SIGKILL, 8)
    assert code == -signal.SIGKILL


@pytest.mark.parametrize(
    "override, message",
    [
        (["pde=helmholtz3d"], "backend=torch does not support pde=helmholtz3d yet (it supports: "
                              "burgers, darcy, darcy3d, heat, heat_transient, helmholtz, "
                              "navier_stokes, poisson); use backend=numpy for it"),
        (["pde=darcy"], "backend=torch solves pde=darcy with solver=cg with "
                        "solver.preconditioner=none or jacobi or mg; solver=gmres with"),
        (["pde=darcy", "pde.stencil=skr", *CG], "pde.stencil=harmonic only"),
        (["pde=poisson", *CG, "solver.warm_start=true"], "solver.warm_start=true has no"),
        (["pde=burgers", "device=cuda"], "device=cuda but this torch"),
    ],
)  # fmt: skip
def test_what_torch_cannot_do_is_refused_before_any_work(
    make_cfg, tmp_path, monkeypatch, override, message
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = make_cfg("generate", "backend=torch", "n_train=2", *override)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate(cfg)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("batch_size=0", "batch_size=0 must be >= 1"),
        ("device=tpu", "device='tpu' is unknown; choose one of: auto, cpu, cuda"),
        ("backend=jax", "backend='jax' is unknown; choose one of: numpy, torch"),
    ],
)
def test_backend_settings_are_checked_with_the_config(make_cfg, override, message):
    with pytest.raises(UserError, match=message):
        check_generate(make_cfg("generate", override))


def test_auto_is_the_gpu_when_torch_sees_one(monkeypatch, make_cfg):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_device("auto") == torch_device("cuda") == torch.device("cuda")
    check_backend(make_cfg("generate", "pde=burgers", "backend=torch", "device=cuda"))


def test_the_memory_check_counts_a_batch_of_fields(make_cfg):
    from surrogate.generation.resources import Sizes, memory_needed

    def fields(batch: int) -> float:
        cfg = make_cfg(
            "generate", "pde=navier_stokes", "n_train=64", "n_test=0", *TORCH, f"batch_size={batch}"
        )
        parts = memory_needed(cfg, cfg.solver, Sizes.of(cfg, build_pde(cfg.pde)))
        return parts[f"{min(batch, 64)} samples' fields"]

    assert fields(1) > 0
    assert fields(16) == 16 * fields(1)
    assert fields(1000) == fields(64)  # never more lanes than the split's 64 samples
