"""Solver benchmark: our GMRES(m) against GCRO-DR(m, k) + greedy sorting (SKR's setting) and
scipy's GCROT with carried vectors, and per-system seconds of direct, AMG-CG and `auto`.

Every strategy solves the same systems in one run, so the ratios are side by side. Usage:

    python benchmarks/solvers.py skr --family darcy_skr --systems 100
    python benchmarks/solvers.py scipy --family darcy_skr --systems 20
    python benchmarks/solvers.py fastest --family darcy --resolution 256 --systems 20
    python benchmarks/solvers.py petsc --family darcy_skr --systems 100
    python benchmarks/solvers.py phases --family darcy_skr --systems 100 --preconditioners ilu

GCRO-DR runs with conf/solver/gcrodr.yaml's `skip_update` unless `--skip-update` overrides it.

`petsc` runs PETSc's GMRES(40) (benchmarks/petsc_gmres.py, under the interpreter that has
petsc4py: Debian's python3-petsc4py) on the same systems, exported to a file, beside ours; it
prints a line and our side only where petsc4py is missing. Prints markdown tables (paste them
into docs/benchmarks.md with the command).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

from surrogate.cli.app import config_dir
from surrogate.generation.solving import sample_rng
from surrogate.pdes import build_pde
from surrogate.pdes.base import systems_of
from surrogate.solvers import build_solver
from surrogate.solvers.direct import pardiso_available
from surrogate.solvers.sorting import greedy_order

# Families as SKR ran them (sizes near theirs where a 2-core machine allows).
FAMILIES = {
    "darcy_skr": ["pde=darcy", "pde.coefficient=lognormal", "pde.stencil=skr", "pde.resolution=80"],
    # The SKR code's own systems (its slipped -s diagonal included), 78² = 6 084 unknowns.
    "darcy_skr_reference": [
        "pde=darcy",
        "pde.coefficient=lognormal",
        "pde.stencil=skr_reference",
        "pde.resolution=78",
    ],
    "darcy": ["pde=darcy", "pde.coefficient=lognormal", "pde.resolution=80"],
    "heat": ["pde=heat", "pde.resolution=101"],
    "poisson": ["pde=poisson", "pde.resolution=100"],
    "helmholtz": ["pde=helmholtz", "pde.resolution=100"],
    "darcy3d": ["pde=darcy3d", "pde.resolution=24"],
}
# SKR's Table 1 (PETSc): GMRES time / SKR time and GMRES / SKR iterations, per preconditioner.
# Its "sor" is PETSc's default SOR, one local symmetric sweep with ω = 1: our ssor at ω = 1.
PAPER = {
    ("darcy", 1e-2): {"none": (2.62, 19.2), "jacobi": (2.88, 22.6), "sor": (2.69, 23.3),
                      "ilu": (1.93, 9.44)},
    ("darcy", 1e-5): {"none": (2.92, 21.1), "jacobi": (3.42, 24.5), "sor": (3.45, 27.9),
                      "ilu": (3.08, 14.4)},
    ("darcy", 1e-8): {"none": (2.70, 19.1), "jacobi": (3.09, 22.9), "sor": (3.54, 27.5),
                      "ilu": (3.70, 17.2)},
    ("heat", 1e-8): {"none": (5.35, 23.6), "jacobi": (3.06, 13.5), "sor": (2.34, 9.30),
                     "ilu": (2.69, 11.1)},
    ("poisson", 1e-8): {"none": (1.74, 6.29), "jacobi": (1.75, 6.30), "sor": (1.35, 4.45),
                        "ilu": (1.30, 4.87)},
    ("helmholtz", 1e-5): {"none": (7.61, 16.5), "jacobi": (8.62, 20.0), "sor": (10.5, 26.2),
                          "ilu": (6.13, 27.2)},
}  # fmt: skip
PAPER_FAMILY = {"darcy_skr": "darcy", "darcy_skr_reference": "darcy"}


# GCRO-DR's own settings beyond m and k, from conf/solver/gcrodr.yaml (`--skip-update` overrides).
GCRODR_SETTINGS = {
    "skip_update": float(OmegaConf.load(Path(config_dir()) / "solver" / "gcrodr.yaml").skip_update)
}


@dataclass
class Run:
    seconds: float
    iterations: int
    converged: int
    at_cap: int  # systems that used all `maxiter` iterations
    worst_residual: float  # the largest true relative residual


def pde_config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("generate", overrides=[*overrides, "paths.output_dir=."])


def run(cfg: DictConfig, solver: dict, problems: list, order: np.ndarray) -> Run:
    """Solve `problems` in `order` as one chain; seconds include preconditioner set-up."""
    pde = build_pde(cfg.pde)
    systems = systems_of(pde)
    chain = build_solver(OmegaConf.create(solver), systems, np.random.default_rng(0), len(order))
    seconds, iterations, converged, at_cap, worst = 0.0, 0, 0, 0, 0.0
    for index in order:
        result = chain.solve(problems[index].matrix, problems[index].rhs)
        seconds += result.seconds
        iterations += result.iterations
        converged += int(result.converged and not result.fallback)
        at_cap += int(result.iterations >= solver.get("maxiter", np.inf))
        worst = max(worst, result.residual)
    return Run(seconds, iterations, converged, at_cap, worst)


def krylov(
    name: str, rtol: float, preconditioner: str, maxiter: int = 20000, omega: float = 1.5, **extra
) -> dict:
    return {
        "name": name,
        "rtol": rtol,
        "maxiter": maxiter,
        "preconditioner": preconditioner,
        "omega": omega if preconditioner in ("sor", "ssor") else 1.0,
        "ilu_fill_factor": 1.0,  # ILU(0), as conf/solver/*.yaml
        "ilu_drop_tol": 0.0,
        "reuse_preconditioner": 0,
        "warm_start": False,
        "fallback": False,
        **(GCRODR_SETTINGS if name == "gcrodr" else {}),
        **extra,
    }


def warm_up(cfg: DictConfig, problem, preconditioners: list[str]) -> None:
    """Solve one system untimed with every engine, so no table pays the kernels' loading."""
    for pc in preconditioners:
        for name, extra in (("gmres", {"m": 40}), ("gcrodr", {"m": 40, "k": 20})):
            run(cfg, krylov(name, 1e-6, pc, maxiter=200, **extra), [problem, problem], [0, 0])


