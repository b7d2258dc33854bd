"""The in-memory loader mode: the same batches as lazy HDF5 reads, chosen when the data fits."""

from __future__ import annotations

import logging

import pytest
import torch
from temporal_data import write_temporal_dataset

from surrogate.data.reader import InMemoryFields
from surrogate.errors import UserError
from surrogate.loading.datamodule import FieldDataModule


def batches(module: FieldDataModule) -> list[tuple[torch.Tensor, ...]]:
    module.setup("fit")
    train = module.train_dataloader()
    train.sampler.set_epoch(3)
    return [*train, *module.val_dataloader()]


def datamodule(root, **options) -> FieldDataModule:
    return FieldDataModule(
        root / "data" / "tiny", batch_size=5, num_workers=0, val_fraction=0.25, seed=1, **options
    )


@pytest.mark.parametrize("mode", ["host", "device", "auto"])
def test_in_memory_batches_equal_lazy_ones(tiny_dataset, mode):
    memory = datamodule(tiny_dataset, in_memory=mode)
    lazy = datamodule(tiny_dataset, in_memory="lazy")
    got, expected = batches(memory), batches(lazy)
    assert isinstance(memory.train_dataloader().dataset, InMemoryFields)
    assert len(got) == len(expected) == 4 + 2  # 18 train and 6 validation samples in batches of 5
    for (x, y), (x_lazy, y_lazy) in zip(got, expected):
        torch.testing.assert_close(x, x_lazy, rtol=0, atol=0)
        torch.testing.assert_close(y, y_lazy, rtol=0, atol=0)


def test_auto_reads_lazily_what_does_not_fit_its_share_of_memory(tiny_dataset, caplog):
    module = datamodule(tiny_dataset, in_memory="auto", memory_fraction=1e-12)
    with caplog.at_level(logging.INFO, logger="surrogate.train"):
        module.setup("fit")
    assert not isinstance(module.train_dataloader().dataset, InMemoryFields)
    assert any("data read lazily from HDF5" in r.getMessage() for r in caplog.records)


def test_trajectories_stay_lazy_and_refuse_an_explicit_memory_mode(tmp_path):
    directory = write_temporal_dataset(tmp_path / "heat", "heat2d", {"train": 4}, n=8)

    def make(mode: str) -> FieldDataModule:
        return FieldDataModule(
            directory, batch_size=2, num_workers=0, val_fraction=0.25, seed=0, in_memory=mode
        )

    module = make("auto")
    module.setup("fit")
    assert not isinstance(module.train_dataloader().dataset, InMemoryFields)
    with pytest.raises(UserError, match="loader.in_memory=host is for steady datasets"):
        make("host")
