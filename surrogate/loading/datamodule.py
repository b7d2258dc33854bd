"""LightningDataModule over a dataset directory: train / validation loaders.

Steady splits are read once into memory when they fit (`in_memory`: `auto` does so when the
train and validation samples take at most `memory_fraction` of the available RAM; `host`,
`device`: the accelerator's memory, `lazy`: never): batches are then gathered by indexing,
in the main process, several times faster than reading samples from HDF5 in workers.

Time-dependent datasets are split by trajectory, never by time step, and served as windows
(surrogate/loading/temporal.py): training samples unroll `temporal.unroll` steps; validation
samples roll each held-out trajectory from its first window to its end
(`temporal.validate=rollout`, as eval scores it) or predict one step (`one_step`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from surrogate.data.reader import (
    FieldDataset,
    InMemoryFields,
    SplitInfo,
    batch_as_is,
    read_split_info,
    split_bytes,
)
from surrogate.data.schema import split_filename
from surrogate.errors import UserError
from surrogate.loading.sampler import EpochShuffle
from surrogate.loading.temporal import TemporalOptions, WindowDataset

log = logging.getLogger("surrogate.train")
IN_MEMORY = ("auto", "host", "device", "lazy")


def available_memory() -> int:
    """Bytes of RAM available to new allocations (MemAvailable; free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class FieldDataModule(L.LightningDataModule):
    """Trains on train.h5; validates on valid.h5, or on a seeded `val_fraction` held out of train."""

    def __init__(
        self,
        dataset_dir: Path,
        batch_size: int,
        num_workers: int,
        val_fraction: float,
        seed: int,
        temporal: TemporalOptions | None = None,
        in_memory: str = "auto",
        memory_fraction: float = 0.25,
    ) -> None:
        super().__init__()
        if in_memory not in IN_MEMORY:
            raise UserError(
                f"loader.in_memory={in_memory!r} is unknown; choose one of: {', '.join(IN_MEMORY)}"
            )
        self.in_memory = in_memory
        self.memory_fraction = memory_fraction
        self._in_memory: dict[str, InMemoryFields] = {}  # "train", "val" once read
        self.dataset_dir = dataset_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.train_info: SplitInfo = read_split_info(dataset_dir, "train")
        self.temporal = temporal or TemporalOptions()
        self.temporal.check_fits(self.train_info.time_steps, self.train_info.path)
        valid_path = dataset_dir / split_filename("valid")
        n = self.train_info.n_samples
        if valid_path.is_file():
            self.valid_info: SplitInfo | None = read_split_info(dataset_dir, "valid")
            self.train_indices = np.arange(n)
            self.val_indices = None
        else:
            n_val = int(round(val_fraction * n))
            if n_val < 1 or n - n_val < 1:
                raise UserError(
                    f"{self.train_info.path} has {n} samples: too few to hold out "
                    f"val_fraction={val_fraction}; generate more or add n_valid="
                )
            order = np.random.default_rng(seed).permutation(n)
            self.valid_info = None
            self.train_indices = np.sort(order[n_val:])
            self.val_indices = np.sort(order[:n_val])
        if self.train_info.temporal and in_memory in ("host", "device"):
            raise UserError(
                f"loader.in_memory={in_memory} is for steady datasets; {self.train_info.path} "
                "holds trajectories, which are read lazily: use loader.in_memory=auto or lazy"
            )

    def setup(self, stage: str) -> None:
        """Reads the splits into memory when `in_memory` says so (auto: when they fit)."""
        if stage != "fit" or self.in_memory == "lazy" or self.train_info.temporal:
            return
        paths = [self.train_info.path] + ([self.valid_info.path] if self.valid_info else [])
        need = sum(split_bytes(path) for path in paths)
        world = self.trainer.world_size if self.trainer is not None else 1
        budget = self.memory_fraction * available_memory()
        if self.in_memory == "auto" and need * world > budget:
            log.info(
                "data read lazily from HDF5: %.1f MB x %d process(es) is more than "
                "loader.memory_fraction=%g of the available memory",
                need / 1e6,
                world,
                self.memory_fraction,
            )
            return
        device = torch.device("cpu")
        if self.in_memory == "device" and self.trainer is not None:
            device = self.trainer.strategy.root_device
        train = InMemoryFields.read(self.train_info.path)
        self._in_memory["train"] = InMemoryFields(train, self.train_indices, device)
        val = train if self.valid_info is None else InMemoryFields.read(self.valid_info.path)
        self._in_memory["val"] = InMemoryFields(val, self.val_indices, device)
        where = "host" if device.type == "cpu" else str(device)
        log.info(
            "data in %s memory: %.1f MB read once (loader.in_memory=%s)",
            where,
            need / 1e6,
            self.in_memory,
        )

    def _dataset(self, path: Path, indices: np.ndarray | None, unroll: int) -> Dataset:
        if not self.train_info.temporal:
            return FieldDataset(path, indices)
        return WindowDataset(path, indices, self.temporal.window, unroll)

    def train_dataloader(self) -> DataLoader:
        if "train" in self._in_memory:
            dataset: Dataset = self._in_memory["train"]
        else:
            dataset = self._dataset(self.train_info.path, self.train_indices, self.temporal.unroll)
        return self._loader(dataset, sampler=EpochShuffle(len(dataset), self.seed))

    def val_dataloader(self) -> DataLoader:
        if "val" in self._in_memory:
            return self._loader(self._in_memory["val"])
        info = self.valid_info or self.train_info
        unroll = self.temporal.validation_unroll(info.time_steps) if info.temporal else 1
        indices = None if self.valid_info is not None else self.val_indices
        return self._loader(self._dataset(info.path, indices, unroll))

    def _loader(self, dataset: Dataset, sampler: EpochShuffle | None = None) -> DataLoader:
        if isinstance(dataset, InMemoryFields):
            return DataLoader(
                dataset, batch_size=self.batch_size, sampler=sampler, collate_fn=batch_as_is
            )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
