"""Worker processes: they stop when the generating process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interruption import samples_done


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_exit_when_the_generation_is_killed(tmp_path):
    command = [
        sys.executable,
        "-m",
        "surrogate.cli.generate",
        "pde.resolution=24",
        "n_train=4000",
        "n_test=0",
        "workers=2",
        "flush_seconds=0.1",
        "name=orphans",
        f"paths.data_dir={tmp_path}",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL)
    partial = tmp_path / "orphans" / "train.h5.partial"
    deadline = time.monotonic() + 120
    while samples_done(partial) < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    children_file = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    workers = [int(pid) for pid in children_file.read_text().split()]
    assert process.poll() is None and len(workers) >= 2  # the two workers (and a tracker)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # do not leave them running if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left
