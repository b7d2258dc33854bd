"""Generation on a cluster through Hydra's submitit launcher (the `cluster` extra): the shipped
launcher configs, and the shards run as submitit jobs with the local executor, then merged."""

from __future__ import annotations

import importlib.util

import h5py
import numpy as np
import pytest
from conftest import compose_stage, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from surrogate.cli import main as dispatcher
from surrogate.cli.app import config_dir

needs_submitit = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason="needs the cluster extra: pip install -e '.[cluster]'",
)
SMALL = ["pde.resolution=8", "n_train=8", "n_test=4", "segment=2", "name=sharded", "seed=3"]


@needs_submitit
@pytest.mark.parametrize("launcher", ["submitit_local", "submitit_slurm"])
def test_launcher_configs_compose_with_one_core_per_solver_process(tmp_path, launcher):
    overrides = [f"hydra/launcher={launcher}", "workers=4", "hydra.launcher.timeout_min=30"]
    if launcher == "submitit_slurm":
        overrides += ["hydra.launcher.partition=cpu", "hydra.launcher.array_parallelism=8"]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("generate", overrides=overrides, return_hydra_config=True)
    cfg.hydra.sweep.dir = str(tmp_path)
    launcher_object = instantiate(cfg.hydra.launcher)
    kind = "LocalLauncher" if launcher == "submitit_local" else "SlurmLauncher"
    assert type(launcher_object).__name__ == kind
    params = launcher_object.params
    assert (params["cpus_per_task"], params["timeout_min"]) == (4, 30)
    assert params["submitit_folder"] == f"{tmp_path}/.submitit/%j"
    if launcher == "submitit_slurm":
        assert (params["partition"], params["array_parallelism"]) == ("cpu", 8)


def test_a_submitit_launcher_without_the_extra_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(dispatcher.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit) as stop:
        dispatcher.main(["generate", "-m", "hydra/launcher=submitit_slurm", "shard=0/2,1/2"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: hydra/launcher=submitit_slurm needs Hydra's submitit launcher: pip install "
        "'surrogate[cluster]'"
    )


@needs_submitit
def test_shards_run_as_submitit_jobs_and_a_plain_run_merges_them(tmp_path):
    sweep = tmp_path / "sweep"
    shards = run_cli(
        ["generate", "-m", "hydra/launcher=submitit_local", "shard=0/4,1/4,2/4,3/4", *SMALL]
        + [f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    assert shards.returncode == 0, shards.stderr
    assert "is validated against ConfigStore schema" not in shards.stderr
    data = tmp_path / "data" / "sharded"
    assert sorted(p.name for p in data.glob("train.shard-*")) == [
        f"train.shard-{i}-of-4.h5" for i in range(4)
    ]
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 4  # four submitit jobs
    merged = run_cli(["generate", *SMALL], tmp_path)
    assert merged.returncode == 0, merged.stderr
    assert "merged 2 samples from data/sharded/train.shard-3-of-4.h5" in merged.stdout
    assert sorted(p.name for p in data.iterdir()) == ["test.h5", "train.h5"]
    from surrogate.generation.run import generate

    generate(compose_stage("generate", tmp_path / "direct", SMALL))  # the same, unsharded
    for split in ("train", "test"):
        with (
            h5py.File(data / f"{split}.h5") as a,
            h5py.File(tmp_path / f"direct/data/sharded/{split}.h5") as b,
        ):
            assert a.attrs["complete"] and a.attrs["config"] == b.attrs["config"]
            for key in ("inputs", "outputs", "solver/iterations"):
                np.testing.assert_array_equal(a[key][:], b[key][:])
            # the direct solve's true residual, recomputed in another process: equal to rounding
            np.testing.assert_allclose(a["solver/residual"][:], b["solver/residual"][:], atol=1e-12)
