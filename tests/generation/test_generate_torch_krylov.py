"""backend=torch with batched GMRES and GCRO-DR: the solvers against a direct solve and against
the numpy GMRES / GCRO-DR (the same iteration counts), recycling across batches (fewer
iterations, reset at each segment), what batching may change (no byte without a recycled space
carried; within the solver tolerance with one), the fallback, and helmholtz through the CLI;
solver.preconditioner=mg (the V-cycle of each lane's shifted operator) likewise, in fewer
iterations than Jacobi."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spl
import torch
from omegaconf import OmegaConf
from split_files import bytes_without_timings

from surrogate.errors import UserError
from surrogate.generation.run import dataset_config, generate
from surrogate.generation.solving import solve_chain
from surrogate.pdes.helmholtz import assemble_helmholtz
from surrogate.solvers.batched.gcrodr import BatchRecycling, Spaces, solve_recycling
from surrogate.solvers.batched.gmres import batched_gmres
from surrogate.solvers.batched.mg import Multigrid, Settings, dominance_shift, shifted_operator
from surrogate.solvers.batched.stencil import Stencil
from surrogate.solvers.gcrodr import GCRODR
from surrogate.solvers.gmres import GMRES
from surrogate.solvers.mg import MultigridPreconditioner
from surrogate.solvers.shifted_amg import diagonal_dominance_shift

N, LANES, RTOL = 10, 5, 1e-10
TORCH = ["backend=torch", "device=cpu"]
# k in [5, 7] passes the smallest eigenvalues of -div(a grad) (about 2 pi^2 for a ~ 1): indefinite
HELMHOLTZ = ["pde=helmholtz", "pde.resolution=12", "pde.wavenumber.min=5",
             "pde.wavenumber.max=7", "n_test=0", "seed=4", "name=h",
             "solver.rtol=1e-10"]  # fmt: skip
GCRODR_RUN = ["solver=gcrodr", "solver.m=16", "solver.k=6", "solver.preconditioner=jacobi"]
GMRES_RUN = ["solver=gmres", "solver.m=16", "solver.preconditioner=jacobi"]
MG = {"smoothing_steps": 2, "omega": 0.8, "coarsest": 16}  # 10^2 and 12^2: two levels
MG_RUN = ["solver.preconditioner=mg", "solver.mg.coarsest=16"]
GCRODR_MG = ["solver=gcrodr", "solver.m=16", "solver.k=6", *MG_RUN]
GMRES_MG = ["solver=gmres", "solver.m=16", *MG_RUN]


def systems(seed: int) -> tuple[Stencil, list, np.ndarray]:
    """LANES random symmetric indefinite Helmholtz systems: the stencil, the CSR matrices, rhs."""
    rng = np.random.default_rng(seed)
    coefficients = np.exp(0.3 * rng.normal(size=(LANES, N + 2, N + 2)))
    wavenumbers = rng.uniform(5.0, 9.0, LANES)
    stencil = Stencil.from_coefficient(torch.as_tensor(coefficients))
    stencil.diagonal = stencil.diagonal - torch.as_tensor(wavenumbers**2).reshape(-1, 1, 1)
    matrices = [
        assemble_helmholtz(c, k, np.ones((N, N)))[0] for c, k in zip(coefficients, wavenumbers)
    ]
    return stencil, matrices, rng.normal(size=(LANES, N, N))


def identity(r: torch.Tensor) -> torch.Tensor:
    return r


def lane_of(stencil: Stencil, lane: int) -> Stencil:
    """The stencil of one lane, as a batch of one."""
    faces = [face[lane : lane + 1] for face in stencil.faces]
    return Stencil(stencil.diagonal[lane : lane + 1], faces)


def assert_solves(x: torch.Tensor, matrices: list, rhs: np.ndarray) -> None:
    for lane, matrix in enumerate(matrices):
        b = rhs[lane].ravel()
        exact = spl.spsolve(matrix.tocsc(), b)
        solution = x[lane].numpy().ravel()
        assert np.linalg.norm(b - matrix @ solution) <= RTOL * np.linalg.norm(b) * 1.0001
        assert np.abs(solution - exact).max() <= 1e-7 * np.abs(exact).max()


@pytest.mark.parametrize("jacobi", [False, True])
def test_batched_gmres_solves_each_lane_as_the_numpy_gmres_does(jacobi):
    stencil, matrices, rhs = systems(0)
    inverse = 1.0 / stencil.diagonal
    precondition = (lambda r: r * inverse) if jacobi else identity
    x, iterations, _ = batched_gmres(stencil, torch.as_tensor(rhs), precondition, RTOL, 12, 5000)
    assert_solves(x, matrices, rhs)
    gmres = GMRES(12, RTOL, 5000)
    for lane, matrix in enumerate(matrices):
        diagonal = matrix.diagonal()
        precondition = (lambda v, d=diagonal: v / d) if jacobi else (lambda v: v)
        b = rhs[lane].ravel()
        assert gmres.solve(matrix, b, 0 * b, precondition, None).iterations == iterations[lane]
    assert len(set(iterations)) > 1  # each lane stopped on its own


def test_batched_gcrodr_matches_the_numpy_chain_and_recycling_saves_iterations():
    stencil, matrices, rhs = systems(1)
    b = torch.as_tensor(rhs)
    x, fresh, _, spaces = solve_recycling(stencil, b, identity, RTOL, 16, 6, 5000, None)
    assert_solves(x, matrices, rhs)
    method = GCRODR(16, 6, RTOL, 5000)
    for lane, matrix in enumerate(matrices):  # a fresh numpy solve per lane: the same steps
        rhs_lane = rhs[lane].ravel()
        result = method.solve(matrix, rhs_lane, 0 * rhs_lane, lambda v: v, method.new_state())
        assert result.iterations == fresh[lane]
    # the same operators, new right-hand sides, each lane's space carried: fewer iterations
    again = np.random.default_rng(2).normal(size=rhs.shape)
    x, carried, _, _ = solve_recycling(
        stencil, torch.as_tensor(again), identity, RTOL, 16, 6, 5000, spaces
    )
    assert_solves(x, matrices, again)
    assert sum(carried) < 0.8 * sum(fresh)

    # batch_size=1 with each space carried to the next lane's system is the numpy chain
    state, chained, recycling = method.new_state(), [], BatchRecycling("lane")
    for lane, matrix in enumerate(matrices):
        rhs_lane = rhs[lane].ravel()
        numpy_steps = method.solve(matrix, rhs_lane, 0 * rhs_lane, lambda v: v, state).iterations
        start = recycling.start(1)
        _, steps, _, kept = solve_recycling(lane_of(stencil, lane), b[lane : lane + 1], identity,
                                            RTOL, 16, 6, 5000, start)  # fmt: skip
        recycling.keep(kept)
        chained.append((numpy_steps, steps[0]))
    assert all(abs(a - t) <= 1 for a, t in chained), chained


def test_shared_starts_every_lane_from_the_last_lanes_space_and_restart_forgets_it():
    recycling = BatchRecycling("shared")
    assert recycling.start(3) is None
    recycling.keep(Spaces(torch.arange(12.0).reshape(2, 2, 3), np.array([2, 1])))
    start = recycling.start(3)
    assert torch.equal(start.recycled, torch.arange(6.0, 12.0).reshape(1, 2, 3).expand(3, 2, 3))
    np.testing.assert_array_equal(start.count, [1, 1, 1])
    lane = BatchRecycling("lane")
    lane.keep(Spaces(torch.arange(12.0).reshape(2, 2, 3), np.array([2, 1])))
    assert torch.equal(lane.start(1).recycled, torch.arange(6.0).reshape(1, 2, 3))
    assert torch.equal(lane.start(3).recycled[2], torch.arange(6.0, 12.0).reshape(2, 3))
    recycling.restart()
    assert recycling.start(3) is None
    none = BatchRecycling("none")
    none.keep(Spaces(torch.zeros(1, 2, 3), np.array([2])))
    assert none.start(1) is None


def stored(path) -> dict[str, np.ndarray]:
    with h5py.File(path) as file:
        keys = ("inputs", "outputs", "solver/iterations", "solver/fallback", "solver/residual")
        return {key: file[key][:] for key in keys}


def test_helmholtz_in_torch_agrees_with_direct_and_numpy_and_what_batching_changes(
    make_cfg, tmp_path
):
    runs = {
        "direct": [],
        # the classical update after every cycle, as the batched lanes do
        "numpy_gcrodr": [*GCRODR_RUN, "solver.skip_update=0"],
        **{f"gmres{b}": [*GMRES_RUN, *TORCH, f"batch_size={b}"] for b in (1, 7)},
        **{
            f"{mode}{b}": [*GCRODR_RUN, *TORCH, f"solver.recycle_batch={mode}", f"batch_size={b}"]
            for mode, b in [
                ("none", 1),
                ("none", 7),
                ("lane", 1),
                ("lane", 3),
                ("lane", 7),
                ("shared", 7),
            ]
        },  # fmt: skip
    }
    data = {}
    for run, overrides in runs.items():
        generate(make_cfg("generate", *HELMHOLTZ, "n_train=7", *overrides,
                          f"paths.data_dir={tmp_path / run}"))  # fmt: skip
        data[run] = stored(tmp_path / run / "h" / "train.h5")
    file = {run: tmp_path / run / "h" / "train.h5" for run in runs}
    # nothing carried from lane to lane: batching changes no byte
    assert bytes_without_timings(file["gmres1"]) == bytes_without_timings(file["gmres7"])
    assert bytes_without_timings(file["none1"]) == bytes_without_timings(file["none7"])
    # batch_size=1 carries each space to the next sample: the numpy chain's iterations
    np.testing.assert_allclose(
        data["lane1"]["solver/iterations"], data["numpy_gcrodr"]["solver/iterations"], atol=1
    )
    # a carried space changes the iterations with the batch, not the samples beyond tolerance
    assert not np.array_equal(
        data["lane1"]["solver/iterations"], data["lane7"]["solver/iterations"]
    )
    assert data["lane3"]["solver/iterations"].sum() < data["none1"]["solver/iterations"].sum()
    exact = data["direct"]["outputs"]
    for run in runs:
        np.testing.assert_array_equal(data[run]["inputs"], data["direct"]["inputs"])
        assert np.abs(data[run]["outputs"] - exact).max() <= 1e-6 * np.abs(exact).max(), run
        if run != "direct":
            assert not data[run]["solver/fallback"].any()
            assert (data[run]["solver/residual"] <= 1e-10).all()


def test_a_segment_redone_alone_gives_the_same_samples(make_cfg):
    """The recycled space is reset at each segment: redoing one (a resume) repeats it."""
    cfg = make_cfg("generate", *HELMHOLTZ, "n_train=8", *GCRODR_RUN, *TORCH, "batch_size=2")
    both = {s.index: s for s in solve_chain(cfg, "train", [[3, 1, 4, 0], [7, 2, 6, 5]])}
    alone = {s.index: s for s in solve_chain(cfg, "train", [[7, 2, 6, 5]])}
    for index, sample in alone.items():
        np.testing.assert_array_equal(sample.outputs, both[index].outputs)
        assert sample.result.iterations == both[index].result.iterations
    whole = {s.index: s for s in solve_chain(cfg, "train", [[3, 1, 4, 0, 7, 2, 6, 5]])}
    assert any(whole[i].result.iterations != both[i].result.iterations for i in alone)


def test_a_lane_that_misses_rtol_is_solved_directly_and_flagged(make_cfg, tmp_path):
    for run, overrides in {"t": [*GMRES_RUN, *TORCH, "solver.maxiter=4"], "d": []}.items():
        generate(make_cfg("generate", *HELMHOLTZ, "n_train=3", *overrides,
                          f"paths.data_dir={tmp_path / run}"))  # fmt: skip
    torched, direct = (
        stored(tmp_path / "t" / "h" / "train.h5"),
        stored(tmp_path / "d" / "h" / "train.h5"),
    )
    assert torched["solver/fallback"].all()
    np.testing.assert_array_equal(torched["solver/iterations"], 4)
    np.testing.assert_allclose(torched["outputs"], direct["outputs"], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    "override, message",
    [
        (["solver=cg", "solver.preconditioner=jacobi"],
         "backend=torch solves pde=helmholtz with solver=gmres with solver.preconditioner=none "
         "or jacobi or mg; solver=gcrodr"),
        ([*GMRES_RUN[:1], "solver.preconditioner=ilu"], "preconditioner ilu"),
        ([*GCRODR_RUN, "solver.recycle_batch=all"], "solver.recycle_batch=all is not one of"),
        ([*GMRES_MG, "solver.shift=-1"], "solver.shift=-1 must be >= 0.0"),
    ],
)  # fmt: skip
def test_what_the_batched_krylov_path_cannot_do_is_refused(make_cfg, tmp_path, override, message):
    with pytest.raises(UserError, match=message):
        generate(make_cfg("generate", *HELMHOLTZ, "n_train=2", *TORCH, *override))
    assert not (tmp_path / "data").exists()


def v_cycle(stencil: Stencil, shift: float = 0.0) -> Multigrid:
    """The torch mg preconditioner of the lanes: the V-cycle of each one's shifted operator."""
    return Multigrid(
        shifted_operator(stencil, shift), tuple(stencil.diagonal.shape[1:]), Settings(**MG)
    )


