"""The Arnoldi kernels always run as numba's on-disk cache holds them, compiled here or not.

numba compiles a kernel's callees (`_project_two`, `finish_vector`, ...) twice: each on its own,
and as weak copies linked into the caller's machine code and optimised anew with it; the two
versions' machine code differs (every callee's body, in the assembly), and so does their
rounding. Which one a call runs depends on what the process loaded first. A process that
loads `arnoldi_step` from the cache runs its own copies; a process that compiles it has
compiled every callee on its own first, and the caller's calls bind to those. So the first
`generate` after an install or an edit of kernels.py (no cache yet) gave Krylov solutions,
iterations and digests of its own (outputs up to 108 float32 ulps, iterations up to 18% apart
on SKR's indefinite systems; docs/solvers.md), and every later run the cached ones (seen as one
train digest in 17 runs).

`load_cached` makes a process whose cache lacks the kernels compile them in a child process
first (which writes the cache), then load them from the cache as every later run does: the same
numbers in every run, and those of the runs with a cache, i.e. of the datasets made so far.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHILD_SECONDS = 600  # a child that compiles longer than this is abandoned (then compiled here)
_checked = False  # the Arnoldi kernels take one set of argument types: checked once per process


def load_cached(kernels: Sequence[tuple[Any, tuple]]) -> None:
    """Load each (dispatcher, arguments) of `kernels` from numba's cache, in order (callers
    first), now: if one is not there, compile them in a child process first, then load. Loading
    at once, not at the first call, leaves no window in which another run's compiler could leave
    one of them to be compiled here. Where the cache cannot be written, they are compiled here
    as before, with a warning. Checked on the first call of the process only."""
    global _checked
    if _checked:
        return
    _checked = True
    if _load_all(kernels):
        return
    outcome = _compile_in_child()
    if not _load_all(kernels):
        log.warning(
            "numba could not cache the Krylov kernels (%s): this run compiles them itself, and "
            "its iterative solutions may differ in the last bits from those of a run with the "
            "cache",
            outcome,
        )


def _load_all(kernels: Sequence[tuple[Any, tuple]]) -> bool:
    """Load the kernels in order; False at the first that is neither loaded nor cached."""
    return all(_load(dispatcher, args) for dispatcher, args in kernels)


def _load(dispatcher: Any, args: tuple) -> bool:
    """`dispatcher`'s version for `args` loaded from the cache, as its first call would (False
    where the cache has none)."""
    types = tuple(dispatcher.typeof_pyval(a) for a in args)
    if types in dispatcher.overloads:
        return True
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:
        try:  # numba's own steps of a cached first call (Dispatcher.compile, 0.61-0.68)
            compiled = dispatcher._cache.load_overload(types, dispatcher.targetctx)
        except AttributeError:  # another layout: the first call loads or compiles it
            return True
        if compiled is None:
            return False
        dispatcher.targetctx.insert_user_function(
            compiled.entry_point, compiled.fndesc, [compiled.library]
        )
        dispatcher.add_overload(compiled)
    return True


def _compile_in_child() -> str:
    """Run `compile_arnoldi` in a fresh interpreter (it writes the cache); how it ended."""
    root = Path(__file__).resolve().parents[2]  # the directory `surrogate` is imported from
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r}); "
        "from surrogate.solvers.kernel_cache import compile_arnoldi; compile_arnoldi()"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=CHILD_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the compiling process failed: {error}"
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"the compiling process exited with {done.returncode}: {last}"
    return "the compiling process wrote no cache"


def compile_arnoldi() -> None:
    """Compile (and cache) every kernel an Arnoldi cycle calls, with the argument types it
    calls them with: a few cycles of GMRES(4) on a small nonsymmetric system, through the
    solver's own code, a finishing pass at the end of each cycle included. One child at a time
    per cache (a lock beside it): runs started together compiled side by side, and two in three
    of them then loaded other machine code (measured); a child that waited finds the kernels
    in the cache and only loads them."""
    import numpy as np
    import scipy.sparse as sp

    from surrogate.solvers import arnoldi, kernels

    global _checked
    _checked = True  # this process compiles: no child of its own
    with _cache_lock(kernels.arnoldi_step):
        n = 64
        matrix = sp.diags([-1.3, 2.5, -0.7], [-1, 0, 1], shape=(n, n), format="csr")
        operator = arnoldi.preconditioned_operator(matrix, lambda v: v)
        rhs = np.ones(n)
        arnoldi.arnoldi_cycle(operator, rhs / np.linalg.norm(rhs), 1.0, 4, 0.0)


@contextmanager
def _cache_lock(dispatcher: Any) -> Iterator[None]:
    """An exclusive lock on the file `.surrogate-compile.lock` in the kernels' cache directory
    (none where the directory or flock is unavailable)."""
    try:
        import fcntl

        path = Path(dispatcher._cache._cache_path) / ".surrogate-compile.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except (ImportError, AttributeError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
