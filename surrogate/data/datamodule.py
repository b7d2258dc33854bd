"""LightningDataModule over a dataset directory: train / validation loaders with lazy reads."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from surrogate.data.reader import FieldDataset, SplitInfo, read_split_info
from surrogate.data.sampler import EpochShuffle
from surrogate.data.schema import split_filename
from surrogate.errors import UserError


class FieldDataModule(L.LightningDataModule):
    """Trains on train.h5; validates on valid.h5, or on a seeded `val_fraction` held out of train."""

    def __init__(
        self, dataset_dir: Path, batch_size: int, num_workers: int, val_fraction: float, seed: int
    ) -> None:
        super().__init__()
        self.dataset_dir = dataset_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.train_info: SplitInfo = read_split_info(dataset_dir, "train")
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

    def train_dataloader(self) -> DataLoader:
        dataset = FieldDataset(self.train_info.path, self.train_indices)
        return self._loader(dataset, sampler=EpochShuffle(len(dataset), self.seed))

    def val_dataloader(self) -> DataLoader:
        if self.valid_info is not None:
            return self._loader(FieldDataset(self.valid_info.path))
        return self._loader(FieldDataset(self.train_info.path, self.val_indices))

    def _loader(self, dataset: FieldDataset, sampler: EpochShuffle | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
