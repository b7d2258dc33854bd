"""The `trainer` group checked against this machine and Lightning, before any work.

Lightning reports a configuration it cannot run (no GPU for `accelerator=gpu`, more devices than
there are, an unknown strategy) as a traceback of one of several exception types, some only
once fitting has started. These checks say it in one line first; what Lightning still refuses
when the Trainer is made, as its own MisconfigurationException, becomes one line too.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig

from surrogate.errors import UserError

GPU_ACCELERATORS = ("gpu", "cuda")


def check_trainer_devices(cfg: DictConfig, arguments: dict[str, Any]) -> None:
    """Refuse devices this machine does not have, unknown strategies and unknown arguments."""
    import lightning as L
    import torch
    from lightning.pytorch.strategies import StrategyRegistry

    known = set(inspect.signature(L.Trainer.__init__).parameters) - {"self"}
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise UserError(
            f"trainer.{unknown[0]} is not an argument of lightning.Trainer; see "
            "https://lightning.ai/docs/pytorch/stable/common/trainer.html#trainer-flags"
        )
    accelerator, devices = str(cfg.trainer.accelerator), cfg.trainer.devices
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator in GPU_ACCELERATORS and not gpus:
        raise UserError(
            f"trainer.accelerator={accelerator} needs a CUDA GPU and none is available; use "
            "trainer.accelerator=cpu (or auto)"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise UserError("trainer.accelerator=mps needs Apple's MPS and it is not available")
    if accelerator == "tpu":
        raise UserError("trainer.accelerator=tpu is not supported; use cpu, gpu or auto")
    on_gpu = accelerator in GPU_ACCELERATORS or (accelerator == "auto" and gpus > 0)
    if isinstance(devices, int) and devices != -1:
        have, what = (gpus, "GPUs") if on_gpu else (os.cpu_count() or 1, "CPU cores")
        if devices > have:
            raise UserError(
                f"trainer.devices={devices} asks for {devices} devices and this machine has "
                f"{have} {what}; use trainer.devices={have} or fewer"
            )
    if devices == -1 and not on_gpu:
        raise UserError("trainer.devices=-1 (all GPUs) needs a GPU; on CPU give a number")
    nodes = int(cfg.trainer.get("num_nodes", 1))
    if nodes > 1:
        slurm = os.environ.get("SLURM_NNODES")
        if slurm is None and "WORLD_SIZE" not in os.environ:
            raise UserError(
                f"trainer.num_nodes={nodes} needs a multi-node launcher (SLURM's srun or "
                "torchrun, which set SLURM_NNODES or WORLD_SIZE) and none started this run"
            )
        if slurm is not None and slurm.isdigit() and int(slurm) != nodes:
            raise UserError(
                f"trainer.num_nodes={nodes} but SLURM gave this job {slurm} nodes; "
                f"use trainer.num_nodes={slurm}"
            )
    strategy = cfg.trainer.get("strategy")
    if strategy is not None and strategy != "auto":
        names = StrategyRegistry.available_strategies()
        if strategy not in names:
            raise UserError(
                f"trainer.strategy={strategy} is unknown to Lightning; choose one of: "
                f"auto, {', '.join(sorted(names))}"
            )


@contextmanager
def lightning_configuration_errors() -> Iterator[None]:
    """Lightning's own refusal of a trainer configuration, as one line."""
    from lightning.pytorch.utilities.exceptions import MisconfigurationException

    try:
        yield
    except MisconfigurationException as error:
        reason = " ".join(str(error).split())
        raise UserError(f"Lightning cannot run this trainer configuration: {reason}") from error