def numpy_v_cycle(matrix, shift: float = 0.0):
    """The numpy path's mg preconditioner of one CSR matrix."""
    return MultigridPreconditioner.build(matrix, OmegaConf.create({"shift": shift, "mg": MG}), 1.0)


def test_the_mg_shift_is_the_numpy_shift_k_squared_and_zero_for_a_dominant_stencil():
    stencil, matrices, _ = systems(0)
    sigma = dominance_shift(stencil)
    for lane, matrix in enumerate(matrices):
        assert float(sigma[lane]) == pytest.approx(diagonal_dominance_shift(matrix), rel=1e-12)
    shifted = shifted_operator(stencil, 0.5)
    expected = stencil.diagonal + 1.5 * sigma.reshape(-1, 1, 1)
    torch.testing.assert_close(shifted.diagonal, expected, rtol=1e-15, atol=0)
    darcy = Stencil(stencil.diagonal + torch.as_tensor(100.0), stencil.faces)  # + k^2 + margin
    assert not bool(dominance_shift(darcy).any()) and shifted_operator(darcy, 0.5) is darcy


@pytest.mark.parametrize("method", ["gmres", "gcrodr"])
def test_mg_solves_helmholtz_as_the_numpy_solver_with_mg_in_far_fewer_iterations(method):
    stencil, matrices, rhs = systems(0)
    b, inverse = torch.as_tensor(rhs), 1.0 / stencil.diagonal

    def solve(precondition):
        if method == "gmres":
            return batched_gmres(stencil, b, precondition, RTOL, 12, 5000)[:2]
        return solve_recycling(stencil, b, precondition, RTOL, 12, 4, 5000, None)[:2]

    x, iterations = solve(v_cycle(stencil))
    assert_solves(x, matrices, rhs)
    _, jacobi = solve(lambda r: r * inverse)
    assert sum(iterations) < 0.3 * sum(jacobi), (iterations, jacobi)
    numpy = GMRES(12, RTOL, 5000) if method == "gmres" else GCRODR(12, 4, RTOL, 5000)
    for lane, matrix in enumerate(matrices):
        lane_rhs = rhs[lane].ravel()
        state = None if method == "gmres" else numpy.new_state()
        result = numpy.solve(matrix, lane_rhs, 0 * lane_rhs, numpy_v_cycle(matrix), state)
        assert abs(result.iterations - iterations[lane]) <= 1, (lane, result.iterations)


