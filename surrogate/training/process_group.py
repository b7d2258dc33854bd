"""A training run leaves the process as it found it: no process group, no rendezvous variables.

Lightning's DDP initialises torch.distributed in the training process itself (rank 0, or the
only rank of `trainer=ddp trainer.devices=1`) and exports its rendezvous variables there; it
neither destroys the group nor restores the environment after `fit`. In a notebook or a script
that trains twice through `surrogate.api`, the second DDP run would then find MASTER_PORT taken
by the first run's TCP store (EADDRINUSE), and a `surrogate` command started from that process
would inherit LOCAL_RANK and wait for ranks nobody launches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed

DISTRIBUTED_VARIABLES = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "RANK",
    "GROUP_RANK",
    "LOCAL_WORLD_SIZE",
)


@contextmanager
def released_process_group() -> Iterator[None]:
    """Run a training; then destroy the process group it created and restore the rendezvous
    variables to what they were before (a group that existed before is left alone)."""
    before = {name: os.environ.get(name) for name in DISTRIBUTED_VARIABLES}
    had_group = torch.distributed.is_available() and torch.distributed.is_initialized()
    try:
        yield
    finally:
        if (
            not had_group
            and torch.distributed.is_available()
            and torch.distributed.is_initialized()
        ):
            torch.distributed.destroy_process_group()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
