"""The LightningModule shared by every operator: normalise, predict, decode, compare.

Its hyper-parameters (model config, data description, optimiser) and its buffers (normaliser
statistics, the training mean field) make a checkpoint self-describing: `OperatorModule.
load_from_checkpoint(path)` rebuilds the model with nothing else.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch

from surrogate.data.normalizer import ChannelNormalizer
from surrogate.models import build_model
from surrogate.training.losses import LOSSES, relative_l2


class OperatorModule(L.LightningModule):
    def __init__(
        self,
        model: dict[str, Any],
        data: dict[str, Any],
        optim: dict[str, Any],
        scheduler: dict[str, Any],
        loss: str = "rel_l2",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        in_channels, out_channels = len(data["input_names"]), len(data["output_names"])
        spatial = tuple(data["spatial_shape"])
        self.model = build_model(model, in_channels, out_channels, len(spatial))
        self.input_norm = ChannelNormalizer(in_channels)
        self.output_norm = ChannelNormalizer(out_channels)
        # Pointwise mean of the training outputs: the "predict the mean" baseline of `eval`.
        self.register_buffer("mean_output", torch.zeros(out_channels, *spatial))
        self.loss_fn = LOSSES[loss]

    def set_statistics(self, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        self.input_norm.set(inputs["mean"], inputs["std"])
        self.output_norm.set(outputs["mean"], outputs["std"])
        self.mean_output.copy_(torch.as_tensor(outputs["field_mean"], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Physical inputs to physical outputs."""
        return self.output_norm.decode(self.model(self.input_norm.encode(x)))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        pred = self(x)
        loss = self.loss_fn(pred, y).mean()
        training = stage == "train"
        self.log(
            f"{stage}/loss",
            loss,
            on_step=training,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(x),
            sync_dist=True,
        )
        if not training:
            self.log(
                f"{stage}/rel_l2",
                relative_l2(pred, y).mean(),
                on_epoch=True,
                prog_bar=True,
                batch_size=len(x),
                sync_dist=True,
            )
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> dict[str, Any]:
        optim = self.hparams.optim
        optimizer_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optim["name"]]
        optimizer = optimizer_class(
            self.parameters(), lr=optim["lr"], weight_decay=optim["weight_decay"]
        )
        schedule = self.hparams.scheduler
        interval = "epoch"
        if schedule["name"] == "none":
            return {"optimizer": optimizer}
        if schedule["name"] == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=max(1, self.trainer.max_epochs)
            )
        elif schedule["name"] == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=optim["lr"],
                total_steps=max(1, int(self.trainer.estimated_stepping_batches)),
            )
            interval = "step"
        else:
            scheduler = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=schedule["step_size"], gamma=schedule["gamma"]
            )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval},
        }
