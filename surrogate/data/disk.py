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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from surrogate.errors import Interrupted, UserError

NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class _InterruptRequest:
    """Ctrl-C (SIGINT) or SIGTERM during generation, acted on between samples.

    Raising KeyboardInterrupt from the signal handler itself can land in a garbage-collector or
    weakref callback, where Python prints and swallows it and the run goes on; so the first
    signal only records itself for the sample loop to check, and a second one raises at once.
    """

    signum: int | None = None

    def handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum


_interrupt = _InterruptRequest()


def stop_if_interrupted() -> None:
    """Called between samples: ends the generation if Ctrl-C was pressed or SIGTERM sent."""
    if _interrupt.signum is not None:
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
    _interrupt.signum = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGINT, signal.SIGTERM) if in_main_thread else ()
    previous = {signum: signal.signal(signum, _interrupt.handle) for signum in signals}
    try:
        yield
    except (KeyboardInterrupt, OSError, RuntimeError) as error:
        # A worker process killed by the same Ctrl-C surfaces as a RuntimeError.
        if isinstance(error, KeyboardInterrupt) or _interrupt.signum is not None:
            signum = _interrupt.signum or signal.SIGINT
            raise Interrupted(
                f"generation {'terminated' if signum == signal.SIGTERM else 'interrupted'}; the "
                f"samples finished so far are kept in {directory}: rerun the same command to resume",
                int(signum),
            ) from None
        if not isinstance(error, OSError) and error_number(error) is None:
            raise  # h5py raises RuntimeError for some I/O errors; other RuntimeErrors are bugs
        raise UserError(describe_write_error(error, directory)) from error
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
