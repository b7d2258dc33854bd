"""Import datasets made elsewhere into our schema: data/<name>/{train,test}.h5, ready to train.

Formats:
- `pdebench`: PDEBench 2D Darcy HDF5 with `nu` (N, H, W), the coefficient, and `tensor`
  (N, 1, H, W), the solution; `x-coordinate` / `y-coordinate` become the grid when present.
  Fields get our Darcy names (coefficient -> solution), so checkpoints apply across both.
- `neuraloperator`: a torch `.pt` dict with tensors `x` (inputs) and `y` (outputs), shaped
  (N, *spatial) or (N, channels, *spatial); `spatial_dims` says which (default 2).

The last `n_test` samples become test.h5 (default a tenth), the others train.h5. Solver
statistics are unknown: stored as NaN seconds and zero iterations, marked converged.

    python -m surrogate.data.importers pdebench 2D_DarcyFlow_beta1.0_Train.hdf5 name=pdebench_darcy
    python -m surrogate.data.importers neuraloperator darcy_train_16.pt name=no_darcy16 n_test=50

Options (key=value): name (required), n_test, data_dir (default data), overwrite (default
false), pde (the recorded PDE name; neuraloperator only, default "imported"), spatial_dims.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from surrogate.data.schema import split_filename
from surrogate.data.writer import SplitWriter
from surrogate.errors import UserError
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult

IMPORTERS = {"pdebench": (), "neuraloperator": ("spatial_dims", "pde")}  # format: its options
UNKNOWN_SOLVE = SolveResult(np.zeros(0), 0, 0, float("nan"), float("nan"), True)


@dataclass(frozen=True)
class Source:
    """What an importer found in a file: field names, shapes, grid and a block reader."""

    spec: FieldSpec
    n_samples: int
    pde: str
    grid: dict[str, np.ndarray]
    read: Callable[[int, int], tuple[np.ndarray, np.ndarray]]  # (start, stop) -> inputs, outputs


def _node_grid(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Our convention (i + 1) / (n + 1) where the source gives no coordinates."""
    return {axis: np.arange(1, n + 1) / (n + 1) for axis, n in zip("xyz", shape)}


