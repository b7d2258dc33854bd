"""`surrogate train` as a user types it: a model x seed sweep with its summary, and CPU DDP."""

from __future__ import annotations

import csv

import pytest
from conftest import TINY_MODEL, run_cli

QUICK = ["data=tiny", "trainer.max_epochs=1", "loader.num_workers=0", "loader.batch_size=8"]


@pytest.fixture
def single_threaded(monkeypatch):
    """One OpenMP thread per process: far faster for tiny models on two busy cores."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_sweep_runs_each_job_in_its_own_directory_and_writes_a_summary(
    tiny_dataset, tmp_path, single_threaded
):
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        [
            "train",
            "-m",
            *QUICK,
            f"paths.data_dir={tiny_dataset / 'data'}",
            "model=mgno,unet",
            "model.width=8",
            "seed=0,1",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for job in range(4):
        assert (sweep_dir / str(job) / "checkpoints" / "last.ckpt").is_file()
        assert (sweep_dir / str(job) / "result.json").is_file()
    with open(sweep_dir / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["model"], r["seed"], r["status"]) for r in rows] == [
        ("mgno", "0", "done"),
        ("mgno", "1", "done"),
        ("unet", "0", "done"),
        ("unet", "1", "done"),
    ]
    assert all(0 < float(r["best_val_rel_l2"]) < 10 for r in rows)
    markdown = (sweep_dir / "summary.md").read_text().splitlines()
    assert markdown[0].startswith("| job | overrides | model") and markdown[6] == ""
    with open(sweep_dir / "summary_configs.csv") as handle:
        configs = list(csv.DictReader(handle))
    assert [(c["configuration"].split()[-2:], c["seeds"]) for c in configs] == [
        (["model=mgno", "model.width=8"], "0 1"),
        (["model=unet", "model.width=8"], "0 1"),
    ]
    best = [float(r["best_val_rel_l2"]) for r in rows]
    assert float(configs[1]["best_val_rel_l2_mean"]) == pytest.approx((best[2] + best[3]) / 2)
    assert (
        configs[1]["best_val_rel_l2_count"] == "2" and float(configs[1]["best_val_rel_l2_std"]) >= 0
    )
    assert any(
        line.startswith("| ") and "model=mgno" in line and " ± " in line for line in markdown
    )
    assert "sweep summary:" in result.stdout


def test_ddp_on_cpu_trains_on_both_ranks_into_one_run_directory(
    tiny_dataset, tmp_path, single_threaded
):
    run_dir = tmp_path / "ddp"
    result = run_cli(
        [
            "train",
            *QUICK,
            *TINY_MODEL,
            f"paths.data_dir={tiny_dataset / 'data'}",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    # The distributed sampler gives each of the two ranks half of the 22 training samples.
    assert "rank 0/2 trains on 11 of 22 samples per epoch" in output
    assert "rank 1/2 trains on 11 of 22 samples per epoch" in output
    assert "rank 1/2 trains" in (run_dir / "train_ddp_process_1.log").read_text()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "result.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"]  # no second run directory
