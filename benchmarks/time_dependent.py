"""Time-dependent generation: seconds per trajectory of every family at its default settings,
and for heat_transient the recycling engine against direct and GMRES solves of the same steps.

Each row runs `solve_order` and `solve_chain` as `surrogate generate` does (one chain, no HDF5
writing), so seconds per trajectory are the `solver/seconds` a dataset would record. Usage:

    python benchmarks/time_dependent.py --samples 5

Prints markdown tables (paste them into docs/benchmarks.md with the command).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from surrogate.cli.app import config_dir
from surrogate.generation.solving import solve_chain, solve_order
from surrogate.pdes import build_pde

FAMILIES = {
    "heat_transient (32², T=20, 2 substeps, direct)": ["pde=heat_transient"],
    "navier_stokes (64², T=20, ν=1e-3)": ["pde=navier_stokes"],
    "navier_stokes (64², T=20, ν=1e-4)": ["pde=navier_stokes", "pde.viscosity=1e-4"],
    "navier_stokes (64², T=20, ν=1e-5)": ["pde=navier_stokes", "pde.viscosity=1e-5"],
    "burgers (256, T=11, ν=0.1)": ["pde=burgers"],
}
HEAT_STRATEGIES = {
    "direct (factors reused within a trajectory)": ["solver=direct"],
    "GMRES(40)": ["solver=gmres"],
    "GMRES(40) + ILU(0)": ["solver=gmres", "solver.preconditioner=ilu"],
    "GCRO-DR(40,20) + greedy": ["solver=gcrodr", "sort=greedy"],
    "GCRO-DR(40,20) + ILU(0) + greedy": [
        "solver=gcrodr",
        "solver.preconditioner=ilu",
        "sort=greedy",
    ],
    "AMG-CG + warm start": ["solver=cg", "solver.preconditioner=amg", "solver.warm_start=true"],
}


def config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("generate", overrides=[*overrides, "paths.output_dir=.", "seed=0"])


def run(overrides: list[str], samples: int) -> dict[str, float]:
    """Solve `samples` trajectories of the train split in one chain; per-trajectory figures."""
    cfg = config([*overrides, f"n_train={samples}"])
    pde = build_pde(cfg.pde)
    start = time.perf_counter()
    order = solve_order(cfg, pde, "train", samples)
    results = [sample.result for sample in solve_chain(cfg, "train", [list(order)])]
    wall = time.perf_counter() - start
    solves = max(1, pde.linear_solves)
    return {
        "seconds": float(np.mean([r.seconds for r in results])),
        "wall": wall / samples,
        "iterations": float(np.mean([r.iterations for r in results])) / solves,
        "residual": max(r.residual for r in results),
        "converged": sum(r.converged and not r.fallback for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--heat-resolutions", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--rtol", type=float, default=1e-8)
    args = parser.parse_args()

    print("| family (defaults) | s / trajectory | internal steps | converged |")
    print("|---|---|---|---|")
    for label, overrides in FAMILIES.items():
        r = run(overrides, args.samples)
        print(f"| {label} | {r['seconds']:.3f} | {r['iterations']:.0f} | "
              f"{r['converged']}/{args.samples} |")  # fmt: skip

    print()
    print("| resolution | strategy | iterations / step | s / trajectory | vs direct | "
          "max residual | converged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for n in args.heat_resolutions:
        base = ["pde=heat_transient", f"pde.resolution={n}", f"solver.rtol={args.rtol}"]
        direct = None
        for label, overrides in HEAT_STRATEGIES.items():
            r = run([*base, *overrides], args.samples)
            direct = direct or r["seconds"]
            print(f"| {n}² | {label} | {r['iterations']:.1f} | {r['seconds']:.3f} | "
                  f"{r['seconds'] / direct:.1f}x | {r['residual']:.1e} | "
                  f"{r['converged']}/{args.samples} |")  # fmt: skip


if __name__ == "__main__":
    main()