def load_problems(family: str, n_systems: int) -> tuple[DictConfig, list, np.ndarray, float]:
    """The family's first `n_systems` train systems (seed 0) and their greedy order."""
    cfg = pde_config(FAMILIES[family])
    pde = build_pde(cfg.pde)
    problems = [pde.problem(sample_rng(0, "train", i)) for i in range(n_systems)]
    start = time.perf_counter()
    order = greedy_order(np.stack([p.features for p in problems]).astype(np.float32))
    return cfg, problems, order, time.perf_counter() - start


def skr_table(
    family: str,
    n_systems: int,
    tolerances: list[float],
    preconditioners: list[str],
    maxiter: int,
    omega: float,
    extras: bool,
) -> None:
    cfg, problems, order, sort_seconds = load_problems(family, n_systems)
    warm_up(cfg, problems[0], preconditioners)
    print(
        f"\n### {family}: {n_systems} systems, {problems[0].rhs.size} unknowns, greedy sort "
        f"{sort_seconds:.3f} s, maxiter {maxiter}, ω = {omega:g} for sor/ssor\n"
    )
    header = (
        "| tol | preconditioner | GMRES(40) s | GMRES it/system (at cap) | GCRO-DR(40,20)+sort s | "
        "GCRO-DR it/system | time ratio | iteration ratio | paper: time / iteration ratio |"
    )
    if extras:
        header += " + warm start: ratio | GCROT(40,20) carried: ratio |"
    print(header + " converged (GMRES / GCRO-DR) |")
    print("|---" * (header.count("|") - 1 + 1) + "|")
    paper_family = PAPER_FAMILY.get(family, family)
    for tol in tolerances:
        for pc in preconditioners:
            settings = {"maxiter": maxiter, "omega": omega}
            base = run(cfg, krylov("gmres", tol, pc, m=40, **settings), problems, range(n_systems))
            skr = run(cfg, krylov("gcrodr", tol, pc, m=40, k=20, **settings), problems, order)
            paper = PAPER.get((paper_family, tol), {}).get("sor" if pc == "ssor" else pc)
            row = (
                f"| {tol:g} | {pc} | {base.seconds:.2f} | {base.iterations / n_systems:.1f} "
                f"({base.at_cap}) | {skr.seconds:.2f} | {skr.iterations / n_systems:.1f} | "
                f"{base.seconds / skr.seconds:.2f} | {base.iterations / skr.iterations:.2f} | "
                f"{f'{paper[0]} / {paper[1]}' if paper else '-'} |"
            )
            if extras:
                warm = run(
                    cfg, krylov("gcrodr", tol, pc, m=40, k=20, warm_start=True, **settings),
                    problems, order,
                )  # fmt: skip
                gcrot = run(
                    cfg, krylov("gcrotmk", tol, pc, m=40, k=20, **settings), problems, order
                )
                row += f" {base.seconds / warm.seconds:.2f} | {base.seconds / gcrot.seconds:.2f} |"
            print(row + f" {base.converged} / {skr.converged} |", flush=True)


