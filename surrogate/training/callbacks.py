"""Callbacks: one log line per epoch when no progress bar can be drawn (CI, batch jobs)."""

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
