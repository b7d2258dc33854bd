"""The Python API: a trained model as a function of physical fields, and a dataset split as arrays.

    import surrogate
    model = surrogate.load("outputs/train/<run>")       # a run directory or a .ckpt file
    u = model(a)                    # numpy or torch, (C_in, *spatial) or (batch, C_in, *spatial)
    model = model.to("cuda")        # or surrogate.load(path, device="cuda")
    states = model.rollout(a, first_states, steps=20)   # time-dependent data
    test = surrogate.open_dataset("data/darcy32", split="test")
    test.inputs, test.outputs, test.grid["x"], test.params, test.solver["iterations"]

Inputs and outputs are in physical units: the normaliser fitted at training time travels in the
checkpoint and is applied inside. Outputs come back as the inputs came in: numpy arrays
(float32) for numpy, tensors on the input's device for torch, without the batch axis when the
input had none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from omegaconf import OmegaConf

from surrogate.data.reader import SplitInfo, read_grid, read_split_info
from surrogate.data.schema import SOLVER_STATS, split_filename
from surrogate.errors import UserError

Array = np.ndarray | torch.Tensor


class Predictor:
    """A checkpoint's model in inference mode, mapping physical fields to physical fields."""

    def __init__(self, module: Any, device: torch.device) -> None:
        self.module = module.eval().to(device)
        data = module.hparams.data
        self.input_names: tuple[str, ...] = tuple(data["input_names"])
        self.output_names: tuple[str, ...] = tuple(data["output_names"])
        self.trained_shape: tuple[int, ...] = tuple(data["spatial_shape"])
        self.dims = len(self.trained_shape)
        self.window: int | None = module.temporal["window"] if module.temporal else None
        self.dt: float = float(data.get("dt", 0.0))

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def temporal(self) -> bool:
        """Whether this is a one-step model of time-dependent data (call it with states)."""
        return self.window is not None

    def to(self, device: str | torch.device) -> Predictor:
        self.module.to(_device(device))
        return self

    def __repr__(self) -> str:
        name = self.module.hparams.model["name"]
        shape = "×".join(map(str, self.trained_shape))
        step = f", one step from {self.window} states" if self.temporal else ""
        return (
            f"Predictor({name}: {', '.join(self.input_names)} -> {', '.join(self.output_names)}, "
            f"{self.dims}D, trained on {shape}{step}, {self.device.type})"
        )

    def __call__(self, x: Array, states: Array | None = None) -> Array:
        """The outputs for inputs `x` (C_in, *spatial) or (batch, C_in, *spatial); for a
        time-dependent model, the next state after `states` (window, C_out, *spatial) or
        (batch, window, C_out, *spatial)."""
        if self.temporal and states is None:
            raise ValueError(
                f"this model predicts the next state: call it as model(x, states) with the last "
                f"{self.window} states (window, {len(self.output_names)}, *spatial)"
            )
        if not self.temporal and states is not None:
            raise ValueError("this model is steady: call it as model(x), without states")
        inputs, unbatched, back = self._inputs(x)
        with torch.inference_mode():
            if states is None:
                return back(self.module(inputs), unbatched)
            window = self._states(states, unbatched, len(inputs), self.window)
            return back(self.module(inputs, window[:, -self.window :]), unbatched)

    def rollout(self, x: Array, states: Array, steps: int) -> Array:
        """`steps` states predicted autoregressively after the last `window` of `states`:
        (steps, C_out, *spatial), or (batch, steps, C_out, *spatial) for batched inputs."""
        if not self.temporal:
            raise ValueError("rollout needs a model of time-dependent data; this one is steady")
        if steps < 1:
            raise ValueError(f"steps={steps} must be >= 1")
        inputs, unbatched, back = self._inputs(x)
        window = self._states(states, unbatched, len(inputs), self.window)
        with torch.inference_mode():
            return back(self.module.unroll(inputs, window[:, -self.window :], steps), unbatched)

    def _inputs(self, x: Array) -> tuple[torch.Tensor, bool, Callable]:
        """x as a float32 batch on the model's device, whether it had no batch axis, and how to
        give the result back in x's kind (numpy, or a tensor on x's device)."""
        tensor = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        channels = len(self.input_names)
        if tensor.dim() not in (self.dims + 1, self.dims + 2):
            raise ValueError(
                f"inputs of shape {tuple(tensor.shape)}: expected ({channels}, *spatial) or "
                f"(batch, {channels}, *spatial) with {self.dims} spatial axes"
            )
        unbatched = tensor.dim() == self.dims + 1
        batch = tensor[None] if unbatched else tensor
        if batch.shape[1] != channels:
            raise ValueError(
                f"inputs have {batch.shape[1]} channels; this model takes {channels}: "
                + ", ".join(self.input_names)
            )
        origin = tensor.device

        def back(result: torch.Tensor, unbatched: bool) -> Array:
            result = result[0] if unbatched else result
            if isinstance(x, torch.Tensor):
                return result.to(origin)
            return result.float().cpu().numpy()

        return batch.to(self.device, torch.float32), unbatched, back

    def _states(self, states: Array, unbatched: bool, batch: int, window: int) -> torch.Tensor:
        tensor = torch.as_tensor(
            np.asarray(states) if not isinstance(states, torch.Tensor) else states
        )
        tensor = tensor[None] if unbatched else tensor
        expected = (batch, len(self.output_names))
        if tensor.dim() != self.dims + 3 or (tensor.shape[0], tensor.shape[2]) != expected:
            raise ValueError(
                f"states of shape {tuple(states.shape)}: expected (time, {expected[1]}, *spatial)"
                f"{'' if unbatched else f' with a batch axis of {batch} first'}"
            )
        if tensor.shape[1] < window:
            raise ValueError(f"states hold {tensor.shape[1]} states; the model needs {window}")
        return tensor.to(self.device, torch.float32)


