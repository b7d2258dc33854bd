"""Recycling where it wins (issue 14): shifted-Laplacian AMG + GCRO-DR on indefinite Helmholtz.

Side by side on the same systems (the family's first train samples, seed 0), seconds per
system with every set-up included: SuperLU, PARDISO with its analysis reused along the chain,
AMG-GMRES(40) (AMG of A itself), and the shifted Laplacian (`solver.preconditioner=shifted_amg`)
with GMRES(40) and with GCRO-DR(40, 20) along the greedy-sorted chain, its hierarchy set up for
every matrix or reused, and `solver=auto`. Direct solves can be limited to fewer systems
(`--direct-systems`; 3D SuperLU at 48^3 takes minutes each). One core (threadpoolctl).

    flock /tmp/surrogate-cpu.lock .venv/bin/python benchmarks/helmholtz_recycling.py \
        --family helmholtz3d --resolution 48 --systems 12 --direct-systems 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from surrogate.cli.app import config_dir
from surrogate.generation.solving import sample_rng
from surrogate.pdes import build_pde
from surrogate.pdes.base import systems_of
from surrogate.solvers import build_solver, concrete_solver
from surrogate.solvers.direct import pardiso_available
from surrogate.solvers.sorting import greedy_order

WARM_UP_RESOLUTION = 8


def krylov(name: str, rtol: float, preconditioner: str, maxiter: int, **extra) -> dict:
    return {
        "name": name,
        "rtol": rtol,
        "maxiter": maxiter,
        "preconditioner": preconditioner,
        "omega": 1.0,
        "ilu_fill_factor": 1.0,
        "ilu_drop_tol": 0.0,
        "shift": 1.0,
        "shift_rebuild": 1.5,
        "reuse_preconditioner": 0,
        "warm_start": False,
        "fallback": False,
        **extra,
    }


def strategies(
    rtol: float, maxiter: int, shift: float, m: int, k: int, spd: bool, skip_update: float
) -> dict[str, dict]:
    shifted = {"shift": shift, "m": m}
    recycled = {**shifted, "k": k, "skip_update": skip_update}
    table = {
        "direct (SuperLU, fresh per system)": {
            "name": "direct",
            "rtol": rtol,
            "backend": "superlu",
            "reuse_analysis": False,
        },
        "AMG-GMRES(40) (AMG of A, fresh hierarchy)": krylov("gmres", rtol, "amg", maxiter, m=40),
        f"shifted AMG-GMRES({m}) (fresh hierarchy)": krylov(
            "gmres", rtol, "shifted_amg", maxiter, shift_rebuild=0.0, **shifted
        ),
        f"shifted AMG-GCRO-DR({m},{k}) + sort (fresh hierarchy)": krylov(
            "gcrodr", rtol, "shifted_amg", maxiter, shift_rebuild=0.0, **recycled
        ),
        f"shifted AMG-GCRO-DR({m},{k}) + sort (hierarchy reused)": krylov(
            "gcrodr", rtol, "shifted_amg", maxiter, **recycled
        ),
        "auto (sorted)": {"name": "auto", "rtol": rtol},
    }
    if spd:  # Darcy 3D: CG where the systems allow it; a GMRES without recycling adds nothing
        table.pop(f"shifted AMG-GMRES({m}) (fresh hierarchy)")
        table["AMG-CG (fresh hierarchy, zero guess)"] = krylov("cg", rtol, "amg", maxiter)
        table["AMG-CG + sort + warm start"] = krylov("cg", rtol, "amg", maxiter, warm_start=True)
        table["shifted AMG-CG + sort + warm start (hierarchy reused)"] = krylov(
            "cg", rtol, "shifted_amg", maxiter, warm_start=True, shift=shift
        )
    if pardiso_available():
        table["direct (PARDISO, analysis reused along the chain)"] = {
            "name": "direct",
            "rtol": rtol,
            "backend": "pardiso",
            "reuse_analysis": True,
        }
    return table


def solve_chain(systems, solver: dict, problems: list, order: np.ndarray) -> dict:
    """Solve `problems` in `order` as one chain; seconds include every set-up."""
    cfg = OmegaConf.create(solver)
    chain = build_solver(cfg, systems, np.random.default_rng(0), len(order))
    seconds, iterations, converged, worst = 0.0, 0, 0, 0.0
    for index in order:
        result = chain.solve(problems[index].matrix, problems[index].rhs)
        seconds += result.seconds
        iterations += result.iterations
        converged += int(result.converged and not result.fallback)
        worst = max(worst, result.residual)
    chain.close()
    carried = getattr(getattr(chain, "preconditioning", None), "carried", None)
    setups = getattr(carried, "setups", None)
    return {
        "seconds": seconds / len(order),
        "iterations": iterations / len(order),
        "converged": f"{converged}/{len(order)}",
        "setups": "-" if setups is None else str(setups),
        "worst": worst,
    }


def family(name: str, resolution: int, overrides: list[str]):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "generate",
            overrides=[
                f"pde={name}",
                f"pde.resolution={resolution}",
                *overrides,
                "paths.output_dir=.",
            ],
        )
    return build_pde(cfg.pde)


def warm_up(name: str, overrides: list[str], table: dict[str, dict]) -> None:
    """Every strategy once on two small systems, untimed: no row pays the imports, numba's
    kernels or MKL's start-up."""
    small = family(
        name,
        WARM_UP_RESOLUTION,
        [*overrides, "pde.wavenumber.min=3", "pde.wavenumber.max=4"]
        if "helmholtz" in name
        else overrides,
    )
    problems = [small.problem(sample_rng(0, "train", i)) for i in range(2)]
    for solver in table.values():
        solve_chain(systems_of(small), solver, problems, np.arange(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="helmholtz3d")
    parser.add_argument("--resolution", type=int, default=48)
    parser.add_argument("--systems", type=int, default=12)
    parser.add_argument("--direct-systems", type=int, default=2, help="systems for SuperLU")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--maxiter", type=int, default=400)
    parser.add_argument("--shift", type=float, default=1.0, help="solver.shift (beta)")
    parser.add_argument("--m", type=int, default=40, help="shifted: vectors per cycle")
    parser.add_argument("--k", type=int, default=20, help="shifted GCRO-DR: recycled vectors")
    parser.add_argument(
        "--skip-update",
        type=float,
        default=OmegaConf.load(Path(config_dir()) / "solver" / "gcrodr.yaml").skip_update,
        help="GCRO-DR's solver.skip_update (default: conf/solver/gcrodr.yaml's)",
    )
    parser.add_argument("--only", nargs="*", help="strategies whose label contains one of these")
    parser.add_argument("--pde", nargs="*", default=[], help="further pde.* overrides")
    args = parser.parse_args()

    pde = family(args.family, args.resolution, args.pde)
    systems = systems_of(pde)
    start = time.perf_counter()
    problems = [pde.problem(sample_rng(0, "train", i)) for i in range(args.systems)]
    assembly = time.perf_counter() - start
    order = greedy_order(np.stack([p.features for p in problems]).astype(np.float32))
    table = strategies(
        args.rtol, args.maxiter, args.shift, args.m, args.k, pde.spd, args.skip_update
    )
    if args.only:
        table = {k: v for k, v in table.items() if any(word in k for word in args.only)}
    auto = concrete_solver(OmegaConf.create({"name": "auto", "rtol": args.rtol}), systems)
    ks = [p.params.get("wavenumber") for p in problems]
    print(
        f"\n### {args.family} {args.resolution}^{systems.dims} ({problems[0].rhs.size} unknowns), "
        f"{args.systems} systems (direct SuperLU: first {args.direct_systems} of the chain), "
        f"rtol {args.rtol:g}, maxiter {args.maxiter}, shift {args.shift:g}, "
        f"skip_update {args.skip_update:g}, one core; "
        f"assembly {assembly / args.systems:.2f} s/system"
        + ("" if ks[0] is None else f"; k in [{min(ks):.2f}, {max(ks):.2f}]")
        + f"; auto = {auto.name}/{auto.get('preconditioner', auto.get('backend'))}\n"
    )
    print(
        "| strategy | s per system | iterations per system | converged | AMG set-ups | worst residual |"
    )
    print("|---|---|---|---|---|---|")
    with threadpool_limits(1):
        warm_up(args.family, args.pde, table)
        for label, solver in table.items():
            subset = order[: args.direct_systems] if "SuperLU" in label else order
            row = solve_chain(systems, solver, problems, subset)
            print(
                f"| {label} | {row['seconds']:.3f} | {row['iterations']:.1f} | "
                f"{row['converged']} | {row['setups']} | {row['worst']:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
