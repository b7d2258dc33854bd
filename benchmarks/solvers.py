"""Solver benchmark: our GMRES(m) against GCRO-DR(m, k) + greedy sorting (SKR's setting) and
scipy's GCROT with carried vectors, and per-system seconds of direct, AMG-CG and `auto`.

Every strategy solves the same systems in one run, so the ratios are side by side. Usage:

    python benchmarks/solvers.py skr --family darcy_skr --systems 100
    python benchmarks/solvers.py scipy --family darcy_skr --systems 20
    python benchmarks/solvers.py fastest --family darcy --resolution 256 --systems 20

Prints markdown tables (paste them into docs/benchmarks.md with the command).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

from surrogate.cli.app import config_dir
from surrogate.data.chains import sample_rng
from surrogate.pdes import build_pde
from surrogate.solvers import build_solver
from surrogate.solvers.direct import pardiso_available
from surrogate.solvers.sorting import greedy_order

# Families as SKR ran them (sizes near theirs where a 2-core machine allows).
FAMILIES = {
    "darcy_skr": ["pde=darcy", "pde.coefficient=lognormal", "pde.stencil=skr", "pde.resolution=80"],
    "darcy": ["pde=darcy", "pde.coefficient=lognormal", "pde.resolution=80"],
    "heat": ["pde=heat", "pde.resolution=101"],
    "poisson": ["pde=poisson", "pde.resolution=100"],
    "helmholtz": ["pde=helmholtz", "pde.resolution=100"],
    "darcy3d": ["pde=darcy3d", "pde.resolution=24"],
}
PAPER = {  # SKR's table: GMRES time / SKR time, (family, tol) -> {preconditioner: ratio}
    ("darcy_skr", 1e-5): {"none": 2.92, "jacobi": 3.42, "sor": 3.45, "ilu": 3.08},
    ("darcy_skr", 1e-8): {"none": 2.70, "jacobi": 3.09, "sor": 3.54, "ilu": 3.70},
    ("heat", 1e-8): {"none": 5.35, "jacobi": 3.06, "sor": 2.34, "ilu": 2.69},
    ("poisson", 1e-8): {"none": 1.74, "jacobi": 1.75, "sor": 1.35, "ilu": 1.30},
    ("helmholtz", 1e-5): {"none": 7.61, "jacobi": 8.62, "sor": 10.5, "ilu": 6.13},
}


@dataclass
class Run:
    seconds: float
    iterations: int
    converged: int


def pde_config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("generate", overrides=[*overrides, "paths.output_dir=."])


def run(cfg: DictConfig, solver: dict, problems: list, order: np.ndarray) -> Run:
    """Solve `problems` in `order` as one chain; seconds include preconditioner set-up."""
    pde = build_pde(cfg.pde)
    chain = build_solver(OmegaConf.create(solver), pde, np.random.default_rng(0), len(order))
    seconds, iterations, converged = 0.0, 0, 0
    for index in order:
        result = chain.solve(problems[index].matrix, problems[index].rhs)
        seconds += result.seconds
        iterations += result.iterations
        converged += int(result.converged and not result.fallback)
    return Run(seconds, iterations, converged)


def krylov(name: str, rtol: float, preconditioner: str, **extra) -> dict:
    return {
        "name": name,
        "rtol": rtol,
        "maxiter": 20000,
        "preconditioner": preconditioner,
        "omega": 1.5 if preconditioner in ("sor", "ssor") else 1.0,
        "reuse_preconditioner": 0,
        "warm_start": False,
        "fallback": False,
        **extra,
    }


def skr_table(
    family: str, n_systems: int, tolerances: list[float], preconditioners: list[str]
) -> None:
    cfg = pde_config(FAMILIES[family])
    pde = build_pde(cfg.pde)
    problems = [pde.problem(sample_rng(0, "train", i)) for i in range(n_systems)]
    start = time.perf_counter()
    order = greedy_order(np.stack([p.features for p in problems]).astype(np.float32))
    sort_seconds = time.perf_counter() - start
    unknowns = problems[0].rhs.size
    print(
        f"\n### {family}: {n_systems} systems, {unknowns} unknowns, greedy sort {sort_seconds:.3f} s\n"
    )
    print(
        "| tol | preconditioner | GMRES(40) s | GCRO-DR(40,20)+sort s | time ratio | iteration ratio | paper | "
        "+ warm start: ratio | GCROT(40,20) carried: ratio | all converged |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tol in tolerances:
        for pc in preconditioners:
            base = run(cfg, krylov("gmres", tol, pc, m=40), problems, np.arange(n_systems))
            skr = run(cfg, krylov("gcrodr", tol, pc, m=40, k=20), problems, order)
            warm = run(cfg, krylov("gcrodr", tol, pc, m=40, k=20, warm_start=True), problems, order)
            gcrot = run(cfg, krylov("gcrotmk", tol, pc, m=40, k=20), problems, order)
            paper = PAPER.get((family, tol), {}).get(pc)
            ok = all(r.converged == n_systems for r in (base, skr, warm, gcrot))
            print(
                f"| {tol:g} | {pc} | {base.seconds:.2f} | {skr.seconds:.2f} | "
                f"{base.seconds / skr.seconds:.2f} | {base.iterations / skr.iterations:.2f} | "
                f"{paper if paper else '-'} | {base.seconds / warm.seconds:.2f} | "
                f"{base.seconds / gcrot.seconds:.2f} | {'yes' if ok else 'NO'} |",
                flush=True,
            )


def scipy_table(family: str, n_systems: int, rtol: float, preconditioners: list[str]) -> None:
    """Our GMRES(40) against scipy.sparse.linalg.gmres(restart=40), same systems and M."""
    import scipy.sparse.linalg as spla

    from surrogate.solvers.gmres import gmres
    from surrogate.solvers.preconditioners import build_preconditioner

    cfg = pde_config(FAMILIES[family])
    pde = build_pde(cfg.pde)
    problems = [pde.problem(sample_rng(0, "train", i)) for i in range(n_systems)]
    print(f"\n### GMRES(40): ours vs scipy, {family}, {n_systems} systems, rtol {rtol:g}\n")
    print(
        "| preconditioner | ours s | scipy s | scipy / ours | ours max residual | scipy max residual |"
    )
    print("|---|---|---|---|---|---|")
    for pc in preconditioners:
        ours = theirs = 0.0
        worst_ours = worst_theirs = 0.0
        for problem in problems:
            a, b = problem.matrix, problem.rhs
            apply = build_preconditioner(pc, a, omega=1.5)
            start = time.perf_counter()
            x, _, _ = gmres(a, b, np.zeros_like(b), apply, 40, rtol, 20000)
            ours += time.perf_counter() - start
            inverse = spla.LinearOperator(a.shape, matvec=apply, dtype=np.float64)
            start = time.perf_counter()
            y, _ = spla.gmres(a, b, rtol=rtol, atol=0.0, restart=40, maxiter=500, M=inverse)
            theirs += time.perf_counter() - start
            norm = np.linalg.norm(b)
            worst_ours = max(worst_ours, np.linalg.norm(b - a @ x) / norm)
            worst_theirs = max(worst_theirs, np.linalg.norm(b - a @ y) / norm)
        print(
            f"| {pc} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f} | {worst_ours:.1e} | {worst_theirs:.1e} |",
            flush=True,
        )


def fastest_table(family: str, resolution: int, n_systems: int, rtol: float) -> None:
    overrides = [o for o in FAMILIES[family] if not o.startswith("pde.resolution")]
    cfg = pde_config([*overrides, f"pde.resolution={resolution}"])
    pde = build_pde(cfg.pde)
    problems = [pde.problem(sample_rng(0, "train", i)) for i in range(n_systems)]
    order = greedy_order(np.stack([p.features for p in problems]).astype(np.float32))
    index_order = np.arange(n_systems)
    strategies = {
        "direct (SuperLU, fresh per system)": (
            {"name": "direct", "rtol": rtol, "backend": "superlu", "reuse_analysis": False},
            index_order,
        ),
        "AMG-CG (fresh hierarchy, zero guess)": (krylov("cg", rtol, "amg"), index_order),
        "AMG-GMRES(40) (fresh hierarchy, zero guess)": (
            krylov("gmres", rtol, "amg", m=40),
            index_order,
        ),
        "AMG-CG + sort + warm start": (krylov("cg", rtol, "amg", warm_start=True), order),
        "ILU(fill 10)-GCRO-DR(40,20) + sort + warm start": (
            krylov(
                "gcrodr",
                rtol,
                "ilu",
                m=40,
                k=20,
                warm_start=True,
                ilu_fill_factor=10.0,
                ilu_drop_tol=1e-4,
            ),
            order,
        ),
        "auto (sorted)": ({"name": "auto", "rtol": rtol}, order),
    }
    if pardiso_available():
        strategies["direct (PARDISO, fresh analysis per system)"] = (
            {"name": "direct", "rtol": rtol, "backend": "pardiso", "reuse_analysis": False},
            index_order,
        )
        strategies["direct (PARDISO, analysis reused along the chain)"] = (
            {"name": "direct", "rtol": rtol, "backend": "pardiso"},
            order,
        )
    if not pde.spd:
        for label in [name for name in strategies if "CG (" in name or name.startswith("AMG-CG")]:
            strategies.pop(label)
    print(
        f"\n### {family} {resolution}^{len(pde.fields.spatial_shape)} ({problems[0].rhs.size} unknowns), "
        f"{n_systems} systems, rtol {rtol:g}\n"
    )
    print("| strategy | s per system | mean iterations | converged |")
    print("|---|---|---|---|")
    for label, (solver, solve_order) in strategies.items():
        result = run(cfg, solver, problems, solve_order)
        print(
            f"| {label} | {result.seconds / n_systems:.4f} | {result.iterations / n_systems:.1f} | "
            f"{result.converged}/{n_systems} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("table", choices=["skr", "scipy", "fastest"])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="darcy_skr")
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-5, 1e-8])
    parser.add_argument("--preconditioners", nargs="+", default=["none", "jacobi", "sor", "ilu"])
    parser.add_argument("--rtol", type=float, default=1e-8)
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        if args.table == "skr":
            skr_table(args.family, args.systems, args.tolerances, args.preconditioners)
        elif args.table == "scipy":
            scipy_table(args.family, args.systems, args.rtol, args.preconditioners)
        else:
            fastest_table(args.family, args.resolution, args.systems, args.rtol)


if __name__ == "__main__":
    main()
