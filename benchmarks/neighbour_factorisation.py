"""A neighbour's factorisation as the preconditioner along the sorted chain (issue 14, 2D Helmholtz).

Could a direct factorisation be reused instead of redone? Along the greedy-sorted chain of a
family's first train samples (seed 0), every `--refactor`-th system is factorised by PARDISO
(analysis reused) and solved exactly; the systems between are solved by GMRES(40) (scipy's,
rtol on the preconditioned residual, checked against the true one after) preconditioned by the
last factorisation. Beside it, in the same run, PARDISO for every system (what `auto` runs in
2D). One core (threadpoolctl); seconds per system, every factorisation included.

    flock /tmp/surrogate-cpu.lock .venv/bin/python benchmarks/neighbour_factorisation.py \
        --resolution 512 --systems 8 --refactor 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse.linalg as spla
from helmholtz_recycling import family
from threadpoolctl import threadpool_limits

from surrogate.generation.solving import sample_rng
from surrogate.solvers.direct import Pardiso
from surrogate.solvers.sorting import greedy_order


def fresh(problems: list, order: np.ndarray) -> tuple[float, list[int]]:
    """PARDISO for every system, analysis reused: seconds per system, no iterations."""
    pardiso = Pardiso(spd=False)
    start = time.perf_counter()
    for index in order:
        pardiso(problems[index].matrix, problems[index].rhs)
    pardiso.close()
    return (time.perf_counter() - start) / len(order), [0] * len(order)


def reused(
    problems: list, order: np.ndarray, refactor: int, rtol: float, maxiter: int
) -> tuple[float, list[int], float]:
    """Factorise every `refactor`-th system; GMRES(40) with that factorisation between."""
    pardiso = Pardiso(spd=False)
    iterations, worst = [], 0.0
    start = time.perf_counter()
    for position, index in enumerate(order):
        matrix, rhs = problems[index].matrix, problems[index].rhs
        if position % refactor == 0:
            factored = matrix
            pardiso(matrix, rhs)
            iterations.append(0)
            continue
        count = [0]

        def precondition(residual: np.ndarray, factored=factored) -> np.ndarray:
            return pardiso(factored, np.ascontiguousarray(residual.ravel()))

        def counted(_: float, count=count) -> None:
            count[0] += 1

        operator = spla.LinearOperator(matrix.shape, precondition)
        solution, _ = spla.gmres(
            matrix,
            rhs,
            M=operator,
            rtol=rtol,
            restart=40,
            maxiter=maxiter // 40 + 1,
            callback=counted,
            callback_type="pr_norm",
        )
        iterations.append(count[0])
        worst = max(worst, np.linalg.norm(rhs - matrix @ solution) / np.linalg.norm(rhs))
    pardiso.close()
    return (time.perf_counter() - start) / len(order), iterations, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="helmholtz")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--systems", type=int, default=8)
    parser.add_argument("--refactor", type=int, nargs="+", default=[4])
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--maxiter", type=int, default=400)
    args = parser.parse_args()

    pde = family(args.family, args.resolution, [])
    problems = [pde.problem(sample_rng(0, "train", i)) for i in range(args.systems)]
    order = greedy_order(np.stack([p.features for p in problems]).astype(np.float32))
    ks = ", ".join(f"{problems[i].params['wavenumber']:.2f}" for i in order)
    print(
        f"\n### {args.family} {args.resolution}², {args.systems} systems in greedy order "
        f"(k: {ks}), rtol {args.rtol:g}, one core\n"
    )
    print("| strategy | s per system | GMRES iterations per system between factorisations |")
    print("|---|---|---|")
    with threadpool_limits(1):
        fresh(problems, order[:2])  # warm-up: MKL's start-up is paid by no row
        seconds, _ = fresh(problems, order)
        print(f"| PARDISO for every system (analysis reused) | {seconds:.3f} | - |", flush=True)
        for refactor in args.refactor:
            seconds, iterations, worst = reused(problems, order, refactor, args.rtol, args.maxiter)
            between = [n for p, n in enumerate(iterations) if p % refactor]
            print(
                f"| factorise every {refactor}, GMRES(40) between (worst true residual "
                f"{worst:.1e}) | {seconds:.3f} | {np.mean(between):.1f} "
                f"({', '.join(map(str, between))}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
