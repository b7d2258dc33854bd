"""backend=torch against backend=numpy: seconds per sample and peak memory of the families
torch supports.

Each row runs `solve_chain` as `surrogate generate` does (one chain, no HDF5 writing) for the
same samples with the numpy backend (steady families and heat_transient: solver=auto, its best
choice), torch on the CPU and, where torch sees a GPU, torch on CUDA, side by side in one run; a
family with linear systems has one row per torch solver (CG with jacobi, CG with mg;
heat_transient's CG starts each step from the state before it; helmholtz's GCRO-DR with mg, no
space carried across batches, its fastest). `--dtypes float64 float32` adds a float32 torch
column; a backend that refuses a row's config (heat_transient in float32) shows "refused". Every backend uses `--threads`
threads (BLAS / torch). The trajectories are short (`--intervals` stored intervals: of
`record_dt` with the default internal step for the spectral families, of `dt` with `substeps`
implicit steps for heat_transient) so that a row takes seconds: the cost per internal step is
what the ratio measures.

Each (row, backend) runs in a fresh process (`--one`), so that its peak memory is its own: after
its imports and a one-sample warm-up (compilations, plans) the kernel's peak resident set is
reset (Linux: /proc/self/clear_refs), and the row reports the timed chain's peak resident set
(VmHWM, which counts torch's allocations as well as numpy's) minus the resident set it started
from; a GPU's memory is torch.cuda.max_memory_allocated. Usage (timings: run it under the shared CPU lock):

    flock /tmp/surrogate-cpu.lock python benchmarks/torch_generation.py --samples 32 --batch-size 32

Prints a markdown table (paste it into docs/benchmarks.md with the command).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from surrogate.cli.app import config_dir
from surrogate.errors import UserError
from surrogate.generation.batched import check_backend
from surrogate.generation.resources import Sizes, memory_needed
from surrogate.generation.solving import solve_chain
from surrogate.pdes import build_pde
from surrogate.pdes.base import systems_of
from surrogate.solvers import concrete_solver

TIME_DEPENDENT = ("navier_stokes", "burgers", "heat_transient")
JACOBI = ["solver=cg", "solver.preconditioner=jacobi"]  # numpy: solver=auto, its best
MG = ["solver=cg", "solver.preconditioner=mg"]
CASES = {  # (family, grid, torch solver): (overrides, overrides of the torch runs)
    ("navier_stokes", "64²", "-"): (["pde=navier_stokes", "pde.resolution=64"], []),
    ("navier_stokes", "256²", "-"): (["pde=navier_stokes", "pde.resolution=256"], []),
    ("burgers", "64", "-"): (["pde=burgers", "pde.resolution=64"], []),
    ("burgers", "256", "-"): (["pde=burgers", "pde.resolution=256"], []),
    **{
        (family, f"{n}{power}", name): (
            [f"pde={family}", f"pde.resolution={n}", "solver=auto"],
            choice,
        )
        for family, power, sizes in (
            ("darcy", "²", (64, 256)),
            ("poisson", "²", (64, 256)),
            ("darcy3d", "³", (32, 64)),
            ("heat", "²", (65, 257)),  # nodes per side: 64, 256 cells (the slot snapped)
        )
        for n in sizes
        for name, choice in (("cg jacobi", JACOBI), ("cg mg", MG))
    },
    **{  # torch: each step's CG from the state before it; numpy: solver=auto's PARDISO
        ("heat_transient", f"{n}²", name): (
            ["pde=heat_transient", f"pde.resolution={n}", "solver=auto"],
            [*choice, "solver.warm_start=true"],
        )
        for n in (64, 256)
        for name, choice in (("cg jacobi", JACOBI), ("cg mg", MG))
    },
    **{  # indefinite: numpy's auto is PARDISO; torch GCRO-DR with the shifted-Laplacian V-cycle
        ("helmholtz", f"{n}²", "gcrodr mg"): (
            ["pde=helmholtz", f"pde.resolution={n}", "solver=auto"],
            ["solver=gcrodr", "solver.preconditioner=mg", "solver.recycle_batch=none"],
        )
        for n in (64, 256)
    },
}


def config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("generate", overrides=[*overrides, "paths.output_dir=.", "seed=0"])


def seconds_per_sample(overrides: list[str], samples: int) -> tuple[float, float]:
    """(wall seconds per sample, internal steps or iterations per sample) of one chain."""
    cfg = config([*overrides, f"n_train={samples}", "sort=none"])
    start = time.perf_counter()
    steps = sum(s.result.iterations for s in solve_chain(cfg, "train", [list(range(samples))]))
    return (time.perf_counter() - start) / samples, steps / samples


def resident_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last reset) of this process, MiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_resident() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def estimated_mib(overrides: list[str], samples: int) -> float:
    """What `surrogate generate`'s memory check estimates for this chain's config, MiB."""
    cfg = config([*overrides, f"n_train={samples}", "n_test=0", "sort=none"])
    pde = build_pde(cfg.pde)
    solver = concrete_solver(cfg.solver, systems_of(pde))
    return sum(memory_needed(cfg, solver, Sizes.of(cfg, pde)).values()) / 2**20


def measure_one(overrides: list[str], samples: int) -> dict[str, float]:
    """`--one`: a warm-up sample (imports, plans), then the timed chain and its peak memory."""
    cuda = "device=cuda" in overrides
    check_backend(config(overrides))  # what `surrogate generate` refuses before any work
    estimate = estimated_mib(overrides, samples)
    seconds_per_sample(overrides, 1)
    reset_peak_resident()
    before = resident_mib("VmRSS")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds, steps = seconds_per_sample(overrides, samples)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else resident_mib("VmHWM") - before
    return {"seconds": seconds, "steps": steps, "peak_mib": peak, "estimate_mib": estimate}


def measured(overrides: list[str], samples: int) -> dict[str, float] | None:
    """`measure_one` in a fresh process: its peak memory is this run's alone; None where the
    config is refused (e.g. a dtype a family does not take)."""
    command = [sys.executable, __file__, "--one", json.dumps(overrides), "--samples", str(samples)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def cells(runs: dict, key: str, form: str, backends: list[str]) -> list[str]:
    """The backends' `key` figures of a row ("refused" where the config was)."""
    return ["refused" if runs[b] is None else format(runs[b][key], form) for b in backends]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--intervals", type=int, default=2, help="stored intervals per sample")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="*", default=sorted({f for f, _, _ in CASES}))
    parser.add_argument("--grids", nargs="*", help="only these grids (e.g. 64² 32³)")
    parser.add_argument("--solvers", nargs="*", help="only these torch solvers (e.g. 'cg mg' -)")
    parser.add_argument("--dtypes", nargs="*", default=["float64"], help="torch's dtype= values")
    parser.add_argument(
        "--devices", nargs="*", help="torch's devices (default: cpu, and cuda if seen)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a JSON list of overrides: one run
    args = parser.parse_args()
    if args.one:
        try:
            print(json.dumps(measure_one(json.loads(args.one), args.samples)))
        except UserError as refused:
            print(f"refused: {refused}", file=sys.stderr)
            print(json.dumps(None))
        return
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    backends = {"numpy": ["backend=numpy"]}
    for device in devices:
        for dtype in args.dtypes:
            name = f"torch-{device}" + ("" if dtype == "float64" else f" {dtype}")
            backends[name] = ["backend=torch", f"device={device}", f"dtype={dtype}"]
    torched = [b for b in backends if b != "numpy"]
    common = [
        f"batch_size={args.batch_size}",
        f"blas_threads={args.threads}",
    ]
    print(
        f"{args.samples} samples, batch_size {args.batch_size}, {args.threads} thread(s), "
        f"{args.intervals} stored intervals; torch {torch.__version__}"
        + ("" if torch.cuda.is_available() else "; no GPU: torch-cuda not run")
    )
    header = [
        "family",
        "grid",
        "torch solver",
        f"steps or iterations/sample ({' / '.join(torched)})",
        *(f"{b} s/sample" for b in backends),
        *(f"{b} peak MiB" for b in backends),
        *(f"{b} estimate MiB" for b in torched),
    ]
    header += [f"numpy / {b}" for b in torched]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    numpy_runs: dict[tuple[str, str], dict[str, float]] = {}  # one per (family, grid)
    for (family, grid, solver), (overrides, torch_overrides) in CASES.items():
        if family not in args.families or (args.grids and grid not in args.grids):
            continue
        if args.solvers and solver not in args.solvers:
            continue
        if family in TIME_DEPENDENT:
            overrides = [*overrides, f"pde.time_steps={args.intervals + 1}"]
        runs = {}
        for backend, choice in backends.items():
            if backend == "numpy" and (family, grid) in numpy_runs:
                runs[backend] = numpy_runs[family, grid]
                continue
            choice = choice if backend == "numpy" else [*choice, *torch_overrides]
            runs[backend] = measured([*overrides, *common, *choice], args.samples)
        numpy_runs[family, grid] = runs["numpy"]
        row = [family, grid, solver, " / ".join(cells(runs, "steps", ".0f", torched))]
        row += cells(runs, "seconds", ".4f", list(backends))
        row += cells(runs, "peak_mib", ".1f", list(backends))
        row += cells(runs, "estimate_mib", ".1f", torched)
        row += [
            "-" if runs[b] is None else f"{runs['numpy']['seconds'] / runs[b]['seconds']:.2f}x"
            for b in torched
        ]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
