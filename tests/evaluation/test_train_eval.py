"""Train and eval stages in-process on a tiny dataset: checkpoints, self-description, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, compose_stage

from surrogate.data.reader import FieldDataset
from surrogate.data.writer import SplitWriter
from surrogate.errors import UserError
from surrogate.evaluation.run import evaluate, load_checkpoint
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult
from surrogate.training.run import train

TRAIN_ARGS = [
    "data=tiny",
    "trainer.max_epochs=2",
    "loader.num_workers=0",
    "loader.batch_size=8",
    *TINY_MODEL,
]


@pytest.fixture(scope="module")
def trained(tiny_dataset: Path) -> dict:
    cfg = compose_stage("train", tiny_dataset, [*TRAIN_ARGS, "loader.num_workers=1"])
    return train(cfg)


def test_training_writes_best_and_last_checkpoints_and_csv_log(trained):
    run_dir = Path(trained["run_dir"])
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "csv" / "metrics.csv").is_file()
    assert 0 < trained["best_val_rel_l2"] < 10


def test_checkpoint_is_self_describing_and_round_trips(trained, tiny_dataset):
    module = load_checkpoint(Path(trained["last_checkpoint"]))
    assert module.hparams.data["input_names"] == ["coefficient"]
    assert module.hparams.model["name"] == "fno"
    assert module.input_norm.std.item() > 0  # the normaliser travelled in the checkpoint
    x, _ = FieldDataset(tiny_dataset / "data/tiny/test.h5")[0]
    again = load_checkpoint(Path(trained["last_checkpoint"]))
    with torch.no_grad():
        torch.testing.assert_close(module(x[None]), again(x[None]), rtol=0, atol=0)


def test_eval_writes_metrics_that_match_a_direct_computation(trained, tiny_dataset):
    cfg = compose_stage("eval", tiny_dataset, [f"ckpt={trained['last_checkpoint']}"])
    metrics = evaluate(cfg)
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["n_samples"] == 8 and saved["rel_l2"] == metrics["rel_l2"]
    module = load_checkpoint(Path(trained["last_checkpoint"]))
    with h5py.File(tiny_dataset / "data/tiny/test.h5") as file:
        x, y = torch.from_numpy(file["inputs"][:]), torch.from_numpy(file["outputs"][:])
    with torch.no_grad():
        pred = module(x)
    errors = ((pred - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).numpy()
    assert metrics["rel_l2"] == pytest.approx(float(errors.mean()), rel=1e-5)
    assert metrics["solver_seconds_per_sample"] > 0 and metrics["speedup_vs_solver"] > 0
    lines = (Path(cfg.paths.output_dir) / "per_sample.csv").read_text().splitlines()
    assert len(lines) == 9 and lines[0].startswith("index,rel_l2")


def test_eval_on_another_resolution_runs(trained, tiny_dataset):
    from surrogate.generation.run import generate

    generate(
        compose_stage(
            "generate", tiny_dataset, ["pde.resolution=24", "n_train=0", "n_test=3", "name=fine"]
        )
    )
    cfg = compose_stage("eval", tiny_dataset, [f"ckpt={trained['last_checkpoint']}", "data=fine"])
    metrics = evaluate(cfg)
    assert metrics["resolution"] == [24, 24] and metrics["trained_resolution"] == [16, 16]
    assert np.isfinite(metrics["rel_l2"])


def test_eval_refuses_a_dataset_that_does_not_fit_the_checkpoint(trained, tiny_dataset):
    directory = tiny_dataset / "data" / "two_inputs"
    directory.mkdir()
    spec = FieldSpec(("a", "b"), ("u",), (16, 16))
    writer = SplitWriter(
        directory / "test.h5",
        1,
        spec,
        {},
        {"name": "two_inputs", "split": "test", "pde": "x", "config": ""},
    )
    writer.write(
        0,
        np.zeros((2, 16, 16)),
        np.zeros((1, 16, 16)),
        {},
        SolveResult(np.zeros(1), 0, 0, 0.0, 0.0, True),
    )
    writer.finish()
    cfg = compose_stage(
        "eval", tiny_dataset, [f"ckpt={trained['last_checkpoint']}", "data=two_inputs"]
    )
    with pytest.raises(UserError, match="does not fit the checkpoint"):
        evaluate(cfg)


def test_eval_rejects_missing_and_damaged_checkpoints(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt")
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        load_checkpoint(tmp_path / "bad.ckpt")


def test_train_rejects_a_missing_dataset_and_bad_values(tiny_dataset):
    with pytest.raises(UserError, match="dataset 'nope' not found.*known datasets"):
        train(compose_stage("train", tiny_dataset, ["data=nope"]))
    with pytest.raises(UserError, match="trainer.max_epochs=-1 must be >= 1"):
        train(compose_stage("train", tiny_dataset, ["data=tiny", "trainer.max_epochs=-1"]))


def test_wandb_logger_runs_offline_without_an_account(tiny_dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_API_KEY", "")
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_stage(
        "train",
        tiny_dataset,
        [*TRAIN_ARGS, "trainer.max_epochs=1", "logger=wandb", f"paths.output_dir={tmp_path}"],
    )
    train(cfg)
    assert list((tmp_path / "wandb").glob("offline-run-*"))
