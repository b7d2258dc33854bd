"""`surrogate eval` as a user types it: zero-shot super-resolution and the comparison of a sweep."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import run_cli

QUICK = ["trainer.max_epochs=1", "loader.num_workers=0", "loader.batch_size=8"]


@pytest.fixture(autouse=True)
def single_threaded(monkeypatch):
    """One OpenMP thread per process: far faster for tiny models on two busy cores."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def darcy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory with data/d16 (Darcy 16x16) and data/d24 (24x24), made by the CLI."""
    root = tmp_path_factory.mktemp("eval_cli")
    for resolution, n_train in ((16, 16), (24, 12)):
        result = run_cli(
            [
                "generate",
                f"pde.resolution={resolution}",
                f"n_train={n_train}",
                "n_test=4",
                f"name=d{resolution}",
            ],
            root,
        )
        assert result.returncode == 0, result.stderr
    return root


def test_zero_shot_super_resolution_reports_both_resolutions(darcy):
    tiny_fno = ["model.modes=4", "model.width=8", "model.n_layers=2", "model.projection_width=16"]
    train = run_cli(["train", "data=d16", *QUICK, *tiny_fno, "hydra.run.dir=run16"], darcy)
    assert train.returncode == 0, train.stderr
    result = run_cli(["eval", "ckpt=run16", "data=d24", "hydra.run.dir=eval24"], darcy)
    assert result.returncode == 0, result.stderr
    assert "relative H1" in result.stdout and "fRMSE low wavenumbers" in result.stdout
    out = darcy / "eval24"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resolution"] == [24, 24] and metrics["trained_resolution"] == [16, 16]
    assert metrics["n_samples"] == 4 and 0 < metrics["rel_l2"] < 10
    assert metrics["weights"] == "as training ended"  # no `ema.decay`: the final weights
    assert metrics["frmse_high"] is None  # 24 points: shells 0..11, none in [12, ...)
    assert metrics["per_sample"]["rel_h1"]["max"] >= metrics["rel_h1"]
    header = (out / "per_sample.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["index", "rel_l2", "rel_h1"] and "brmse" in header
    assert len(metrics["figures"]) == 5  # 4 samples and the histogram
    assert all((out / figure).stat().st_size > 1000 for figure in metrics["figures"])
    report = (out / "report.md").read_text()
    assert "24×24 (trained on 16×16; zero-shot" in report
    assert all(f"]({figure})" in report for figure in metrics["figures"])


def test_comparison_of_a_sweep_has_one_row_per_run_and_mean_std_per_model(darcy):
    sweep = darcy / "sweep"
    train = run_cli(
        ["train", "-m", "data=d24", *QUICK, "model=fno,unet", "model.width=8"]
        + ["seed=3,4", f"hydra.sweep.dir={sweep}"],
        darcy,
    )
    assert train.returncode == 0, train.stderr
    result = run_cli(
        ["eval", f"ckpt={sweep}", "figures.enabled=false", "hydra.run.dir=compare"], darcy
    )
    assert result.returncode == 0, result.stderr
    assert "4 runs compared" in result.stdout
    assert "2 configurations: mean ± std over seeds" in result.stdout
    out = darcy / "compare"
    with open(out / "comparison.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["job"], r["model"], r["seed"]) for r in rows] == [
        ("0", "fno", "3"),
        ("1", "fno", "4"),
        ("2", "unet", "3"),
        ("3", "unet", "4"),
    ]
    assert "model=fno" in rows[0]["overrides"] and int(rows[2]["parameters"]) > 0
    assert all(0 < float(r["rel_l2"]) < 10 and float(r["speedup_vs_solver"]) > 0 for r in rows)
    assert all(float(r["pde_residual"]) > 0 for r in rows)
    with open(out / "comparison_configs.csv") as handle:
        configs = list(csv.DictReader(handle))
    assert [(c["configuration"].split()[-2], c["seeds"]) for c in configs] == [
        ("model=fno", "3 4"),
        ("model=unet", "3 4"),
    ]
    errors = [float(r["rel_l2"]) for r in rows]
    assert float(configs[0]["rel_l2_mean"]) == pytest.approx((errors[0] + errors[1]) / 2)
    assert float(configs[0]["rel_l2_std"]) == pytest.approx(abs(errors[0] - errors[1]) / 2**0.5)
    table = (out / "comparison.md").read_text()
    assert "| 0 | fno | 3 |" in table and "| 3 | unet | 4 |" in table
    assert "mean ± std over seeds (count)" in table
    for job in ("0", "3"):
        assert (out / job / "metrics.json").is_file() and (out / job / "report.md").is_file()
        assert not (out / job / "figures").exists()
