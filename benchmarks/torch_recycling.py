"""Batched Krylov and recycling across a batch (issue 16): helmholtz solved by numpy
(solver=auto, its best; GCRO-DR with Jacobi) and by torch (batched GMRES, batched GCRO-DR with
`solver.recycle_batch` none, shared and lane, all Jacobi), side by side in one run.

Every row solves the same samples in the same sorted order (`sort=auto`, as `surrogate
generate` orders them) as one segment of `--samples` systems, through `solve_chain` (no HDF5
writing), with `--threads` threads (BLAS / torch); the torch rows cut it into batches of
`--batch-size`. Columns: Krylov iterations (Arnoldi steps) per system, seconds per sample,
fallbacks, and the largest relative residual reached (every one is checked on the CSR matrix).
Usage (timings: run it under the shared CPU lock):

    flock /tmp/surrogate-cpu.lock python benchmarks/torch_recycling.py --resolution 64 \
        --samples 128 --batch-size 16

Prints a markdown table (paste it into docs/benchmarks.md with the command).
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from surrogate.cli.app import config_dir
from surrogate.generation.solving import solve_chain, solve_order
from surrogate.pdes import build_pde

JACOBI = "solver.preconditioner=jacobi"
TORCH = ["backend=torch", "device=cpu"]
ROWS = {
    "numpy auto": ["solver=auto"],
    "numpy gcrodr": ["solver=gcrodr", JACOBI],
    "torch gmres": [*TORCH, "solver=gmres", JACOBI],
    "torch gcrodr none": [*TORCH, "solver=gcrodr", JACOBI, "solver.recycle_batch=none"],
    "torch gcrodr shared": [*TORCH, "solver=gcrodr", JACOBI, "solver.recycle_batch=shared"],
    "torch gcrodr lane": [*TORCH, "solver=gcrodr", JACOBI, "solver.recycle_batch=lane"],
}


def config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("generate", overrides=[*overrides, "paths.output_dir=.", "seed=0"])


def measure(overrides: list[str], samples: int) -> tuple[float, float, int, float]:
    """(iterations per system, seconds per sample, fallbacks, largest residual) of one
    segment of `samples` systems in sorted order."""
    cfg = config([*overrides, f"n_train={samples}", f"segment={samples}"])
    order = [int(i) for i in solve_order(cfg, build_pde(cfg.pde), "train", samples)]
    start = time.perf_counter()
    results = [s.result for s in solve_chain(cfg, "train", [order])]
    seconds = (time.perf_counter() - start) / samples
    iterations = sum(r.iterations for r in results) / samples
    return iterations, seconds, sum(r.fallback for r in results), max(r.residual for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", nargs="*", default=list(ROWS))
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
    )
    header = ["solver", "iterations/system", "s/sample", "fallbacks", "max residual"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in args.rows:
        measure([*common, *ROWS[name]], 1)  # warm-up: imports, MKL, torch kernels
        iterations, seconds, fallbacks, residual = measure([*common, *ROWS[name]], args.samples)
        row = [name, f"{iterations:.1f}", f"{seconds:.4f}", str(fallbacks), f"{residual:.1e}"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
