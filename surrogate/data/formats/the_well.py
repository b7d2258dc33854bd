"""The Well's HDF5 files (Ohana et al., NeurIPS 2024 Datasets and Benchmarks): one file per set
of simulation parameters, in `data/{train,valid,test}/` folders.

Layout read: root attributes `n_spatial_dims`, `dataset_name`, `grid_type` and
`simulation_parameters` (the names of root attributes holding this file's parameter values);
`dimensions`, whose attribute `spatial_dims` names its coordinate datasets, and its `time`;
`t0_fields`, `t1_fields`, `t2_fields` (scalar, vector and tensor fields, each group listing them
in `field_names`), a field shaped ([B], [T], *spatial, [D]*order) by its attributes
`sample_varying`, `time_varying` and `dim_varying`; `scalars` (numbers per file or per
trajectory); `boundary_conditions`, one group per condition with `bc_type`, `associated_dims`
and `associated_fields`.

Fields that vary in time are the trajectory's channels (a vector field v gives v_x, v_y, a
tensor field s gives s_xx, s_xy, s_yx, s_yy), fields fixed in time are the inputs (the
coordinates where there is none). Simulation parameters and per-trajectory scalars become
per-sample parameters; constant scalars, the boundary conditions and the grid type are recorded
in the config. A field that does not cover every spatial axis cannot be stored on our grid and
is refused.
"""

from __future__ import annotations

from contextlib import ExitStack
from itertools import product
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from surrogate.data.formats.source import (
    Block,
    ReadOptions,
    Source,
    coordinate_fields,
    open_hdf5,
    uniform_step,
)
from surrogate.errors import UserError
from surrogate.pdes.base import FieldSpec

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")
ROOT_ATTRIBUTES = ("n_spatial_dims", "n_trajectories")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _names(attrs: h5py.AttributeManager, key: str) -> list[str]:
    values = attrs.get(key, [])
    return [_text(v) for v in np.atleast_1d(values)] if len(np.atleast_1d(values)) else []