def test_a_space_carried_to_lanes_with_new_v_cycles_stays_consistent_and_saves_iterations():
    """Across batches both A and the V-cycle change: the re-fit makes C = A M^-1 U hold for the
    new lanes, so batch_size=1 carrying each space on is the numpy chain with mg."""
    stencil, matrices, rhs = systems(1)
    b, cycle = torch.as_tensor(rhs), v_cycle(stencil, 0.5)
    method = GCRODR(16, 6, RTOL, 5000)
    state, recycling, chained = method.new_state(), BatchRecycling("lane"), []
    for lane, matrix in enumerate(matrices):
        rhs_lane = rhs[lane].ravel()
        numpy_steps = method.solve(matrix, rhs_lane, 0 * rhs_lane, numpy_v_cycle(matrix, 0.5),
                                   state).iterations  # fmt: skip
        one = lane_of(stencil, lane)
        x, steps, _, kept = solve_recycling(one, b[lane : lane + 1], v_cycle(one, 0.5), RTOL,
                                            16, 6, 5000, recycling.start(1))  # fmt: skip
        recycling.keep(kept)
        assert_solves(x, matrices[lane : lane + 1], rhs[lane : lane + 1])
        chained.append((numpy_steps, steps[0]))
    assert all(abs(a - t) <= 1 for a, t in chained), chained
    _, fresh, _, spaces = solve_recycling(stencil, b, cycle, RTOL, 16, 6, 5000, None)
    shifted = torch.roll(b, 1, dims=0)  # every lane a neighbour's space and a new rhs
    start = Spaces(spaces.recycled[[4, 0, 1, 2, 3]], spaces.count[[4, 0, 1, 2, 3]])
    x, carried, _, _ = solve_recycling(stencil, shifted, cycle, RTOL, 16, 6, 5000, start)
    assert_solves(x, matrices, shifted.numpy())
    assert sum(carried) < sum(fresh), (carried, fresh)


