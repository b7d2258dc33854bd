"""backend=torch with batched GMRES and GCRO-DR: the solvers against a direct solve and against
the numpy GMRES / GCRO-DR (the same iteration counts), recycling across batches (fewer
iterations, reset at each segment), what batching may change (no byte without a recycled space
carried; within the solver tolerance with one), the fallback, and helmholtz through the CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse.linalg as spl
import torch
from split_files import bytes_without_timings

from surrogate.errors import UserError
from surrogate.generation.run import generate
from surrogate.generation.solving import solve_chain
from surrogate.pdes.helmholtz import assemble_helmholtz
from surrogate.solvers.batched.gcrodr import BatchRecycling, Spaces, solve_recycling
from surrogate.solvers.batched.gmres import batched_gmres
from surrogate.solvers.batched.stencil import Stencil
from surrogate.solvers.gcrodr import GCRODR
from surrogate.solvers.gmres import GMRES

N, LANES, RTOL = 10, 5, 1e-10
TORCH = ["backend=torch", "device=cpu"]
# k in [5, 7] passes the smallest eigenvalues of -div(a grad) (about 2 pi^2 for a ~ 1): indefinite
HELMHOLTZ = ["pde=helmholtz", "pde.resolution=12", "pde.wavenumber.min=5",
             "pde.wavenumber.max=7", "n_test=0", "seed=4", "name=h",
             "solver.rtol=1e-10"]  # fmt: skip
GCRODR_RUN = ["solver=gcrodr", "solver.m=16", "solver.k=6", "solver.preconditioner=jacobi"]
GMRES_RUN = ["solver=gmres", "solver.m=16", "solver.preconditioner=jacobi"]


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
    inverse = 1.0 / stencil.diagonal if jacobi else None
    x, iterations, _ = batched_gmres(stencil, torch.as_tensor(rhs), inverse, RTOL, 12, 5000)
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
    x, fresh, _, spaces = solve_recycling(stencil, b, None, RTOL, 16, 6, 5000, None)
    assert_solves(x, matrices, rhs)
    method = GCRODR(16, 6, RTOL, 5000)
    for lane, matrix in enumerate(matrices):  # a fresh numpy solve per lane: the same steps
        rhs_lane = rhs[lane].ravel()
        result = method.solve(matrix, rhs_lane, 0 * rhs_lane, lambda v: v, method.new_state())
        assert result.iterations == fresh[lane]
    # the same operators, new right-hand sides, each lane's space carried: fewer iterations
    again = np.random.default_rng(2).normal(size=rhs.shape)
    x, carried, _, _ = solve_recycling(
        stencil, torch.as_tensor(again), None, RTOL, 16, 6, 5000, spaces
    )
    assert_solves(x, matrices, again)
    assert sum(carried) < 0.8 * sum(fresh)

    # batch_size=1 with each space carried to the next lane's system is the numpy chain
    state, chained, recycling = method.new_state(), [], BatchRecycling("lane")
    for lane, matrix in enumerate(matrices):
        rhs_lane = rhs[lane].ravel()
        numpy_steps = method.solve(matrix, rhs_lane, 0 * rhs_lane, lambda v: v, state).iterations
        start = recycling.start(1)
        _, steps, _, kept = solve_recycling(lane_of(stencil, lane), b[lane : lane + 1], None,
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
        "numpy_gcrodr": GCRODR_RUN,
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
         "or jacobi; solver=gcrodr"),
        ([*GMRES_RUN[:1], "solver.preconditioner=ilu"], "preconditioner ilu"),
        ([*GCRODR_RUN, "solver.recycle_batch=all"], "solver.recycle_batch=all is not one of"),
    ],
)  # fmt: skip
def test_what_the_batched_krylov_path_cannot_do_is_refused(make_cfg, tmp_path, override, message):
    with pytest.raises(UserError, match=message):
        generate(make_cfg("generate", *HELMHOLTZ, "n_train=2", *TORCH, *override))
    assert not (tmp_path / "data").exists()
