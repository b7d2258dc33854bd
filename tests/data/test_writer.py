"""The split writer: completion only when whole, resumption without loss or repetition."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from split_files import GRID, write, writer

from surrogate.data.writer import SplitWriter
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult


def test_interrupted_split_resumes_the_missing_samples_only(tmp_path):
    path = tmp_path / "train.h5"
    first = writer(path)
    for i in (0, 1, 4):
        write(first, i)
    first.close()  # interruption: the partial file stays, the final name does not exist
    assert not path.exists()

    second = writer(path)
    assert second.pending() == [2, 3, 5]
    for i in second.pending():
        write(second, i)
    second.finish()
    with h5py.File(path) as file:
        assert file.attrs["complete"]
        np.testing.assert_array_equal(file["inputs"][:, 0, 0, 0], np.arange(6))
        np.testing.assert_array_equal(file["solver/iterations"][:], 3)
    assert not path.with_name("train.h5.partial").exists()


def test_a_sample_is_marked_completed_only_after_its_data_are_flushed(tmp_path):
    w = writer(tmp_path / "train.h5")
    w.flush_seconds = 1e9
    write(w, 2)
    assert w.file["completed"][2] == 0  # a kill now loses the sample, never keeps it as zeros
    w.flush()
    assert w.file["completed"][2] == 1
    w.close()


def test_the_file_layout_does_not_depend_on_the_order_of_writes(tmp_path):
    """Chunks are placed at creation, so a run resumed after a kill (which writes in another
    order) gives the same bytes."""
    files = []
    for name, order in (("a", range(6)), ("b", [5, 2, 0, 4, 1, 3])):
        (tmp_path / name).mkdir()
        w = writer(tmp_path / name / "train.h5")
        for i in order:
            write(w, i)
        w.finish()
        files.append((tmp_path / name / "train.h5").read_bytes())
    assert files[0] == files[1]


def test_partial_file_of_another_config_is_started_over(tmp_path):
    path = tmp_path / "train.h5"
    first = writer(path, "cfg-1")
    write(first, 0)
    first.close()
    assert writer(path, "cfg-2").pending() == list(range(6))


def test_finish_refuses_an_incomplete_split(tmp_path):
    w = writer(tmp_path / "train.h5")
    write(w, 0)
    with pytest.raises(RuntimeError, match="5 samples not written"):
        w.finish()
    w.close()
    assert not (tmp_path / "train.h5").exists()


def test_trajectories_are_stored_per_sample_and_step_and_read_back(tmp_path):
    from surrogate.data.reader import read_split_info

    spec = FieldSpec(("f",), ("w",), (4, 4), time_steps=3, dt=0.5)
    w = SplitWriter(
        tmp_path / "train.h5",
        2,
        spec,
        GRID,
        {"name": "t", "split": "train", "pde": "p", "config": "c"},
    )
    result = SolveResult(np.zeros(16), 3, 4, 0.1, 1e-9, True)
    for index in range(2):
        states = np.arange(3.0)[:, None, None, None] + index * np.ones((3, 1, 4, 4))
        w.write(index, np.ones((1, 4, 4)), states, {}, result)
    w.finish()
    info = read_split_info(tmp_path, "train")
    assert (info.temporal, info.time_steps, info.dt, info.spatial_shape) == (True, 3, 0.5, (4, 4))
    with h5py.File(tmp_path / "train.h5") as file:
        assert file["outputs"].shape == (2, 3, 1, 4, 4)
        assert file["outputs"].chunks == (1, 1, 1, 4, 4)
        np.testing.assert_array_equal(file["times"][:], [0.0, 0.5, 1.0])
        np.testing.assert_array_equal(file["outputs"][1, :, 0, 0, 0], [1.0, 2.0, 3.0])


def test_each_field_carries_one_checksum_filter(tmp_path):
    """The fields' creation options are not shared: h5py adds the checksum filter to the
    property list it is given, so a shared one gave the second field two checksums."""
    w = writer(tmp_path / "train.h5")
    for i in w.pending():
        write(w, i)
    w.finish()
    with h5py.File(tmp_path / "train.h5") as file:
        for key in ("inputs", "outputs"):
            plist = file[key].id.get_create_plist()
            filters = [plist.get_filter(i)[3] for i in range(plist.get_nfilters())]
            assert filters == [b"fletcher32"], key
