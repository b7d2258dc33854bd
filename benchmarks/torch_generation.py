"""backend=torch against backend=numpy: seconds per sample of the families torch supports.

Each row runs `solve_chain` as `surrogate generate` does (one chain, no HDF5 writing) for the
same samples with the numpy backend (steady families: solver=auto, its best choice; torch:
CG with Jacobi), torch on the CPU and, where torch sees a GPU, torch on
CUDA, side by side in one run; every backend uses `--threads` threads (BLAS / torch). The
trajectories are short (`--intervals` stored intervals of `record_dt`, the default internal
step) so that a row takes seconds: the cost per internal step is what the ratio measures.
Usage (timings: run it under the shared CPU lock):

    flock /tmp/surrogate-cpu.lock python benchmarks/torch_generation.py --samples 32 --batch-size 32

Prints a markdown table (paste it into docs/benchmarks.md with the command).
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from surrogate.cli.app import config_dir
from surrogate.generation.solving import solve_chain

SPECTRAL = ("navier_stokes", "burgers")
TORCH_CG = ["solver=cg", "solver.preconditioner=jacobi"]  # numpy: solver=auto, its best
CASES = {  # (family, grid): (overrides, overrides of the torch runs); 1D Burgers at 64 and 256
    ("navier_stokes", "64²"): (["pde=navier_stokes", "pde.resolution=64"], []),
    ("navier_stokes", "256²"): (["pde=navier_stokes", "pde.resolution=256"], []),
    ("burgers", "64"): (["pde=burgers", "pde.resolution=64"], []),
    ("burgers", "256"): (["pde=burgers", "pde.resolution=256"], []),
    ("darcy", "64²"): (["pde=darcy", "pde.resolution=64", "solver=auto"], TORCH_CG),
    ("darcy", "256²"): (["pde=darcy", "pde.resolution=256", "solver=auto"], TORCH_CG),
    ("poisson", "64²"): (["pde=poisson", "pde.resolution=64", "solver=auto"], TORCH_CG),
    ("poisson", "256²"): (["pde=poisson", "pde.resolution=256", "solver=auto"], TORCH_CG),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--intervals", type=int, default=2, help="stored intervals per sample")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="*", default=sorted({f for f, _ in CASES}))
    args = parser.parse_args()
    backends = {"numpy": ["backend=numpy"], "torch-cpu": ["backend=torch", "device=cpu"]}
    if torch.cuda.is_available():
        backends["torch-cuda"] = ["backend=torch", "device=cuda"]
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
        "steps or iterations/sample (torch)",
        *(f"{b} s/sample" for b in backends),
    ]
    header += [f"numpy / {b}" for b in backends if b != "numpy"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for (family, grid), (overrides, torch_overrides) in CASES.items():
        if family not in args.families:
            continue
        timings, steps = {}, 0.0
        if family in SPECTRAL:
            overrides = [*overrides, f"pde.time_steps={args.intervals + 1}"]
        for backend, choice in backends.items():
            choice = choice if backend == "numpy" else [*choice, *torch_overrides]
            seconds_per_sample([*overrides, *common, *choice], 1)  # warm-up: imports, plans
            timings[backend], steps = seconds_per_sample(
                [*overrides, *common, *choice], args.samples
            )
        row = [family, grid, f"{steps:.0f}", *(f"{t:.4f}" for t in timings.values())]
        row += [f"{timings['numpy'] / t:.2f}x" for b, t in timings.items() if b != "numpy"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
