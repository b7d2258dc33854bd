"""A split file's reproducibility digest: SHA-256 of what the file holds, not how it is stored.

Hashed, in name order: every dataset's name, dtype, shape and values (little-endian, C order)
except the wall-clock timings (`solver/seconds`), and the root attributes that say what the data
are (schema version, split, pde, names, shapes, time steps). Left out are the attributes that
record how or where the file was made: `config` (it holds `workers`, `segment` and the like,
which need not change the data), `name` (the directory), `complete` and the digest itself.
Chunking, compression, checksums and allocation do not enter, so two files with equal values
have equal digests whatever wrote them. Two runs of the same command, runs with another
`workers` that give the same data, and an interrupted-and-resumed run all give the same digest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np

from surrogate.data.schema import NONDETERMINISTIC_DATASETS

UNHASHED_ATTRS = ("config", "name", "complete", "digest")
BLOCK_BYTES = 64 * 2**20  # read datasets in pieces of about this size


def content_digest(file: h5py.File) -> str:
    """'sha256:<hex>' of the file's values and descriptive attributes (see the module doc)."""
    digest = hashlib.sha256()
    for key in sorted(k for k in file.attrs if k not in UNHASHED_ATTRS):
        digest.update(f"attr {key}={_attr_text(file.attrs[key])}\n".encode())
    names: list[str] = []
    file.visititems(
        lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None
    )
    for name in sorted(n for n in names if n not in NONDETERMINISTIC_DATASETS):
        dataset = file[name]
        dtype = dataset.dtype.newbyteorder("<")
        digest.update(f"dataset {name} {dtype.str} {dataset.shape}\n".encode())
        if dataset.shape == ():
            digest.update(np.asarray(dataset[()], dtype=dtype).tobytes())
            continue
        _hash_rows(digest, dataset, dtype)
    return f"sha256:{digest.hexdigest()}"


def _hash_rows(digest: hashlib._Hash, dataset: h5py.Dataset, dtype: np.dtype) -> None:
    """Feed the dataset's values to `digest` in blocks of rows, each read into one reused
    little-endian buffer and hashed in place (the bytes `tobytes` would give, not copied)."""
    rows = dataset.shape[0]
    row_bytes = max(1, dtype.itemsize * int(np.prod(dataset.shape[1:], dtype=np.int64)))
    step = max(1, min(rows, BLOCK_BYTES // row_bytes))
    if dtype.hasobject:  # variable-length values have no fixed bytes to read into
        for start in range(0, rows, step):
            digest.update(np.asarray(dataset[start : start + step], dtype=dtype).tobytes())
        return
    buffer = np.empty((step, *dataset.shape[1:]), dtype)
    for start in range(0, rows, step):
        block = buffer[: min(step, rows - start)]
        if block.size:
            dataset.read_direct(block, np.s_[start : start + len(block)])
        digest.update(memoryview(block.reshape(-1).view(np.uint8)))


def _attr_text(value: object) -> str:
    """An attribute as text, the same for equal values whatever type h5py returns them as."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return repr([_attr_text(v) for v in value.tolist()])
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)


def record_digest(path: Path) -> None:
    """Store the digest of a written split file in its `digest` attribute. In a session of its
    own: the file's bytes then do not depend on whether it was written in one run or resumed."""
    with h5py.File(path, "r+") as file:
        file.attrs["digest"] = content_digest(file)


def stored_digest(path: Path) -> str | None:
    """The digest recorded in a finished split file (None for files older than digests)."""
    with h5py.File(path, "r") as file:
        value = file.attrs.get("digest")
    return None if value is None else str(value)