def _device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is available; use device='cpu'")
    return device


def load(
    path: str | Path, device: str | torch.device = "cpu", checkpoint: str = "last"
) -> Predictor:
    """The model of a checkpoint file, or of a run directory's checkpoints/<checkpoint>.ckpt
    (`last` or `best`), on `device`."""
    from surrogate.evaluation.run import load_checkpoint, resolve_checkpoint

    target = _device(device)
    return Predictor(load_checkpoint(resolve_checkpoint(Path(path), checkpoint)), target)


@dataclass(frozen=True)
class DatasetSplit:
    """One split of a dataset as numpy arrays; fields are read when first used."""

    info: SplitInfo

    def __len__(self) -> int:
        return self.info.n_samples

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample `index`: (inputs (C_in, *spatial), outputs), read alone."""
        with h5py.File(self.info.path, "r") as file:
            return file["inputs"][index], file["outputs"][index]

    def _read(self, key: str) -> np.ndarray:
        with h5py.File(self.info.path, "r") as file:
            return file[key][:]

    @cached_property
    def inputs(self) -> np.ndarray:
        """(N, C_in, *spatial): for time-dependent data, the fields fixed in time."""
        return self._read("inputs")

    @cached_property
    def outputs(self) -> np.ndarray:
        """(N, C_out, *spatial), or the trajectories (N, T, C_out, *spatial)."""
        return self._read("outputs")

    @cached_property
    def grid(self) -> dict[str, np.ndarray]:
        """Node coordinates per axis (x, y, z)."""
        return dict(zip("xyz", read_grid(self.info.path, self.info.spatial_shape)))

    @cached_property
    def times(self) -> np.ndarray | None:
        """(T,) times of the stored states; None for steady data."""
        return self._read("times") if self.info.temporal else None

    @cached_property
    def params(self) -> dict[str, np.ndarray]:
        """Per-sample scalar parameters, name -> (N,)."""
        with h5py.File(self.info.path, "r") as file:
            return {name: file["params"][name][:] for name in file.get("params", {})}

    @cached_property
    def solver(self) -> dict[str, np.ndarray]:
        """Per-sample solver statistics: iterations, matvecs, seconds, residual, converged,
        fallback (NaN seconds for imported data)."""
        with h5py.File(self.info.path, "r") as file:
            return {name: file["solver"][name][:] for name in SOLVER_STATS}

    @cached_property
    def config(self) -> dict[str, Any]:
        """The settings that made the data (`surrogate generate`'s, or where it was imported from)."""
        with h5py.File(self.info.path, "r") as file:
            return OmegaConf.to_container(OmegaConf.create(str(file.attrs["config"])))

    def __repr__(self) -> str:
        info = self.info
        shape = "×".join(map(str, info.spatial_shape))
        time = f", {info.time_steps} states dt={info.dt:g}" if info.temporal else ""
        return (
            f"DatasetSplit({info.path}: {info.n_samples} samples of {info.pde}, "
            f"{', '.join(info.input_names)} -> {', '.join(info.output_names)} on {shape}{time})"
        )


def open_dataset(path: str | Path, split: str = "test") -> DatasetSplit:
    """A split of a dataset: `path` is the dataset directory (data/<name>) or a split file."""
    path = Path(path)
    if path.suffix == ".h5":
        path, split = path.parent, path.stem
    if not (path / split_filename(split)).is_file() and not path.is_dir():
        raise UserError(f"dataset {path} does not exist; pass a data/<name> directory")
    return DatasetSplit(read_split_info(path, split))