def petsc_python() -> tuple[str, dict] | None:
    """(interpreter, environment) under which petsc4py imports, or None."""
    candidates = [os.environ.get("PETSC_PYTHON", ""), "/usr/bin/python3", "python3"]
    paths = glob.glob("/usr/lib/petscdir/petsc*/*-real/lib/python3/dist-packages")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    if paths and "PETSC_DIR" not in env:  # Debian's alternatives link may be missing
        env["PETSC_DIR"] = str(Path(paths[0]).parents[2])
    env["OMP_NUM_THREADS"] = "1"
    for python in filter(None, candidates):
        try:
            found = subprocess.run(
                [python, "-c", "import petsc4py.PETSc"], env=env, capture_output=True, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0:
            return python, env
    return None


def petsc_runs(petsc: tuple[str, dict], problems: list, rtol: float, maxiter: int) -> dict:
    """PETSc's GMRES(40) on `problems` (exported to a file) per preconditioner, in a subprocess."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "systems.npz"
        arrays = {"count": np.array(len(problems))}
        for i, problem in enumerate(problems):
            csr = problem.matrix.tocsr()
            arrays |= {f"indptr_{i}": csr.indptr, f"indices_{i}": csr.indices,
                       f"data_{i}": csr.data, f"rhs_{i}": problem.rhs}  # fmt: skip
        np.savez(path, **arrays)
        script = Path(__file__).with_name("petsc_gmres.py")
        done = subprocess.run(
            [petsc[0], str(script), str(path), "--rtol", str(rtol), "--maxiter", str(maxiter),
             "--preconditioners", *PETSC_PRECONDITIONERS],
            env=petsc[1], capture_output=True, text=True, check=True,
        )  # fmt: skip
    results = [json.loads(line) for line in done.stdout.splitlines()]
    return {result["preconditioner"]: result for result in results}


PETSC_PRECONDITIONERS = {"none": "none", "jacobi": "jacobi", "sor": "ssor", "ilu": "ilu"}


def petsc_table(family: str, n_systems: int, rtol: float, maxiter: int, repeats: int) -> None:
    """PETSc's GMRES(40) beside our GMRES(40) and GCRO-DR(40,20)+greedy, same systems.

    PETSc and ours alternate `repeats` times; each cell keeps its fastest repeat (the least
    disturbed by other work on the machine); iterations do not change between repeats.
    """
    cfg, problems, order, sort_seconds = load_problems(family, n_systems)
    petsc = petsc_python()
    if petsc is None:
        print("PETSc side skipped: petsc4py not found (Debian: apt-get install python3-petsc4py)")
    warm_up(cfg, problems[0], list(PETSC_PRECONDITIONERS.values()))
    theirs: dict[str, dict] = {}
    ours: dict[str, Run] = {}
    recycled: dict[str, Run] = {}
    for _ in range(repeats):
        if petsc is not None:
            for name, result in petsc_runs(petsc, problems, rtol, maxiter).items():
                if name not in theirs or sum(result["seconds"]) < sum(theirs[name]["seconds"]):
                    theirs[name] = result
        for pc in PETSC_PRECONDITIONERS.values():
            settings = {"maxiter": maxiter, "omega": 1.0}
            base = run(cfg, krylov("gmres", rtol, pc, m=40, **settings), problems, range(n_systems))
            skr = run(cfg, krylov("gcrodr", rtol, pc, m=40, k=20, **settings), problems, order)
            if pc not in ours or base.seconds < ours[pc].seconds:
                ours[pc] = base
            if pc not in recycled or skr.seconds < recycled[pc].seconds:
                recycled[pc] = skr
    print(
        f"\n### PETSc against ours: {family}, {n_systems} systems, {problems[0].rhs.size} "
        f"unknowns, rtol {rtol:g}, one core, fastest of {repeats} (greedy sort "
        f"{1e3 * sort_seconds:.1f} ms in all)\n"
    )
    print(
        "| preconditioner (PETSc / ours) | PETSc GMRES(40) ms (it) | our GMRES(40) ms (it) | "
        "our GCRO-DR(40,20)+greedy ms (it) | GMRES µs/it: PETSc, ours, ours/PETSc | "
        "PETSc GMRES / our GCRO-DR per system | max residual (PETSc, GMRES, GCRO-DR) |"
    )
    print("|---|---|---|---|---|---|---|")
    ms = 1e3 / n_systems
    for petsc_pc, pc in PETSC_PRECONDITIONERS.items():
        base, skr = ours[pc], recycled[pc]
        mine = f"{base.seconds * ms:.1f} ({base.iterations / n_systems:.0f})"
        again = f"{skr.seconds * ms:.1f} ({skr.iterations / n_systems:.0f})"
        per_it = 1e6 * base.seconds / base.iterations
        residuals = f"{base.worst_residual:.1e}, {skr.worst_residual:.1e}"
        if petsc_pc not in theirs:
            print(f"| - / {pc} | - | {mine} | {again} | -, {per_it:.0f}, - | - | -, {residuals} |")
            continue
        result = theirs[petsc_pc]
        seconds, its = sum(result["seconds"]), sum(result["iterations"])
        their_it = 1e6 * seconds / its
        print(
            f"| {petsc_pc} / {pc} | {seconds * ms:.1f} ({its / n_systems:.0f}) | {mine} | "
            f"{again} | {their_it:.0f}, {per_it:.0f}, {per_it / their_it:.2f} | "
            f"{seconds / skr.seconds:.2f} | {max(result['residuals']):.1e}, {residuals} |",
            flush=True,
        )


def phases_table(family: str, n_systems: int, rtol: float, maxiter: int, pcs: list[str]) -> None:
    """Where GCRO-DR(40,20)+greedy spends its time per system: each phase timed by wrapping it
    (the fastest of 3 chains; the wrappers add about a microsecond per call)."""
    import surrogate.solvers.chain as chain_module
    import surrogate.solvers.gcrodr as gcrodr_module

    totals: dict[str, float] = {}
    calls: dict[str, int] = {}

    def timed(function, key):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - start
                calls[key] = calls.get(key, 0) + 1

        return wrapper

    solver_class = gcrodr_module.GCRODR
    phases = {
        "preconditioner set-up": (chain_module, "build_preconditioner"),
        "Arnoldi cycles": (gcrodr_module, "arnoldi_cycle"),
        "recycle update (harmonic Ritz, new U and C)": (solver_class, "_next_recycle"),
        "re-fit of C to the new operator": (solver_class, "_refit"),
        "projection on C before each cycle": (solver_class, "_project"),
    }
    originals = {label: getattr(owner, name) for label, (owner, name) in phases.items()}
    static = {"_refit", "_project"}
    for label, (owner, name) in phases.items():
        wrapped = timed(originals[label], label)
        setattr(owner, name, staticmethod(wrapped) if name in static else wrapped)
    try:
        cfg, problems, order, _ = load_problems(family, n_systems)
        warm_up(cfg, problems[0], pcs)
        print(f"\n### GCRO-DR(40,20)+greedy phases: {family}, {n_systems} systems, rtol {rtol:g}\n")
        print("| preconditioner | ms per system | it/system | recycle updates/system | "
              + " | ".join(phases) + " |")  # fmt: skip
        print("|---" * (len(phases) + 4) + "|")
        update = "recycle update (harmonic Ritz, new U and C)"
        for pc in pcs:
            best: dict[str, float] | None = None
            for _ in range(3):
                totals.clear()
                calls.clear()
                result = run(cfg, krylov("gcrodr", rtol, pc, maxiter=maxiter, omega=1.0, m=40, k=20),
                             problems, order)  # fmt: skip
                if best is None or result.seconds < best["total"]:
                    best = {**totals, "total": result.seconds}
            ms = 1e3 / n_systems
            cells = " | ".join(f"{best.get(label, 0.0) * ms:.2f}" for label in phases)
            print(f"| {pc} | {best['total'] * ms:.2f} | {result.iterations / n_systems:.1f} | "
                  f"{calls.get(update, 0) / n_systems:.2f} | {cells} |", flush=True)  # fmt: skip
    finally:
        for label, (owner, name) in phases.items():
            original = originals[label]
            setattr(owner, name, staticmethod(original) if name in static else original)


def scipy_table(family: str, n_systems: int, rtol: float, preconditioners: list[str]) -> None:
    """Our GMRES(40) against scipy.sparse.linalg.gmres(restart=40), same systems and M."""
    import scipy.sparse.linalg as spla

    from surrogate.solvers.gmres import GMRES
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
            x = GMRES(40, rtol, 20000).solve(a, b, np.zeros_like(b), apply, None).x
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
            {"name": "direct", "rtol": rtol, "backend": "pardiso", "reuse_analysis": True},
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
    parser.add_argument("table", choices=["skr", "scipy", "fastest", "petsc", "phases"])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="darcy_skr")
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-5, 1e-8])
    parser.add_argument("--preconditioners", nargs="+", default=["none", "jacobi", "sor", "ilu"])
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--maxiter", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3, help="petsc table: runs per cell")
    parser.add_argument("--omega", type=float, default=1.5, help="ω of sor/ssor (skr table)")
    parser.add_argument(
        "--no-extras", action="store_true", help="skr table without warm-start and GCROT columns"
    )
    parser.add_argument(
        "--skip-update", type=float, help="GCRO-DR's solver.skip_update (default: conf's)"
    )
    args = parser.parse_args()
    if args.skip_update is not None:
        GCRODR_SETTINGS["skip_update"] = args.skip_update
    print(f"GCRO-DR skip_update = {GCRODR_SETTINGS['skip_update']:g}")
    with threadpool_limits(limits=1):
        if args.table == "skr":
            skr_table(
                args.family, args.systems, args.tolerances, args.preconditioners,
                args.maxiter, args.omega, not args.no_extras,
            )  # fmt: skip
        elif args.table == "scipy":
            scipy_table(args.family, args.systems, args.rtol, args.preconditioners)
        elif args.table == "phases":
            phases_table(args.family, args.systems, args.rtol, args.maxiter, args.preconditioners)
        elif args.table == "petsc":
            petsc_table(args.family, args.systems, args.rtol, args.maxiter, args.repeats)
        else:
            fastest_table(args.family, args.resolution, args.systems, args.rtol)


if __name__ == "__main__":
    main()
