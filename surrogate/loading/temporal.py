"""Training samples of time-dependent datasets: windows of states cut from stored trajectories.

A trajectory of T states gives one sample per start index s = 0 .. T - window - unroll: the
fields fixed in time, the `window` states s .. s + window - 1 the model sees, and the `unroll`
states after them it must predict one step at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from surrogate.errors import UserError

PREDICT = ("state", "change")
VALIDATE = ("rollout", "one_step")


@dataclass(frozen=True)
class TemporalOptions:
    """How a one-step model is trained on trajectories (`temporal:` in conf/train.yaml).

    window: states the model sees; predict: the next state, or the change added to the last
    state; unroll: steps of each training rollout; pushforward: only the last of them trains;
    validate: `rollout` scores each validation trajectory as eval does (rolled from its first
    window to its last state), `one_step` every next state from the true window before it.
    """

    window: int = 1
    predict: str = "state"
    unroll: int = 1
    pushforward: bool = False
    validate: str = "rollout"

    @classmethod
    def from_config(cls, values: dict[str, Any]) -> TemporalOptions:
        """Checked options; a bad value becomes a one-line UserError."""
        options = cls(**values)
        for key in ("window", "unroll"):
            value = getattr(options, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"temporal.{key}={value!r} must be an integer >= 1")
        if options.predict not in PREDICT:
            raise UserError(
                f"temporal.predict={options.predict!r} is unknown; choose one of: "
                + ", ".join(PREDICT)
            )
        if options.validate not in VALIDATE:
            raise UserError(
                f"temporal.validate={options.validate!r} is unknown; choose one of: "
                + ", ".join(VALIDATE)
            )
        if not isinstance(options.pushforward, bool):
            raise UserError(f"temporal.pushforward={options.pushforward!r} must be true or false")
        return options

    def check_fits(self, time_steps: int, path: Path) -> None:
        """A trajectory must hold the window and at least one rollout after it."""
        if time_steps == 0:
            if self != TemporalOptions():
                raise UserError(
                    f"{path} is steady (no time steps): the temporal.* options apply only to "
                    "time-dependent datasets; leave them at their defaults"
                )
            return
        if self.window + self.unroll > time_steps:
            raise UserError(
                f"{path} has trajectories of {time_steps} states: too short for "
                f"temporal.window={self.window} plus temporal.unroll={self.unroll}"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validation_unroll(self, time_steps: int) -> int:
        """States each validation sample predicts: all after the first window, or one."""
        return time_steps - self.window if self.validate == "rollout" else 1


class WindowDataset(Dataset):
    """(static (C_in, *s), window (w, C_out, *s), targets (k, C_out, *s)) per start index.

    Item i is trajectory `indices[i // starts]` from start `i % starts`; the HDF5 file is opened
    on first access in each process, as in FieldDataset.
    """

    def __init__(self, path: Path, indices: np.ndarray | None, window: int, unroll: int) -> None:
        self.path = path
        with h5py.File(path, "r") as file:
            n, time_steps = file["outputs"].shape[:2]
        self.indices = np.arange(n) if indices is None else np.asarray(indices)
        self.window = window
        self.unroll = unroll
        self.starts = time_steps - window - unroll + 1
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.indices) * self.starts

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        trajectory, start = divmod(item, self.starts)
        index = int(self.indices[trajectory])
        static = torch.from_numpy(self._file["inputs"][index])
        states = torch.from_numpy(
            self._file["outputs"][index, start : start + self.window + self.unroll]
        )
        return static, states[: self.window], states[self.window :]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        return state
