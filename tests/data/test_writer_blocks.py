"""The writer's buffered block writes: the file does not depend on how writes were grouped, and
a SIGKILL with samples still in the buffer resumes to the bytes of an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from surrogate.data import writer as writer_module
from surrogate.data.writer import SplitWriter
from surrogate.pdes.base import FieldSpec
from surrogate.solvers.base import SolveResult

SPEC = FieldSpec(("a", "b"), ("u",), (6, 5), ("k",))
N = 30
ATTRS = {"name": "t", "split": "train", "pde": "p", "config": "c"}


def sample(index: int) -> tuple:
    rng = np.random.default_rng(index)
    result = SolveResult(np.empty(0), index, 2 * index, 0.25, 1e-9 * index, index % 3 > 0)
    return (
        index,
        rng.standard_normal((2, 6, 5)),  # float64: the writer stores float32
        rng.standard_normal((1, 6, 5)),
        {"k": float(rng.uniform())},
        result,
    )


def write_all(path: Path, order, flush_after=()) -> bytes:
    w = SplitWriter(path, N, SPEC, {"x": np.arange(6.0)}, ATTRS, flush_seconds=1e9)
    for position, index in enumerate(order):
        w.write(*sample(index))
        if position in flush_after:
            w.flush()
    w.finish()
    return path.read_bytes()


def test_grouping_of_writes_does_not_change_the_file(tmp_path, monkeypatch):
    order = list(np.random.default_rng(0).permutation(N))
    files = {
        "one flush": write_all(tmp_path / "a.h5", range(N)),
        "flush per sample": write_all(tmp_path / "b.h5", order, flush_after=range(N)),
        "runs and gaps": write_all(tmp_path / "c.h5", order, flush_after=(3, 4, 17)),
    }
    monkeypatch.setattr(writer_module, "BUFFER_BYTES", 500)  # a flush every few samples
    files["buffer limit"] = write_all(tmp_path / "d.h5", order)
    assert len(set(files.values())) == 1


def test_buffered_samples_are_not_marked_before_their_flush(tmp_path):
    w = SplitWriter(tmp_path / "t.h5", N, SPEC, {"x": np.arange(6.0)}, ATTRS, flush_seconds=1e9)
    for index in (4, 5, 9):
        w.write(*sample(index))
    assert w.pending() == list(range(N))
    assert not w.file["completed"][:].any() and not w.file["inputs"][:].any()
    w.flush()
    assert sorted(set(range(N)) - set(w.pending())) == [4, 5, 9]
    assert w.file["completed"][:].sum() == 3 and w.file["solver/iterations"][9] == 9
    w.close()


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_writer_blocks import ATTRS, N, SPEC, sample
    from surrogate.data.writer import SplitWriter

    w = SplitWriter(Path({path!r}), N, SPEC, {{"x": np.arange(6.0)}}, ATTRS, flush_seconds=1e9)
    order = np.random.default_rng(1).permutation(N)
    for index in order[:12]:
        w.write(*sample(int(index)))
    w.flush()
    for index in order[12:20]:  # buffered, never flushed
        w.write(*sample(int(index)))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_with_a_full_buffer_resumes_to_the_identical_file(tmp_path):
    path = tmp_path / "killed" / "train.h5"
    path.parent.mkdir()
    script = KILLED.format(tests=str(Path(__file__).parent), path=str(path))
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    w = SplitWriter(path, N, SPEC, {"x": np.arange(6.0)}, ATTRS, flush_seconds=1e9)
    order = np.random.default_rng(1).permutation(N)
    assert sorted(w.pending()) == sorted(int(i) for i in order[12:])
    for index in w.pending():
        w.write(*sample(index))
    w.finish()
    assert path.read_bytes() == write_all(tmp_path / "reference.h5", range(N))
