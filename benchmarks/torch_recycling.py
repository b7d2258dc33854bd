"""Batched Krylov and recycling across a batch (issue 16): helmholtz solved by numpy
(solver=auto, its best; GCRO-DR with Jacobi or mg) and by torch (batched GMRES, batched GCRO-DR
with `solver.recycle_batch` none, shared and lane, each with Jacobi or mg: the multigrid V-cycle
of the shifted Laplacian, `solver.shift`), side by side in one run.

Every row solves the same samples in the same sorted order (`sort=auto`, as `surrogate
generate` orders them) as one segment of `--samples` systems, through `solve_chain` (no HDF5
writing), with `--threads` threads (BLAS / torch); the torch rows cut it into batches of
`--batch-size`. Columns: the systems solved and the batches they were cut into (so that a table
shows what it averages), Krylov iterations (Arnoldi steps) per system, their smallest and
largest, seconds per sample, fallbacks, and the largest relative residual reached (every one is
checked on the CSR matrix).
Usage (timings: run it under the shared CPU lock):

    flock /tmp/surrogate-cpu.lock python benchmarks/torch_recycling.py --resolution 64 \
        --samples 128 --batch-size 16

Prints a markdown table (paste it into docs/benchmarks.md with the command).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from surrogate.cli.app import config_dir
from surrogate.generation.solving import solve_chain, solve_order
from surrogate.pdes import build_pde

JACOBI = "solver.preconditioner=jacobi"
MG = "solver.preconditioner=mg"
TORCH = ["backend=torch", "device=cpu"]
ROWS = {
    "numpy auto": ["solver=auto"],
    "numpy gcrodr": ["solver=gcrodr", JACOBI],
    "numpy gcrodr mg": ["solver=gcrodr", MG],
    "torch gmres": [*TORCH, "solver=gmres", JACOBI],
    "torch gcrodr none": [*TORCH, "solver=gcrodr", JACOBI, "solver.recycle_batch=none"],
    "torch gcrodr shared": [*TORCH, "solver=gcrodr", JACOBI, "solver.recycle_batch=shared"],
    "torch gcrodr lane": [*TORCH, "solver=gcrodr", JACOBI, "solver.recycle_batch=lane"],
    "torch gmres mg": [*TORCH, "solver=gmres", MG],
    "torch gcrodr mg none": [*TORCH, "solver=gcrodr", MG, "solver.recycle_batch=none"],
    "torch gcrodr mg shared": [*TORCH, "solver=gcrodr", MG, "solver.recycle_batch=shared"],
    "torch gcrodr mg lane": [*TORCH, "solver=gcrodr", MG, "solver.recycle_batch=lane"],
}


def config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("generate", overrides=[*overrides, "paths.output_dir=.", "seed=0"])


@dataclass
class Row:
    """One row's figures over the systems it solved."""

    systems: int
    batches: int | None  # None: numpy, one system at a time
    iterations: list[int]
    seconds: float  # per sample
    fallbacks: int
    residual: float  # the largest

    def cells(self, name: str) -> list[str]:
        mean = sum(self.iterations) / self.systems
        return [
            name,
            str(self.systems),
            "-" if self.batches is None else str(self.batches),
            f"{mean:.2f}",
            f"{min(self.iterations)}-{max(self.iterations)}",
            f"{self.seconds:.4f}",
            str(self.fallbacks),
            f"{self.residual:.1e}",
        ]


HEADER = ["solver", "systems", "batches", "iterations/system", "min-max", "s/sample",
          "fallbacks", "max residual"]  # fmt: skip


def measure(overrides: list[str], samples: int) -> Row:
    """One segment of `samples` systems in sorted order, cut into batches of batch_size with
    backend=torch; every system counted once (checked: the order's samples, each solved)."""
    cfg = config([*overrides, f"n_train={samples}", f"segment={samples}"])
    order = [int(i) for i in solve_order(cfg, build_pde(cfg.pde), "train", samples)]
    start = time.perf_counter()
    solved = list(solve_chain(cfg, "train", [order]))
    seconds = (time.perf_counter() - start) / samples
    if sorted(s.index for s in solved) != list(range(samples)):
        raise RuntimeError(f"solved {len(solved)} systems, not samples 0..{samples - 1} once each")
    results = [s.result for s in solved]
    batches = None if cfg.backend == "numpy" else -(-samples // int(cfg.batch_size))
    return Row(
        len(results),
        batches,
        [r.iterations for r in results],
        seconds,
        sum(r.fallback for r in results),
        max(r.residual for r in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", nargs="*", default=list(ROWS))
    parser.add_argument(
        "--overrides", nargs="*", default=[], help="for every row, e.g. solver.shift=0.5"
    )
    args = parser.parse_args()
    common = [
        "pde=helmholtz",
        f"pde.resolution={args.resolution}",
        f"batch_size={args.batch_size}",
        f"blas_threads={args.threads}",
    ]
    print(
        f"helmholtz {args.resolution}², {args.samples} samples in one sorted segment, "
        f"batch_size {args.batch_size}, {args.threads} thread(s); torch {torch.__version__}"
        + ("" if torch.cuda.is_available() else "; no GPU: CUDA not run")
        + "".join(f"; {o}" for o in args.overrides)
    )
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for name in args.rows:
        overrides = [*common, *ROWS[name], *args.overrides]
        measure(overrides, 1)  # warm-up: imports, MKL, torch kernels
        row = measure(overrides, args.samples)
        print("| " + " | ".join(row.cells(name)) + " |", flush=True)


if __name__ == "__main__":
    main()
