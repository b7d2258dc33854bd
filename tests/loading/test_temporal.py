"""Training on time-dependent data: windows, statistics, the one-step model, unrolling, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, compose_stage, run_cli
from temporal_data import write_temporal_dataset
from torch import nn

from surrogate.data.writer import SplitWriter
from surrogate.errors import UserError
from surrogate.evaluation.run import evaluate, load_checkpoint
from surrogate.loading.datamodule import FieldDataModule
from surrogate.loading.normalizer import fit_statistics
from surrogate.loading.temporal import TemporalOptions, WindowDataset
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult
from surrogate.training.module import OperatorModule
from surrogate.training.run import train

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = ["trainer.max_epochs=1", "loader.num_workers=0", "loader.batch_size=8", *TINY_MODEL]


def counting_file(path: Path, n: int = 3, steps: int = 6) -> Path:
    """Trajectory i holds 100 i + t at step t everywhere, so windows can be checked by value."""
    spec = FieldSpec(("f",), ("u",), (4,), time_steps=steps, dt=0.1)
    attrs = {"name": path.parent.name, "split": path.stem, "pde": "count", "config": "c"}
    writer = SplitWriter(path, n, spec, {"x": np.arange(4.0)}, attrs)
    for i in range(n):
        states = (100 * i + np.arange(steps, dtype=float))[:, None, None] * np.ones((1, 1, 4))
        writer.write(
            i, np.full((1, 4), i), states, {}, SolveResult(np.zeros(1), 1, 1, 0.1, 0, True)
        )
    writer.finish()
    return path


def test_windows_cover_every_start_of_every_trajectory(tmp_path):
    path = counting_file(tmp_path / "train.h5")
    dataset = WindowDataset(path, np.array([0, 2]), window=2, unroll=2)
    assert len(dataset) == 2 * 3  # starts 0, 1, 2 of trajectories 0 and 2
    static, window, targets = dataset[4]  # trajectory 2, start 1
    assert static.shape == (1, 4) and window.shape == (2, 1, 4) and targets.shape == (2, 1, 4)
    assert static[0, 0] == 2
    assert window[:, 0, 0].tolist() == [201.0, 202.0]
    assert targets[:, 0, 0].tolist() == [203.0, 204.0]


def test_statistics_of_trajectories_count_every_state_and_of_changes_the_increments(tmp_path):
    path = counting_file(tmp_path / "train.h5", n=2)
    states = fit_statistics(path, "outputs", np.arange(2))
    values = np.concatenate([np.arange(6.0), 100 + np.arange(6.0)])
    np.testing.assert_allclose(states["mean"], [values.mean()])
    np.testing.assert_allclose(states["std"], [values.std()])
    assert states["field_mean"].shape == (1, 4)
    changes = fit_statistics(path, "outputs", np.arange(2), changes=True)
    np.testing.assert_allclose(changes["mean"], [1.0])
    np.testing.assert_allclose(changes["std"], [0.0], atol=1e-6)


def test_validation_holds_out_whole_trajectories_and_steps_once(tmp_path):
    counting_file(tmp_path / "train.h5", n=10)
    options = TemporalOptions(window=2, unroll=3)
    module = FieldDataModule(tmp_path, 4, 0, val_fraction=0.2, seed=0, temporal=options)
    assert set(module.train_indices).isdisjoint(module.val_indices)
    assert len(module.train_indices) == 8 and len(module.val_indices) == 2
    train_set, val_set = module.train_dataloader().dataset, module.val_dataloader().dataset
    # rollout validation (default): one sample per held-out trajectory, its first window and
    # every state after it
    assert (train_set.unroll, val_set.unroll, len(val_set)) == (3, 4, 2)
    seen = {int(window[0, 0, 0]) // 100 for _, window, _ in val_set}
    assert seen == set(module.val_indices.tolist())
    _, window, targets = val_set[0]
    np.testing.assert_array_equal(window[:, 0, 0] % 100, [0, 1])
    np.testing.assert_array_equal(targets[:, 0, 0] % 100, [2, 3, 4, 5])
    one_step = TemporalOptions(window=2, unroll=3, validate="one_step")
    module = FieldDataModule(tmp_path, 4, 0, val_fraction=0.2, seed=0, temporal=one_step)
    val_set = module.val_dataloader().dataset
    assert (val_set.unroll, len(val_set)) == (1, 2 * 4)


def test_temporal_options_are_checked(tmp_path):
    with pytest.raises(UserError, match=r"temporal.window=0 must be an integer >= 1"):
        TemporalOptions.from_config({"window": 0})
    with pytest.raises(UserError, match=r"temporal.predict='delta' is unknown"):
        TemporalOptions.from_config({"predict": "delta"})
    with pytest.raises(UserError, match=r"temporal.validate='last' is unknown; choose one of"):
        TemporalOptions.from_config({"validate": "last"})
    with pytest.raises(UserError, match="too short for temporal.window=4 plus temporal.unroll=3"):
        TemporalOptions(window=4, unroll=3).check_fits(6, tmp_path)
    with pytest.raises(UserError, match="is steady.*leave them at their defaults"):
        TemporalOptions(window=2).check_fits(0, tmp_path)
    TemporalOptions().check_fits(0, tmp_path)  # the defaults are fine on steady data


class Constant(nn.Module):
    """A 'model' whose output is a fixed normalised field; records what it was given."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x
        return self.scale * torch.full_like(x[:, :1], self.value)


