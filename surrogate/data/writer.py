"""Resumable writer of one dataset split.

Samples are written by index into `<split>.h5.partial`; a `completed` bitmap records which are
done (set only after the samples' data are flushed, so a kill can lose samples but never mark
one done whose data did not reach the disk) and the file is flushed regularly, so a killed run resumes where it stopped. Only when every
sample is written is `complete` set, the file flushed and renamed to `<split>.h5`: a file under
the final name is always complete.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from surrogate.data.schema import SCHEMA_VERSION, SOLVER_STATS
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult

log = logging.getLogger(__name__)


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
        self._unflushed: list[int] = []  # written, not yet marked in `completed`
        self.file = self._open_or_create(spec, grid, dict(attrs))

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
        file = h5py.File(self.partial, "w", track_order=False)
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
        chunk = (1, 1, *outputs[1:]) if spec.time_steps else (1, *outputs)
        for name, shape, chunks in (("inputs", inputs, (1, *inputs)), ("outputs", outputs, chunk)):
            file.create_dataset(
                name,
                shape=(n, *shape),
                dtype="float32",
                chunks=chunks,
                track_times=False,
                dcpl=self._placement() if self.subset is None else None,
            )
        if spec.time_steps:
            times = spec.dt * np.arange(spec.time_steps, dtype=np.float64)
            file.create_dataset("times", data=times, track_times=False)
        for axis, coords in grid.items():
            file.create_dataset(
                f"grid/{axis}", data=np.asarray(coords, np.float64), track_times=False
            )
        for name in spec.param_names:
            file.create_dataset(f"params/{name}", shape=(n,), dtype="float64", track_times=False)
        for name, dtype in SOLVER_STATS.items():
            file.create_dataset(f"solver/{name}", shape=(n,), dtype=dtype, track_times=False)
        file.create_dataset("completed", shape=(n,), dtype="uint8", track_times=False)
        file.flush()
        return file

    @staticmethod
    def _placement() -> h5py.h5p.PropDCID:
        """Every chunk's place fixed at creation (no data written, the file stays sparse), so
        the layout cannot depend on the order of writes: otherwise HDF5 packs chunks under 2 KiB
        into shared blocks whose fill state a kill loses, and a resumed file holds the same data
        at other offsets. (Shard files, which hold a subset, allocate as they go.)"""
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)  # every sample is written before `complete`
        return dcpl

    def pending(self) -> list[int]:
        missing = [int(i) for i in np.flatnonzero(self.file["completed"][:] == 0)]
        return missing if self.subset is None else [i for i in missing if i in self.subset]

    def adopt(self, other: Path) -> int:
        """Copy the samples another file of the same config completed (a finished shard)."""
        with h5py.File(other, "r") as source:
            if source.attrs.get("config") != self.file.attrs["config"]:
                return 0
            done = np.flatnonzero((source["completed"][:] == 1) & (self.file["completed"][:] == 0))
            keys = ["inputs", "outputs", *(f"solver/{name}" for name in SOLVER_STATS)]
            keys += [f"params/{name}" for name in source.get("params", {})]
            for index in done:
                for key in keys:
                    self.file[key][index] = source[key][index]
                self.file["completed"][index] = 1
        self.file.flush()
        return len(done)

    def write(
        self,
        index: int,
        inputs: np.ndarray,
        outputs: np.ndarray,
        params: Mapping[str, float],
        result: SolveResult,
    ) -> None:
        file = self.file
        file["inputs"][index] = inputs
        file["outputs"][index] = outputs
        for name, value in params.items():
            file[f"params/{name}"][index] = value
        for name in SOLVER_STATS:
            file[f"solver/{name}"][index] = getattr(result, name)
        self._unflushed.append(index)
        if time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Data first, then their `completed` marks: HDF5 may put a contiguous dataset's bytes
        (the bitmap) on disk before cached chunks and their index, so marking a sample done
        before its data were flushed could leave a resumed file with zeros in its place."""
        self.file.flush()
        if self._unflushed:
            completed = self.file["completed"]
            for index in self._unflushed:
                completed[index] = 1
            self._unflushed.clear()
            self.file.flush()
        self._last_flush = time.monotonic()

    def finish(self) -> None:
        """Mark complete and move into place; refuses if any sample is missing."""
        self.flush()
        completed = self.file["completed"][:]
        wanted = range(self.n_samples) if self.subset is None else self.subset
        missing = sum(1 for i in wanted if not completed[i])
        if missing:
            raise RuntimeError(f"{self.partial}: {missing} samples not written")
        self.file.attrs["complete"] = True
        self.file.flush()
        self.file.close()
        os.replace(self.partial, self.path)

    def close(self) -> None:
        """Flush and close without completing (the partial file stays for a resume)."""
        if self.file.id.valid:
            self.flush()
            self.file.close()
