"""Training every model through the train stage, and the training options: losses, schedules,
resuming, early stopping, CUDA-only options, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, compose_stage, run_cli

from surrogate.data.reader import FieldDataset
from surrogate.errors import UserError
from surrogate.evaluation.run import load_checkpoint
from surrogate.training.losses import relative_h1, relative_l2
from surrogate.training.run import train

pytestmark = pytest.mark.usefixtures("one_thread")

BASE = ["data=tiny", "trainer.max_epochs=1", "loader.num_workers=0", "loader.batch_size=8"]
TINY_MODELS = {
    "fno": ["model=fno", *TINY_MODEL],
    "tfno": ["model=fno", *TINY_MODEL, "model.factorization=cp", "model.rank=4"],
    "mgno": ["model=mgno", "model.width=8", "model.n_layers=2", "model.n_levels=3"],
    "unet": ["model=unet", "model.width=8", "model.channel_multipliers=[1,2]"],
    "deeponet": ["model=deeponet", "model.n_sensors=8", "model.basis=16", "model.branch_width=32"],
    "galerkin": ["model=galerkin", "model.width=16", "model.n_heads=2", "model.n_layers=2"],
}


def fit(root: Path, *overrides: str, name: str = "train") -> dict:
    cfg = compose_stage(
        "train", root, [*BASE, f"paths.output_dir={root / 'outputs' / name}", *overrides]
    )
    return train(cfg)


@pytest.mark.parametrize("key", TINY_MODELS)
def test_each_model_trains_and_its_checkpoint_round_trips(key, tiny_dataset):
    result = fit(tiny_dataset, *TINY_MODELS[key], name=key)
    saved = json.loads((Path(result["run_dir"]) / "result.json").read_text())
    assert saved["model"] == TINY_MODELS[key][0].removeprefix("model=")
    assert 0 < saved["best_val_rel_l2"] < 10 and saved["epochs"] == 1
    x, _ = FieldDataset(tiny_dataset / "data/tiny/test.h5")[0]
    module = load_checkpoint(Path(result["last_checkpoint"]))
    again = load_checkpoint(Path(result["last_checkpoint"]))
    with torch.no_grad():
        pred = module(x[None])
        torch.testing.assert_close(pred, again(x[None]), rtol=0, atol=0)
    assert pred.shape == (1, 1, 16, 16) and torch.isfinite(pred).all()


def test_relative_h1_is_zero_for_exact_and_weighs_oscillations_more_than_l2():
    s = torch.arange(1, 33) / 33
    target = (torch.sin(torch.pi * s)[:, None] * torch.sin(torch.pi * s)[None, :])[None, None]
    assert relative_h1(target, target).item() == 0.0
    assert relative_h1(torch.zeros_like(target), target).item() == pytest.approx(1.0)
    wiggle = 0.01 * torch.sin(12 * torch.pi * s)[None, None, None, :]
    assert relative_h1(target + wiggle, target) > 5 * relative_l2(target + wiggle, target)


def test_h1_loss_onecycle_adam_and_gradient_clipping_train(tiny_dataset):
    result = fit(
        tiny_dataset,
        *TINY_MODEL,
        "loss=h1",
        "scheduler.name=onecycle",
        "optim.name=adam",
        "trainer.gradient_clip_val=1.0",
        name="options",
    )
    assert 0 < result["best_val_rel_l2"] < 10


def test_resume_continues_from_a_checkpoint_and_refuses_another_model(tiny_dataset):
    first = fit(tiny_dataset, *TINY_MODEL, name="first")
    resumed = fit(
        tiny_dataset,
        *TINY_MODEL,
        "trainer.max_epochs=2",
        f"ckpt_path={first['last_checkpoint']}",
        name="resumed",
    )
    assert resumed["epochs"] == 2
    lines = (Path(resumed["run_dir"]) / "csv" / "metrics.csv").read_text().splitlines()
    assert not any(line.split(",")[0] == "0" for line in lines[1:])  # epoch 0 was not redone
    with pytest.raises(UserError, match="was trained with model"):
        fit(tiny_dataset, *TINY_MODEL, "model.width=4", f"ckpt_path={first['last_checkpoint']}")


def test_early_stopping_ends_training_without_improvement(tiny_dataset):
    result = fit(
        tiny_dataset,
        *TINY_MODEL,
        "trainer.max_epochs=6",
        "early_stopping.patience=1",
        "early_stopping.min_delta=10",
        name="early",
    )
    assert result["epochs"] == 2


def test_same_seed_gives_the_same_training(tiny_dataset):
    mgno = TINY_MODELS["mgno"]
    a = fit(tiny_dataset, *mgno, name="seed_a")
    b = fit(tiny_dataset, *mgno, name="seed_b")
    assert a["best_val_rel_l2"] == b["best_val_rel_l2"]
    state_a = torch.load(a["last_checkpoint"], weights_only=False)["state_dict"]
    state_b = torch.load(b["last_checkpoint"], weights_only=False)["state_dict"]
    for key, value in state_a.items():
        torch.testing.assert_close(value, state_b[key], rtol=0, atol=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.precision=16-mixed"], "trainer.precision=16-mixed needs a CUDA GPU"),
        (["scheduler.warmup=1.0"], "scheduler.warmup=1.0 is a fraction of the steps"),
        (["loader.in_memory=disk"], "loader.in_memory='disk' is unknown"),
        (["trainer.precision=8"], "trainer.precision='8' is unknown"),
        (["early_stopping.patience=0"], "early_stopping.patience=0 must be >= 1"),
        (["ckpt_path=nope.ckpt"], "ckpt_path=nope.ckpt does not exist"),
        (["loss=l1"], "loss='l1' is unknown"),
        (["loss_space=raw"], "loss_space='raw' is unknown; choose one of: physical, normalized"),
    ],
)
def test_bad_training_options_are_user_errors(tiny_dataset, overrides, message):
    with pytest.raises(UserError, match=message):
        fit(tiny_dataset, *overrides)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_fp16_on_cpu_is_one_line_from_the_cli(tiny_dataset):
    result = run_cli(
        ["train", "data=tiny", "paths.data_dir=data", "trainer.precision=16-mixed"],
        tiny_dataset,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: trainer.precision=16-mixed needs a CUDA GPU and no CUDA device is available; "
        "use trainer.precision=bf16-mixed (mixed precision on CPU) or 32-true"
    ]


@pytest.mark.parametrize("key", TINY_MODELS)
def test_each_model_trains_in_bf16_mixed_on_cpu(key, tiny_dataset):
    """CPU autocast in bfloat16: FNO's FFTs run in float32 inside it; weights stay float32."""
    result = fit(
        tiny_dataset, *TINY_MODELS[key], "trainer.precision=bf16-mixed", name=f"bf16_{key}"
    )
    assert 0 < result["best_val_rel_l2"] < 10
    state = torch.load(result["last_checkpoint"], weights_only=False)["state_dict"]
    assert all(
        value.dtype == torch.float32 for value in state.values() if value.is_floating_point()
    )


