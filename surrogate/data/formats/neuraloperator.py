"""neuraloperator's `.pt` datasets: a torch dict with tensors `x` (inputs) and `y` (outputs).

As shipped with the library (darcy_train_16.pt: x (1000, 16, 16) bool, y (1000, 16, 16)
float32; burgers_train_16.pt: x (800, 16) the initial state, y (800, 17, 16) the trajectory,
visc (1, 1)), fields carry no channel axis: `x` is (N, *spatial). `y` is either (N, *spatial)
(a steady map) or (N, T, *spatial), a trajectory of T states; when its first state is `x`, `x`
is the initial condition and the coordinates become the fixed input fields, otherwise `x` is the
field fixed in time. `spatial_dims=` reads files whose fields do have a channel axis,
(N, C, *spatial). Other entries: one number each is recorded in the config, N numbers become
per-sample parameters. The grid is neuraloperator's: x_i = i / n on [0, 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from surrogate.data.formats.source import Block, ReadOptions, Source, coordinate_fields
from surrogate.errors import UserError
from surrogate.pdes.base import FieldSpec


def _load(path: Path) -> dict:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file it cannot read
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path} cannot be read by torch.load ({reason})") from error
    if not isinstance(data, dict) or not {"x", "y"} <= set(data):
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise UserError(
            f"{path} is not a neuraloperator dataset: it needs a dict with 'x', 'y' (found {found})"
        )
    return data


def _array(path: Path, data: dict, key: str) -> np.ndarray:
    value = data[key]
    if not hasattr(value, "shape"):
        raise UserError(f"{path}: '{key}' is a {type(value).__name__}, not a tensor")
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value).astype(np.float32)


def open_neuraloperator(path: Path, options: ReadOptions) -> Source:
    data = _load(path)
    x, y = _array(path, data, "x"), _array(path, data, "y")
    n = x.shape[0]
    if y.shape[0] != n:
        raise UserError(f"{path}: x has {n} samples, y {y.shape[0]}")
    if options.spatial_dims is None:
        dims, x = x.ndim - 1, x[:, None]
        if dims < 1 or dims > 3:
            raise UserError(f"{path}: x has shape {x.shape[2:]}; expected (N, *spatial) in 1-3D")
        if y.ndim not in (dims + 1, dims + 2):
            raise UserError(
                f"{path}: y has shape {tuple(y.shape)}; expected (N, *spatial) or (N, T, *spatial) "
                f"like x {tuple(x.shape[2:])}"
            )
        y = y[:, None] if y.ndim == dims + 1 else y[:, :, None]
    else:
        dims = options.spatial_dims
        if x.ndim != dims + 2:
            raise UserError(
                f"{path}: x has shape {tuple(x.shape)}; with spatial_dims={dims} it must be "
                f"(N, channels, {dims} spatial axes)"
            )
        if y.ndim not in (dims + 2, dims + 3):
            raise UserError(f"{path}: y has shape {tuple(y.shape)}; expected {dims} spatial axes")
    spatial = tuple(x.shape[2:])
    trajectory = y.ndim == dims + 3
    if tuple(y.shape[-dims:]) != spatial:
        raise UserError(f"{path}: x {tuple(x.shape)} and y {tuple(y.shape)} do not match")
    grid = {axis: np.arange(size) / size for axis, size in zip("xyz", spatial)}
    output_names = _names("y", y.shape[2] if trajectory else y.shape[1])
    input_names = _names("x", x.shape[1])
    if trajectory and x.shape[1] == y.shape[2] and np.array_equal(x, y[:, 0]):
        input_names, coords = coordinate_fields(grid)
        x = np.broadcast_to(coords, (n, *coords.shape))
    params, facts = {}, {}
    for key, value in data.items():
        if key in ("x", "y") or not hasattr(value, "shape"):
            continue
        values = np.asarray(value)
        if values.size == 1:  # printed in its own precision: 0.01, not 0.00999999977
            facts[str(key)] = float(str(values.ravel()[0]))
        elif values.shape == (n,):
            params[str(key)] = values.astype(np.float64)
        else:
            facts[str(key)] = f"not imported: shape {list(values.shape)}"
    spec = FieldSpec(
        input_names,
        output_names,
        spatial,
        param_names=tuple(params),
        time_steps=y.shape[1] if trajectory else 0,
        dt=options.dt if trajectory else 0.0,
    )

    def read(start: int, stop: int) -> Block:
        block_params = {key: values[start:stop] for key, values in params.items()}
        return Block(np.ascontiguousarray(x[start:stop]), y[start:stop], block_params)

    return Source(path, spec, n, options.pde or "neuraloperator", grid, read, facts=facts)


def _names(prefix: str, channels: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{c}" for c in range(channels))