def one_step_module(window: int, predict: str, pushforward: bool = False) -> OperatorModule:
    data = {"input_names": ["nu"], "output_names": ["u"], "spatial_shape": [8]}
    temporal = {"window": window, "predict": predict, "unroll": 1, "pushforward": pushforward}
    model = {"name": "fno", "modes": 2, "width": 4, "n_layers": 1, "projection_width": 4}
    return OperatorModule(model, data, {}, {}, temporal=temporal)


def test_the_one_step_model_sees_static_fields_and_the_window_in_channels():
    module = one_step_module(window=3, predict="state")
    module.model = Constant(0.0)
    states = torch.arange(3.0).view(1, 3, 1, 1).expand(2, 3, 1, 8)
    module(torch.ones(2, 1, 8), states)
    assert module.model.seen.shape == (2, 1 + 3, 8)
    torch.testing.assert_close(module.model.seen[0, 1:, 0], torch.arange(3.0))


def test_predicting_change_adds_the_decoded_increment_to_the_last_state():
    module = one_step_module(window=2, predict="change")
    module.set_statistics(
        {"mean": np.zeros(1), "std": np.ones(1)},
        {"mean": np.zeros(1), "std": np.ones(1), "field_mean": np.zeros((1, 8))},
        {"mean": np.array([0.5]), "std": np.array([2.0])},
    )
    module.model = Constant(3.0)  # normalised increment 3 -> 3 * 2 + 0.5 = 6.5
    states = torch.randn(4, 2, 1, 8)
    pred = module(torch.zeros(4, 1, 8), states)
    torch.testing.assert_close(pred, states[:, -1] + 6.5, rtol=0, atol=1e-5)
    state = one_step_module(window=2, predict="state")
    state.model = Constant(3.0)
    torch.testing.assert_close(state(torch.zeros(4, 1, 8), states), torch.full((4, 1, 8), 3.0))


def test_pushforward_trains_only_the_last_unrolled_step():
    torch.manual_seed(0)
    module = one_step_module(window=2, predict="change")
    x, states = torch.randn(3, 1, 8), torch.randn(3, 2, 1, 8)

    def gradients(loss: torch.Tensor) -> list[torch.Tensor]:
        module.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in module.parameters()]

    pushed = module.unroll(x, states, steps=3, pushforward=True)
    pushed[:, :-1].sum().backward(retain_graph=True)  # the first two steps reach no weight
    assert all(p.grad is None or not p.grad.any() for p in module.parameters())
    with_pushforward = gradients(pushed[:, -1].square().sum())
    with torch.no_grad():  # the same last step, its inputs detached by hand
        first = module(x, states)
        window = torch.cat([states[:, 1:], first[:, None]], dim=1)
        second = module(x, window)
        window = torch.cat([window[:, 1:], second[:, None]], dim=1)
    by_hand = gradients(module(x, window).square().sum())
    through = gradients(module.unroll(x, states, steps=3)[:, -1].square().sum())
    for a, b in zip(with_pushforward, by_hand):
        torch.testing.assert_close(a, b)
    assert any(not torch.allclose(a, b) for a, b in zip(with_pushforward, through))


