"""Every solver against a direct solve; recycling against GMRES; what chains carry."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from omegaconf import OmegaConf

from surrogate.pdes.base import systems_of
from surrogate.pdes.darcy import Darcy
from surrogate.solvers import SOLVERS, Systems, build_solver, gcrodr
from surrogate.solvers.chain import ChainSolver
from surrogate.solvers.gcrodr import GCRODR, harmonic_ritz_vectors
from surrogate.solvers.gmres import GMRES
from surrogate.solvers.krylov import KrylovMethod
from surrogate.solvers.preconditioners import build_preconditioner
from surrogate.solvers.relaxation import RelaxationBandit

SPD_2D = Systems(spd=True, dims=2)


def darcy(n: int = 24, kind: str = "lognormal") -> Darcy:
    cfg = {
        "resolution": n,
        "coefficient": kind,
        "values": [12.0, 3.0],
        "forcing": 1.0,
        "grf": {"alpha": None, "tau": None, "modes": None},
        "stencil": "harmonic",
    }
    return Darcy(OmegaConf.create(cfg))


def systems(count: int, n: int = 24):
    pde = darcy(n)
    return [pde.problem(np.random.default_rng(seed)) for seed in range(count)]


def solver_cfg(name: str, **overrides):
    cfg = {
        "name": name,
        "rtol": 1e-9,
        "maxiter": 5000,
        "preconditioner": "none",
        "omega": 1.0,
        "reuse_preconditioner": 0,
        "warm_start": False,
        "fallback": False,
        "m": 30,
        "k": 10,
        "ilu_fill_factor": 1.0,
        "ilu_drop_tol": 0.0,
        "shift": 1.0,
        "shift_rebuild": 1.5,
    }
    cfg.update(overrides)
    return OmegaConf.create(cfg)


CASES = [
    ("gmres", "none", {}),
    ("gmres", "jacobi", {}),
    ("gmres", "sor", {}),
    ("gmres", "ssor", {}),
    ("gmres", "ilu", {}),
    ("gmres", "amg", {}),
    ("gcrodr", "none", {}),
    ("gcrodr", "sor", {}),
    ("gcrodr", "ilu", {}),
    ("gcrodr", "jacobi", {"skip_update": 0.35}),  # conf/solver/gcrodr.yaml's default
    ("gcrodr", "ilu", {"skip_update": 1.0}),  # skip wherever the next cycle is predicted to end
    ("gcrodr", "shifted_amg", {}),
    ("gcrotmk", "jacobi", {}),
    ("cg", "none", {}),
    ("cg", "ssor", {}),
    ("cg", "amg", {}),
    ("cg", "shifted_amg", {}),
]
# Every registered Krylov method is covered, one added later (in its own file) included.
CASES += [
    (name, "none", {})
    for name, method in SOLVERS.items()
    if issubclass(method, KrylovMethod) and name not in {case[0] for case in CASES}
]


@pytest.mark.parametrize(("method", "preconditioner", "options"), CASES)
def test_chain_of_systems_matches_direct_solves(method, preconditioner, options):
    omega = 1.4 if preconditioner in ("sor", "ssor") else 1.0
    chain = ChainSolver(
        solver_cfg(method, preconditioner=preconditioner, omega=omega, **options),
        systems=SPD_2D,
        rng=np.random.default_rng(0),
        chain_length=3,
    )
    for problem in systems(3):
        result = chain.solve(problem.matrix, problem.rhs)
        exact = spla.spsolve(problem.matrix.tocsc(), problem.rhs)
        assert result.converged and not result.fallback
        assert result.residual <= 1e-9
        np.testing.assert_allclose(result.x, exact, rtol=0, atol=1e-6 * np.abs(exact).max())
        assert result.iterations > 0 and result.matvecs >= result.iterations


def test_gmres_is_restarted_and_reaches_the_tolerance():
    problem = systems(1)[0]
    apply = build_preconditioner("none", problem.matrix)
    result = GMRES(10, 1e-10, 10000).solve(
        problem.matrix, problem.rhs, np.zeros_like(problem.rhs), apply, None
    )
    x, iterations = result.x, result.iterations
    assert iterations > 10  # needed several cycles of 10
    assert np.linalg.norm(problem.rhs - problem.matrix @ x) <= 1e-10 * np.linalg.norm(problem.rhs)


def test_recycling_cuts_iterations_on_a_sequence():
    sequence = systems(6)
    apply = build_preconditioner("none", sequence[0].matrix)
    recycler = GCRODR(m=30, k=10, rtol=1e-8, maxiter=5000)
    space, baseline = recycler.new_state(), GMRES(30, 1e-8, 5000)
    plain, recycled = [], []
    for problem in sequence:
        zero = np.zeros_like(problem.rhs)
        plain.append(baseline.solve(problem.matrix, problem.rhs, zero, apply, None).iterations)
        recycled.append(recycler.solve(problem.matrix, problem.rhs, zero, apply, space).iterations)
    assert sum(recycled[1:]) < 0.6 * sum(plain[1:])
    assert np.mean(recycled[1:]) < recycled[0]  # the carried space helps the next systems


def test_recycled_space_satisfies_its_invariants():
    sequence = systems(2)
    recycler = GCRODR(m=30, k=10, rtol=1e-8, maxiter=5000)
    space = recycler.new_state()
    apply = build_preconditioner("jacobi", sequence[1].matrix)
    for problem in sequence:
        recycler.solve(problem.matrix, problem.rhs, np.zeros_like(problem.rhs), apply, space)
    # C^T U, carried by its recurrence through the cycles, equals the product it stands for.
    direct = space.images @ space.recycled.T
    np.testing.assert_allclose(space.overlap, direct, atol=1e-9 * np.abs(direct).max())
    u, c, _ = recycler._refit(sequence[1].matrix, apply, space.recycled)
    np.testing.assert_allclose(c @ c.T, np.eye(len(c)), atol=1e-10)
    au = np.stack([sequence[1].matrix @ apply(v) for v in u])
    np.testing.assert_allclose(au, c, atol=1e-8 * np.abs(c).max())


def test_harmonic_ritz_vectors_span_what_the_qz_algorithm_finds(monkeypatch):
    """The standard eigenproblem (the default) and QZ give the same span; a rank-deficient G
    (no R^{-1}) goes to QZ and still yields k orthonormal real vectors."""
    rng = np.random.default_rng(3)
    g = np.triu(rng.standard_normal((13, 12)), -1)
    wtw = np.eye(13, 12) + 0.1 * rng.standard_normal((13, 12))
    values = np.linalg.eigvals(np.linalg.solve(g.T @ wtw, g.T @ g))
    magnitudes = np.sort(np.abs(values))
    k = next(i for i in range(3, 10) if magnitudes[i] > 1.05 * magnitudes[i - 1])  # a clear gap
    standard = harmonic_ritz_vectors(g, wtw, k)
    monkeypatch.setattr(gcrodr, "RANK_TOLERANCE", np.inf)  # QZ only
    qz = harmonic_ritz_vectors(g, wtw, k)
    np.testing.assert_allclose(standard @ standard.T, qz @ qz.T, atol=1e-8)
    monkeypatch.undo()
    deficient = g.copy()
    deficient[:, 5] = deficient[:, 4]
    p = harmonic_ritz_vectors(deficient, wtw, k)
    assert p.shape == (12, k) and np.isfinite(p).all()
    np.testing.assert_allclose(p.T @ p, np.eye(k), atol=1e-12)


def test_skipping_updates_predicted_useless_keeps_every_solve_exact(monkeypatch):
    """skip_update: fewer recycle updates on a chain, each solve still to rtol; a skip is
    allowed only where the next cycle is predicted short, and never while the space is stale."""
    sequence = systems(6)
    apply = build_preconditioner("jacobi", sequence[0].matrix)
    updates = {"count": 0}
    original = GCRODR._next_recycle

    def counted(self, *args):
        updates["count"] += 1
        return original(self, *args)

    monkeypatch.setattr(GCRODR, "_next_recycle", counted)
    counts = []
    for skip in (0.0, 1.0):
        recycler, updates["count"] = GCRODR(m=20, k=5, rtol=1e-9, maxiter=5000, skip_update=skip), 0
        space = recycler.new_state()
        for problem in sequence:
            x0 = np.zeros_like(problem.rhs)
            result = recycler.solve(problem.matrix, problem.rhs, x0, apply, space)
            assert result.converged and result.residual <= 1e-9
        counts.append(updates["count"])
    assert counts[1] < counts[0]
    # Beta 1, a tenfold cut every 5 steps to 1e-4 after 20: 10 more steps to 1e-6 at that rate.
    history = 10.0 ** (-np.arange(1, 21) / 5)
    cycle = SimpleNamespace(residual_norm=history[-1], steps=20, history=history)
    space = GCRODR(m=40, k=20, rtol=1e-6, maxiter=100).new_state()
    lenient = GCRODR(m=40, k=20, rtol=1e-6, maxiter=100, skip_update=0.6)  # up to 12 steps
    assert lenient._steps_left(cycle, 1.0, 1e-6, 20, space) == pytest.approx(10.0)
    assert (
        GCRODR(40, 20, 1e-6, 100, skip_update=0.35)._steps_left(cycle, 1.0, 1e-6, 20, space) is None
    )
    space.stale = True
    assert lenient._steps_left(cycle, 1.0, 1e-6, 20, space) is None


def test_warm_start_from_the_previous_solution_saves_iterations():
    sequence = systems(4)
    cold = ChainSolver(solver_cfg("cg", preconditioner="amg"), SPD_2D, np.random.default_rng(0), 4)
    warm = ChainSolver(
        solver_cfg("cg", preconditioner="amg", warm_start=True), SPD_2D, np.random.default_rng(0), 4
    )
    cold_its = [cold.solve(p.matrix, p.rhs).iterations for p in sequence]
    warm_its = [warm.solve(p.matrix, p.rhs).iterations for p in sequence]
    assert warm_its[0] == cold_its[0] and sum(warm_its[1:]) < sum(cold_its[1:])


def test_a_system_that_misses_rtol_falls_back_to_direct_and_is_flagged():
    problem = systems(1)[0]
    chain = ChainSolver(
        solver_cfg("gmres", maxiter=3, fallback=True), SPD_2D, np.random.default_rng(0), 1
    )
    result = chain.solve(problem.matrix, problem.rhs)
    assert result.fallback and result.converged and result.residual <= 1e-9
    no_net = ChainSolver(solver_cfg("gmres", maxiter=3), SPD_2D, np.random.default_rng(0), 1)
    assert not no_net.solve(problem.matrix, problem.rhs).converged


def test_relaxation_bandit_finds_the_best_omega():
    bandit = RelaxationBandit(np.random.default_rng(0), horizon=400)
    for _ in range(400):
        omega = bandit.propose()
        bandit.observe(int(100 + 400 * (omega - 1.6) ** 2))  # fewest iterations at 1.6
    assert abs(bandit.best() - 1.6) <= 0.1


def test_auto_picks_a_working_strategy_for_spd_and_indefinite_families():
    pde = darcy(16)
    chain = build_solver(
        OmegaConf.create({"name": "auto", "rtol": 1e-8}),
        systems_of(pde),
        np.random.default_rng(0),
        2,
    )
    problem = systems(1, 16)[0]
    assert chain.solve(problem.matrix, problem.rhs).converged


def test_a_breakdown_in_the_preconditioner_falls_back_to_direct(monkeypatch):
    import surrogate.solvers.chain as chain_module

    def singular(*args, **kwargs):
        raise RuntimeError("Factor is exactly singular")

    monkeypatch.setattr(chain_module, "build_preconditioner", singular)
    problem = systems(1)[0]
    chain = ChainSolver(
        solver_cfg("gmres", preconditioner="ilu", fallback=True),
        SPD_2D,
        np.random.default_rng(0),
        1,
    )
    result = chain.solve(problem.matrix, problem.rhs)
    assert result.fallback and result.converged


def heat_matrix(n: int = 20, tau: float = 2e-3) -> sp.csr_matrix:
    """I + τL for a lognormal Darcy operator: heat_transient's implicit step matrix."""
    pde = darcy(n)
    return (sp.identity(n * n) + tau * pde.problem(np.random.default_rng(0)).matrix).tocsr()


