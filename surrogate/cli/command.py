"""How a stage's module runs as the process's command (`python -m surrogate.cli.<stage>`)."""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable
from typing import Any


def run_command(main: Callable[[], Any]) -> None:
    """Run a stage's `main` as this process's command, then exit without the interpreter's
    last garbage collection, which only frees memory the process hands back anyway: it took
    0.17 s of every `surrogate generate`, 15 % of a small run (docs/benchmarks.md). Files,
    logs and workers are closed by the stage itself before it returns; reference counting
    still frees everything else at exit."""
    atexit.register(gc.freeze)  # registered first, so run after every other exit handler
    main()
