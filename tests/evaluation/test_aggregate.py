"""Mean ± std over seeds per configuration (sweep summary and eval's comparison), by hand."""

from __future__ import annotations

import csv
import json
import math

import pytest
from omegaconf import OmegaConf

from surrogate.evaluation.aggregate import by_configuration, configuration, markdown
from surrogate.training.sweep import write_summary


def test_configuration_is_every_override_but_seed():
    assert configuration("data=d model=fno seed=1") == "data=d model=fno"
    assert configuration("+seed=2 model=unet") == "model=unet"
    assert configuration("seed=0") == "(defaults)"


def test_mean_sample_std_and_count_by_hand():
    rows = [
        {"overrides": "model=fno seed=0", "seed": 0, "rel_l2": 0.1, "h1": None},
        {"overrides": "model=unet seed=0", "seed": 0, "rel_l2": 0.5, "h1": 2.0},
        {"overrides": "model=fno seed=1", "seed": 1, "rel_l2": 0.3, "h1": float("nan")},
        {"overrides": "model=fno seed=2", "seed": 2, "rel_l2": 0.2, "h1": 1.0},
    ]
    fno, unet = by_configuration(rows, ["rel_l2", "h1"])
    assert (fno["configuration"], fno["seeds"]) == ("model=fno", "0 1 2")
    assert fno["rel_l2_mean"] == pytest.approx(0.2)
    # sample std of 0.1, 0.3, 0.2: sqrt((0.01 + 0.01 + 0) / 2) = 0.1
    assert fno["rel_l2_std"] == pytest.approx(0.1) and fno["rel_l2_count"] == 3
    assert (fno["h1_mean"], fno["h1_std"], fno["h1_count"]) == (1.0, None, 1)  # None, NaN left out
    assert (unet["rel_l2_mean"], unet["rel_l2_std"], unet["rel_l2_count"]) == (0.5, None, 1)
    table = markdown([fno, unet], ["rel_l2"]).splitlines()
    assert table[2] == "| model=fno | 0 1 2 | 0.2 ± 0.1 (3) |"
    assert table[3] == "| model=unet | 0 | 0.5 (1) |"


def test_sweep_summary_adds_one_row_per_configuration(tmp_path):
    for job, (model, seed, error) in enumerate(
        [("fno", 0, 0.2), ("fno", 1, 0.4), ("mgno", 0, 0.3)]
    ):
        (tmp_path / str(job) / ".hydra").mkdir(parents=True)
        OmegaConf.save(
            ["data=d", f"model={model}", f"seed={seed}"], tmp_path / f"{job}/.hydra/overrides.yaml"
        )
        result = {"model": model, "seed": seed, "best_val_rel_l2": error, "final_val_rel_l2": error}
        (tmp_path / str(job) / "result.json").write_text(json.dumps(result))
    (tmp_path / "3" / ".hydra").mkdir(parents=True)  # a failed job: no result.json
    OmegaConf.save(["data=d", "model=mgno", "seed=1"], tmp_path / "3/.hydra/overrides.yaml")
    write_summary(tmp_path)
    with open(tmp_path / "summary_configs.csv") as handle:
        configs = list(csv.DictReader(handle))
    assert [(c["configuration"], c["seeds"]) for c in configs] == [
        ("data=d model=fno", "0 1"),
        ("data=d model=mgno", "0 1"),
    ]
    assert float(configs[0]["best_val_rel_l2_mean"]) == pytest.approx(0.3)
    assert float(configs[0]["best_val_rel_l2_std"]) == pytest.approx(math.sqrt(0.02))
    assert configs[1]["best_val_rel_l2_count"] == "1" and configs[1]["best_val_rel_l2_std"] == ""
    summary = (tmp_path / "summary.md").read_text()
    assert "| data=d model=fno | 0 1 | 0.3 ± 0.14 (2) |" in summary
