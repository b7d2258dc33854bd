"""Training faults: a non-finite loss or model stops the run before it can be checkpointed, and
Ctrl-C (SIGINT) or SIGTERM ends in one line that says how to resume.

Lightning runs `ModelCheckpoint` after every other callback, so the checks here, made in the
same hooks, stop the run before a NaN model overwrites `last.ckpt`.

A signal only sets a flag (`surrogate.interrupts`); `FaultGuard` looks at it at the end of every
training and validation batch and epoch, and all DDP ranks stop at the same batch (any rank's
request stops every rank), raising `Interrupted`: no checkpoint of the unfinished epoch is
written, so `last.ckpt` holds the last finished one and resuming from it gives the
uninterrupted run's result.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from surrogate.errors import Interrupted, UserError
from surrogate.interrupts import listen, requested, signal_word, stop_requests


class FaultGuard(L.Callback):
    """Raises a UserError naming the last good checkpoint when training stops being finite."""

    def __init__(self, resumed_from: str | None = None) -> None:
        self.resumed_from = resumed_from
        self.saved: tuple[str, int] | None = None  # (path, epoch) of the last checkpoint saved
        self.interrupted = False

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        listen()  # Lightning replaced the SIGTERM handler when fit started

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, Mapping) else outputs
        if loss is not None:
            finite = bool(torch.isfinite(loss).all())
            self._stop_unless(trainer, finite, "loss" if finite else f"loss {loss.item()}")
        self._stop_if_requested(trainer)

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        outputs: Any,
        batch: Any,
        index: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            self._stop_if_requested(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._check_model(trainer, module)
        self._stop_if_requested(trainer)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._check_model(trainer, module)

    def on_save_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        dirpath = getattr(trainer.checkpoint_callback, "dirpath", None) or "."
        self.saved = (str(Path(dirpath) / "last.ckpt"), trainer.current_epoch)

    def on_exception(
        self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException
    ) -> None:
        self.interrupted = isinstance(exception, KeyboardInterrupt)

    def last_good(self) -> str:
        if self.saved is not None:
            return f"the last good checkpoint is {self.saved[0]} (epoch {self.saved[1]})"
        if self.resumed_from is not None:
            return f"the last good checkpoint is {self.resumed_from}"
        return "no checkpoint was saved before"

    def _check_model(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        finite = all(bool(torch.isfinite(p).all()) for p in module.parameters())
        self._stop_unless(trainer, finite, "model weights")

    def _stop_if_requested(self, trainer: L.Trainer) -> None:
        """Stop every rank at this batch if a signal reached any of them."""
        signum = requested()
        if not trainer.strategy.reduce_boolean_decision(signum is not None, all=False):
            return
        signum = signum or signal.SIGINT  # another rank received it
        raise Interrupted(f"training {signal_word(signum)}; {_how_to_resume(self)}", signum)

    def _stop_unless(self, trainer: L.Trainer, finite: bool, what: str) -> None:
        if not trainer.strategy.reduce_boolean_decision(not finite, all=False):
            return
        raise UserError(
            f"training stopped at epoch {trainer.current_epoch}, step {trainer.global_step}: "
            f"non-finite {what}; {self.last_good()}. Lower optim.lr or set "
            "trainer.gradient_clip_val and resume from it with ckpt_path=, or check the data"
        )


@contextmanager
def interruptible(guard: FaultGuard) -> Iterator[None]:
    """Signals only set the stop flag while training runs (FaultGuard acts on it). A second
    Ctrl-C raises at once, which Lightning turns into a graceful shutdown and exit(1); a SIGTERM
    in the moment before training starts, Lightning's own handler turns into a SIGTERMException
    at the next step. Both end in the same one line as the flag."""
    try:
        with stop_requests():
            yield
    except SIGTERMException:
        raise Interrupted(f"training terminated; {_how_to_resume(guard)}", signal.SIGTERM) from None
    except SystemExit:
        if not guard.interrupted:
            raise
        raise Interrupted(f"training interrupted; {_how_to_resume(guard)}") from None


def _how_to_resume(guard: FaultGuard) -> str:
    if guard.saved is not None:
        return f"resume with ckpt_path={guard.saved[0]}"
    if guard.resumed_from is not None:
        return f"resume with ckpt_path={guard.resumed_from}"
    return "no checkpoint was saved yet: run the same command again"
