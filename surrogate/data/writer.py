"""Resumable writer of one dataset split.

Samples are written by index into `<split>.h5.partial`; a `completed` bitmap records which are
done and the file is flushed regularly, so a killed run resumes where it stopped. A sample's bit
is set only after its data has been flushed, so a crash never marks a sample done that is not.
Samples are buffered between flushes and written in blocks: the fields of consecutive indices
in one write each (staged as float32 rows of preallocated blocks, written from there without
another copy when they arrived in index order), the per-sample statistics (kept in memory for
the whole split: a few bytes per sample) as one slice per dataset, instead of nine small
writes per sample. Every byte lands where a sample-by-sample writer puts it (the layout is
fixed at creation), so the file does not depend on how the writes were grouped.
Only when every sample is written is `complete` set, the file flushed, synced to disk and renamed
to `<split>.h5`: a file under the final name is always complete. Fields carry Fletcher-32
checksums, so a damaged file fails to read instead of giving wrong numbers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from surrogate.data.digest import record_digest
from surrogate.data.schema import SCHEMA_VERSION, SOLVER_STATS
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult

log = logging.getLogger(__name__)

# Buffered fields that force a flush before `flush_seconds` is up. Small enough that the staging
# blocks stay in memory the process has touched already (fresh pages cost a fault each: with
# 64 MiB, 0.06 ms of each sample's 0.14 ms write at 64², docs/benchmarks.md).
BUFFER_BYTES = 16 * 2**20


class SplitWriter:
    """Writes samples of one split by index; `pending()` lists those still to do."""

    def __init__(
        self,
        path: Path,
        n_samples: int,
        spec: FieldSpec,
        grid: Mapping[str, np.ndarray],
        attrs: Mapping[str, object],
        flush_seconds: float = 5.0,
        subset: set[int] | None = None,
    ) -> None:
        self.path = path
        self.subset = subset  # a shard writes only these sample indices
        self.partial = path.with_name(path.name + ".partial")
        self.n_samples = n_samples
        self.flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self._unmarked: list[int] = []  # written, but not yet flushed and marked completed
        self.file = self._open_or_create(spec, grid, dict(attrs))
        self._fields = {key: self.file[key] for key in ("inputs", "outputs")}
        row_bytes = sum(4 * int(np.prod(d.shape[1:])) for d in self._fields.values())
        wanted = n_samples if subset is None else len(subset)
        capacity = max(1, min(wanted, BUFFER_BYTES // max(1, row_bytes)))
        # Fields not yet written, in arrival order (np.empty: pages are only touched when used).
        self._staged = {
            key: np.empty((capacity, *d.shape[1:]), np.float32) for key, d in self._fields.items()
        }
        self._staged_indices: list[int] = []
        keys = [f"params/{name}" for name in self.file.get("params", {})]
        keys += [f"solver/{name}" for name in SOLVER_STATS]
        self._columns = {key: self.file[key][:] for key in keys}  # what the file holds, updated
        self._completed = self.file["completed"][:]

    def _open_or_create(
        self, spec: FieldSpec, grid: Mapping[str, np.ndarray], attrs: dict[str, object]
    ) -> h5py.File:
        if self.partial.exists():
            try:
                file = h5py.File(self.partial, "r+")
                if file.attrs.get("config") == attrs["config"]:
                    log.info(
                        "resuming %s: %d of %d samples already done",
                        self.partial,
                        int(file["completed"][:].sum()),
                        self.n_samples,
                    )
                    return file
                file.close()
                log.warning("discarding %s: it was started with another config", self.partial)
            except OSError:
                log.warning("discarding unreadable partial file %s", self.partial)
            self.partial.unlink()
        return self._create(spec, grid, attrs)

    def _create(
        self, spec: FieldSpec, grid: Mapping[str, np.ndarray], attrs: dict[str, object]
    ) -> h5py.File:
        """A new partial file with all its space allocated now, so that a full disk or a file
        size limit stops the run here, before any solve, and never corrupts it mid-run."""
        file = h5py.File(self.partial, "w", track_order=False)
        try:
            self._layout(file, spec, grid, attrs)
            file.flush()
        except BaseException:
            try:
                file.close()
            finally:
                self.partial.unlink(missing_ok=True)
            raise
        return file

    def _layout(
        self,
        file: h5py.File,
        spec: FieldSpec,
        grid: Mapping[str, np.ndarray],
        attrs: dict[str, object],
    ) -> None:
        n = self.n_samples
        for key, value in attrs.items():
            file.attrs[key] = value
        file.attrs["schema_version"] = SCHEMA_VERSION
        file.attrs["n_samples"] = n
        file.attrs["spatial_dims"] = len(spec.spatial_shape)
        file.attrs["input_names"] = list(spec.input_names)
        file.attrs["output_names"] = list(spec.output_names)
        file.attrs["complete"] = False
        file.attrs["time_steps"] = spec.time_steps
        file.attrs["dt"] = spec.dt
        inputs = (len(spec.input_names), *spec.spatial_shape)
        outputs = spec.output_shape
        chunks = {
            "inputs": (1, *inputs),
            "outputs": (1, 1, *outputs[1:]) if spec.time_steps else (1, *outputs),
        }
        for key, shape in (("inputs", inputs), ("outputs", outputs)):
            # A shard file holds a subset: allocating all n samples would multiply the disk use.
            # A fresh property list each: h5py adds the checksum filter to the one it is given.
            placement = _allocated_now() if self.subset is None else {"track_times": False}
            file.create_dataset(
                key,
                shape=(n, *shape),
                dtype="float32",
                chunks=chunks[key],
                fletcher32=True,
                **placement,
            )
        if spec.time_steps:
            times = spec.dt * np.arange(spec.time_steps, dtype=np.float64)
            file.create_dataset("times", data=times, **_allocated_now())
        for axis, coords in grid.items():
            file.create_dataset(
                f"grid/{axis}", data=np.asarray(coords, np.float64), track_times=False
            )
        for name in spec.param_names:
            file.create_dataset(f"params/{name}", shape=(n,), dtype="float64", **_allocated_now())
        for name, dtype in SOLVER_STATS.items():
            file.create_dataset(f"solver/{name}", shape=(n,), dtype=dtype, **_allocated_now())
        file.create_dataset("completed", shape=(n,), dtype="uint8", **_allocated_now())

    def pending(self) -> list[int]:
        missing = [int(i) for i in np.flatnonzero(self._completed == 0)]
        return missing if self.subset is None else [i for i in missing if i in self.subset]

    def adopt(self, other: Path) -> int:
        """Copy the samples another file of the same config completed (a finished shard)."""
        with h5py.File(other, "r") as source:
            if source.attrs.get("config") != self.file.attrs["config"]:
                return 0
            done = np.flatnonzero((source["completed"][:] == 1) & (self._completed == 0))
            columns = {key: source[key][:] for key in self._columns}
            for index in done:
                values = {key: column[index] for key, column in columns.items()}
                self._stage(int(index), source["inputs"][index], source["outputs"][index], values)
        self.flush()
        return len(done)

    def write(
        self,
        index: int,
        inputs: np.ndarray,
        outputs: np.ndarray,
        params: Mapping[str, float],
        result: SolveResult,
    ) -> None:
        values = {f"params/{name}": value for name, value in params.items()}
        values.update({f"solver/{name}": getattr(result, name) for name in SOLVER_STATS})
        self._stage(index, inputs, outputs, values)
        if time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    def _stage(
        self, index: int, inputs: np.ndarray, outputs: np.ndarray, values: Mapping[str, object]
    ) -> None:
        """Hold one sample until the next flush: its fields copied as float32 (the file's type,
        the rounding of `astype`) into the next free row of the staging blocks."""
        row = len(self._staged_indices)
        self._staged["inputs"][row] = inputs
        self._staged["outputs"][row] = outputs
        self._staged_indices.append(index)
        for key, value in values.items():
            self._columns[key][index] = value
        self._unmarked.append(index)
        if len(self._staged_indices) == len(self._staged["inputs"]):
            self.flush()

    def flush(self) -> None:
        """Write the buffered samples and flush them, then mark them completed and flush the
        marks."""
        indices = np.asarray(self._staged_indices, np.int64)
        rows = np.argsort(indices, kind="stable")  # staging rows in index order
        ordered = indices[rows]
        cuts = np.flatnonzero(np.diff(ordered) != 1) + 1  # runs of consecutive indices
        for run in np.split(rows, cuts) if len(rows) else ():
            in_order = bool(np.all(np.diff(run) == 1))  # arrived in index order: a slice
            for key, dataset in self._fields.items():
                staged = self._staged[key]
                block = staged[run[0] : run[-1] + 1] if in_order else staged[run]
                _write_rows(dataset, int(indices[run[0]]), block)
        self._staged_indices.clear()
        if self._unmarked:
            low, high = min(self._unmarked), max(self._unmarked) + 1
            for key, column in self._columns.items():
                self.file[key][low:high] = column[low:high]
        self.file.flush()
        if self._unmarked:
            self._completed[self._unmarked] = 1
            self.file["completed"][low:high] = self._completed[low:high]
            self._unmarked.clear()
            self.file.flush()
        self._last_flush = time.monotonic()

    def finish(self) -> None:
        """Mark complete and move into place; refuses if any sample is missing."""
        self.flush()
        completed = self._completed
        wanted = range(self.n_samples) if self.subset is None else self.subset
        missing = sum(1 for i in wanted if not completed[i])
        if missing:
            raise RuntimeError(f"{self.partial}: {missing} samples not written")
        self.file.attrs["complete"] = True
        self.file.close()
        record_digest(self.partial)
        _sync(self.partial)
        os.replace(self.partial, self.path)
        _sync(self.path.parent)

    def close(self) -> None:
        """Flush and close without completing (the partial file stays for a resume)."""
        if self.file.id.valid:
            try:
                self.flush()
            finally:
                self.file.close()


def _write_rows(dataset: h5py.Dataset, start: int, block: np.ndarray) -> None:
    """`block` (k, ...) into rows start .. start + k - 1 of `dataset`, in one HDF5 write
    (h5py's indexing costs several times more per call than the write of a small chunk)."""
    block = np.ascontiguousarray(block)  # stacked transposed fields keep their Fortran order
    file_space = dataset.id.get_space()
    file_space.select_hyperslab((start,) + (0,) * (block.ndim - 1), block.shape)
    dataset.id.write(h5py.h5s.create_simple(block.shape), file_space, block)


def _allocated_now() -> dict[str, object]:
    """create_dataset options that write every byte of the dataset at creation."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return {"dcpl": dcpl, "fill_time": "alloc", "track_times": False}


def _sync(path: Path) -> None:
    """fsync a file or directory, so a rename never reaches the disk before the data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
