"""Shared helpers for tests of split files: a tiny writer, one sample, bytes without timings."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from surrogate.data.schema import NONDETERMINISTIC_DATASETS
from surrogate.data.writer import SplitWriter
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult

SPEC = FieldSpec(("a",), ("u",), (4, 4))
GRID = {"x": np.arange(4.0), "y": np.arange(4.0)}


def writer(path, config="cfg-1"):
    return SplitWriter(
        path, 6, SPEC, GRID, attrs={"name": "t", "split": "train", "pde": "p", "config": config}
    )


def write(w, index):
    result = SolveResult(np.zeros(16), 3, 4, 0.1, 1e-9, True)
    w.write(index, np.full((1, 4, 4), index), np.full((1, 4, 4), -index), {}, result)


def bytes_without_timings(path: Path) -> bytes:
    """A split file's bytes with its wall-clock timings zeroed (they differ run to run)."""
    data = bytearray(path.read_bytes())
    with h5py.File(path) as file:
        for name in NONDETERMINISTIC_DATASETS:
            offset, size = file[name].id.get_offset(), file[name].id.get_storage_size()
            data[offset : offset + size] = bytes(size)
    return bytes(data)
