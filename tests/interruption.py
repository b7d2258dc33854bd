"""Interrupting a generation mid-run and checking that the same command resumes it exactly."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import h5py
from split_files import bytes_without_timings

from surrogate.data.digest import stored_digest


def samples_done(partial: Path) -> int:
    """How many samples a running generation has flushed (read without taking its file lock)."""
    try:
        with h5py.File(partial, "r", locking=False) as file:
            return int(file["completed"][:].sum())
    except (OSError, KeyError):
        return 0


def wait_unreaped(process: subprocess.Popen) -> None:
    """Wait until `process` has exited, leaving it a zombie (not reaped): its pid stays taken,
    as in a container whose PID 1 does not reap orphans."""
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)


def interrupt_and_resume(
    tmp_path: Path, command_for: Callable[[Path], list[str]], split: str, sig: int, after: int
) -> tuple[int, str]:
    """Run the command to the end in tmp_path/a; in tmp_path/b send it `sig` once `after`
    samples are flushed, then rerun it there at once, while the interrupted process is still a
    zombie. Checks that the interruption left only the partial file, that the rerun resumed
    mid-run and that its file equals the uninterrupted one byte for byte apart from the timings.
    `split` is the split file's path relative to the run directory. Returns the interrupted
    process's exit code and stderr."""
    runs = {name: tmp_path / name for name in ("a", "b")}
    for run in runs.values():
        run.mkdir()
    reference = subprocess.run(command_for(runs["a"]), cwd=runs["a"], capture_output=True)
    assert reference.returncode == 0, reference.stderr[-2000:]

    log_path = tmp_path / "interrupted.log"  # a file, not a pipe: the child never blocks on it
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command_for(runs["b"]), cwd=runs["b"], stdout=subprocess.DEVNULL, stderr=log_file
        )
    partial = runs["b"] / f"{split}.partial"
    while samples_done(partial) < after and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, f"it ended before the signal: {log_path.read_text()[-2000:]}"
    process.send_signal(sig)
    wait_unreaped(process)
    stderr = log_path.read_text()
    assert partial.exists() and not (runs["b"] / split).exists(), stderr[-2000:]

    resumed = subprocess.run(command_for(runs["b"]), cwd=runs["b"], capture_output=True, text=True)
    assert process.poll() is not None  # reaped only now
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    log = resumed.stdout + resumed.stderr
    done = re.search(r"resuming .*: (\d+) of (\d+) samples already done", log)
    assert done and 0 < int(done.group(1)) < int(done.group(2)), "it did not stop mid-run"
    assert bytes_without_timings(runs["a"] / split) == bytes_without_timings(runs["b"] / split)
    assert stored_digest(runs["a"] / split) == stored_digest(runs["b"] / split) is not None
    return process.returncode, stderr
