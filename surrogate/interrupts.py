"""Ctrl-C (SIGINT) and SIGTERM as a request to stop at the next safe point.

Raising KeyboardInterrupt from the signal handler itself can land in a garbage-collector or
weakref callback, where Python prints and swallows it and the run goes on (seen in generation
and in training). So while `stop_requests()` is active the first signal only records itself;
the long-running loop asks `requested()` at its safe points (between samples, at batch ends)
and stops there. A second signal raises KeyboardInterrupt at once.

Processes forked while the handler is installed (DataLoader workers) inherit it, so a Ctrl-C
sent to the whole process group does not kill them under the main process.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Request:
    signum: int | None = None

    def handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum


_request = _Request()


def requested() -> int | None:
    """The signal that asked this process to stop, or None."""
    return _request.signum


def listen() -> None:
    """Route SIGINT and SIGTERM to the request flag (again, after a library replaced them)."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _request.handle)


@contextmanager
def stop_requests() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set the request flag; the handlers found on entry are
    restored on exit. Only the main thread can handle signals: elsewhere this does nothing."""
    _request.signum = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    listen()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def signal_word(signum: int) -> str:
    """'terminated' for SIGTERM, 'interrupted' for Ctrl-C: what the one-line message says."""
    return "terminated" if signum == signal.SIGTERM else "interrupted"
