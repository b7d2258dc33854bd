"""PDEBench's HDF5 files (Takamoto et al., NeurIPS 2022), in the layouts its loaders read.

- 2D Darcy (`2D_DarcyFlow_beta*_Train.hdf5`): `nu` (N, H, W) the coefficient and `tensor`
  (N, 1, H, W) the solution; stored under our Darcy names (coefficient -> solution) so
  checkpoints apply across both.
- Scalar time-dependent (`1D_Advection_*`, `1D_Burgers_*`, `ReacDiff_*`, ...): `tensor`
  (N, T, X[, Y]) trajectories, the field named `u`.
- Compressible flow (`1D_CFD_*`, `2D_CFD_*`): `density`, `pressure`, `Vx`[, `Vy`[, `Vz`]],
  each (N, T, X[, Y[, Z]]), as the channels of one trajectory in that order.
- One group per sample (`2D_diff-react_NA_NA.h5`, `2D_rdb_NA_NA.h5`, `1D_diff-sorp_NA_NA.h5`):
  groups `0000`, `0001`, ... each with `data` (T, X[, Y], C) and `grid/x`, `grid/y`, `grid/t`.

Coordinates come from `x-coordinate`, `y-coordinate`, `z-coordinate` and `t-coordinate` (or
each group's `grid/`); PDEBench's `t-coordinate` may hold one time more than the states, and
the first T are the states' times. Time-dependent files have no field fixed in time, so the
coordinates are the input fields. A test split cut from a file follows PDEBench's loaders: the
first tenth of a single-array file, the last tenth of a file of groups.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

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

CFD_FIELDS = ("density", "pressure", "Vx", "Vy", "Vz")
LAYOUTS = (
    "`nu` and `tensor` (2D Darcy), `tensor` (N, T, X[, Y]), `density`/`pressure`/`Vx` (CFD) "
    "or one group per sample with `data`"
)


def open_pdebench(path: Path, options: ReadOptions, stack: ExitStack) -> Source:
    file = stack.enter_context(open_hdf5(path, "a PDEBench file"))
    if "nu" in file and "tensor" in file:
        return _darcy(path, file, options)
    if "tensor" in file:
        return _trajectories(path, file, ("tensor",), ("u",), options)
    present = [name for name in CFD_FIELDS if name in file]
    if present:
        return _trajectories(path, file, tuple(present), tuple(present), options)
    groups = sorted(
        key for key in file if isinstance(file[key], h5py.Group) and "data" in file[key]
    )
    if groups:
        return _groups(path, file, groups, options)
    found = ", ".join(sorted(file)) or "nothing"
    raise UserError(f"{path} is not a PDEBench file: it needs {LAYOUTS} (found {found})")


def _coordinates(path: Path, file: h5py.Group, spatial: tuple[int, ...], prefix: str) -> dict:
    """Stored coordinates per spatial axis where they fit, else cell centres on [0, 1]."""
    grid = {}
    for axis, size in zip("xyz", spatial):
        key = prefix.format(axis=axis)
        values = np.asarray(file[key][:], np.float64).ravel() if key in file else None
        if values is not None and len(values) != size:
            raise UserError(f"{path}: {key} has {len(values)} points, the fields {size}")
        grid[axis] = values if values is not None else (np.arange(size) + 0.5) / size
    return grid


def _darcy(path: Path, file: h5py.File, options: ReadOptions) -> Source:
    nu, tensor = file["nu"], file["tensor"]
    if nu.ndim != 3 or tensor.ndim != 4 or tensor.shape[1] != 1:
        raise UserError(
            f"{path}: expected nu (N, H, W) and tensor (N, 1, H, W) (2D Darcy), found "
            f"{nu.shape} and {tensor.shape}"
        )
    if tensor.shape[0] != nu.shape[0] or tensor.shape[2:] != nu.shape[1:]:
        raise UserError(f"{path}: nu {nu.shape} and tensor {tensor.shape} do not match")
    spatial = tuple(nu.shape[1:])

    def read(start: int, stop: int) -> Block:
        return Block(nu[start:stop][:, None], tensor[start:stop])

    spec = FieldSpec(("coefficient",), ("solution",), spatial)
    grid = _coordinates(path, file, spatial, "{axis}-coordinate")
    return Source(path, spec, nu.shape[0], options.pde or "darcy", grid, read, test_first=True)


def _trajectories(
    path: Path, file: h5py.File, keys: tuple[str, ...], names: tuple[str, ...], options: ReadOptions
) -> Source:
    arrays = [file[key] for key in keys]
    shape = arrays[0].shape
    if not 3 <= len(shape) <= 5:
        raise UserError(f"{path}: {keys[0]} has shape {shape}; expected (N, T, X[, Y[, Z]])")
    for key, array in zip(keys, arrays):
        if array.shape != shape:
            raise UserError(f"{path}: {key} has shape {array.shape}, {keys[0]} {shape}")
    n, steps, spatial = shape[0], shape[1], tuple(shape[2:])
    grid = _coordinates(path, file, spatial, "{axis}-coordinate")
    dt = _time_step(path, file, "t-coordinate", steps)
    input_names, coords = coordinate_fields(grid)

    def read(start: int, stop: int) -> Block:
        outputs = np.stack([array[start:stop] for array in arrays], axis=2)
        return Block(np.broadcast_to(coords, (stop - start, *coords.shape)), outputs)

    spec = FieldSpec(input_names, names, spatial, time_steps=steps, dt=dt)
    pde = options.pde or path.stem
    return Source(path, spec, n, pde, grid, read, test_first=True)


def _time_step(path: Path, group: h5py.Group, key: str, steps: int) -> float:
    if key not in group:
        raise UserError(f"{path}: trajectories need their times, but {group.name}{key} is missing")
    times = np.asarray(group[key][:], np.float64).ravel()
    if len(times) not in (steps, steps + 1):
        raise UserError(f"{path}: {key} has {len(times)} times for {steps} states")
    return uniform_step(times[:steps], path, key)


def _groups(path: Path, file: h5py.File, groups: list[str], options: ReadOptions) -> Source:
    first = file[groups[0]]
    shape = first["data"].shape
    if not 3 <= len(shape) <= 5:
        raise UserError(f"{path}: {groups[0]}/data has shape {shape}; expected (T, X[, Y], C)")
    for key in groups:
        if file[key]["data"].shape != shape:
            raise UserError(f"{path}: {key}/data has shape {file[key]['data'].shape}, not {shape}")
    if "grid" not in first:
        raise UserError(f"{path}: {groups[0]} has no grid/ group with the coordinates and times")
    steps, spatial, channels = shape[0], tuple(shape[1:-1]), shape[-1]
    grid = _coordinates(path, first["grid"], spatial, "{axis}")
    dt = _time_step(path, first["grid"], "t", steps)
    input_names, coords = coordinate_fields(grid)
    names = ("u",) if channels == 1 else tuple(f"u{c}" for c in range(channels))

    def read(start: int, stop: int) -> Block:
        data = np.stack([file[key]["data"][:] for key in groups[start:stop]])
        return Block(
            np.broadcast_to(coords, (stop - start, *coords.shape)), np.moveaxis(data, -1, 2)
        )

    spec = FieldSpec(input_names, names, spatial, time_steps=steps, dt=dt)
    return Source(path, spec, len(groups), options.pde or path.stem, grid, read)