@pytest.fixture(scope="module")
def temporal_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/heat (2D, 16x16, T = 6) and data/advect (1D, 32 points, T = 8) under one root."""
    root = tmp_path_factory.mktemp("temporal")
    write_temporal_dataset(root / "data" / "heat", "heat2d", {"train": 10, "test": 3})
    write_temporal_dataset(
        root / "data" / "advect", "advect1d", {"train": 16, "test": 3}, n=32, steps=8
    )
    return root


def test_the_one_step_model_learns_a_linear_evolution(temporal_root):
    overrides = [
        "data=advect",
        f"paths.output_dir={temporal_root / 'outputs' / 'advect'}",
        "trainer.max_epochs=30",
        "loader.num_workers=0",
        "loader.batch_size=8",
        "model.modes=8",
        "model.width=16",
        "model.n_layers=2",
        "model.projection_width=32",
        "model.padding=0",
        "optim.lr=5e-3",
    ]
    result = train(compose_stage("train", temporal_root, overrides))
    assert result["best_val_rel_l2"] < 0.03
    cfg = compose_stage("eval", temporal_root, [f"ckpt={result['last_checkpoint']}"])
    metrics = evaluate(cfg)
    assert metrics["one_step_rel_l2"] < 0.03
    assert metrics["rollout"]["rel_l2"][0] < 0.03 and metrics["rel_l2"] < 0.1
    assert metrics["rollout"]["blow_ups"] == 0 and metrics["rollout"]["horizon"] == 7
    run_dir = Path(cfg.paths.output_dir)
    assert (run_dir / "figures" / "rollout_spacetime_0.png").is_file()


def test_window_change_unroll_and_pushforward_train_into_a_self_describing_checkpoint(
    temporal_root,
):
    overrides = [
        "data=heat",
        *QUICK,
        f"paths.output_dir={temporal_root / 'outputs' / 'pushforward'}",
        "temporal.window=2",
        "temporal.predict=change",
        "temporal.unroll=2",
        "temporal.pushforward=true",
    ]
    result = train(compose_stage("train", temporal_root, overrides))
    assert 0 < result["best_val_rel_l2"] < 10
    module = load_checkpoint(Path(result["last_checkpoint"]))
    assert module.hparams.temporal == {
        "window": 2,
        "predict": "change",
        "unroll": 2,
        "pushforward": True,
        "validate": "rollout",
    }
    assert module.hparams.data["time_steps"] == 6 and module.hparams.data["dt"] == 0.01
    assert module.change_norm.std.item() > 0
    with h5py.File(temporal_root / "data/heat/test.h5") as file:
        x, states = torch.from_numpy(file["inputs"][:1]), torch.from_numpy(file["outputs"][:1, :2])
    again = load_checkpoint(Path(result["last_checkpoint"]))
    with torch.no_grad():
        torch.testing.assert_close(module(x, states), again(x, states), rtol=0, atol=0)


def test_temporal_options_on_steady_data_are_refused(tiny_dataset):
    cfg = compose_stage("train", tiny_dataset, ["data=tiny", *QUICK, "temporal.window=2"])
    with pytest.raises(UserError, match="is steady"):
        train(cfg)


def test_cli_train_then_eval_writes_the_rollout_metrics_and_figures(temporal_root, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    common = [f"paths.data_dir={temporal_root / 'data'}"]
    run_dir = temporal_root / "outputs" / "cli"
    trained = run_cli(
        ["train", "data=heat", *QUICK, *common, "temporal.window=2", f"paths.output_dir={run_dir}"],
        temporal_root,
    )
    assert trained.returncode == 0, trained.stderr
    eval_dir = temporal_root / "outputs" / "cli_eval"
    evaluated = run_cli(
        ["eval", f"ckpt={run_dir}/checkpoints/last.ckpt", *common, f"paths.output_dir={eval_dir}"],
        temporal_root,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert len(metrics["rollout"]["rel_l2"]) == 6 - 2 == metrics["rollout"]["horizon"]
    assert metrics["n_samples"] == 3 and metrics["rollout"]["window"] == 2
    assert metrics["speedup_vs_solver"] > 0
    for name in ("rollout_error.png", "rollout_snapshots_0.png", "rollout_snapshots_1.png"):
        assert (eval_dir / "figures" / name).read_bytes()[:4] == b"\x89PNG"
        assert f"(figures/{name})" in (eval_dir / "report.md").read_text()
    assert len((eval_dir / "rollout_rel_l2.csv").read_text().splitlines()) == 4


@pytest.mark.parametrize(
    "pde, extra",
    [
        ("navier_stokes", ["pde.resolution=16", "pde.time_steps=5", "pde.max_dt=0.05"]),
        ("heat_transient", ["pde.resolution=12", "pde.time_steps=5"]),
        ("burgers", ["pde.resolution=32", "pde.time_steps=5"]),
    ],
)
def test_interface_generate_train_eval_on_each_time_dependent_family(tmp_path, pde, extra):
    """The issue's commands as written, on tiny generated data: the one-step model trains and
    eval writes the `rollout` entry with one error per predicted step, figures and a report."""
    generated = run_cli(
        ["generate", f"pde={pde}", *extra, "n_train=6", "n_test=2", "name=traj", "seed=0"],
        tmp_path,
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    run_dir = tmp_path / "outputs" / "train_run"
    modes = ["model.modes=4"] if pde != "burgers" else ["model.modes=8"]
    trained = run_cli(
        ["train", "data=traj", "model=fno", *QUICK, *modes, f"paths.output_dir={run_dir}"],
        tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    eval_dir = tmp_path / "outputs" / "eval_run"
    evaluated = run_cli(
        ["eval", f"ckpt={run_dir}/checkpoints/last.ckpt", f"paths.output_dir={eval_dir}"],
        tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert len(metrics["rollout"]["rel_l2"]) == 5 - 1 == metrics["rollout"]["horizon"]
    assert metrics["n_samples"] == 2 and metrics["speedup_vs_solver"] > 0
    assert all(np.isfinite(v) for v in metrics["rollout"]["rel_l2"])
    assert (eval_dir / "figures" / "rollout_error.png").is_file()
    assert "## Rollout" in (eval_dir / "report.md").read_text()