@pytest.mark.slow
@pytest.mark.parametrize("key", TINY_MODELS)
def test_each_model_trains_compiled_on_cpu(key, tiny_dataset):
    """compile=true with inductor's CPU backend (needs a C++ compiler), then the checkpoint
    loads into an uncompiled model and predicts the same as the compiled one did."""
    result = fit(tiny_dataset, *TINY_MODELS[key], "compile=true", name=f"compiled_{key}")
    assert 0 < result["best_val_rel_l2"] < 10
    module = load_checkpoint(Path(result["last_checkpoint"]))
    x, _ = FieldDataset(tiny_dataset / "data/tiny/test.h5")[0]
    assert torch.isfinite(module(x[None])).all()


def test_fno_trains_compiled_on_cpu(tiny_dataset):
    result = fit(tiny_dataset, *TINY_MODELS["fno"], "compile=true", name="compiled")
    assert 0 < result["best_val_rel_l2"] < 10


def test_a_mask_input_zeroes_the_prediction_outside_the_domain():
    """The heat family's `mask` input is known geometry: nothing is predicted in the slot."""
    from surrogate.training.module import OperatorModule

    data = {"input_names": ["mask", "g"], "output_names": ["u"], "spatial_shape": [8, 8]}
    model = {"name": "fno", "modes": 2, "width": 4, "n_layers": 1, "projection_width": 4}
    module = OperatorModule(model, data, {}, {})
    mask = torch.ones(2, 1, 8, 8)
    mask[:, :, 3:5, 2:6] = 0.0
    x = torch.cat([mask, torch.randn(2, 1, 8, 8)], dim=1)
    pred = module(x)
    assert (pred[:, :, 3:5, 2:6] == 0).all() and (pred[mask.bool()] != 0).all()


def test_the_normalized_loss_space_compares_the_encoded_outputs():
    """loss_space=normalized (neuraloperator's): relative L2 of the outputs in normalised units,
    not of the decoded ones that eval reports."""
    import numpy as np

    from surrogate.training.module import OperatorModule

    data = {"input_names": ["a"], "output_names": ["u"], "spatial_shape": [8, 8]}
    model = {"name": "fno", "modes": 2, "width": 4, "n_layers": 1, "projection_width": 4}
    x, y = torch.randn(3, 1, 8, 8), 5.0 + torch.randn(3, 1, 8, 8)
    outputs = {"mean": np.array([5.0]), "std": np.array([2.0]), "field_mean": np.zeros((1, 8, 8))}
    inputs = {**outputs, "mean": np.array([0.0]), "std": np.array([1.0])}
    torch.manual_seed(0)
    module = OperatorModule(model, data, {}, {}, loss_space="normalized")
    module.set_statistics(inputs, outputs)
    module.log = lambda *args, **kwargs: None
    pred, norm = module(x), module.output_norm
    expected = relative_l2(norm.encode(pred), norm.encode(y)).mean()
    torch.testing.assert_close(module._step((x, y), "train"), expected)
    module.hparams.loss_space = "physical"
    torch.testing.assert_close(module._step((x, y), "train"), relative_l2(pred, y).mean())
    assert not torch.isclose(expected, relative_l2(pred, y).mean())
