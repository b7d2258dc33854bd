"""Finding and checking dataset splits, and reading them: lazily (one HDF5 handle per worker)
or once into memory (`InMemoryFields`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from surrogate.data.integrity import verify_samples
from surrogate.data.schema import READABLE_VERSIONS, SCHEMA_VERSION, split_filename
from surrogate.errors import UserError


@dataclass(frozen=True)
class SplitInfo:
    """What a split file says about itself."""

    path: Path
    name: str
    pde: str
    n_samples: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    spatial_shape: tuple[int, ...]
    time_steps: int = 0  # 0: steady; T: outputs are trajectories of T states
    dt: float = 0.0

    @property
    def temporal(self) -> bool:
        return self.time_steps > 0

    @property
    def in_channels(self) -> int:
        return len(self.input_names)

    @property
    def out_channels(self) -> int:
        return len(self.output_names)


def resolve_dataset_dir(data: str, data_dir: str | Path) -> Path:
    """A dataset given by name (under `data_dir`) or by directory path."""
    candidates = [Path(data_dir) / data, Path(data)]
    for candidate in candidates:
        if (candidate / split_filename("train")).is_file() or (
            candidate / split_filename("test")
        ).is_file():
            return candidate
    known = (
        sorted(p.name for p in Path(data_dir).glob("*") if any(p.glob("*.h5")))
        if Path(data_dir).is_dir()
        else []
    )
    hint = (
        f"known datasets in {data_dir}/: {', '.join(known)}"
        if known
        else f"no datasets in {data_dir}/ yet"
    )
    raise UserError(
        f"dataset '{data}' not found ({hint}); create it with `surrogate generate name={data} ...` "
        "or pass paths.data_dir=<dir>"
    )


def read_split_info(dataset_dir: Path, split: str) -> SplitInfo:
    """Open and check one split file; every problem becomes a one-line UserError."""
    path = dataset_dir / split_filename(split)
    if not path.is_file():
        present = sorted(p.stem for p in dataset_dir.glob("*.h5"))
        raise UserError(
            f"dataset {dataset_dir} has no '{split}' split (it has: {', '.join(present) or 'none'}); "
            "generate it or choose another split"
        )
    try:
        with h5py.File(path, "r") as file:
            attrs = dict(file.attrs)
            input_shape = file["inputs"].shape
            output_shape = file["outputs"].shape
        if attrs.get("schema_version") == SCHEMA_VERSION and attrs.get("complete", False):
            stat = path.stat()
            _verify_once(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except (OSError, KeyError) as error:
        raise UserError(
            f"{path} is not a readable surrogate dataset ({error}); delete it and generate it again"
        ) from error
    version = attrs.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise UserError(
            f"{path} has schema version {version}, this surrogate reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; generate the dataset again"
        )
    if not attrs.get("complete", False):
        raise UserError(
            f"{path} is incomplete; run the same `surrogate generate` command to finish it"
        )
    time_steps = int(attrs.get("time_steps", 0))
    expected = (input_shape[0], *((time_steps,) if time_steps else ()), len(attrs["output_names"]))
    if (
        tuple(output_shape[: len(expected)]) != expected
        or output_shape[len(expected) :] != (input_shape[2:])
    ):
        raise UserError(
            f"{path} has outputs of shape {output_shape} that do not fit its inputs "
            f"{input_shape} and {time_steps} time steps; generate it again"
        )
    return SplitInfo(
        path=path,
        name=str(attrs["name"]),
        pde=str(attrs["pde"]),
        n_samples=int(attrs["n_samples"]),
        input_names=tuple(str(n) for n in attrs["input_names"]),
        output_names=tuple(str(n) for n in attrs["output_names"]),
        spatial_shape=tuple(int(s) for s in input_shape[2:]),
        time_steps=time_steps,
        dt=float(attrs.get("dt", 0.0)),
    )


@functools.cache
def _verify_once(path: str, mtime_ns: int, size: int) -> None:
    """Read and check every sample of a split file once per process and file version (eval of
    a sweep reads the same test split for every run; a changed file is checked again)."""
    with h5py.File(path, "r") as file:
        verify_samples(file, Path(path))


def read_solver_stats(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as file:
        return {name: file["solver"][name][:] for name in file["solver"]}


class FieldDataset(Dataset):
    """(input, output) float32 tensors of a split, read sample by sample.

    The HDF5 file is opened on first access in each process, so DataLoader workers never share
    a handle opened in the parent.
    """

    def __init__(self, path: Path, indices: np.ndarray | None = None) -> None:
        self.path = path
        with h5py.File(path, "r") as file:
            n = file["inputs"].shape[0]
        self.indices = np.arange(n) if indices is None else np.asarray(indices)
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        index = int(self.indices[item])
        x = torch.from_numpy(self._file["inputs"][index])
        y = torch.from_numpy(self._file["outputs"][index])
        return x, y

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        return state


class InMemoryFields(Dataset):
    """(input, output) pairs of a split read once into tensors, on the host or on a device.

    A DataLoader over it fetches whole batches by indexing (`__getitems__`), so it should use
    `collate=batch_as_is` and no worker processes: there is nothing left to parallelise.
    """

    def __init__(
        self,
        fields: tuple[np.ndarray, np.ndarray],
        indices: np.ndarray | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        inputs, outputs = fields
        if indices is not None:
            inputs, outputs = inputs[np.asarray(indices)], outputs[np.asarray(indices)]
        self.inputs = torch.from_numpy(np.ascontiguousarray(inputs)).to(device)
        self.outputs = torch.from_numpy(np.ascontiguousarray(outputs)).to(device)

    @staticmethod
    def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
        """All inputs and outputs of a split file, in one bulk read each (the fastest way)."""
        with h5py.File(path, "r") as file:
            return file["inputs"][:], file["outputs"][:]

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[item], self.outputs[item]

    def __getitems__(self, items: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(items, device=self.inputs.device)
        return self.inputs[index], self.outputs[index]


def batch_as_is(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The collate function of `InMemoryFields`: its batches come stacked already."""
    return batch


def split_bytes(path: Path, indices: np.ndarray | None = None) -> int:
    """Bytes of a split's inputs and outputs (of the `indices` samples) in memory."""
    with h5py.File(path, "r") as file:
        total = sum(file[key].size * file[key].dtype.itemsize for key in ("inputs", "outputs"))
        n = file["inputs"].shape[0]
    return total if indices is None else total * len(indices) // max(1, n)


def read_grid(path: Path, spatial_shape: tuple[int, ...]) -> list[np.ndarray]:
    """Node coordinates per spatial axis from the file's grid/<axis> datasets (x, y, z order).

    A file without a matching grid (other axis count or lengths) is refused, since metrics with
    derivatives and spectra need the real spacing.
    """
    with h5py.File(path, "r") as file:
        group = file.get("grid")
        coords = [np.asarray(group[axis][:], np.float64) for axis in sorted(group)] if group else []
    if [len(c) for c in coords] != list(spatial_shape):
        raise UserError(
            f"{path} has grid axes of lengths {[len(c) for c in coords]} for fields of shape "
            f"{list(spatial_shape)}; generate it again"
        )
    return coords
