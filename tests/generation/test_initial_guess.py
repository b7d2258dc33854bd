"""solver.initial_guess: solves started from a trained model's prediction.

An accurate guess must cut the iterations (ChainSolver); a tiny FNO trained on a few Darcy
samples must be used as the start without costing iterations, store the same solutions to within
rtol, be recorded, resume like any run, and what cannot work must be refused before any work.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TINY_MODEL, compose_stage
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.generation.run import generate
from surrogate.pdes.base import systems_of
from surrogate.training.run import train

SOLVE = ["pde.resolution=16", "solver=cg", "solver.preconditioner=amg", "sort=none", "seed=5"]
NEW = ["n_train=12", "n_test=0", "segment=4", "batch_size=3"]  # samples the model never saw


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project root, checkpoint) of a tiny FNO trained on 48 Darcy 16x16 samples."""
    root = tmp_path_factory.mktemp("guess")
    generate(
        compose_stage("generate", root, [*SOLVE, "seed=0", "n_train=48", "n_test=0", "name=first"])
    )
    result = train(
        compose_stage(
            "train",
            root,
            [
                "data=first",
                "trainer.max_epochs=30",
                "loader.num_workers=0",
                "loader.batch_size=8",
                *TINY_MODEL,
            ],
        )
    )
    return root, Path(result["last_checkpoint"])


def _generate(root: Path, name: str, *overrides: str) -> dict:
    return generate(compose_stage("generate", root, [*SOLVE, *NEW, f"name={name}", *overrides]))


def _read(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, h5py.AttributeManager]:
    with h5py.File(root / "data" / name / "train.h5") as file:
        return file["outputs"][:], file["solver/iterations"][:], dict(file.attrs)


@pytest.mark.parametrize("method", ["cg", "gcrodr"])
def test_an_accurate_guess_cuts_iterations_and_a_useless_one_costs_none(method):
    from surrogate.pdes import build_pde
    from surrogate.solvers import build_solver
    from surrogate.solvers.base import relative_residual

    cfg = compose_stage("generate", Path("/unused"), ["pde.resolution=16", f"solver={method}"])
    pde = build_pde(cfg.pde)
    problem = pde.problem(np.random.default_rng(0))
    exact = np.linalg.solve(problem.matrix.toarray(), problem.rhs)
    noise = np.random.default_rng(1).standard_normal(exact.size) * np.linalg.norm(exact)
    rng = np.random.default_rng(0)

    def iterations(guess: np.ndarray | None) -> int:
        solver = build_solver(cfg.solver, systems_of(pde), rng, 1)
        result = solver.solve(problem.matrix, problem.rhs, guess)
        assert relative_residual(problem.matrix, result.x, problem.rhs) <= 1e-8
        return result.iterations

    none = iterations(None)
    assert iterations(exact + 1e-6 * noise / exact.size**0.5) <= none // 2
    assert iterations(np.full_like(exact, np.nan)) == none  # a broken model: started from zero
    assert iterations(1e3 * noise) <= none + 1  # scaled down by the projection: harmless


def test_a_trained_model_is_the_start_and_the_solutions_agree(model):
    root, ckpt = model
    _generate(root, "plain")
    _generate(root, "guided", f"solver.initial_guess={ckpt}")
    plain, plain_iterations, _ = _read(root, "plain")
    guided, guided_iterations, attrs = _read(root, "guided")
    assert not np.array_equal(guided_iterations, plain_iterations)  # the start changed
    assert guided_iterations.mean() <= plain_iterations.mean() + 0.5  # and costs nothing
    error = np.linalg.norm((guided - plain).reshape(len(plain), -1), axis=1)
    assert np.all(error <= 1e-6 * np.linalg.norm(plain.reshape(len(plain), -1), axis=1))
    assert "initial_guess" in attrs["config"] and len(attrs["initial_guess_sha256"]) == 64
    assert "initial_guess" not in _read(root, "plain")[2]["config"]  # unset: not recorded


def test_guess_with_warm_start_is_no_worse_than_warm_start_alone(model):
    root, ckpt = model
    _generate(root, "warm", "solver.warm_start=true")
    _generate(root, "both", "solver.warm_start=true", f"solver.initial_guess={ckpt}")
    assert _read(root, "both")[1].mean() <= _read(root, "warm")[1].mean() + 0.5