def test_an_unchanged_operator_keeps_c_and_spends_no_refit_matvecs():
    matrix, other = heat_matrix(), heat_matrix(16)
    rng = np.random.default_rng(0)
    apply = build_preconditioner("none", matrix)
    recycler = GCRODR(m=30, k=10, rtol=1e-10, maxiter=5000)
    space = recycler.new_state()
    recycler.solve(matrix, rng.standard_normal(400), np.zeros(400), apply, space)
    for same in (matrix, matrix.copy()):  # the same object, or equal values
        rhs = rng.standard_normal(400)
        result = recycler.solve(same, rhs, np.zeros(400), apply, space)
        x, iterations, matvecs = result.x, result.iterations, result.matvecs - 1  # less the check
        assert matvecs - iterations <= 3  # initial and true residuals only: no k re-fit products
        np.testing.assert_allclose(x, spla.spsolve(matrix.tocsc(), rhs), rtol=0, atol=1e-8)
    changed = matrix.copy()
    changed.data[:] *= 1.01  # changed in place would be caught too: values are compared
    result = recycler.solve(changed, rhs, np.zeros(400), apply, space)
    iterations, matvecs = result.iterations, result.matvecs - 1
    assert matvecs - iterations >= 10
    recycler.solve(other, rng.standard_normal(256), np.zeros(256), apply, space)
    c = space.images
    np.testing.assert_allclose(c @ c.T, np.eye(len(c)), atol=1e-12)


