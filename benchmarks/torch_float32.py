"""backend=torch dtype=float32 against dtype=float64: accuracy, not speed (speed and memory:
benchmarks/torch_generation.py --dtypes float64 float32).

Spectral rows: the same samples on the family's default settings in both dtypes; the relative
L2 norm of the difference of the final state (mean and max over samples) and of the whole
trajectory, and whether every lane took the same steps. Steady rows: iterations per sample
(float32: summed over the refinement's corrections), fallbacks, the largest stored true residual
and the largest difference to the float64 solution relative to its norm. Each row runs
`solve_chain` as `surrogate generate` does (one chain, one batch, no HDF5). Usage (no lock
needed: nothing here is timed):

    nice -n 10 python benchmarks/torch_float32.py --samples 8

Prints markdown tables (paste them into docs/torch_backend.md with the command).
"""

from __future__ import annotations

import argparse

import numpy as np
from hydra import compose, initialize_config_dir

from surrogate.cli.app import config_dir
from surrogate.generation.solving import SolvedSample, solve_chain

SPECTRAL = {
    "navier_stokes 64², defaults": ["pde=navier_stokes"],
    "burgers 256, defaults": ["pde=burgers"],
}
STEADY = {
    f"{family} {n}{power}, {name}": [f"pde={family}", f"pde.resolution={n}", *solver]
    for family, power, n, name, solver in (
        ("darcy", "²", 64, "cg mg", ["solver=cg", "solver.preconditioner=mg"]),
        ("darcy", "²", 256, "cg mg", ["solver=cg", "solver.preconditioner=mg"]),
        ("darcy", "²", 256, "cg jacobi", ["solver=cg", "solver.preconditioner=jacobi"]),
        ("poisson", "²", 256, "cg mg", ["solver=cg", "solver.preconditioner=mg"]),
        ("darcy3d", "³", 32, "cg mg", ["solver=cg", "solver.preconditioner=mg"]),
        ("darcy", "²", 512, "cg mg", ["solver=cg", "solver.preconditioner=mg"]),
    )
}


def solved(overrides: list[str], samples: int, dtype: str) -> list[SolvedSample]:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "generate",
            overrides=[*overrides, "paths.output_dir=.", "seed=0", f"n_train={samples}",
                       "sort=none", "backend=torch", "device=cpu", f"batch_size={samples}",
                       f"dtype={dtype}"],
        )  # fmt: skip
    return list(solve_chain(cfg, "train", [list(range(samples))]))


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--rows", nargs="*", help="only the rows whose name contains one of these")
    args = parser.parse_args()

    def wanted(name: str) -> bool:
        return not args.rows or any(part in name for part in args.rows)

    print(f"{args.samples} samples per row, seed 0, one batch")
    print("| family | final state, mean | final state, max | whole trajectory, max | steps |")
    print("|---|---|---|---|---|")
    for name, overrides in SPECTRAL.items():
        if not wanted(name):
            continue
        double, single = (solved(overrides, args.samples, d) for d in ("float64", "float32"))
        final = [relative(a.outputs[-1], b.outputs[-1]) for a, b in zip(double, single)]
        whole = [relative(a.outputs, b.outputs) for a, b in zip(double, single)]
        same = all(a.result.iterations == b.result.iterations for a, b in zip(double, single))
        cells = [f"{np.mean(final):.1e}", f"{max(final):.1e}", f"{max(whole):.1e}"]
        print(f"| {name} | {' | '.join(cells)} | {'equal' if same else 'differ'} |", flush=True)
    print()
    header = ["case", "float64 iterations", "float32 iterations", "float64 fallbacks",
              "float32 fallbacks", "float32 max residual", "max difference"]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, overrides in STEADY.items():
        if not wanted(name):
            continue
        double, single = (solved(overrides, args.samples, d) for d in ("float64", "float32"))
        cells = [
            *(f"{np.mean([s.result.iterations for s in run]):.1f}" for run in (double, single)),
            *(str(sum(s.result.fallback for s in run)) for run in (double, single)),
            f"{max(s.result.residual for s in single):.1e}",
            f"{max(relative(a.outputs, b.outputs) for a, b in zip(double, single)):.0e}",
        ]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
