"""How a stage's module runs as the process's command (`python -m surrogate.cli.<stage>`)."""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable
from typing import Any


def run_command(main: Callable[[], Any]) -> None:
    """Run a stage's `main` as this process's command, then exit without the interpreter's
    last garbage collection, which only frees memory the process hands back anyway (a 1-sample
    `surrogate generate` ends 0.04-0.07 s sooner at the median: `benchmarks/generation.py
    exit`). Files, logs and workers are closed by the stage itself before it returns;
    reference counting still frees everything else at exit."""
    atexit.register(gc.freeze)  # registered first, so run after every other exit handler
    main()
