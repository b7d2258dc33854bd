"""What a format reader finds in one file of another tool: a `Source` of samples.

A reader checks the file's layout when it opens it (a foreign or damaged file is a one-line
`UserError` before anything is written) and reads samples lazily, block by block, so files
larger than memory import too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from surrogate.errors import UserError
from surrogate.pdes.base import FieldSpec


@dataclass(frozen=True)
class Block:
    """Samples start..stop of a source: inputs (n, C_in, *spatial), outputs (n, C_out, *spatial)
    or trajectories (n, T, C_out, *spatial), and per-sample parameters name -> (n,)."""

    inputs: np.ndarray
    outputs: np.ndarray
    params: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One file's samples in our terms.

    `test_first`: when a test split is cut from this file, it is the first samples (PDEBench's
    own loaders take the first tenth of a single-array file as test), else the last.
    `facts` are recorded in the dataset's config (boundary conditions, constants of the file).
    """

    path: Path
    spec: FieldSpec
    n_samples: int
    pde: str
    grid: dict[str, np.ndarray]
    read: Callable[[int, int], Block]
    test_first: bool = False
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadOptions:
    """The format options of `conf/import.yaml` (None: not given)."""

    spatial_dims: int | None = None
    dt: float = 1.0
    pde: str | None = None


def open_hdf5(path: Path, what: str) -> h5py.File:
    """The file opened for reading; not HDF5 (or damaged) is a UserError naming `what` it should be."""
    try:
        return h5py.File(path, "r")
    except OSError as error:
        reason = str(error).splitlines()[0]
        raise UserError(
            f"{path} is not a readable HDF5 file ({reason}); expected {what}"
        ) from error


def coordinate_fields(grid: dict[str, np.ndarray]) -> tuple[tuple[str, ...], np.ndarray]:
    """The coordinates as fields (d, *spatial), for data that has no field fixed in time: the
    model then sees where it is, as FNO's grid channels do."""
    axes = list(grid)
    mesh = np.meshgrid(*(grid[a] for a in axes), indexing="ij")
    return tuple(axes), np.stack(mesh).astype(np.float32)


def uniform_step(times: np.ndarray, path: Path, where: str) -> float:
    """The spacing of equally spaced times; other spacings cannot be stored (times = k dt)."""
    times = np.asarray(times, np.float64).ravel()
    if len(times) < 2:
        raise UserError(f"{path}: {where} has {len(times)} time; trajectories need at least 2")
    steps = np.diff(times)
    dt = float(steps.mean())
    if not dt > 0 or not np.allclose(steps, dt, rtol=1e-3, atol=0.0):
        raise UserError(
            f"{path}: {where} is not equally spaced (steps {steps.min():.4g} to {steps.max():.4g}); "
            "only uniform time steps can be imported"
        )
    return dt


def block_size(sample_bytes: int, budget: int = 64 * 2**20) -> int:
    """Samples per read so that a block stays near `budget` bytes."""
    return max(1, budget // max(1, sample_bytes))
