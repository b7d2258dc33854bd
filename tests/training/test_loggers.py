"""`logger=tensorboard`: Lightning's TensorBoardLogger writes the run's metrics as event files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import TINY_MODEL, compose_stage

from surrogate.errors import UserError
from surrogate.training import loggers
from surrogate.training.run import train

needs_tensorboard = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason="needs the tensorboard extra: pip install -e '.[tensorboard]'",
)


@needs_tensorboard
def test_tensorboard_logger_writes_the_validation_error_per_epoch(
    tiny_dataset, tmp_path, one_thread
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = ["data=tiny", "logger=tensorboard", "trainer.max_epochs=2", "loader.num_workers=0"]
    args.append(f"paths.output_dir={tmp_path}")
    result = train(compose_stage("train", tiny_dataset, [*args, *TINY_MODEL]))
    directory = Path(result["run_dir"]) / "tensorboard"
    events = EventAccumulator(str(directory))
    events.Reload()
    values = [event.value for event in events.Scalars("val/rel_l2")]
    assert len(values) == 2 and values[-1] == pytest.approx(result["final_val_rel_l2"], rel=1e-5)
    assert "train/loss_epoch" in events.Tags()["scalars"]


def test_a_missing_tensorboard_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    cfg = compose_stage("train", tmp_path, ["data=x", "logger=tensorboard"])
    with pytest.raises(UserError, match=r"pip install 'surrogate\[tensorboard\]'"):
        loggers.build_logger(cfg.logger, tmp_path)
