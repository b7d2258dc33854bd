"""LightningDataModule over a dataset directory: train / validation loaders with lazy reads.

Time-dependent datasets are split by trajectory, never by time step, and served as windows
(surrogate/data/temporal.py): training samples unroll `temporal.unroll` steps; validation
samples roll each held-out trajectory from its first window to its end
(`temporal.validate=rollout`, as eval scores it) or predict one step (`one_step`).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Dataset

from surrogate.data.reader import FieldDataset, SplitInfo, read_split_info
from surrogate.data.sampler import EpochShuffle
from surrogate.data.schema import split_filename
from surrogate.data.temporal import TemporalOptions, WindowDataset
from surrogate.errors import UserError


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
    ) -> None:
        super().__init__()
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

    def _dataset(self, path: Path, indices: np.ndarray | None, unroll: int) -> Dataset:
        if not self.train_info.temporal:
            return FieldDataset(path, indices)
        return WindowDataset(path, indices, self.temporal.window, unroll)

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset(self.train_info.path, self.train_indices, self.temporal.unroll)
        return self._loader(dataset, sampler=EpochShuffle(len(dataset), self.seed))

    def val_dataloader(self) -> DataLoader:
        info = self.valid_info or self.train_info
        unroll = self.temporal.validation_unroll(info.time_steps) if info.temporal else 1
        indices = None if self.valid_info is not None else self.val_indices
        return self._loader(self._dataset(info.path, indices, unroll))

    def _loader(self, dataset: Dataset, sampler: EpochShuffle | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
