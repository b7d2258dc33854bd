"""Where the solver workers of `generate` come from: forked from a server that has imported
what they run.

A worker started afresh (`spawn`) imports numpy, scipy, the solvers and the family before its
first solve, about 1 s on a 2-core machine during which the generating process solves alone
(docs/benchmarks.md, issue 12). multiprocessing's fork server makes those imports once, in a
process of its own, and forks each worker from there, ready to solve at once. `generate`
starts the server as soon as it knows it wants workers, so that the server's imports run
beside the generating process's own start-up. Forking from the server rather than from the
generating process keeps the workers clear of that process's threads (the progress display)
and of the split file it holds open. Where there is no fork server (Windows), workers spawn.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from multiprocessing.context import BaseContext


def worker_modules(family: str) -> list[str]:
    """What a worker imports before its first solve: the generation loop (numpy, scipy.sparse,
    the solver and family bases), the family's own module, PARDISO's wrapper, and the module
    the command runs (`python -m surrogate.cli.generate`: multiprocessing runs it again in
    each worker, as `__mp_main__`). The server skips a module that is not there (pypardiso)."""
    modules = [
        "surrogate.generation.solving",
        f"surrogate.pdes.{family}",
        "surrogate.solvers.direct",
        "pypardiso",
    ]
    main = getattr(sys.modules["__main__"], "__spec__", None)
    return modules + ([main.name] if main is not None else [])


def worker_context(family: str) -> BaseContext:
    """The multiprocessing context to start workers with (the preload takes effect only if
    the server is not running yet)."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(worker_modules(family))
    return context


def start_worker_server(family: str) -> None:
    """Start the fork server now, its imports beside the caller's (a no-op if it runs)."""
    if worker_context(family).get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
