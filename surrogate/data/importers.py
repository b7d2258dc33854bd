"""Datasets made by other tools become ours: data/<name>/{train,valid,test}.h5, ready to train.

`surrogate import <format> <file> [<file> ...] name=<name>` (surrogate/cli/import_data.py)
opens every file with its format's reader (surrogate/data/formats/), which checks the layout
before anything is written; `plan_splits` puts each file into a split (`split=` per file, else
the split its name or folder names: darcy_train_16.pt, data/test/x.hdf5); files of one split are
concatenated in the order given and must agree in fields, grid and time step. Without a test
file, `n_test` samples of train become the test split. `write_dataset` writes the splits with the
generation's own writer into a hidden directory next to the dataset and renames it into place
only once every split is complete: a refused, failed or interrupted import leaves nothing behind.

Solver statistics of imported data are unknown: stored as NaN seconds and zero iterations,
marked converged.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from surrogate.data.formats.neuraloperator import open_neuraloperator
from surrogate.data.formats.pdebench import open_pdebench
from surrogate.data.formats.source import ReadOptions, Source, block_size
from surrogate.data.formats.the_well import open_the_well
from surrogate.data.schema import SPLITS, split_filename
from surrogate.data.writer import SplitWriter
from surrogate.errors import UserError
from surrogate.generation.disk import error_number
from surrogate.solvers.base import SolveResult

FORMATS: dict[str, Callable[[Path, ReadOptions, ExitStack], Source]] = {
    "neuraloperator": lambda path, options, stack: open_neuraloperator(path, options),
    "pdebench": open_pdebench,
    "the_well": open_the_well,
}
SPLIT_WORDS = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "test": "test",
    "testing": "test",
}
UNKNOWN_SOLVE = SolveResult(np.zeros(0), 0, 0, float("nan"), float("nan"), True)


@dataclass(frozen=True)
class Piece:
    """Samples start..stop of one source, in a split."""

    source: Source
    start: int
    stop: int


def split_named_by(path: Path) -> str | None:
    """The split a word of the file's name names (`darcy_train_16.pt`,
    `2D_DarcyFlow_beta1.0_Train.hdf5` -> train), else its folder's whole name (The Well's
    `data/test/x.hdf5` -> test); None if neither."""
    words = {SPLIT_WORDS[w] for w in re.split(r"[^a-z]+", path.stem.lower()) if w in SPLIT_WORDS}
    if len(words) == 1:
        return words.pop()
    return SPLIT_WORDS.get(path.parent.name.lower())


def assign_splits(paths: Sequence[Path], split: Sequence[str] | None) -> list[str]:
    """One split per file: as given, else by name; a file naming none is train when no file
    names one, and otherwise a user error (which file, and how to say)."""
    if split is not None:
        if len(split) != len(paths):
            raise UserError(
                f"split= lists {len(split)} splits for {len(paths)} files; give one per file, "
                "e.g. split=train,test"
            )
        for value in split:
            if value not in SPLITS:
                raise UserError(f"split={value!r} is unknown; choose one of: {', '.join(SPLITS)}")
        return list(split)
    named = [split_named_by(path) for path in paths]
    if all(value is None for value in named):
        return ["train"] * len(paths)
    unnamed = [str(path) for path, value in zip(paths, named) if value is None]
    if unnamed:
        raise UserError(
            f"{unnamed[0]} names no split (train, valid or test) while other files do; "
            f"give one per file, e.g. split={','.join(v or 'train' for v in named)}"
        )
    return [value for value in named if value is not None]


def _describe(source: Source) -> dict[str, Any]:
    spec = source.spec
    return {
        "input fields": spec.input_names,
        "output fields": spec.output_names,
        "spatial shape": spec.spatial_shape,
        "time steps": spec.time_steps,
        "parameters": spec.param_names,
    }


def check_alike(sources: Sequence[Source]) -> None:
    """Every file of one dataset has the same fields, grid and time step as the first."""
    first = sources[0]
    for other in sources[1:]:
        for key, value in _describe(first).items():
            found = _describe(other)[key]
            if found != value:
                hint = (
                    "; import it as a dataset of its own (another name=) and evaluate on it "
                    "with data=<name>"
                    if key == "spatial shape"
                    else ""
                )
                raise UserError(
                    f"{other.path} has {key} {found}, {first.path} {value}: the files of one "
                    f"dataset must agree{hint}"
                )
        if not np.isclose(other.spec.dt, first.spec.dt, rtol=1e-6, atol=0.0):
            raise UserError(
                f"{other.path} has time step {other.spec.dt:g}, {first.path} {first.spec.dt:g}"
            )
        for axis, coords in first.grid.items():
            if not np.allclose(other.grid[axis], coords, rtol=1e-6, atol=1e-9):
                raise UserError(f"{other.path} and {first.path} have different {axis} coordinates")


def plan_splits(
    sources: Sequence[Source], splits: Sequence[str], n_test: int | None
) -> dict[str, list[Piece]]:
    """The pieces of each split; without a test file, `n_test` train samples (a tenth when
    None) become the test split: the first ones of a file whose tool takes them from the front
    (PDEBench's single-array files), else the last."""
    plan: dict[str, list[Piece]] = {split: [] for split in SPLITS}
    for source, split in zip(sources, splits):
        plan[split].append(Piece(source, 0, source.n_samples))
    if plan["test"]:
        if n_test is not None:
            raise UserError(
                "n_test= applies only when no file is a test split; leave it out, or import "
                "the test file as train with split="
            )
        return {split: pieces for split, pieces in plan.items() if pieces}
    total = sum(piece.stop for piece in plan["train"])
    n_test = total // 10 if n_test is None else n_test
    if not 0 <= n_test <= total:
        raise UserError(f"n_test={n_test} must be between 0 and {total}, the train samples")
    plan["train"], plan["test"] = _cut(plan["train"], n_test)
    return {split: pieces for split, pieces in plan.items() if pieces}


def _cut(pieces: list[Piece], n_test: int) -> tuple[list[Piece], list[Piece]]:
    """(train, test) pieces: `n_test` samples from the front or the back of the train files."""
    if n_test == 0:
        return pieces, []
    from_front = pieces[0].source.test_first
    ordered = pieces if from_front else pieces[::-1]
    test, train, left = [], [], n_test
    for piece in ordered:
        take = min(left, piece.stop - piece.start)
        left -= take
        if from_front:
            test.append(Piece(piece.source, piece.start, piece.start + take))
            train.append(Piece(piece.source, piece.start + take, piece.stop))
        else:
            test.insert(0, Piece(piece.source, piece.stop - take, piece.stop))
            train.insert(0, Piece(piece.source, piece.start, piece.stop - take))
    keep = [piece for piece in train if piece.stop > piece.start]
    return keep, [piece for piece in test if piece.stop > piece.start]


def dataset_config(kind: str, plan: dict[str, list[Piece]], options: dict[str, Any]) -> str:
    """The YAML recorded in every split file: where the data came from and what was chosen."""
    sources = {id(piece.source): piece.source for pieces in plan.values() for piece in pieces}
    record = {
        "imported": {
            "format": kind,
            "splits": {
                split: [f"{p.source.path.resolve()}[{p.start}:{p.stop}]" for p in pieces]
                for split, pieces in plan.items()
            },
            "options": options,
            "facts": {str(s.path.name): _yaml_safe(s.facts) for s in sources.values() if s.facts},
        }
    }
    return OmegaConf.to_yaml(record)


def _yaml_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _yaml_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_safe(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return _yaml_safe(value.tolist())
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _samples(pieces: Sequence[Piece]) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
    """(inputs, outputs, params) of every sample of a split, read block by block."""
    for piece in pieces:
        spec = piece.source.spec
        values = np.prod(spec.output_shape) + len(spec.input_names) * np.prod(spec.spatial_shape)
        step = block_size(4 * int(values))
        for first in range(piece.start, piece.stop, step):
            block = piece.source.read(first, min(first + step, piece.stop))
            for offset in range(len(block.outputs)):
                params = {name: float(v[offset]) for name, v in block.params.items()}
                yield block.inputs[offset], block.outputs[offset], params


def write_dataset(
    plan: dict[str, list[Piece]], directory: Path, name: str, config: str, overwrite: bool
) -> dict[str, int]:
    """Write every split into a hidden directory beside `directory`, then move it into place
    (replacing an existing dataset only with `overwrite`); returns the samples per split."""
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise UserError(f"dataset {directory} exists; choose another name= or pass overwrite=true")
    staging = directory.parent / f".{directory.name}.importing-{os.getpid()}"
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(directory)
        staging.mkdir()
        sizes = {
            split: _write_split(staging, split, pieces, name, config)
            for split, pieces in plan.items()
        }
        if directory.exists():
            retired = directory.parent / f".{directory.name}.replaced-{os.getpid()}"
            directory.rename(retired)
            staging.rename(directory)
            shutil.rmtree(retired)
        else:
            staging.rename(directory)
    except (OSError, RuntimeError) as error:  # a full disk, a quota, a damaged source
        if isinstance(error, RuntimeError) and error_number(error) is None:
            raise  # h5py raises RuntimeError for some I/O errors; other RuntimeErrors are bugs
        reason = str(error).splitlines()[0]
        raise UserError(
            f"import into {directory} stopped ({reason}); nothing was written: free space, "
            "choose another paths.data_dir= or check the file, then run the same command"
        ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sizes


def _remove_stale(directory: Path) -> None:
    """Staging directories that an import killed outright (SIGKILL) left behind."""
    for stale in directory.parent.glob(f".{directory.name}.importing-*"):
        pid = stale.name.rpartition("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_split(staging: Path, split: str, pieces: list[Piece], name: str, config: str) -> int:
    source = pieces[0].source
    count = sum(piece.stop - piece.start for piece in pieces)
    writer = SplitWriter(
        staging / split_filename(split),
        count,
        source.spec,
        source.grid,
        attrs={"name": name, "split": split, "pde": source.pde, "config": config},
    )
    try:
        for index, (inputs, outputs, params) in enumerate(_samples(pieces)):
            writer.write(index, inputs, outputs, params, UNKNOWN_SOLVE)
        writer.finish()
    finally:
        writer.close()
    return count


def import_files(
    kind: str,
    paths: Sequence[Path],
    directory: Path,
    split: Sequence[str] | None = None,
    n_test: int | None = None,
    overwrite: bool = False,
    options: ReadOptions | None = None,
) -> dict[str, int]:
    """Import `paths` of format `kind` as the dataset `directory`; returns samples per split."""
    if kind not in FORMATS:
        raise UserError(f"format '{kind}' is unknown; choose one of: {', '.join(FORMATS)}")
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} does not exist")
    options = options or ReadOptions()
    splits = assign_splits(paths, split)
    with ExitStack() as stack:
        sources = [FORMATS[kind](path, options, stack) for path in paths]
        check_alike(sources)
        plan = plan_splits(sources, splits, n_test)
        recorded = {"split": list(splits), "n_test": n_test, **_yaml_safe(vars(options))}
        config = dataset_config(kind, plan, recorded)
        return write_dataset(plan, directory, directory.name, config, overwrite)
