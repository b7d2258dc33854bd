"""Generation of the time-dependent families: the same command gives the same bytes, and workers,
shards and a resume after SIGKILL give the data of one uninterrupted run."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from interruption import interrupt_and_resume
from split_files import bytes_without_timings

from surrogate.generation.run import generate

TINY = {
    "heat_transient": ["pde=heat_transient", "pde.resolution=10", "pde.time_steps=4",
                       "solver=gcrodr", "solver.m=20", "solver.k=5", "sort=greedy"],
    "navier_stokes": ["pde=navier_stokes", "pde.resolution=16", "pde.time_steps=4",
                      "pde.record_dt=0.05", "sort=greedy"],
    "burgers": ["pde=burgers", "pde.resolution=32", "pde.time_steps=4", "sort=binned",
                "sort.bin_size=2"],
}  # fmt: skip


def arrays(cfg, name: str) -> dict[str, np.ndarray]:
    with h5py.File(Path(cfg.paths.data_dir) / name / "train.h5") as file:
        return {key: file[key][:] for key in ("inputs", "outputs", "solver/converged")}


def assert_same_data(a: dict, b: dict, exact: bool) -> None:
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
    if exact:
        np.testing.assert_array_equal(a["outputs"], b["outputs"])
    else:  # another chain order or cut: the same trajectories within the solver's rtol
        scale = np.abs(a["outputs"]).max()
        np.testing.assert_allclose(a["outputs"], b["outputs"], rtol=0, atol=1e-6 * scale)
    assert a["solver/converged"].all() and b["solver/converged"].all()


@pytest.mark.parametrize("family", list(TINY))
def test_same_command_same_bytes_and_workers_and_shards_agree(make_cfg, tmp_path, family):
    args = [*TINY[family], "n_train=6", "n_test=0", "seed=5"]
    files = []
    for run in ("a", "b"):
        cfg = make_cfg("generate", *args, "name=r", f"paths.data_dir={tmp_path / run}")
        generate(cfg)
        files.append(tmp_path / run / "r" / "train.h5")
    assert bytes_without_timings(files[0]) == bytes_without_timings(files[1])
    reference = arrays(cfg, "r")
    exact = family != "heat_transient"  # spectral steps do not depend on the chain

    workers = make_cfg("generate", *args, "name=w", "workers=2", "segment=2")
    generate(workers)
    assert_same_data(reference, arrays(workers, "w"), exact)

    for i in range(2):
        generate(make_cfg("generate", *args, "name=s", f"shard={i}/2"))
    merged = make_cfg("generate", *args, "name=s")
    assert generate(merged)["train"]["solved_now"] == 0
    assert_same_data(reference, arrays(merged, "s"), exact)


KILL = {
    "heat_transient": ["pde=heat_transient", "pde.resolution=24", "pde.time_steps=8",
                       "solver=gcrodr", "sort=greedy", "n_train=160", "segment=16"],
    "navier_stokes": ["pde=navier_stokes", "pde.resolution=32", "pde.time_steps=3",
                      "pde.record_dt=0.5", "n_train=400", "segment=40"],
    "burgers": ["pde=burgers", "pde.resolution=128", "pde.time_steps=6", "n_train=400",
                "segment=40"],
}  # fmt: skip


def _command(family: str, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "surrogate.cli.generate",
        *KILL[family],
        "n_test=0",
        "name=kill",
        "flush_seconds=0.1",
        f"paths.data_dir={data_dir}",
    ]


@pytest.mark.parametrize(
    "family",
    [
        "heat_transient",
        pytest.param("navier_stokes", marks=pytest.mark.slow),
        pytest.param("burgers", marks=pytest.mark.slow),
    ],
)
def test_generation_killed_with_sigkill_resumes_to_the_identical_file(tmp_path, family):
    code, _ = interrupt_and_resume(
        tmp_path, lambda run: _command(family, run), "kill/train.h5", signal.SIGKILL, 4
    )
    assert code == -signal.SIGKILL
