"""Progress of a split's generation: a rich bar on a terminal, a log line every 10 s otherwise."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

log = logging.getLogger("surrogate.generation.run")


@contextmanager
def progress(split: str, total: int, done: int) -> Iterator:
    """A rich progress bar on a terminal; a log line every 10 % otherwise."""
    console = Console(stderr=True)
    if not console.is_terminal:
        start = last = time.perf_counter()
        count = 0

        def advance(mean_iterations: float) -> None:
            nonlocal count, last
            count += 1
            now = time.perf_counter()
            if now - last > 10.0 or done + count == total:
                last = now
                log.info(
                    "%s %d/%d  %.1f samples/s  mean iters %.1f",
                    split,
                    done + count,
                    total,
                    count / (now - start),
                    mean_iterations,
                )

        yield advance
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} samples/s  mean iters {task.fields[iters]:.1f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(split, total=total, completed=done, rate=0.0, iters=0.0)
        start = time.perf_counter()
        count = 0

        def advance(mean_iterations: float) -> None:
            nonlocal count
            count += 1
            rate = count / (time.perf_counter() - start)
            progress.update(task, advance=1, rate=rate, iters=mean_iterations)

        yield advance
