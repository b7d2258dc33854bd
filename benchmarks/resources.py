"""Memory estimate of `surrogate generate` (surrogate/generation/resources.py) against measurement.

For each configuration one sample is generated in a fresh process (workers=1, n_train=1,
check_resources=false, fallback off so that only the configured solver runs); the process's
peak resident memory above its resident memory just before `generate()` is what the
estimate should cover. Prints a markdown table: estimate, measured, measured / estimate.
A ratio above 1 / SAFETY (0.8) means the safety factor would not have covered it.

    .venv/bin/python benchmarks/resources.py            # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/resources.py --only darcy3d
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CASES = {
    "darcy 1024 direct pardiso": ["pde=darcy", "pde.resolution=1024", "solver.backend=pardiso"],
    "darcy 1024 direct superlu": ["pde=darcy", "pde.resolution=1024", "solver.backend=superlu"],
    "darcy 1024 cg amg": ["pde=darcy", "pde.resolution=1024", "solver=cg", "solver.preconditioner=amg"],
    "darcy 1024 gmres ilu": ["pde=darcy", "pde.resolution=1024", "solver=gmres", "solver.preconditioner=ilu", "solver.maxiter=400"],
    "darcy 1024 gcrodr jacobi": ["pde=darcy", "pde.resolution=1024", "solver=gcrodr", "solver.preconditioner=jacobi", "solver.maxiter=400"],
    "darcy 1024 cg ssor": ["pde=darcy", "pde.resolution=1024", "solver=cg", "solver.preconditioner=ssor", "solver.maxiter=400"],
    "heat 1025 direct pardiso": ["pde=heat", "pde.resolution=1025", "solver.backend=pardiso"],
    "helmholtz 512 direct superlu": ["pde=helmholtz", "pde.resolution=512", "solver.backend=superlu"],
    "darcy3d 48 direct pardiso": ["pde=darcy3d", "pde.resolution=48", "solver.backend=pardiso"],
    "darcy3d 32 direct superlu": ["pde=darcy3d", "pde.resolution=32", "solver.backend=superlu"],
    "darcy3d 96 cg amg": ["pde=darcy3d", "pde.resolution=96", "solver=cg", "solver.preconditioner=amg"],
    "navier_stokes 1024": ["pde=navier_stokes", "pde.resolution=1024", "pde.time_steps=2", "pde.record_dt=0.001"],
    "heat_transient 512 cg amg": ["pde=heat_transient", "pde.resolution=512", "pde.time_steps=2", "pde.substeps=1", "solver=cg", "solver.preconditioner=amg"],
    "darcy 256 direct pardiso (n=600: the writer's staging)": ["pde=darcy", "pde.resolution=256", "solver.backend=pardiso", "n_train=600"],
    "darcy 256 greedy sort (n=600)": ["pde=darcy", "pde.resolution=256", "n_train=600", "sort=greedy", "measure_sort_only=true"],
    "darcy 128 greedy sort (n=3000)": ["pde=darcy", "pde.resolution=128", "sort=greedy", "n_train=3000", "n_test=0", "measure_sort_only=true"],
}  # fmt: skip

MEASURE = """
import json, resource, sys
sys.path.insert(0, "tests")
from conftest import compose_stage
from pathlib import Path
overrides = json.loads(sys.argv[1])
sort_only = "measure_sort_only=true" in overrides
overrides = [o for o in overrides if o != "measure_sort_only=true"]
cfg = compose_stage("generate", Path(sys.argv[2]), ["n_train=1", "n_test=0", "workers=1",
    "check_resources=false", *overrides])
if "solver=direct" not in overrides and any(o.startswith("solver=") for o in overrides):
    cfg.solver.fallback = False
from surrogate.generation.run import generate
from surrogate.generation.solving import solve_order
from surrogate.generation.resources import Sizes, memory_needed
from surrogate.pdes import build_pde
from surrogate.pdes.base import systems_of
from surrogate.solvers import concrete_solver
pde = build_pde(cfg.pde)
solver = concrete_solver(cfg.solver, systems_of(pde))
estimate = sum(memory_needed(cfg, solver, Sizes.of(cfg, pde)).values())
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
before = rss()
if sort_only:
    solve_order(cfg, pde, "train", int(cfg.n_train))
else:
    generate(cfg)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"estimate": estimate, "measured": peak - before}))
"""


def gib(size: float) -> str:
    return f"{size / 2**30:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    print("| case | estimate GiB | measured peak GiB | measured / estimate |")
    print("|---|---:|---:|---:|")
    for name, overrides in CASES.items():
        if args.only not in name:
            continue
        with tempfile.TemporaryDirectory() as root:
            result = subprocess.run(
                [sys.executable, "-c", MEASURE, json.dumps(overrides), root],
                capture_output=True,
                text=True,
                env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
            )
        if result.returncode != 0:
            print(f"| {name} | failed: {result.stderr.strip().splitlines()[-1]} | | |")
            continue
        sizes = json.loads(result.stdout.strip().splitlines()[-1])
        ratio = sizes["measured"] / sizes["estimate"]
        print(f"| {name} | {gib(sizes['estimate'])} | {gib(sizes['measured'])} | {ratio:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
