"""The generate stage in-process: file contents, idempotence, config changes, locking."""

from __future__ import annotations

import logging
import os
import re
import socket

import h5py
import numpy as np
import pytest

from surrogate.data.reader import read_solver_stats, read_split_info
from surrogate.errors import UserError
from surrogate.generation.lock import dataset_lock
from surrogate.generation.run import generate


def test_dataset_layout_and_solver_statistics(tiny_dataset):
    directory = tiny_dataset / "data" / "tiny"
    info = read_split_info(directory, "train")
    assert (info.n_samples, info.spatial_shape, info.input_names) == (
        24,
        (16, 16),
        ("coefficient",),
    )
    with h5py.File(info.path) as file:
        assert file["inputs"].dtype == np.float32 and file["outputs"].shape == (24, 1, 16, 16)
        assert file["grid/x"].shape == (16,)
        assert "pde:" in file.attrs["config"] and "paths" not in file.attrs["config"]
    stats = read_solver_stats(info.path)
    assert stats["converged"].all() and (stats["residual"] < 1e-8).all()
    assert (stats["seconds"] > 0).all()
    assert read_split_info(directory, "test").n_samples == 8
    assert not (directory / "valid.h5").exists()


def test_train_and_test_samples_differ_and_samples_do_not_depend_on_count(make_cfg, tiny_dataset):
    small = make_cfg(
        "generate", "pde.resolution=16", "n_train=5", "n_test=0", "name=tiny", "seed=0"
    )
    generate(small)
    with (
        h5py.File(tiny_dataset / "data/tiny/train.h5") as big,
        h5py.File(f"{small.paths.data_dir}/tiny/train.h5") as few,
        h5py.File(tiny_dataset / "data/tiny/test.h5") as test,
    ):
        np.testing.assert_array_equal(big["outputs"][:5], few["outputs"][:])
        assert not np.array_equal(big["inputs"][0], test["inputs"][0])


def test_rerun_is_up_to_date_and_changed_config_needs_overwrite(make_cfg):
    args = ["pde.resolution=8", "n_train=3", "n_test=2", "name=d"]
    assert set(generate(make_cfg("generate", *args))) == {"train", "test"}
    assert generate(make_cfg("generate", *args)) == {}
    with pytest.raises(UserError, match="exists with another config"):
        generate(make_cfg("generate", *args, "seed=1"))
    replaced = generate(make_cfg("generate", *args, "seed=1", "overwrite=true"))
    assert set(replaced) == {"train", "test"}


def test_overwrite_removes_splits_no_longer_asked_for(make_cfg):
    cfg = make_cfg("generate", "pde.resolution=8", "n_train=3", "n_test=2", "name=d")
    generate(cfg)
    generate(
        make_cfg(
            "generate", "pde.resolution=8", "n_train=3", "n_test=0", "name=d", "overwrite=true"
        )
    )
    directory = f"{cfg.paths.data_dir}/d"
    assert os.path.exists(f"{directory}/train.h5") and not os.path.exists(f"{directory}/test.h5")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pde.resolution=2", "pde.resolution=2 must be >= 3"),
        ("pde.resolution=abc", "must be an integer"),
        ("n_train=-1", "n_train=-1 must be >= 0"),
        ("solver.rtol=0", "solver.rtol=0 must be > 0"),
        ("name=../x", "must be letters"),
        ("pde.coefficient=smooth", "pde.coefficient='smooth' is unknown"),
        ("solver=gcrodr solver.k=40", "solver.k=40 must be smaller than solver.m=40"),
        ("solver=gmres solver.k=40", "solver.k=40 must be smaller than solver.m=40"),
        ("pde=helmholtz solver=cg", "solver=cg needs symmetric positive definite systems"),
        (
            "solver=cg solver.preconditioner=ilu",
            "solver.preconditioner=ilu cannot be used with solver=cg",
        ),
        ("solver=gmres solver.preconditioner=sor solver.omega=2.5", "must lie in (0, 2)"),
        ("solver=gmres solver.rtol=-1", "solver.rtol=-1 must be > 0"),
        ("workers=0", "workers=0 must be >= 1"),
    ],
)
def test_bad_config_fails_before_any_file_is_written(make_cfg, override, message):
    cfg = make_cfg("generate", "n_train=2", "n_test=1", *override.split())
    with pytest.raises(UserError, match=re.escape(message)):
        generate(cfg)
    assert not os.path.exists(cfg.paths.data_dir)


