"""Optimisers (`optim.name`) and learning-rate schedules (`scheduler.name`), by name.

Each registers itself here with the function that builds it from its config; torch is
imported when one is built, so that the config checks of `surrogate train` stay light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from surrogate.registry import Registry

if TYPE_CHECKING:
    import torch

OPTIMISERS: Registry[Callable[..., Any]] = Registry("optim.name")


@OPTIMISERS.register("adam")
def adam(parameters: Iterable[torch.nn.Parameter], optim: dict[str, Any]) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adam(parameters, lr=optim["lr"], weight_decay=optim["weight_decay"])


@OPTIMISERS.register("adamw")
def adamw(parameters: Iterable[torch.nn.Parameter], optim: dict[str, Any]) -> torch.optim.Optimizer:
    import torch

    return torch.optim.AdamW(parameters, lr=optim["lr"], weight_decay=optim["weight_decay"])


class Schedule:
    """A learning-rate schedule: `build` returns (scheduler, Lightning interval), or None for a
    constant rate; `describe` the one-line summary `train` logs."""

    @staticmethod
    def build(optimizer: Any, schedule: dict, optim: dict, total_steps: Callable[[], int]):
        raise NotImplementedError

    @staticmethod
    def describe(schedule: dict) -> str:
        raise NotImplementedError


SCHEDULERS: Registry[type[Schedule]] = Registry("scheduler.name")


@SCHEDULERS.register("none")
class Constant(Schedule):
    @staticmethod
    def build(optimizer: Any, schedule: dict, optim: dict, total_steps: Callable[[], int]):
        return None

    @staticmethod
    def describe(schedule: dict) -> str:
        return "constant"


@SCHEDULERS.register("cosine")
class Cosine(Schedule):
    @staticmethod
    def build(optimizer: Any, schedule: dict, optim: dict, total_steps: Callable[[], int]):
        import torch

        factor = warmup_cosine(total_steps(), float(schedule["warmup"]))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "step"

    @staticmethod
    def describe(schedule: dict) -> str:
        return f"cosine to 0 per batch, warm-up {schedule['warmup']:.0%} of the steps"


@SCHEDULERS.register("step")
class Step(Schedule):
    @staticmethod
    def build(optimizer: Any, schedule: dict, optim: dict, total_steps: Callable[[], int]):
        import torch

        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=schedule["step_size"], gamma=schedule["gamma"]
        )
        return scheduler, "epoch"

    @staticmethod
    def describe(schedule: dict) -> str:
        return f"step x{schedule['gamma']} every {schedule['step_size']} epochs"


@SCHEDULERS.register("onecycle")
class OneCycle(Schedule):
    @staticmethod
    def build(optimizer: Any, schedule: dict, optim: dict, total_steps: Callable[[], int]):
        import torch

        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=optim["lr"], total_steps=total_steps()
        )
        return scheduler, "step"

    @staticmethod
    def describe(schedule: dict) -> str:
        return "one-cycle per batch"


def warmup_cosine(total_steps: int, warmup: float) -> Callable[[int], float]:
    """Learning-rate multiplier per optimiser step, scaled to the run's `total_steps`: linear
    from 1 / warm-up steps to 1 over the first `warmup` fraction of the steps, then cosine
    annealing to zero at the last step."""
    warmup_steps = round(warmup * total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor
