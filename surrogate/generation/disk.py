"""What a failed write or an interruption during generation tells the user.

A generation that cannot write (disk full, a file size or quota limit, a read-only or
unwritable directory) or is interrupted keeps every flushed sample in `<split>.h5.partial` and
stops with one line saying what is wrong and that the same command resumes it.
"""

from __future__ import annotations

import errno
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from surrogate.errors import Interrupted, UserError
from surrogate.interrupts import requested, signal_word, stop_requests

NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def stop_if_interrupted() -> None:
    """Called between samples: ends the generation if Ctrl-C was pressed or SIGTERM sent."""
    if requested() is not None:
        raise KeyboardInterrupt


def error_number(error: Exception) -> int | None:
    """The errno of an OSError, also from h5py's messages ("... errno = 27, ...")."""
    if isinstance(error, OSError) and error.errno:
        return error.errno
    match = re.search(r"errno = (\d+)", str(error))
    return int(match.group(1)) if match else None


def describe_write_error(error: Exception, directory: Path) -> str:
    number = error_number(error)
    reason = os.strerror(number) if number else str(error).splitlines()[0]
    if number in NO_SPACE:
        return (
            f"cannot write dataset {directory}: disk full or file size limit reached ({reason}); "
            "free space and rerun the same command to resume"
        )
    return (
        f"cannot write dataset {directory} ({reason}); make it writable or choose another "
        "paths.data_dir=, then rerun the same command"
    )


@contextmanager
def generation_faults(directory: Path) -> Iterator[None]:
    """Turn a write error or Ctrl-C during the generation of `directory` into one line."""
    try:
        with stop_requests():
            yield
    except (KeyboardInterrupt, OSError, RuntimeError) as error:
        # A worker process killed by the same Ctrl-C surfaces as a RuntimeError.
        signum = requested()
        if isinstance(error, KeyboardInterrupt) or signum is not None:
            signum = signum or signal.SIGINT
            raise Interrupted(
                f"generation {signal_word(signum)}; the samples finished so far are kept in "
                f"{directory}: rerun the same command to resume",
                int(signum),
            ) from None
        if not isinstance(error, OSError) and error_number(error) is None:
            raise  # h5py raises RuntimeError for some I/O errors; other RuntimeErrors are bugs
        raise UserError(describe_write_error(error, directory)) from error
