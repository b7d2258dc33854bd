"""An exponential moving average of the model's weights (`ema.decay`), the weights that
validation, the best/last checkpoints and `eval` then use.

After optimiser step t the average is the bias-corrected EMA of the weights w_1 .. w_t,

    average_t = sum_s decay^(t-s) w_s / sum_s decay^(t-s),

updated as average_t = average_(t-1) + (w_t - average_(t-1)) (1 - decay) / (1 - decay^t). The
correction (as in Adam's moments) gives the first steps' weights, close to the initialisation,
no more than their share: without it they would keep decay^t of the average (15 % after 1900
steps at decay 0.999, a 60-epoch run of 1000 samples in batches of 32).

A checkpoint holds the average as its `state_dict`, so anything that loads it (eval, resume,
`OperatorModule.load_from_checkpoint`) sees the averaged model; the weights training continues
from, and the number of steps averaged, are under its "ema" key, from which a resumed run
restores both.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

log = logging.getLogger("surrogate.train")

CHECKPOINT_KEY = "ema"


class WeightEMA(L.Callback):
    """Averages the floating-point parameters and buffers of `module.model` after every
    optimiser step; swaps the average in for validation and at the end of training."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.steps = 0  # optimiser steps averaged so far
        self._average: dict[str, torch.Tensor] | None = None
        self._held: dict[str, torch.Tensor] | None = None  # training weights while swapped out
        self._last_global_step = 0

    @staticmethod
    def weights(module: L.LightningModule) -> dict[str, torch.Tensor]:
        """The model's floating-point parameters and buffers by state-dict name (the live
        tensors: writing to them changes the model)."""
        state = module.model.state_dict(keep_vars=True)
        return {name: t.detach() for name, t in state.items() if t.is_floating_point()}

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # After the model moved to its device; a checkpoint may have been restored before.
        weights = self.weights(module)
        if self._average is None:
            self._average = {name: torch.zeros_like(w) for name, w in weights.items()}
        else:
            self._average = {name: a.to(weights[name].device) for name, a in self._average.items()}

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._last_global_step = trainer.global_step  # a resumed run's step count

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        if trainer.global_step == self._last_global_step:  # accumulating gradients: no step yet
            return
        self._last_global_step = trainer.global_step
        self.update(module)

    def update(self, module: L.LightningModule) -> None:
        """Folds the model's current weights into the average (one optimiser step)."""
        self.steps += 1
        weight = (1.0 - self.decay) / (1.0 - self.decay**self.steps)
        current = self.weights(module)
        with torch.no_grad():
            for name, average in self._average.items():
                average.lerp_(current[name], weight)

    def average(self) -> dict[str, torch.Tensor]:
        """The averaged weights by state-dict name of the model (empty before the first step)."""
        return dict(self._average) if self.steps else {}

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.steps and self._held is None:
            self._swap_in(module)

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self._held is not None:
            self._swap_out(module)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # The model handed back is the averaged one, as its checkpoints are.
        if self.steps and self._held is None:
            self._swap_in(module)

    def _swap_in(self, module: L.LightningModule) -> None:
        weights = self.weights(module)
        self._held = {name: w.clone() for name, w in weights.items()}
        with torch.no_grad():
            for name, average in self._average.items():
                weights[name].copy_(average)

    def _swap_out(self, module: L.LightningModule) -> None:
        weights = self.weights(module)
        with torch.no_grad():
            for name, held in self._held.items():
                weights[name].copy_(held)
        self._held = None

    def on_save_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        training = self._held if self._held is not None else self.weights(module)
        checkpoint[CHECKPOINT_KEY] = {
            "decay": self.decay,
            "steps": self.steps,
            "training_weights": {name: w.detach().clone().cpu() for name, w in training.items()},
        }
        for name, average in self.average().items():
            checkpoint["state_dict"][f"model.{name}"] = average.detach().clone()

    def on_load_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Resume: the model was loaded with the checkpoint's average; that becomes the average
        again and the model gets back the weights training left off with."""
        saved = checkpoint.get(CHECKPOINT_KEY)
        if saved is None:
            log.info("ema: the checkpoint has no average; averaging starts from its weights")
            return
        weights = self.weights(module)
        with torch.no_grad():
            self._average = {name: w.clone() for name, w in weights.items()}
            for name, training in saved["training_weights"].items():
                weights[name].copy_(training)
        self.steps = int(saved["steps"])
