"""PETSc's GMRES on systems exported by `benchmarks/solvers.py petsc` (run by it, not by hand).

Runs under the interpreter that has petsc4py (Debian: /usr/bin/python3 with python3-petsc4py),
not the project's virtualenv, so it imports nothing from `surrogate`. Reads an .npz with
indptr_i, indices_i, data_i, rhs_i for each system i, solves each with KSPGMRES (restart m,
right preconditioning, so the tolerance is on the true residual ||b - A x|| <= rtol ||b||, zero
initial guess, PETSc's default classical Gram-Schmidt), one process, and prints one JSON line
per preconditioner: seconds (preconditioner set-up included), iterations and true relative
residual of every system.

    python3 benchmarks/petsc_gmres.py systems.npz --preconditioners none jacobi sor ilu
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from petsc4py import PETSc


def solve_all(systems, preconditioner: str, restart: int, rtol: float, maxiter: int) -> dict:
    ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
    ksp.setType(PETSc.KSP.Type.GMRES)
    ksp.setGMRESRestart(restart)
    ksp.setPCSide(PETSc.PC.Side.RIGHT)
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=maxiter)
    ksp.getPC().setType(preconditioner)  # sor: omega 1, local symmetric sweep; ilu: ILU(0)
    seconds, iterations, residuals = [], [], []
    for matrix, rhs in systems:
        b = PETSc.Vec().createWithArray(rhs, comm=PETSc.COMM_SELF)
        x = b.duplicate()
        start = time.perf_counter()
        ksp.setOperators(matrix)
        ksp.setUp()
        ksp.solve(b, x)
        seconds.append(time.perf_counter() - start)
        iterations.append(ksp.getIterationNumber())
        r = b.duplicate()
        matrix.mult(x, r)
        r.aypx(-1.0, b)
        residuals.append(r.norm() / b.norm())
    ksp.destroy()
    return {
        "preconditioner": preconditioner,
        "seconds": seconds,
        "iterations": iterations,
        "residuals": residuals,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("systems")
    parser.add_argument("--preconditioners", nargs="+", default=["none", "jacobi", "sor", "ilu"])
    parser.add_argument("--restart", type=int, default=40)
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--maxiter", type=int, default=10000)
    args = parser.parse_args()
    stored = np.load(args.systems)
    systems = []
    for i in range(int(stored["count"])):
        indptr, indices = stored[f"indptr_{i}"], stored[f"indices_{i}"]
        size = len(indptr) - 1
        matrix = PETSc.Mat().createAIJ(
            size=(size, size),
            csr=(indptr.astype(PETSc.IntType), indices.astype(PETSc.IntType), stored[f"data_{i}"]),
            comm=PETSc.COMM_SELF,
        )
        systems.append((matrix, stored[f"rhs_{i}"].copy()))
    for preconditioner in args.preconditioners:
        result = solve_all(systems, preconditioner, args.restart, args.rtol, args.maxiter)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
