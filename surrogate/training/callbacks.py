"""Callbacks: one log line per epoch when no progress bar can be drawn (CI, batch jobs), and
one line per process saying which share of the training data it trains on."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger("surrogate.train")


class EpochLog(L.Callback):
    """Logs epoch, losses and duration; used instead of a progress bar off a terminal."""

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        for key in ("train/loss_epoch", "val/loss", "val/rel_l2"):
            if key in metrics:
                parts.append(f"{key.replace('_epoch', '')} {float(metrics[key]):.4g}")
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        log.info("  ".join(parts))


class RankLog(L.Callback):
    """Logs, from every process, its rank and how many training samples it sees per epoch.

    Under DDP the distributed sampler splits the training set, so the lines of all ranks show
    that each trained on its own share.
    """

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        loader = trainer.train_dataloader
        log.info(
            "rank %d/%d trains on %d of %d samples per epoch",
            trainer.global_rank,
            trainer.world_size,
            len(loader.sampler),
            len(loader.dataset),
        )
