"""Rollout metrics against hand-computed cases: exact, drifting and blowing-up fake models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from temporal_data import SOLVER_SECONDS, write_temporal_dataset
from torch import nn

from surrogate.data.reader import read_split_info
from surrogate.evaluation.rollout import rollout_metrics, run_rollouts
from surrogate.evaluation.rollout_figures import draw_rollout_figures, snapshot_steps


class Fake(nn.Module):
    """Stands in for OperatorModule: `step(window, call)` gives the next state."""

    def __init__(self, step, window: int, spatial: tuple[int, ...]) -> None:
        super().__init__()
        self.step = step
        self.temporal = {"window": window}
        self.register_buffer("mean_output", torch.zeros(1, *spatial))
        self.calls = 0

    def mean_field(self, shape: tuple[int, ...]) -> torch.Tensor:
        return self.mean_output.unsqueeze(0)

    def forward(self, static: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.step(states, self.calls)


def advect(states: torch.Tensor, call: int) -> torch.Tensor:
    """The exact evolution of the advect1d data: shift one cell, damp by 0.95."""
    return 0.95 * torch.roll(states[:, -1], 1, dims=-1)


@pytest.fixture(scope="module")
def advect_test(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("rollout") / "advect"
    write_temporal_dataset(root, "advect1d", {"test": 4}, n=32, steps=8)
    return read_split_info(root, "test")


def evaluate_fake(step, info, window: int = 2, threshold: float = 0.1, blow_up: float = 1e3):
    module = Fake(step, window, info.spatial_shape)
    spacing = [1.0 / n for n in info.spatial_shape]
    run = run_rollouts(module, info, torch.device("cpu"), 3, blow_up, 2, spacing, (4, 12))
    metrics = rollout_metrics(run, info, threshold, window)
    json.dumps(metrics, allow_nan=False)  # strict JSON: no NaN or Infinity anywhere
    return metrics, run


def test_an_exact_model_has_zero_error_and_correlation_one(advect_test):
    metrics, run = evaluate_fake(advect, advect_test)
    rollout = metrics["rollout"]
    assert rollout["horizon"] == 6 and rollout["window"] == 2
    np.testing.assert_allclose(rollout["rel_l2"], 0, atol=1e-6)
    np.testing.assert_allclose(rollout["correlation"], 1, atol=1e-6)
    assert metrics["rel_l2"] < 1e-6 and metrics["one_step_rel_l2"] < 1e-6
    assert max(metrics[name] for name in ("rel_h1", "nrmse", "brmse", "frmse_low")) < 1e-6
    assert rollout["steps_to_threshold"] is None and rollout["blow_ups"] == 0
    assert metrics["n_samples"] == 4 and metrics["solver_seconds_per_sample"] == SOLVER_SECONDS
    assert metrics["mean_baseline_rel_l2"] == pytest.approx(1.0)  # the zero field
    assert [index for index, _, _ in run.shown] == [0, 1]


def test_a_constant_drift_grows_the_error_linearly(tmp_path):
    """Trajectories that stay at u = 2 on 8 points; the model adds 0.08 per step, so step n is
    off by 0.08 n everywhere: relative L2 0.04 n, first above 0.1 at step 3."""
    from surrogate.data.writer import SplitWriter
    from surrogate.pdes.base import FieldSpec
    from surrogate.solvers.base import SolveResult

    spec = FieldSpec(("a",), ("u",), (8,), time_steps=7, dt=1.0)
    attrs = {"name": "flat", "split": "test", "pde": "flat", "config": ""}
    writer = SplitWriter(tmp_path / "test.h5", 2, spec, {}, attrs)
    for index in range(2):
        result = SolveResult(np.zeros(1), 1, 1, 1.0, 0.0, True)
        writer.write(index, np.zeros((1, 8)), np.full((7, 1, 8), 2.0), {}, result)
    writer.finish()
    info = read_split_info(tmp_path, "test")
    metrics, _ = evaluate_fake(lambda states, call: states[:, -1] + 0.08, info, window=1)
    rollout = metrics["rollout"]
    np.testing.assert_allclose(rollout["rel_l2"], 0.04 * np.arange(1, 7), rtol=1e-5)
    assert rollout["steps_to_threshold"] == 3
    assert metrics["rel_l2"] == pytest.approx(0.04 * 3.5, rel=1e-5)
    assert metrics["one_step_rel_l2"] == pytest.approx(0.04, rel=1e-5)
    # The field metrics average each trajectory's steps: an error of 0.08 n on a field of 2.
    assert metrics["nrmse"] == pytest.approx(0.04 * 3.5, rel=1e-5)
    assert metrics["brmse"] == pytest.approx(0.08 * 3.5, rel=1e-5)
    assert metrics["per_sample"]["rel_h1"]["max"] == pytest.approx(0.04 * 3.5, rel=1e-5)
    assert metrics["rollout"]["trajectories_alive"] == [2] * 6


def test_a_nan_at_step_three_is_a_blow_up_not_a_crash(advect_test):
    def nan_for_trajectory_0_from_step_3(states: torch.Tensor, call: int) -> torch.Tensor:
        pred = advect(states, call)
        if call == 4:  # after the warm-up call, the fourth call of the first batch is its step 3
            pred[0] = torch.nan
        return pred

    metrics, run = evaluate_fake(nan_for_trajectory_0_from_step_3, advect_test)
    rollout = metrics["rollout"]
    assert rollout["blow_ups"] == 1
    assert rollout["blow_up_steps"] == [{"trajectory": 0, "step": 3}]
    assert rollout["trajectories_alive"] == [4, 4, 3, 3, 3, 3]
    np.testing.assert_allclose(rollout["rel_l2"], 0, atol=1e-6)  # the others stay exact
    assert np.isnan(run.errors.rel_l2[0, 2:]).all() and np.isfinite(run.errors.rel_l2[0, :2]).all()
    assert np.isnan(run.errors.full_rel_l2[0]) and run.errors.blow_up.tolist() == [3, 0, 0, 0]


def test_growth_beyond_the_bound_is_a_blow_up(advect_test):
    """x10 per step against a bound of 500 x max|truth|: 10^2 is within it, 10^3 is not."""
    metrics, _ = evaluate_fake(
        lambda states, call: 10 * states[:, -1], advect_test, window=1, blow_up=500.0
    )
    rollout = metrics["rollout"]
    assert rollout["blow_ups"] == 4
    assert {entry["step"] for entry in rollout["blow_up_steps"]} == {3}
    assert rollout["rel_l2"][2:] == [None] * 5 and rollout["trajectories_alive"][2:] == [0] * 5
    assert rollout["steps_to_threshold"] == 1


def test_figures_are_drawn_for_1d_and_2d_rollouts(advect_test, tmp_path):
    _, run = evaluate_fake(advect, advect_test)
    metrics = rollout_metrics(run, advect_test, 0.1, 2)
    paths = draw_rollout_figures(tmp_path, metrics["rollout"], run.shown, 2)
    names = sorted(path.name for path in paths)
    assert names == [
        "rollout_error.png",
        "rollout_snapshots_0.png",
        "rollout_snapshots_1.png",
        "rollout_spacetime_0.png",
        "rollout_spacetime_1.png",
    ]
    truth = np.random.default_rng(0).normal(size=(5, 1, 8, 8))
    pred = truth.copy()
    pred[3:] = np.nan  # a blown-up tail draws as blank, without an error
    (tmp_path / "2d").mkdir()
    two_d = draw_rollout_figures(tmp_path / "2d", metrics["rollout"], [(7, truth, pred)], 2)
    assert [path.name for path in two_d] == ["rollout_error.png", "rollout_snapshots_7.png"]
    assert all(Path(path).read_bytes()[:4] == b"\x89PNG" for path in paths + two_d)


def test_snapshot_steps_spread_over_the_horizon():
    assert snapshot_steps(40) == [1, 14, 27, 40]
    assert snapshot_steps(2) == [1, 2]
    assert snapshot_steps(1) == [1]
