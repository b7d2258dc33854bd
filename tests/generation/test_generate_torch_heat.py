"""backend=torch for heat (steady, slotted domain) and heat_transient (implicit steps): the
batched operators are the numpy matrices, torch and numpy give the same samples (the numpy CG's
iterations with Jacobi; within the solver tolerance of the direct solve, heat_transient after
the whole horizon), batching changes no byte, mg takes few iterations, a lane that misses rtol
falls back, what is not batched is refused, and both run through the CLI (heat_transient also
resumed after SIGKILL). Every run is on CPU tensors: the same code runs on a GPU with
device=cuda."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import run_cli
from interruption import interrupt_and_resume
from omegaconf import OmegaConf
from split_files import bytes_without_timings

from surrogate.errors import UserError
from surrogate.generation.run import generate
from surrogate.pdes import build_pde
from surrogate.pdes.batched.heat import slot_stencil
from surrogate.pdes.batched.heat_transient import step_operators
from surrogate.solvers.batched.cg import batched_cg

ROOT = Path(__file__).parents[2]
TORCH = ["backend=torch", "device=cpu"]
JACOBI = ["solver=cg", "solver.preconditioner=jacobi"]
MG = ["solver=cg", "solver.preconditioner=mg"]
DIRECT = ["solver=direct", "solver.backend=superlu"]
HEAT = ["pde=heat", "pde.resolution=21", "n_test=0", "seed=2", "name=r"]
# rtol 1e-10: the step matrix I + theta tau L has ||A^-1|| <= 1, so each step's error is at most
# rtol ||rhs||, and the stable scheme carries it along: after S steps at most S rtol n max|u|
# (2-norm to max-norm on n^2 nodes), times (1 + tau rate)^S with Fisher: below 1e-7 here.
TRANSIENT = ["pde=heat_transient", "pde.resolution=12", "pde.time_steps=4", "n_test=0",
             "seed=5", "name=r", "solver.rtol=1e-10"]  # fmt: skip
SCHEMES = {
    "backward_euler": ["pde.scheme=backward_euler"],
    "crank_nicolson_fisher": ["pde.scheme=crank_nicolson", "pde.reaction=fisher"],
}


def stored(path: Path) -> dict[str, np.ndarray]:
    keys = ("inputs", "outputs", "solver/iterations", "solver/matvecs", "solver/residual",
            "solver/converged", "solver/fallback")  # fmt: skip
    with h5py.File(path) as file:
        return {key: file[key][:] for key in keys}


def run_all(make_cfg, tmp_path: Path, runs: dict[str, list[str]]) -> dict[str, Path]:
    for run, overrides in runs.items():
        generate(make_cfg("generate", *overrides, f"paths.data_dir={tmp_path / run}"))
    return {run: tmp_path / run / "r" / "train.h5" for run in runs}


def assert_close(reference: np.ndarray, outputs: np.ndarray, tolerance: float) -> None:
    for a, b in zip(reference, outputs):  # every sample (every state of a trajectory)
        assert np.isfinite(a).all()
        assert np.abs(a - b).max() <= tolerance * np.abs(a).max()


@pytest.mark.parametrize("n", [16, 21])  # 16: the slot snapped to the grid; 21: exact
def test_the_heat_stencil_is_the_numpy_matrix_at_the_domain_nodes_and_decouples_the_slot(n):
    pde = build_pde(OmegaConf.merge(OmegaConf.load(ROOT / "conf/pde/heat.yaml"), {"resolution": n}))
    geometry = pde.geometry
    _, matrix = geometry.operator(pde.conductivity)
    stencil = slot_stencil(geometry, pde.conductivity)
    outside = np.setdiff1d(np.arange(n * n), geometry.unknowns)
    assert len(outside) > 0
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = rng.standard_normal(n * n)
        out = stencil(torch.from_numpy(v.reshape(1, n, n))).numpy().ravel()
        inside = matrix @ v[geometry.unknowns]
        np.testing.assert_allclose(out[geometry.unknowns], inside, rtol=0, atol=1e-12)
        scale = geometry.scale(pde.conductivity)
        np.testing.assert_allclose(out[outside], scale * v[outside], rtol=1e-15)


# mg at 16² (coarsest level 8², 64 unknowns): with a coarsest level whose size is no multiple
# of 8 (21²: 5²), batched/mg.py's Cholesky solve of a batch rounds differently from one lane's,
# so batch_size changes a lane's last bits there (darcy 21² alike); reported, not fixed here.
@pytest.mark.parametrize("preconditioner, n", [("jacobi", 21), ("mg", 16)])
def test_torch_heat_agrees_with_numpy_and_batching_changes_no_byte(
    make_cfg, tmp_path, preconditioner, n
):
    chosen = ["solver=cg", f"solver.preconditioner={preconditioner}"]
    args = [*HEAT, f"pde.resolution={n}", "n_train=7"]
    runs = {
        "direct": [*args, *DIRECT],
        "numpy_cg": [*args, *JACOBI],
        "b1": [*args, *chosen, *TORCH, "batch_size=1"],
        "b7": [*args, *chosen, *TORCH, "batch_size=7"],
    }
    files = run_all(make_cfg, tmp_path, runs)
    assert bytes_without_timings(files["b1"]) == bytes_without_timings(files["b7"])
    direct, numpy_cg, torched = (stored(files[run]) for run in ("direct", "numpy_cg", "b7"))
    np.testing.assert_array_equal(direct["inputs"], torched["inputs"])
    assert_close(direct["outputs"], torched["outputs"], 1e-6)
    assert (torched["solver/residual"] <= 1e-8).all() and torched["solver/converged"].all()
    assert not torched["solver/fallback"].any()
    if preconditioner == "jacobi":  # the same system, so the numpy CG's iterations
        np.testing.assert_array_equal(numpy_cg["solver/iterations"], torched["solver/iterations"])
        np.testing.assert_array_equal(numpy_cg["solver/matvecs"], torched["solver/matvecs"])
    else:  # mg copes with the slot and the decoupled rows: 10 against Jacobi's ~60 at 16²
        assert (torched["solver/iterations"] <= numpy_cg["solver/iterations"] / 4).all()


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_torch_heat_transient_agrees_with_numpy_and_batching_changes_no_byte(
    make_cfg, tmp_path, scheme
):
    args = [*TRANSIENT, *SCHEMES[scheme], "n_train=7"]
    runs = {
        "direct": [*args, *DIRECT],
        "numpy_cg": [*args, *JACOBI],
        "torch_cg": [*args, *JACOBI, *TORCH, "batch_size=7"],
        "torch_cg_b1": [*args, *JACOBI, *TORCH, "batch_size=1"],
        "mg_b1": [*args, *MG, "solver.warm_start=true", *TORCH, "batch_size=1"],
        "mg_b7": [*args, *MG, "solver.warm_start=true", *TORCH, "batch_size=7"],
    }
    files = run_all(make_cfg, tmp_path, runs)
    for one, seven in (("torch_cg_b1", "torch_cg"), ("mg_b1", "mg_b7")):
        assert bytes_without_timings(files[one]) == bytes_without_timings(files[seven])
    direct, numpy_cg, torch_cg, mg = (
        stored(files[run]) for run in ("direct", "numpy_cg", "torch_cg", "mg_b7")
    )
    # Jacobi from zero: the numpy CG's iterations and products, summed over the steps
    for key in ("solver/iterations", "solver/matvecs"):
        np.testing.assert_array_equal(numpy_cg[key], torch_cg[key])
    for run in (torch_cg, mg):
        np.testing.assert_array_equal(direct["inputs"], run["inputs"])
        assert_close(direct["outputs"], run["outputs"], 1e-6)
        assert (run["solver/residual"] <= 1e-10).all() and run["solver/converged"].all()
        assert not run["solver/fallback"].any()
    # mg, started from the state before each step: a few iterations per step
    steps = 3 * 2  # (time_steps - 1) * substeps
    assert (mg["solver/iterations"] <= 6 * steps).all()
    assert (mg["solver/iterations"] < numpy_cg["solver/iterations"] / 2).all()


def test_the_transient_step_matrix_is_the_numpy_one():
    pde = build_pde(
        OmegaConf.merge(OmegaConf.load(ROOT / "conf/pde/heat_transient.yaml"), {"resolution": 9})
    )
    kappa, _ = pde.sample(np.random.default_rng(1))
    implicit = pde.theta * pde.dt / pde.substeps
    matrix = (sp.identity(81) + implicit * pde.operator(kappa)).tocsr()
    laplacian, step = step_operators(pde, torch.as_tensor(kappa)[None])
    for v in np.random.default_rng(0).standard_normal((3, 81)):
        field = torch.from_numpy(v.reshape(1, 9, 9))
        for stencil, expected in ((laplacian, pde.operator(kappa) @ v), (step, matrix @ v)):
            out = stencil(field).numpy().ravel()
            np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_batched_cg_starts_each_lane_from_its_x0_and_counts_the_numpy_products():
    pde = build_pde(
        OmegaConf.merge(OmegaConf.load(ROOT / "conf/pde/heat_transient.yaml"), {"resolution": 9})
    )
    rng = np.random.default_rng(3)
    kappa = np.stack([pde.sample(rng)[0] for _ in range(3)])
    _, step = step_operators(pde, torch.as_tensor(kappa))
    rhs = torch.as_tensor(rng.standard_normal((3, 9, 9)))
    inverse = 1.0 / step.diagonal
    cold, iterations, products = batched_cg(step, rhs, lambda r: r * inverse, 1e-12, 500)
    x0 = torch.zeros_like(rhs)
    x0[1] = cold[1]  # lane 1 starts at its solution, the others from zero
    warm, warm_iterations, warm_products = batched_cg(
        step, rhs, lambda r: r * inverse, 1e-12, 500, x0
    )
    assert warm_iterations == [iterations[0], 0, iterations[2]] and iterations[1] > 0
    # numpy's CG: one residual per (re)start, one product per iteration, one final check
    assert warm_products == [products[0], 2, products[2]]
    assert products[0] == iterations[0] + 3
    assert torch.equal(warm[[0, 2]], cold[[0, 2]]) and torch.equal(warm[1], cold[1])


@pytest.mark.parametrize("family", ["heat", "heat_transient"])
def test_a_lane_that_misses_rtol_is_solved_directly_and_flagged(make_cfg, tmp_path, family):
    args = [*(HEAT if family == "heat" else TRANSIENT), "n_train=3"]
    files = run_all(
        make_cfg,
        tmp_path,
        {"t": [*args, *JACOBI, "solver.maxiter=3", *TORCH], "d": [*args, *DIRECT]},
    )
    torched, direct = stored(files["t"]), stored(files["d"])
    assert torched["solver/fallback"].all() and torched["solver/converged"].all()
    steps = 1 if family == "heat" else 3 * 2
    np.testing.assert_array_equal(torched["solver/iterations"], 3 * steps)
    assert_close(direct["outputs"], torched["outputs"], 1e-6)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["pde=heat_transient"], "backend=torch solves pde=heat_transient with solver=cg with "
                                 "solver.preconditioner=none or jacobi or mg only .got "
                                 "solver=direct"),
        (["pde=heat_transient", "solver=gcrodr"], "pde=heat_transient with solver=cg with"),
        (["pde=heat_transient", "solver=cg", "solver.preconditioner=amg"], "preconditioner amg"),
        (["pde=heat", "solver=cg", "solver.preconditioner=ssor"], "preconditioner ssor"),
        (["pde=heat", *JACOBI, "solver.warm_start=true"], "solver.warm_start=true has no"),
    ],
)  # fmt: skip
def test_what_torch_cannot_do_for_heat_is_refused_before_any_work(
    make_cfg, tmp_path, overrides, message
):
    cfg = make_cfg("generate", *TORCH, "n_train=2", "pde.resolution=12", *overrides)
    with pytest.raises(UserError, match=message):
        generate(cfg)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("family", ["heat", "heat_transient"])
def test_torch_heat_families_generate_through_the_cli(tmp_path, family):
    size = "pde.resolution=21" if family == "heat" else "pde.resolution=12"
    done = run_cli(
        ["generate", f"pde={family}", size, "n_train=6", "n_test=2", "name=h", *TORCH,
         "batch_size=4", *MG, "paths.data_dir=."],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for split in ("train", "test"):
        with h5py.File(tmp_path / "h" / f"{split}.h5") as file:
            assert file["solver/converged"][:].all() and not file["solver/fallback"][:].any()
            assert np.isfinite(file["outputs"][:]).all()


def test_torch_heat_transient_killed_with_sigkill_resumes_to_the_identical_file(tmp_path):
    def command(run: Path) -> list[str]:
        return [
            sys.executable, "-m", "surrogate.cli.generate", "pde=heat_transient",
            "pde.resolution=8", "pde.time_steps=3", "n_train=240", "n_test=0", "segment=24",
            "batch_size=8", *TORCH, *MG, "solver.warm_start=true", "name=kill",
            "flush_seconds=0.1", f"paths.data_dir={run}",
        ]  # fmt: skip

    code, _ = interrupt_and_resume(tmp_path, command, "kill/train.h5", signal.SIGKILL, 8)
    assert code == -signal.SIGKILL
