"""The digest read from stored chunks is the digest of the values, for every layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from surrogate.data import digest


def generic_digest(file: h5py.File, monkeypatch: pytest.MonkeyPatch) -> str:
    """The digest with every dataset read through HDF5's filter pipeline."""
    with monkeypatch.context() as patch:
        patch.setattr(digest, "_chunked_rows", lambda dataset, dtype: None)
        return digest.content_digest(file)


LAYOUTS = {
    "a chunk per sample, checksummed": (
        (6, 2, 5, 4),
        {"chunks": (1, 2, 5, 4), "fletcher32": True},
        1,
    ),
    "a chunk per time step": ((6, 3, 5, 4), {"chunks": (1, 1, 5, 4), "fletcher32": True}, 2),
    "a chunk per sample, no filter": ((6, 2, 5, 4), {"chunks": (1, 2, 5, 4)}, 1),
    "one chunk": ((6, 2, 5, 4), {"chunks": (6, 2, 5, 4), "fletcher32": True}, 0),
    "compressed": ((6, 2, 5, 4), {"chunks": (1, 2, 5, 4), "compression": "gzip"}, None),
    "two samples a chunk": ((6, 2, 5, 4), {"chunks": (2, 2, 5, 4), "fletcher32": True}, None),
    "big-endian": ((6, 2, 5, 4), {"chunks": (1, 2, 5, 4), "dtype": ">f4"}, None),
    "contiguous": ((6, 2, 5, 4), {}, None),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_stored_chunks_give_the_digest_of_the_values(layout, tmp_path, monkeypatch):
    shape, options, rows = LAYOUTS[layout]
    values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with h5py.File(tmp_path / "split.h5", "w") as file:
        file.attrs["pde"] = "darcy"
        file.create_dataset("outputs", data=values, **{"dtype": "<f4", **options})
        dataset = file["outputs"]
        assert digest._chunked_rows(dataset, np.dtype("<f4")) == rows
        assert digest.content_digest(file) == generic_digest(file, monkeypatch)


def test_a_file_with_unwritten_chunks_is_read_through_hdf5(tmp_path, monkeypatch):
    """A shard's file allocates chunks as they are written: the missing ones read as zeros."""
    with h5py.File(tmp_path / "shard.h5", "w") as file:
        dataset = file.create_dataset("inputs", (4, 3, 3), "<f4", chunks=(1, 3, 3), fletcher32=True)
        dataset[1] = 1.0
        assert digest._chunked_rows(dataset, np.dtype("<f4")) is None
        expected = generic_digest(file, monkeypatch)
        dataset[:] = np.where(np.arange(4)[:, None, None] == 1, 1.0, 0.0)
        assert digest._chunked_rows(dataset, np.dtype("<f4")) == 1
        assert digest.content_digest(file) == expected