def test_a_gcrodr_command_switched_to_gmres_runs_with_its_k_ignored(make_cfg, caplog):
    """Issue 14's interface: the GCRO-DR command "the same with solver=gmres sort=none"."""
    overrides = ("pde.resolution=8", "n_train=2", "n_test=0", "sort=none", "solver.k=20")
    with caplog.at_level(logging.INFO, logger="surrogate.solvers.gmres"):
        generate(make_cfg("generate", "solver=gmres", *overrides, "name=k20"))
    assert "solver.k=20 (GCRO-DR's recycled space) is ignored" in caplog.text
    generate(make_cfg("generate", "solver=gmres", *overrides[:-1], "name=k0"))
    data = make_cfg("generate").paths.data_dir
    with h5py.File(f"{data}/k20/train.h5") as with_k, h5py.File(f"{data}/k0/train.h5") as plain:
        assert np.array_equal(with_k["outputs"][:], plain["outputs"][:])
        assert np.array_equal(with_k["solver/iterations"][:], plain["solver/iterations"][:])


def test_all_zero_counts_are_rejected(make_cfg):
    with pytest.raises(UserError, match="at least one sample"):
        generate(make_cfg("generate", "n_train=0", "n_test=0"))


def test_a_second_generation_into_the_same_dataset_is_refused(tmp_path):
    directory = tmp_path / "d"
    with dataset_lock(directory):
        with pytest.raises(UserError) as refused, dataset_lock(directory):
            pass
        held = f"pid {os.getpid()} on host {socket.gethostname()}"
        assert str(refused.value) == (
            f"dataset {directory} is being written by another `surrogate generate` ({held}); "
            "wait for it to finish or stop it, or choose another name="
        )
        with (
            dataset_lock(directory, (0, 2)),  # a shard has a lock of its own
            pytest.raises(UserError, match=r"^shard 0/2 of dataset .* is being written"),
            dataset_lock(directory, (0, 2)),
        ):
            pass
    assert not (directory / ".lock").exists()


def test_a_leftover_lock_file_without_holder_is_taken(tmp_path):
    """Only a held lock counts: a file left by a killed run is taken, even if its pid is alive
    (here: this very process, as a reused pid would be)."""
    lock = tmp_path / "d" / ".lock"
    lock.parent.mkdir()
    lock.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    with dataset_lock(tmp_path / "d"):
        assert lock.read_text() == f"{socket.gethostname()} {os.getpid()}\n"
    assert not lock.exists()


# Settings added after datasets were made are recorded only where they act: a dataset made
# before them (same command) stays up to date instead of counting as made with another config.
@pytest.mark.parametrize("solver", ["cg", "gmres", "gcrodr", "gcrotmk", "bicgstab"])
def test_dataset_config_leaves_out_settings_that_do_not_act(make_cfg, solver):
    from surrogate.generation.run import dataset_config

    recorded = dataset_config(make_cfg("generate", f"solver={solver}"))
    for key in ("mg:", "shift:", "shift_rebuild:", "recycle_batch:", "initial_guess:", "dtype:"):
        assert key not in recorded
    torch_run = ["backend=torch", f"solver={solver}"]
    assert "dtype:" not in dataset_config(make_cfg("generate", *torch_run, "dtype=float64"))
    assert "dtype: float32" in dataset_config(make_cfg("generate", *torch_run, "dtype=float32"))
    assert "shift: 0.5" in dataset_config(
        make_cfg(
            "generate", f"solver={solver}", "solver.preconditioner=shifted_amg", "solver.shift=0.5"
        )
    )