def _plain(value: Any) -> Any:
    """An HDF5 attribute as YAML-friendly Python."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_the_well(path: Path, options: ReadOptions, stack: ExitStack) -> Source:
    file = stack.enter_context(open_hdf5(path, "a file of The Well"))
    missing = [key for key in ("dimensions", *FIELD_GROUPS) if key not in file]
    missing += [f"the root attribute {key}" for key in ROOT_ATTRIBUTES if key not in file.attrs]
    if missing:
        what = ", ".join(missing)
        raise UserError(
            f"{path} is not a file of The Well: it lacks {what} (expected groups dimensions, "
            "t0_fields, t1_fields, t2_fields, scalars, boundary_conditions)"
        )
    n = int(file.attrs["n_trajectories"])
    axes = _names(file["dimensions"].attrs, "spatial_dims")
    if len(axes) != int(file.attrs["n_spatial_dims"]):
        raise UserError(
            f"{path}: dimensions lists spatial_dims {axes} for n_spatial_dims="
            f"{int(file.attrs['n_spatial_dims'])}"
        )
    grid = {}
    for axis in axes:
        coords = np.asarray(file["dimensions"][axis][:], np.float64)
        if coords.ndim != 1:
            raise UserError(f"{path}: dimensions/{axis} varies between trajectories; not supported")
        grid[axis] = coords
    spatial = tuple(len(c) for c in grid.values())
    fields = [
        _Field(path, file[group][name], order, axes, spatial, n)
        for order, group in enumerate(FIELD_GROUPS)
        for name in _names(file[group].attrs, "field_names")
    ]
    moving = [f for f in fields if f.time_varying]
    fixed = [f for f in fields if not f.time_varying]
    if not moving:
        raise UserError(f"{path}: no field varies in time; nothing to learn a trajectory of")
    steps = moving[0].steps
    for f in moving:
        if f.steps != steps:
            raise UserError(f"{path}: {f.name} has {f.steps} time steps, {moving[0].name} {steps}")
    dt = _time_step(path, file["dimensions"]["time"], steps)
    params, facts = _parameters(path, file, n)
    facts["grid_type"] = _text(file.attrs.get("grid_type", "cartesian"))
    facts["boundary_conditions"] = {
        name: {key: _plain(value) for key, value in group.attrs.items()}
        for name, group in file.get("boundary_conditions", {}).items()
    }
    if fixed:
        input_names = tuple(c for f in fixed for c in f.channels)
    else:
        input_names, coords = coordinate_fields(grid)

    def read(start: int, stop: int) -> Block:
        count = stop - start
        if fixed:
            inputs = np.concatenate([f.read(start, stop) for f in fixed], axis=1)
        else:
            inputs = np.broadcast_to(coords, (count, *coords.shape))
        outputs = np.concatenate([f.read(start, stop) for f in moving], axis=2)
        return Block(inputs, outputs, {k: v[start:stop] for k, v in params.items()})

    spec = FieldSpec(
        input_names,
        tuple(c for f in moving for c in f.channels),
        spatial,
        param_names=tuple(params),
        time_steps=steps,
        dt=dt,
    )
    pde = options.pde or _text(file.attrs.get("dataset_name", path.stem))
    return Source(path, spec, n, pde, grid, read, facts=facts)


class _Field:
    """One field of t0/t1/t2_fields: its channels and a reader giving (n, [T,] C, *spatial)."""

    def __init__(
        self, path: Path, data: h5py.Dataset, order: int, axes: list[str], spatial: tuple, n: int
    ) -> None:
        attrs = data.attrs
        self.name = data.name.lstrip("/")
        self.data = data
        self.sample_varying = bool(attrs.get("sample_varying", True))
        self.time_varying = bool(attrs.get("time_varying", True))
        if not all(np.atleast_1d(attrs.get("dim_varying", True))):
            raise UserError(
                f"{path}: {self.name} does not vary along every spatial axis (dim_varying "
                f"{list(np.atleast_1d(attrs['dim_varying']))}); such fields cannot be imported"
            )
        components = ["".join(c) for c in product(axes, repeat=order)]
        self.channels = tuple(
            f"{data.name.rsplit('/', 1)[-1]}_{c}" if c else data.name.rsplit("/", 1)[-1]
            for c in components
        )
        lead = (n,) * self.sample_varying
        expected_tail = (*spatial, *(len(axes),) * order)
        shape = tuple(data.shape)
        self.steps = shape[len(lead)] if self.time_varying and len(shape) > len(lead) else 0
        expected = (*lead, *((self.steps,) if self.time_varying else ()), *expected_tail)
        if shape != expected:
            raise UserError(
                f"{path}: {self.name} has shape {shape}; by its attributes (sample_varying="
                f"{self.sample_varying}, time_varying={self.time_varying}) it should be "
                f"([{n} trajectories], [T], {', '.join(map(str, expected_tail))})"
            )
        self.order = order
        self._shared: np.ndarray | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples start..stop as (n, T, C, *spatial) (time-varying) or (n, C, *spatial)."""
        if self.sample_varying:
            values = np.asarray(self.data[start:stop], np.float32)
        else:  # the same for every trajectory: read once
            if self._shared is None:
                self._shared = np.asarray(self.data[()], np.float32)
            values = np.broadcast_to(self._shared, (stop - start, *self._shared.shape))
        lead = 2 if self.time_varying else 1
        spatial_rank = values.ndim - lead - self.order
        flat = values.reshape(*values.shape[: lead + spatial_rank], -1)
        return np.moveaxis(flat, -1, lead)


def _time_step(path: Path, times: h5py.Dataset, steps: int) -> float:
    values = np.asarray(times[:], np.float64)
    rows = values.reshape(-1, values.shape[-1])
    if rows.shape[1] != steps:
        raise UserError(f"{path}: dimensions/time has {rows.shape[1]} times for {steps} states")
    dt = uniform_step(rows[0], path, "dimensions/time")
    if not np.allclose(np.diff(rows, axis=1), dt, rtol=1e-3, atol=0.0):
        raise UserError(f"{path}: trajectories have different time steps; not supported")
    return dt


def _parameters(path: Path, file: h5py.File, n: int) -> tuple[dict[str, np.ndarray], dict]:
    """Per-sample parameters (the file's simulation parameters, per-trajectory scalars) and the
    facts recorded in the config (constant and time-varying scalars)."""
    params: dict[str, np.ndarray] = {}
    facts: dict[str, Any] = {}
    for name in _names(file.attrs, "simulation_parameters"):
        if name in file.attrs:
            params[name] = np.full(n, float(np.asarray(file.attrs[name]).ravel()[0]))
    scalars = file.get("scalars")
    for name in _names(scalars.attrs, "field_names") if scalars is not None else []:
        data = scalars[name]
        values = np.asarray(data[()], np.float64)
        if bool(data.attrs.get("time_varying", False)):
            facts[name] = "not imported: varies in time"
        elif bool(data.attrs.get("sample_varying", False)) and values.size == n:
            params.setdefault(name, values.ravel())
        elif values.size == 1 and name not in params:
            facts[name] = float(values.ravel()[0])
    return params, facts