def open_pdebench(path: Path, file: h5py.File) -> Source:
    """PDEBench 2D Darcy: `nu` (N, H, W) coefficient, `tensor` (N, 1, H, W) solution."""
    if "nu" not in file or "tensor" not in file:
        raise UserError(f"{path} is not PDEBench 2D Darcy: it needs datasets 'nu' and 'tensor'")
    nu, tensor = file["nu"], file["tensor"]
    if nu.ndim != 3 or tensor.ndim != 4 or tensor.shape[1] != 1:
        raise UserError(
            f"{path}: expected nu (N, H, W) and tensor (N, 1, H, W), found {nu.shape} and "
            f"{tensor.shape}"
        )
    if tensor.shape[0] != nu.shape[0] or tensor.shape[2:] != nu.shape[1:]:
        raise UserError(f"{path}: nu {nu.shape} and tensor {tensor.shape} do not match")
    shape = tuple(nu.shape[1:])
    grid = _node_grid(shape)
    for axis in ("x", "y"):
        if f"{axis}-coordinate" in file:
            grid[axis] = np.asarray(file[f"{axis}-coordinate"][:], np.float64)

    def read(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return nu[start:stop][:, None], tensor[start:stop]

    spec = FieldSpec(("coefficient",), ("solution",), shape)
    return Source(spec, nu.shape[0], "darcy", grid, read)


def open_neuraloperator(path: Path, spatial_dims: str = "2", pde: str = "imported") -> Source:
    """A torch `.pt` dict with `x` and `y` tensors, with or without a channel axis."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file it cannot read
        raise UserError(f"{path} cannot be read by torch.load ({error})") from error
    if not isinstance(data, dict) or not {"x", "y"} <= set(data):
        raise UserError(f"{path} is not a neuraloperator dataset: it needs a dict with 'x', 'y'")
    if spatial_dims not in ("1", "2", "3"):
        raise UserError(f"spatial_dims={spatial_dims!r} must be 1, 2 or 3")
    dims = int(spatial_dims)
    arrays = []
    for key in ("x", "y"):
        array = np.asarray(data[key], dtype=np.float32)
        if array.ndim == dims + 1:
            array = array[:, None]
        if array.ndim != dims + 2:
            raise UserError(
                f"{path}: '{key}' has shape {array.shape}; expected (N, *spatial) or "
                f"(N, channels, *spatial) with {dims} spatial dimensions (spatial_dims=)"
            )
        arrays.append(array)
    x, y = arrays
    if x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise UserError(f"{path}: x {x.shape} and y {y.shape} do not match")
    names = [tuple(f"{key}{c}" for c in range(a.shape[1])) for key, a in (("x", x), ("y", y))]
    spec = FieldSpec(names[0], names[1], tuple(x.shape[2:]))
    return Source(
        spec, x.shape[0], pde, _node_grid(spec.spatial_shape), lambda a, b: (x[a:b], y[a:b])
    )


def _blocks(start: int, stop: int, size: int = 64) -> Iterator[tuple[int, int]]:
    for first in range(start, stop, size):
        yield first, min(first + size, stop)


def write_dataset(
    source: Source, directory: Path, name: str, n_test: int, config: str
) -> dict[str, int]:
    """Write train.h5 (the first samples) and test.h5 (the last `n_test`); returns the counts."""
    directory.mkdir(parents=True, exist_ok=True)
    n_train = source.n_samples - n_test
    sizes = {}
    for split, (start, stop) in (("train", (0, n_train)), ("test", (n_train, source.n_samples))):
        if stop == start:
            continue
        writer = SplitWriter(
            directory / split_filename(split),
            stop - start,
            source.spec,
            source.grid,
            attrs={"name": name, "split": split, "pde": source.pde, "config": config},
        )
        try:
            for first, last in _blocks(start, stop):
                inputs, outputs = source.read(first, last)
                for offset in range(last - first):
                    writer.write(
                        first + offset - start, inputs[offset], outputs[offset], {}, UNKNOWN_SOLVE
                    )
            writer.finish()
        finally:
            writer.close()
        sizes[split] = stop - start
    return sizes


def import_dataset(
    kind: str,
    path: Path,
    name: str,
    data_dir: Path = Path("data"),
    n_test: int | None = None,
    overwrite: bool = False,
    **options: str,
) -> dict[str, int]:
    """Convert the file at `path` into `data_dir/name/`; returns the samples per split."""
    if kind not in IMPORTERS:
        raise UserError(f"format '{kind}' is unknown; choose one of: {', '.join(IMPORTERS)}")
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    directory = data_dir / name
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise UserError(f"dataset {directory} exists; choose another name= or pass overwrite=true")
    config = f"imported_from: {path.resolve()}\nformat: {kind}\n" + "".join(
        f"{key}: {value}\n" for key, value in sorted({"n_test": n_test, **options}.items())
    )
    if kind == "neuraloperator":
        return _convert(open_neuraloperator(path, **options), directory, name, n_test, config)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise UserError(f"{path} is not a readable HDF5 file ({error})") from error
    with file:
        return _convert(open_pdebench(path, file), directory, name, n_test, config)


def _convert(
    source: Source, directory: Path, name: str, n_test: int | None, config: str
) -> dict[str, int]:
    """Replace `directory` (only once the source has been read and checked) by the import."""
    n_test = source.n_samples // 10 if n_test is None else n_test
    if not 0 <= n_test <= source.n_samples:
        raise UserError(f"n_test={n_test} must be between 0 and {source.n_samples}")
    if directory.exists():
        shutil.rmtree(directory)
    return write_dataset(source, directory, name, n_test, config)


def main(argv: list[str]) -> None:
    """`python -m surrogate.data.importers <format> <file> name=<name> [key=value ...]`."""
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    kind, path, options = argv[0], Path(argv[1]), {}
    try:
        for item in argv[2:]:
            key, sep, value = item.partition("=")
            if not sep:
                raise UserError(f"'{item}' is not key=value")
            options[key] = value
        if "name" not in options:
            raise UserError("name is required; pass name=<dataset name>")
        name = options.pop("name")
        data_dir = Path(options.pop("data_dir", "data"))
        n_test = options.pop("n_test", None)
        overwrite = options.pop("overwrite", "false").lower() in ("true", "1", "yes")
        if n_test is not None and not n_test.isdigit():
            raise UserError(f"n_test={n_test!r} must be a non-negative integer")
        if kind not in IMPORTERS:
            raise UserError(f"format '{kind}' is unknown; choose one of: {', '.join(IMPORTERS)}")
        unknown = set(options) - set(IMPORTERS[kind])
        if unknown:
            raise UserError(f"unknown option(s) for {kind}: {', '.join(sorted(unknown))}")
        sizes = import_dataset(
            kind,
            path,
            name,
            data_dir,
            None if n_test is None else int(n_test),
            overwrite,
            **options,
        )
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    counts = ", ".join(f"{n} {split}" for split, n in sizes.items())
    print(f"imported {path} into {data_dir / name}: {counts} samples")


if __name__ == "__main__":
    main(sys.argv[1:])