def test_resume_redoes_the_unfinished_segments_with_the_same_result(model):
    root, ckpt = model
    guided = f"solver.initial_guess={ckpt}"
    _generate(root, "whole", guided)
    _generate(root, "resumed", guided)
    path = root / "data" / "resumed" / "train.h5"
    partial = path.with_name("train.h5.partial")
    path.rename(partial)  # as a kill after the first segment leaves it
    with h5py.File(partial, "r+") as file:
        file["completed"][4:] = 0
        file.attrs["complete"] = False
    assert _generate(root, "resumed", guided)["train"]["solved_now"] == 8
    whole, whole_iterations, _ = _read(root, "whole")
    resumed, resumed_iterations, _ = _read(root, "resumed")
    np.testing.assert_array_equal(resumed, whole)
    np.testing.assert_array_equal(resumed_iterations, whole_iterations)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["solver.initial_guess=missing.ckpt"], "no checkpoint there"),
        (["solver.initial_guess=CORRUPT"], "cannot be read"),
        (["solver.initial_guess=CKPT", "pde=poisson"], "trained on pde=darcy, not pde=poisson"),
        (["solver=gmres", "solver.initial_guess=CKPT", "pde=helmholtz"], "trained on pde=darcy"),
        (["solver=direct", "solver.initial_guess=CKPT"], "no use with a direct solver"),
        (["solver=auto", "solver.initial_guess=CKPT", "pde=helmholtz"], "solver=auto chose direct"),
        (["solver.initial_guess=CKPT", "backend=torch"], "backend=numpy"),
        (["solver.initial_guess=CKPT", "pde=burgers"], "no single linear system"),
    ],
)
def test_bad_input_is_refused_before_any_work(model, overrides, message):
    root, ckpt = model
    corrupt = root / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    replaced = [o.replace("CKPT", str(ckpt)).replace("CORRUPT", str(corrupt)) for o in overrides]
    solver = [] if replaced[0].startswith("solver=") else ["solver=cg"]
    cfg = compose_stage(
        "generate", root, [*solver, "pde.resolution=16", "n_train=4", "n_test=0", *replaced]
    )
    with pytest.raises(UserError, match=re.escape(message)):
        generate(OmegaConf.merge(cfg, {"name": "refused"}))
    assert not (root / "data" / "refused").exists()


def test_another_grid_is_refused_for_a_grid_bound_model_and_predicted_on_for_fno(
    model, monkeypatch
):
    root, ckpt = model
    finer = ["pde.resolution=20", f"solver.initial_guess={ckpt}"]
    _generate(root, "finer", *finer)  # FNO: resolution-independent
    assert _read(root, "finer")[1].size == 12
    monkeypatch.setattr("surrogate.models.resolution_dependent", lambda name: True)
    with pytest.raises(UserError, match="is tied to its grid"):
        _generate(root, "refused", *finer)


@pytest.mark.parametrize("spd", [True, False])
def test_the_projected_start_is_the_best_point_of_the_span(spd):
    import scipy.sparse as sp

    from surrogate.solvers.chain import projected_start

    rng = np.random.default_rng(3)
    m = rng.standard_normal((6, 6))
    matrix = sp.csr_matrix(m @ m.T + 6 * np.eye(6) if spd else m + 6 * np.eye(6))
    exact = rng.standard_normal(6)
    rhs = matrix @ exact
    basis = [exact + rng.standard_normal(6), rng.standard_normal(6)]

    def norm(x: np.ndarray) -> float:  # A-norm of the error for SPD, residual otherwise
        e = exact - x
        return float(e @ (matrix @ e)) ** 0.5 if spd else float(np.linalg.norm(matrix @ e))

    start = projected_start(matrix, rhs, basis, spd)
    grid = [
        a * basis[0] + b * basis[1] for a in np.linspace(-2, 2, 41) for b in np.linspace(-2, 2, 41)
    ]
    assert norm(start) <= min(norm(x) for x in grid) + 1e-12
    np.testing.assert_array_equal(projected_start(matrix, rhs, [], spd), np.zeros(6))
