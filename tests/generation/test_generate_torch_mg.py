"""solver.preconditioner=mg: the batched geometric multigrid V-cycle is symmetric positive
definite, CG with it reaches the direct solution on odd and even grids (2D and 3D) in a few
iterations whatever the grid (Jacobi's grow with it), torch and numpy give the same samples and
iterations, batching changes no byte, and the issue's interface command runs. Every run is on
CPU tensors: the same code runs on a GPU with device=cuda."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from interruption import interrupt_and_resume
from omegaconf import OmegaConf
from split_files import bytes_without_timings

from surrogate.errors import UserError
from surrogate.generation.run import dataset_config, generate
from surrogate.pdes import build_pde
from surrogate.solvers.batched.cg import batched_cg, lane_dot
from surrogate.solvers.batched.mg import Multigrid, Settings, prolong, restrict
from surrogate.solvers.batched.stencil import Stencil

ROOT = Path(__file__).parents[2]
SETTINGS = Settings(**OmegaConf.load(ROOT / "conf/solver/cg.yaml").mg)
TORCH = ["backend=torch", "device=cpu"]
MG = ["solver=cg", "solver.preconditioner=mg"]
FAMILIES = {  # odd sizes: the last coarse node of an even one sits next to the boundary
    "darcy": ["pde=darcy", "pde.resolution=13"],
    "poisson": ["pde=poisson", "pde.resolution=12"],
    "darcy3d": ["pde=darcy3d", "pde.resolution=9"],
}


def problems(family: str, n: int, count: int = 3) -> tuple[list, Stencil]:
    """`count` problems of the family on n^d and their operators in one batch."""
    pde = build_pde(OmegaConf.merge(OmegaConf.load(ROOT / f"conf/pde/{family}.yaml"),
                                    {"resolution": n}))  # fmt: skip
    rng = np.random.default_rng(0)
    drawn = [pde.problem(rng) for _ in range(count)]
    coefficients = [np.pad(p.inputs[0], 1, mode="edge") for p in drawn]
    return drawn, Stencil.from_coefficient(torch.as_tensor(np.stack(coefficients)))


def solve(operator: Stencil, drawn: list, preconditioner: str) -> tuple[torch.Tensor, list[int]]:
    grid = tuple(operator.diagonal.shape[1:])
    rhs = torch.as_tensor(np.stack([p.rhs for p in drawn])).reshape(len(drawn), *grid)
    if preconditioner == "mg":
        precondition = Multigrid(operator, grid, SETTINGS)
    else:
        inverse = 1.0 / operator.diagonal
        precondition = lambda r: r * inverse  # noqa: E731
    x, iterations, _ = batched_cg(operator, rhs, precondition, 1e-10, 5000)
    return x, iterations


def interpolation(fine: tuple[int, ...]) -> np.ndarray:
    """P as a dense matrix, column by column."""
    coarse = tuple(n // 2 for n in fine)
    units = torch.eye(int(np.prod(coarse)), dtype=torch.float64)
    return np.stack([prolong(e.reshape(1, *coarse), fine).ravel().numpy() for e in units], 1)


def test_prolongation_is_linear_interpolation_and_restriction_its_transpose():
    # n = 5: coarse nodes at fine 1, 3; n = 6: at 1, 3, 5 (the last next to the boundary)
    np.testing.assert_array_equal(interpolation((5,)).sum(axis=1), [0.5, 1, 1, 1, 0.5])
    np.testing.assert_array_equal(interpolation((6,)).sum(axis=1), [0.5, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(interpolation((6,))[:, 2], [0, 0, 0, 0, 0.5, 1])
    for fine in [(5,), (6,), (7, 4), (3, 5, 6)]:
        matrix = interpolation(fine)
        for row, e in enumerate(torch.eye(int(np.prod(fine)), dtype=torch.float64)):
            restricted = restrict(e.reshape(1, *fine), len(fine)).ravel().numpy()
            np.testing.assert_array_equal(restricted, matrix[row])


@pytest.mark.parametrize("family, n", [("darcy", 12), ("darcy", 13), ("darcy3d", 7)])
def test_the_v_cycle_is_symmetric_positive_definite(family, n):
    _, operator = problems(family, n)
    cycle = Multigrid(operator, tuple(operator.diagonal.shape[1:]), SETTINGS)
    assert cycle.depth >= 2
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(operator.diagonal.shape, generator=generator, dtype=torch.float64)
            for _ in range(2))  # fmt: skip
    ab, ba = lane_dot(a, cycle(b)), lane_dot(b, cycle(a))
    torch.testing.assert_close(ab, ba, rtol=1e-12, atol=0)
    assert (lane_dot(a, cycle(a)) > 0).all()


@pytest.mark.parametrize("family, n", [("darcy", 12), ("darcy", 13), ("darcy", 3), ("darcy3d", 7)])
def test_mg_cg_reaches_the_direct_solution(family, n):
    drawn, operator = problems(family, n)
    x, iterations = solve(operator, drawn, "mg")
    for lane, problem in enumerate(drawn):
        exact = spla.spsolve(sp.csc_matrix(problem.matrix), problem.rhs)
        error = np.abs(x[lane].numpy().ravel() - exact).max()
        assert error <= 1e-8 * np.abs(exact).max()
    assert max(iterations) <= (1 if n == 3 else 10)  # n = 3: the direct coarsest level alone


def test_mg_iterations_stay_flat_as_the_grid_grows_while_jacobi_grows():
    counts = {}
    for n in (16, 48):
        drawn, operator = problems("darcy", n)
        counts[n] = {p: solve(operator, drawn, p)[1] for p in ("mg", "jacobi")}
    assert max(counts[48]["mg"]) <= max(counts[16]["mg"]) + 2 <= 12
    assert min(counts[48]["jacobi"]) >= 2 * max(counts[16]["jacobi"])  # ~ n: sqrt(cond)
    assert min(counts[48]["jacobi"]) >= 10 * max(counts[48]["mg"])


def test_the_stencil_read_off_a_csr_matrix_is_the_coefficients():
    drawn, operator = problems("darcy3d", 5, count=1)
    from_matrix = Stencil.from_matrix(drawn[0].matrix)
    torch.testing.assert_close(from_matrix.diagonal, operator.diagonal, rtol=1e-14, atol=0)
    u = torch.randn(operator.diagonal.shape, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)  # fmt: skip
    expected = drawn[0].matrix @ u.numpy().ravel()
    np.testing.assert_allclose(from_matrix(u).numpy().ravel(), expected, rtol=1e-12)
    np.testing.assert_allclose(operator(u).numpy().ravel(), expected, rtol=1e-12)
    with pytest.raises(UserError, match="solver.preconditioner=mg needs a"):
        Stencil.from_matrix(sp.random(10, 10, density=0.5, random_state=0) + sp.eye(10))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_torch_mg_agrees_with_numpy_mg_and_direct(make_cfg, tmp_path, family):
    args = [*FAMILIES[family], "n_train=5", "n_test=0", "seed=1", "name=r"]
    runs = {"direct": args, "numpy_mg": [*args, *MG], "torch_mg": [*args, *MG, *TORCH]}
    for run, overrides in runs.items():
        generate(make_cfg("generate", *overrides, f"paths.data_dir={tmp_path / run}"))
    stored = {}
    for run in runs:
        with h5py.File(tmp_path / run / "r" / "train.h5") as file:
            stored[run] = {key: file[key][:] for key in ("outputs", "solver/iterations")}
            if run == "torch_mg":
                assert file["solver/converged"][:].all() and not file["solver/fallback"][:].any()
    numpy, torched = stored["numpy_mg"], stored["torch_mg"]
    np.testing.assert_array_equal(numpy["solver/iterations"], torched["solver/iterations"])
    assert (torched["solver/iterations"] <= 10).all()
    for a, b in zip(stored["direct"]["outputs"], torched["outputs"]):
        assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max()


@pytest.mark.parametrize(
    "grid",
    [FAMILIES["darcy"], FAMILIES["darcy3d"], ["pde=darcy", "pde.resolution=21"]],
    ids=["darcy", "darcy3d", "darcy-odd-coarsest"],  # 21 -> 10 -> 5: a 5² dense level
)
def test_batch_sizes_1_7_and_32_give_the_same_bytes(make_cfg, tmp_path, grid):
    args = [*grid, *MG, *TORCH, "n_train=32", "n_test=0", "name=r"]
    files = []
    for size in (1, 7, 32):
        generate(make_cfg("generate", *args, f"batch_size={size}",
                          f"paths.data_dir={tmp_path / str(size)}"))  # fmt: skip
        files.append(bytes_without_timings(tmp_path / str(size) / "r" / "train.h5"))
    assert files[0] == files[1] == files[2]


def test_the_issue_command_runs_through_the_cli(tmp_path):
    command = [sys.executable, "-m", "surrogate.cli.generate", "pde=darcy", "pde.resolution=16",
               "n_train=8", "n_test=0", "name=d_torch", "backend=torch", "device=cpu",
               "batch_size=4", "solver=cg", "solver.preconditioner=mg",
               f"paths.data_dir={tmp_path}"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with h5py.File(tmp_path / "d_torch" / "train.h5") as file:
        assert file["solver/converged"][:].all() and (file["solver/iterations"][:] <= 10).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["solver=bicgstab", "solver.preconditioner=mg"], "mg needs solver.mg settings"),
        ([*MG, "solver.mg.omega=1.5"], "solver.mg.omega=1.5 must be"),
        ([*MG, *TORCH, "solver.mg.smoothing_steps=0"], "solver.mg.smoothing_steps=0 must be"),
        ([*MG, "solver.mg.coarsest=100000"], "solver.mg.coarsest=100000 must be <= 4096"),
        (["pde=heat", *MG], "pde=heat: solver.preconditioner=mg needs a .2d.1.-point stencil"),
    ],
)
def test_bad_mg_settings_are_refused_before_any_work(make_cfg, tmp_path, overrides, message):
    cfg = make_cfg("generate", "pde=darcy", "pde.resolution=8", "n_train=2", *overrides)
    with pytest.raises(UserError, match=message):
        generate(cfg)
    assert not (tmp_path / "data").exists()


def test_mg_settings_are_part_of_a_dataset_only_when_mg_is_used(make_cfg):
    jacobi = dataset_config(make_cfg("generate", "solver=cg", "solver.preconditioner=jacobi"))
    assert "mg:" not in jacobi and "preconditioner: jacobi" in jacobi  # as before solver.mg
    assert "smoothing_steps: 2" in dataset_config(make_cfg("generate", *MG))


@pytest.mark.slow
def test_torch_mg_generation_killed_with_sigkill_resumes_to_the_identical_file(tmp_path):
    def command(run: Path) -> list[str]:
        return [
            sys.executable, "-m", "surrogate.cli.generate", "pde=darcy", "pde.resolution=24",
            "n_train=400", "n_test=0", "segment=40", "batch_size=8", *TORCH, *MG, "name=kill",
            "flush_seconds=0.1", f"paths.data_dir={run}",
        ]  # fmt: skip

    code, _ = interrupt_and_resume(tmp_path, command, "kill/train.h5", signal.SIGKILL, 16)
    assert code == -signal.SIGKILL
