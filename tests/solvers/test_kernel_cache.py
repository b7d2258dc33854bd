"""A Krylov solve gives the same bits in a process that compiles numba's kernels (empty cache) as
in every later one that loads them from the cache (surrogate/solvers/kernel_cache.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from surrogate.solvers import kernel_cache
from surrogate.solvers.arnoldi import arnoldi_cycle, preconditioned_operator

# One GMRES(40) solve of an SKR Darcy system (indefinite: hundreds of iterations, every kernel
# and the 4-row blocks of the projections used); prints the bits of what it returns.
SOLVE = """
import hashlib, numpy as np
from surrogate.pdes import skr_reference
from surrogate.solvers.gmres import GMRES
edited = skr_reference.edit_boundary_columns(
    skr_reference.sample_coefficient(np.random.default_rng(3), 16, 2.5, 7.0))
matrix, rhs = skr_reference.assemble(edited, 1.0)
result = GMRES(40, 1e-10, 400).solve(matrix, rhs, np.zeros_like(rhs), lambda v: v, None)
print(result.iterations, hashlib.sha256(result.x.tobytes()).hexdigest())
"""


def solve_in_a_new_process(cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SOLVE], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_process_that_compiles_the_kernels_solves_as_one_that_loads_them(tmp_path):
    """Without the child compile, the first process (which compiled) returned other bits than
    the second (which loaded the cache): 9.868442613e-09 against 9.868422442e-09 for the
    residual of one such solve, and other datasets' digests."""
    cache = tmp_path / "numba"
    compiled = solve_in_a_new_process(cache)  # empty cache: compiles
    assert any(cache.rglob("kernels.arnoldi_step-*.nbi"))
    loaded = solve_in_a_new_process(cache)
    assert compiled == loaded


def test_a_process_with_the_kernels_loaded_starts_no_child(monkeypatch):
    """The check costs a warm run nothing but reading numba's index, once."""
    operator = preconditioned_operator(sp.eye(8, format="csr") * 2.0, lambda v: v)
    start = np.full(8, 8**-0.5)
    arnoldi_cycle(operator, start, 1.0, 3, 0.0)  # the kernels loaded or compiled

    def no_child() -> str:
        raise AssertionError("a child process was started for kernels already there")

    monkeypatch.setattr(kernel_cache, "_compile_in_child", no_child)
    monkeypatch.setattr(kernel_cache, "_checked", False)
    arnoldi_cycle(operator, start, 1.0, 3, 0.0)
    assert kernel_cache._checked
