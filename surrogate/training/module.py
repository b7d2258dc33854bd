"""The LightningModule shared by every operator: normalise, predict, decode, compare.

Its hyper-parameters (model config, data description, optimiser, temporal options) and its
buffers (normaliser statistics, the training mean field) make a checkpoint self-describing:
`OperatorModule.load_from_checkpoint(path)` rebuilds the model with nothing else.

On time-dependent data (`temporal` set) the model is a one-step map: (fields fixed in time,
the last `window` states) -> the next state, or the change added to the last state. Training
unrolls it `unroll` steps; with `pushforward` only the last step carries gradients.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from surrogate.loading.normalizer import ChannelNormalizer
from surrogate.models import build_model
from surrogate.training.ema import CHECKPOINT_KEY as EMA_KEY
from surrogate.training.losses import LOSSES, relative_l2
from surrogate.training.optim import OPTIMISERS, SCHEDULERS


class OperatorModule(L.LightningModule):
    def __init__(
        self,
        model: dict[str, Any],
        data: dict[str, Any],
        optim: dict[str, Any],
        scheduler: dict[str, Any],
        loss: str = "rel_l2",
        temporal: dict[str, Any] | None = None,
        loss_space: str = "physical",  # for checkpoints older than the option (conf/train.yaml)
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.averaged_decay: float | None = None  # `ema.decay` of a loaded averaged checkpoint
        in_channels, out_channels = len(data["input_names"]), len(data["output_names"])
        spatial = tuple(data["spatial_shape"])
        self.temporal = temporal
        # A `mask` input (1 on the domain, 0 outside, e.g. the heat family's slot) is known
        # geometry: predictions are multiplied by it, so no error is made or counted outside.
        names = list(data["input_names"])
        self.mask_channel = names.index("mask") if "mask" in names else None
        model_in = in_channels + (temporal["window"] * out_channels if temporal else 0)
        # Fitted to the training grid (FNO's modes capped, MgNO's V-cycles tied to its spacing);
        # the grid is in `data`, so a checkpoint rebuilds the same model.
        self.model = build_model(model, model_in, out_channels, len(spatial), grid=spatial)
        self.input_norm = ChannelNormalizer(in_channels)
        self.output_norm = ChannelNormalizer(out_channels)  # on trajectories: of every state
        if temporal:
            self.change_norm = ChannelNormalizer(out_channels)  # of the increments u[t+1] - u[t]
        # Pointwise mean of the training outputs: the "predict the mean" baseline of `eval`.
        self.register_buffer("mean_output", torch.zeros(out_channels, *spatial))
        self.loss_fn = LOSSES.get(loss)

    def set_statistics(
        self,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
        changes: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.input_norm.set(inputs["mean"], inputs["std"])
        self.output_norm.set(outputs["mean"], outputs["std"])
        self.mean_output.copy_(torch.as_tensor(outputs["field_mean"], dtype=torch.float32))
        if changes is not None:
            self.change_norm.set(changes["mean"], changes["std"])

    def mean_field(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The training mean output (1, C, *shape): the "predict the mean" baseline, resampled
        when `shape` is another resolution than the one trained on."""
        mean = self.mean_output.unsqueeze(0)
        if tuple(mean.shape[2:]) != tuple(shape):
            mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[mean.dim() - 2]
            mean = F.interpolate(mean, size=shape, mode=mode, align_corners=True)
        return mean

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Note whether the loaded weights are an average of training's (`ema.decay`), which
        eval's metrics and report then say."""
        saved = checkpoint.get(EMA_KEY)
        self.averaged_decay = None if saved is None else float(saved["decay"])

    def forward(self, x: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """Physical inputs to physical outputs; on trajectories, also the window of states
        (batch, window, C_out, *spatial) to the next state (batch, C_out, *spatial)."""
        if states is None:
            return self._masked(self.output_norm.decode(self.model(self.input_norm.encode(x))), x)
        batch, window = states.shape[:2]
        encoded = self.output_norm.encode(states.flatten(0, 1)).reshape(
            batch, window * states.shape[2], *states.shape[3:]
        )
        out = self.model(torch.cat([self.input_norm.encode(x), encoded], dim=1))
        if self.temporal["predict"] == "change":
            return self._masked(states[:, -1] + self.change_norm.decode(out), x)
        return self._masked(self.output_norm.decode(out), x)

    def _masked(self, prediction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.mask_channel is None:
            return prediction
        return prediction * x[:, self.mask_channel : self.mask_channel + 1]

    def unroll(
        self, x: torch.Tensor, states: torch.Tensor, steps: int, pushforward: bool = False
    ) -> torch.Tensor:
        """The next `steps` states (batch, steps, C_out, *spatial), each predicted from the
        window ending at the one before; with `pushforward` all but the last without gradient."""
        predictions = []
        for step in range(steps):
            with torch.set_grad_enabled(
                torch.is_grad_enabled() and not (pushforward and step < steps - 1)
            ):
                pred = self(x, states)
            predictions.append(pred)
            states = torch.cat([states[:, 1:], pred.unsqueeze(1)], dim=1)
        return torch.stack(predictions, dim=1)

    def _predict_batch(
        self, batch: tuple[torch.Tensor, ...], stage: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, target) the loss compares: the whole batch output, or on trajectories
        the unrolled steps (flattened into the batch; with pushforward the last step only)."""
        if self.temporal is None:
            x, y = batch
            return self(x), y
        x, states, targets = batch
        pushforward = stage == "train" and self.temporal["pushforward"]
        pred = self.unroll(x, states, targets.shape[1], pushforward)
        if pushforward:
            return pred[:, -1], targets[:, -1]
        return pred.flatten(0, 1), targets.flatten(0, 1)

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        pred, y = self._predict_batch(batch, stage)
        x = batch[0]
        if self.hparams.loss_space == "normalized":  # neuraloperator's: on the encoded outputs
            loss = self.loss_fn(self.output_norm.encode(pred), self.output_norm.encode(y)).mean()
        else:
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
        optim, schedule = self.hparams.optim, self.hparams.scheduler
        optimizer = OPTIMISERS.get(optim["name"])(self.parameters(), optim)
        built = SCHEDULERS.get(schedule["name"]).build(
            optimizer, schedule, optim, lambda: max(1, int(self.trainer.estimated_stepping_batches))
        )
        if built is None:
            return {"optimizer": optimizer}
        scheduler, interval = built
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval},
        }
