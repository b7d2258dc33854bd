"""Generation with iterative solvers: same data whatever the order or number of workers,
exact resumption after SIGKILL, solver statistics recorded."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from interruption import interrupt_and_resume

from surrogate.data.reader import read_solver_stats
from surrogate.generation.run import generate

BASE = ["pde.resolution=20", "n_train=12", "n_test=0", "seed=3"]


def outputs(cfg, name: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(Path(cfg.paths.data_dir) / name / "train.h5") as file:
        return file["inputs"][:], file["outputs"][:]


@pytest.mark.parametrize(
    "solver",
    [
        ["solver=gmres", "solver.preconditioner=ilu"],
        ["solver=gcrodr", "solver.m=20", "solver.k=6", "sort=greedy"],
        ["solver=gcrotmk", "sort=binned", "sort.bin_size=4"],
        ["solver=cg", "solver.preconditioner=amg", "solver.warm_start=true"],
        ["solver=auto", "sort=greedy", "workers=2", "segment=4"],
    ],
)
def test_iterative_generation_matches_the_direct_one(make_cfg, solver):
    reference = make_cfg("generate", *BASE, "name=direct")
    generate(reference)
    cfg = make_cfg("generate", *BASE, "name=iterative", "solver.rtol=1e-10", *solver)
    generate(cfg)
    inputs_direct, outputs_direct = outputs(reference, "direct")
    inputs_iter, outputs_iter = outputs(cfg, "iterative")
    np.testing.assert_array_equal(inputs_direct, inputs_iter)  # stored by index, whatever the order
    np.testing.assert_allclose(
        outputs_iter, outputs_direct, rtol=0, atol=1e-6 * np.abs(outputs_direct).max()
    )
    stats = read_solver_stats(Path(cfg.paths.data_dir) / "iterative" / "train.h5")
    assert stats["converged"].all() and not stats["fallback"].any()
    assert (stats["residual"] <= 1e-10).all()
    if "solver=auto" not in solver:  # auto may choose a direct solve
        assert (stats["iterations"] > 0).all()


def test_helmholtz_with_recycling_solves_indefinite_systems(make_cfg):
    cfg = make_cfg(
        "generate",
        "pde=helmholtz",
        "pde.resolution=32",
        "n_train=4",
        "n_test=0",
        "name=h",
        "solver=gcrodr",
        "solver.preconditioner=ilu",
        "sort=greedy",
    )
    generate(cfg)
    stats = read_solver_stats(Path(cfg.paths.data_dir) / "h" / "train.h5")
    assert stats["converged"].all()


def _command(data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "surrogate.cli.generate",
        "pde.resolution=40",
        "n_train=160",
        "n_test=0",
        "name=kill",
        "solver=gcrodr",
        "sort=greedy",
        "segment=16",
        "flush_seconds=0.1",
        f"paths.data_dir={data_dir}",
    ]


def test_generation_killed_with_sigkill_resumes_to_the_identical_file(tmp_path):
    code, _ = interrupt_and_resume(tmp_path, _command, "kill/train.h5", signal.SIGKILL, 20)
    assert code == -signal.SIGKILL


def test_shards_merge_into_the_full_dataset(make_cfg):
    args = [
        "pde.resolution=16",
        "n_train=10",
        "n_test=0",
        "solver=gcrodr",
        "solver.m=20",
        "solver.k=5",
        "sort=greedy",
        "segment=2",
    ]
    solved = [
        generate(make_cfg("generate", *args, "name=sharded", f"shard={i}/3"))["train"]["solved_now"]
        for i in range(3)
    ]
    assert solved == [4, 4, 2]  # whole segments of 2: five of them, in runs of 2, 2 and 1
    directory = Path(make_cfg("generate").paths.data_dir) / "sharded"
    assert not (directory / "train.h5").exists() and len(list(directory.glob("train.shard-*"))) == 3
    merged = make_cfg("generate", *args, "name=sharded")
    assert generate(merged)["train"]["solved_now"] == 0
    assert sorted(p.name for p in directory.glob("*.h5")) == ["train.h5"]
    reference = make_cfg("generate", *args[:3], "name=direct")
    generate(reference)
    inputs_ref, outputs_ref = outputs(reference, "direct")
    inputs, merged_outputs = outputs(merged, "sharded")
    np.testing.assert_array_equal(inputs, inputs_ref)
    np.testing.assert_allclose(merged_outputs, outputs_ref, atol=1e-6 * np.abs(outputs_ref).max())


def test_bad_shard_is_rejected(make_cfg):
    from surrogate.errors import UserError

    with pytest.raises(UserError, match="shard=3/3 must be i/n"):
        generate(make_cfg("generate", "n_train=2", "n_test=0", "shard=3/3"))


FAMILY_ARGS = {
    "darcy": ["pde=darcy", "pde.resolution=12"],
    "poisson": ["pde=poisson", "pde.resolution=12"],
    "helmholtz": ["pde=helmholtz", "pde.resolution=24"],
    "heat": ["pde=heat", "pde.resolution=21"],
    "darcy3d": ["pde=darcy3d", "pde.resolution=6"],
    "heat_transient": ["pde=heat_transient", "pde.resolution=8", "pde.time_steps=3"],
    "navier_stokes": [
        "pde=navier_stokes",
        "pde.resolution=16",
        "pde.time_steps=3",
        "pde.record_dt=0.05",
    ],  # fmt: skip
    "burgers": ["pde=burgers", "pde.resolution=32", "pde.time_steps=3"],
}
SOLVER_ARGS = {
    "direct": ["solver=direct"],
    "gmres": ["solver=gmres", "solver.preconditioner=ilu"],
    "gcrodr": ["solver=gcrodr", "solver.m=20", "solver.k=5", "solver.preconditioner=ilu"],
    "gcrotmk": ["solver=gcrotmk", "solver.m=20", "solver.k=5", "solver.preconditioner=ilu"],
    "cg": ["solver=cg", "solver.preconditioner=jacobi"],
    "auto": ["solver=auto"],
}
SORTS = ["none", "greedy", "binned"]


@pytest.mark.parametrize("family", list(FAMILY_ARGS))
@pytest.mark.parametrize("solver", list(SOLVER_ARGS))
def test_every_family_with_every_solver_and_sort(make_cfg, family, solver):
    from surrogate.errors import UserError
    from surrogate.pdes import build_pde

    sort = SORTS[(list(FAMILY_ARGS).index(family) + list(SOLVER_ARGS).index(solver)) % 3]
    sort_args = [f"sort={sort}", *(["sort.bin_size=2"] if sort == "binned" else [])]
    cfg = make_cfg(
        "generate",
        *FAMILY_ARGS[family],
        *SOLVER_ARGS[solver],
        *sort_args,
        "n_train=4",
        "n_test=0",
        "name=m",
    )
    if solver == "cg" and not build_pde(cfg.pde).spd:
        with pytest.raises(UserError, match="symmetric positive definite"):
            generate(cfg)
        return
    generate(cfg)
    stats = read_solver_stats(Path(cfg.paths.data_dir) / "m" / "train.h5")
    assert stats["converged"].all()