def test_implicit_steps_reuse_the_preconditioner_and_need_fewer_iterations(monkeypatch):
    import surrogate.solvers.chain as chain_module

    built = []
    original = chain_module.build_preconditioner
    monkeypatch.setattr(
        chain_module, "build_preconditioner", lambda *a, **kw: built.append(1) or original(*a, **kw)
    )
    matrix = heat_matrix(24, tau=5e-3)
    chain = ChainSolver(solver_cfg("gcrodr", m=40, k=20, rtol=1e-8, preconditioner="jacobi"),
                        SPD_2D, np.random.default_rng(0), 30)  # fmt: skip
    u = np.random.default_rng(1).standard_normal(matrix.shape[0])
    iterations = []
    for _ in range(30):  # backward Euler: A u' = u
        result = chain.solve(matrix, u)
        np.testing.assert_allclose(result.x, spla.spsolve(matrix.tocsc(), u), rtol=0,
                                   atol=1e-7 * np.abs(u).max())  # fmt: skip
        assert result.converged and result.residual <= 1e-8
        iterations.append(result.iterations)
        u = result.x
    assert len(built) == 1
    assert np.mean(iterations[-10:]) <= 0.6 * iterations[0], iterations


def test_ilu0_factors_reproduce_a_on_its_pattern_and_cut_gmres_iterations():
    from surrogate.solvers.preconditioners import ILU0

    matrix = heat_matrix(20, tau=5e-3)
    apply = ILU0(matrix)
    product = np.stack([apply(column) for column in np.eye(400)], axis=1)  # (LU)^{-1}
    lu = np.linalg.inv(product)
    pattern = matrix.toarray() != 0
    np.testing.assert_allclose(lu[pattern], matrix.toarray()[pattern], atol=1e-10)
    rhs = np.random.default_rng(0).standard_normal(400)
    zero = np.zeros(400)
    method = GMRES(40, 1e-8, 5000)
    none = method.solve(matrix, rhs, zero, build_preconditioner("none", matrix), None).iterations
    ilu = method.solve(matrix, rhs, zero, build_preconditioner("ilu", matrix), None).iterations
    assert ilu <= 0.5 * none, (ilu, none)
