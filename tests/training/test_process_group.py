"""An in-process DDP training leaves no process group and no rendezvous variables behind."""

from __future__ import annotations

import os
from pathlib import Path

import torch.distributed
from conftest import TINY_MODEL, compose_stage

from surrogate.training.process_group import DISTRIBUTED_VARIABLES
from surrogate.training.run import train

QUICK = ["trainer.max_epochs=1", "loader.num_workers=0", "loader.batch_size=8", *TINY_MODEL]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=1"]


def test_two_ddp_trainings_in_one_process_each_start_clean(tiny_dataset: Path, monkeypatch):
    for name in DISTRIBUTED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for run in ("first", "second"):  # the second bound the first's port before the fix
        out = tiny_dataset / "outputs" / run
        cfg = compose_stage(
            "train", tiny_dataset, ["data=tiny", *QUICK, *DDP, f"paths.output_dir={out}"]
        )
        assert Path(train(cfg)["last_checkpoint"]).is_file()
        assert not torch.distributed.is_initialized()
        assert [name for name in DISTRIBUTED_VARIABLES if name in os.environ] == []
