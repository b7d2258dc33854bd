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
    little-endian buffer and hashed in place (the bytes `tobytes` would give, not copied);
    straight from the stored chunks where those are the same bytes (`_chunked_rows`)."""
    rows = _chunked_rows(dataset, dtype)
    if rows is not None:
        _hash_chunks(digest, dataset, rows)
        return
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


def _chunked_rows(dataset: h5py.Dataset, dtype: np.dtype) -> int | None:
    """How many leading dimensions the dataset's chunks cut one index at a time, where its
    stored chunks, read raw in order, are its values' bytes in C order (else None): chunks of
    whole trailing dimensions (one sample, or one time step of one), stored in the hashed byte
    order, every chunk written, and no filter but Fletcher-32, which only appends a 4-byte
    checksum. The split files `SplitWriter` makes are so; reading them raw skips the filter
    pipeline's checksum and copy, half the time of the digest."""
    chunks, shape = dataset.chunks, dataset.shape
    if chunks is None or dataset.dtype != dtype or dtype.hasobject or not dataset.size:
        return None
    rows = next(k for k in range(len(shape) + 1) if chunks[k:] == shape[k:])
    plist = dataset.id.get_create_plist()
    filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    written = dataset.id.get_num_chunks() == int(np.prod(shape[:rows], dtype=np.int64))
    if any(c != 1 for c in chunks[:rows]) or not filters <= {h5py.h5z.FILTER_FLETCHER32}:
        return None
    return rows if written else None


def _hash_chunks(digest: hashlib._Hash, dataset: h5py.Dataset, rows: int) -> None:
    """Feed the values of a dataset whose first `rows` dimensions are chunked one index at a
    time (`_chunked_rows`) to `digest`, chunk by chunk as stored."""
    chunk_bytes = dataset.dtype.itemsize * int(np.prod(dataset.chunks, dtype=np.int64))
    rest = (0,) * (dataset.ndim - rows)
    for index in np.ndindex(*dataset.shape[:rows]):
        _, stored = dataset.id.read_direct_chunk(index + rest)
        digest.update(memoryview(stored)[:chunk_bytes])  # the values; a checksum follows


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