def test_helmholtz_with_mg_in_torch_agrees_with_direct_and_numpy_and_batching(make_cfg, tmp_path):
    runs = {
        "direct": [],
        "numpy_gcrodr": GCRODR_MG,
        "jacobi7": [*GCRODR_RUN, *TORCH, "solver.recycle_batch=none", "batch_size=7"],
        **{f"gmres{b}": [*GMRES_MG, *TORCH, f"batch_size={b}"] for b in (1, 7)},
        **{
            f"{mode}{b}": [*GCRODR_MG, *TORCH, f"solver.recycle_batch={mode}", f"batch_size={b}"]
            for mode, b in [("none", 1), ("none", 7), ("lane", 1), ("shared", 3)]
        },
        "shifted7": [*GCRODR_MG, *TORCH, "solver.shift=0.5", "batch_size=7"],
    }
    data, file = {}, {}
    for run, overrides in runs.items():
        generate(make_cfg("generate", *HELMHOLTZ, "n_train=7", *overrides,
                          f"paths.data_dir={tmp_path / run}"))  # fmt: skip
        file[run] = tmp_path / run / "h" / "train.h5"
        data[run] = stored(file[run])
    assert bytes_without_timings(file["gmres1"]) == bytes_without_timings(file["gmres7"])
    assert bytes_without_timings(file["none1"]) == bytes_without_timings(file["none7"])
    np.testing.assert_allclose(
        data["lane1"]["solver/iterations"], data["numpy_gcrodr"]["solver/iterations"], atol=1
    )
    mg, jacobi = data["none7"]["solver/iterations"], data["jacobi7"]["solver/iterations"]
    assert mg.sum() < 0.5 * jacobi.sum(), (mg, jacobi)
    assert not np.array_equal(
        data["shifted7"]["solver/iterations"], data["none7"]["solver/iterations"]
    )
    exact = data["direct"]["outputs"]
    for run in runs:
        assert np.abs(data[run]["outputs"] - exact).max() <= 1e-6 * np.abs(exact).max(), run
        if run != "direct":
            assert not data[run]["solver/fallback"].any()
            assert (data[run]["solver/residual"] <= 1e-10).all()


def test_the_mg_shift_is_part_of_a_dataset_where_it_acts(make_cfg):
    def recorded(*overrides: str) -> bool:
        return "shift: 0.5" in dataset_config(make_cfg("generate", *overrides, "solver.shift=0.5"))

    assert recorded("solver=gmres", "solver.preconditioner=mg")
    assert recorded("solver=gcrodr", "solver.preconditioner=mg")
    assert not recorded("solver=gcrodr", "solver.preconditioner=jacobi")
    assert not recorded("solver=cg", "solver.preconditioner=mg")  # SPD families: no shift
