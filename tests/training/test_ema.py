"""The exponential moving average of the weights (`ema.decay`): the bias-corrected average by
hand, the swap for validation, checkpoints that hold the average, and resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, compose_stage

from surrogate.errors import UserError
from surrogate.evaluation.run import load_checkpoint
from surrogate.loading.datamodule import FieldDataModule
from surrogate.training.ema import WeightEMA
from surrogate.training.losses import relative_l2
from surrogate.training.run import train

pytestmark = pytest.mark.usefixtures("one_thread")

BASE = ["data=tiny", "loader.num_workers=0", "loader.batch_size=8", *TINY_MODEL]
# A constant rate: a cosine schedule is scaled to max_epochs, so a 1-epoch run that is resumed
# to 2 would not follow the 2-epoch run's rates.
RESUMABLE = ["scheduler.name=none", "ema.decay=0.9"]


class Holder(torch.nn.Module):
    """What the callback sees of an OperatorModule: the network under `.model`."""

    def __init__(self) -> None:
        super().__init__()
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.model.register_buffer("count", torch.zeros((), dtype=torch.long))  # not averaged

    def set(self, value: float) -> None:
        with torch.no_grad():
            self.model.weight.fill_(value)


def averaged(values: list[float], decay: float) -> tuple[WeightEMA, Holder]:
    holder, ema = Holder(), WeightEMA(decay)
    ema.on_fit_start(None, holder)
    for value in values:
        holder.set(value)
        ema.update(holder)
    return ema, holder


def test_the_average_is_the_bias_corrected_ema_by_hand():
    # decay 0.5, weights 1, 2, 3: (1), (0.5 + 2) / 1.5, (0.25 + 1 + 3) / 1.75
    for values, expected in (([1.0], 1.0), ([1.0, 2.0], 5 / 3), ([1.0, 2.0, 3.0], 17 / 7)):
        ema, _ = averaged(values, 0.5)
        assert ema.average()["weight"].item() == pytest.approx(expected, rel=1e-6)
    assert set(averaged([1.0], 0.5)[0].average()) == {"weight"}  # the integer buffer is not


def test_validation_sees_the_average_and_training_gets_its_weights_back():
    ema, holder = averaged([1.0, 2.0, 3.0], 0.5)
    ema.on_validation_epoch_start(None, holder)
    assert holder.model.weight.item() == pytest.approx(17 / 7, rel=1e-6)
    ema.on_validation_epoch_end(None, holder)
    assert holder.model.weight.item() == 3.0
    ema.on_train_end(None, holder)  # the model handed back is the average
    assert holder.model.weight.item() == pytest.approx(17 / 7, rel=1e-6)


def test_a_checkpoint_holds_the_average_and_resuming_restores_both():
    ema, holder = averaged([1.0, 2.0], 0.5)
    checkpoint = {
        "state_dict": {f"model.{k}": v.clone() for k, v in holder.model.state_dict().items()}
    }
    ema.on_save_checkpoint(None, holder, checkpoint)
    assert checkpoint["state_dict"]["model.weight"].item() == pytest.approx(5 / 3, rel=1e-6)
    assert checkpoint["ema"]["steps"] == 2
    assert checkpoint["ema"]["training_weights"]["weight"].item() == 2.0
    # A new run loads the state_dict (the average), then the callback restores its state.
    resumed, again = Holder(), WeightEMA(0.5)
    resumed.model.load_state_dict(
        {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()}
    )
    again.on_fit_start(None, resumed)
    again.on_load_checkpoint(None, resumed, checkpoint)
    assert resumed.model.weight.item() == 2.0
    for run, module in ((ema, holder), (again, resumed)):
        module.set(3.0)
        run.update(module)
        assert run.steps == 3
        assert run.average()["weight"].item() == pytest.approx(17 / 7, rel=1e-6)


def fit(root: Path, *overrides: str, name: str) -> dict:
    cfg = compose_stage(
        "train", root, [*BASE, f"paths.output_dir={root / 'outputs' / name}", *overrides]
    )
    return train(cfg)


def val_rel_l2(root: Path, module: torch.nn.Module) -> float:
    """The mean relative L2 of `module` on the validation samples train held out (seed 0)."""
    data = FieldDataModule(root / "data" / "tiny", 8, 0, val_fraction=0.1, seed=0)
    data.setup("fit")
    with torch.no_grad():
        errors = [relative_l2(module(x), y) for x, y in data.val_dataloader()]
    return float(torch.cat(errors).mean())


def test_training_with_ema_checkpoints_the_average_and_resumes_as_one_run(tiny_dataset):
    whole = fit(tiny_dataset, "trainer.max_epochs=2", *RESUMABLE, name="ema_whole")
    saved = torch.load(whole["last_checkpoint"], weights_only=False)
    steps = saved["global_step"]
    assert steps > 1 and saved["ema"]["steps"] == steps
    training = saved["ema"]["training_weights"]
    averaged_state = {
        k.removeprefix("model."): v
        for k, v in saved["state_dict"].items()
        if k.startswith("model.")
    }
    assert set(training) <= set(averaged_state)
    assert any(not torch.equal(averaged_state[k], training[k]) for k in training)
    # eval loads the average; resuming from the first epoch's checkpoint gives the same run
    module = load_checkpoint(Path(whole["last_checkpoint"]))
    assert module.averaged_decay == saved["ema"]["decay"]  # what eval's report says
    for name, value in module.model.state_dict().items():
        torch.testing.assert_close(value, averaged_state[name], rtol=0, atol=0)
    # the last validation scored the average
    assert whole["final_val_rel_l2"] == pytest.approx(val_rel_l2(tiny_dataset, module), rel=1e-5)

    first = fit(tiny_dataset, "trainer.max_epochs=1", *RESUMABLE, name="ema_first")
    resumed = fit(
        tiny_dataset,
        "trainer.max_epochs=2",
        *RESUMABLE,
        f"ckpt_path={first['last_checkpoint']}",
        name="ema_resumed",
    )
    again = torch.load(resumed["last_checkpoint"], weights_only=False)
    assert again["ema"]["steps"] == steps
    for key, value in saved["state_dict"].items():
        torch.testing.assert_close(again["state_dict"][key], value, rtol=0, atol=0)
    for key, value in training.items():
        torch.testing.assert_close(again["ema"]["training_weights"][key], value, rtol=0, atol=0)
    assert resumed["best_val_rel_l2"] == whole["best_val_rel_l2"]

    with pytest.raises(UserError, match="holds an average of the weights"):
        fit(tiny_dataset, "trainer.max_epochs=2", f"ckpt_path={first['last_checkpoint']}", name="x")


@pytest.mark.parametrize("decay", ["1.0", "0", "-0.5"])
def test_an_ema_decay_outside_zero_one_is_a_user_error(tiny_dataset, decay):
    with pytest.raises(UserError, match="ema.decay"):
        fit(tiny_dataset, f"ema.decay={decay}", name="bad")
