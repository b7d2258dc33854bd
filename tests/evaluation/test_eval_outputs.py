"""Eval's figures, report and run discovery, without a model: fast, on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from surrogate.errors import UserError
from surrogate.evaluation.compare import find_runs, is_comparison
from surrogate.evaluation.figures import plot_fields, plot_histogram
from surrogate.evaluation.report import Section, weights_description, write_report


@pytest.mark.parametrize("shape", [(12,), (10, 8), (6, 5, 4)])
def test_plot_fields_draws_1d_2d_and_a_3d_slice(tmp_path, shape):
    rng = np.random.default_rng(0)
    coords = [np.linspace(0.1, 0.9, n) for n in shape]
    inputs, truth = rng.normal(size=(2, *shape)), rng.normal(size=(1, *shape))
    path = plot_fields(
        tmp_path / "s.png", inputs, truth, truth + 0.1, ["a", "b"], ["u"], coords, "sample 0"
    )
    width, height = Image.open(path).size
    assert width > 2 * height  # four panels side by side, two rows


def test_plot_histogram_tolerates_non_finite_values(tmp_path):
    path = plot_histogram(tmp_path / "h.png", np.array([0.1, 0.2, np.nan]), "rel L2", "t")
    assert Image.open(path).size[0] > 100


def test_report_has_the_metric_table_speed_figures_and_extra_sections(tmp_path):
    stats = {"mean": 0.1, "median": 0.09, "std": 0.01, "min": 0.08, "max": 0.2}
    metrics = {
        "model": "fno",
        "split": "test",
        "checkpoint": "run/checkpoints/last.ckpt",
        "parameters": 123,
        "weights": weights_description(0.99),
        "dataset": "data/fine/test.h5",
        "resolution": [24, 24],
        "trained_resolution": [16, 16],
        "n_samples": 8,
        "per_sample": {"rel_l2": stats, "frmse_high": dict.fromkeys(stats)},
        "mean_baseline_rel_l2": 0.5,
        "inference_seconds_per_sample": 0.001,
        "solver_seconds_per_sample": 0.1,
        "speedup_vs_solver": 100.0,
        "device": "cpu",
    }
    figure = tmp_path / "figures" / "sample_3.png"
    text = write_report(tmp_path, metrics, [figure], [Section("Rollout", "later")]).read_text()
    assert "| relative L2 | 0.1 | 0.09 | 0.01 | 0.2 |" in text
    assert "| fRMSE high k | – | – | – | – |" in text
    assert "| speed-up over the solver | 100 |" in text
    assert "![sample_3](figures/sample_3.png)" in text
    assert "24×24 (trained on 16×16; zero-shot" in text
    assert "- weights: exponential moving average of training's (ema.decay=0.99)" in text
    assert text.index("## Figures") < text.index("## Rollout\n\nlater")


def test_find_runs_orders_sweep_jobs_by_number_and_skips_unfinished(tmp_path):
    for job in ("10", "2", "a/b"):
        (tmp_path / job / "checkpoints").mkdir(parents=True)
        (tmp_path / job / "checkpoints" / "last.ckpt").touch()
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "result.json").write_text("{}")
    assert is_comparison(tmp_path) and not is_comparison(tmp_path / "2")
    runs = find_runs(tmp_path, "last")
    assert [run.relative_to(tmp_path).as_posix() for run in runs] == ["2", "10", "a/b"]
    with pytest.raises(UserError, match="no run with checkpoints/best.ckpt"):
        find_runs(tmp_path, "best")
