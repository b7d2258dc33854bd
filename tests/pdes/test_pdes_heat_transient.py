"""Transient heat: exact discrete decay of eigenmodes, time order, recycling across steps, CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import REPO_ROOT, run_cli
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.pdes.base import systems_of
from surrogate.pdes.heat_transient import HeatTransient
from surrogate.pdes.temporal import StepStats
from surrogate.solvers import build_solver

KAPPA = 0.7
MODE = (1, 2)


def family(**overrides) -> HeatTransient:
    cfg = OmegaConf.merge(OmegaConf.load(REPO_ROOT / "conf/pde/heat_transient.yaml"), overrides)
    return HeatTransient(cfg)


def solver(pde, name: str = "direct", **overrides):
    cfg = OmegaConf.merge(
        OmegaConf.load(REPO_ROOT / f"conf/solver/{name}.yaml"), {"rtol": 1e-12}, overrides
    )
    return build_solver(cfg, systems_of(pde), np.random.default_rng(0), 100)


def eigenmode(pde: HeatTransient) -> tuple[np.ndarray, float, float]:
    """sin(k pi x) sin(j pi y) at the nodes, its discrete and its continuous eigenvalue."""
    x, (k, j) = pde.points, MODE
    h = 1.0 / (pde.n + 1)
    mode = np.outer(np.sin(k * np.pi * x), np.sin(j * np.pi * x))
    discrete = KAPPA * 4 / h**2 * (np.sin(k * np.pi * h / 2) ** 2 + np.sin(j * np.pi * h / 2) ** 2)
    return mode, discrete, KAPPA * np.pi**2 * (k**2 + j**2)


def decay(pde: HeatTransient) -> np.ndarray:
    """Amplitude of the eigenmode in each stored state (constant k, no reaction)."""
    mode, _, _ = eigenmode(pde)
    kappa = np.full_like(mode, KAPPA)
    states = pde.evolve(kappa, mode, solver(pde), StepStats())
    return np.einsum("tij,ij->t", states[:, 0].astype(np.float64), mode) / (mode**2).sum()


@pytest.mark.parametrize("scheme", ["backward_euler", "crank_nicolson"])
def test_an_eigenmode_decays_by_the_exact_amplification_factor(scheme):
    pde = family(resolution=15, time_steps=6, dt=0.01, substeps=3, scheme=scheme)
    _, eigenvalue, _ = eigenmode(pde)
    tau = pde.dt / pde.substeps
    factor = (
        1 / (1 + tau * eigenvalue)
        if scheme == "backward_euler"
        else (1 - tau * eigenvalue / 2) / (1 + tau * eigenvalue / 2)
    )
    expected = factor ** (pde.substeps * np.arange(pde.time_steps))
    np.testing.assert_allclose(decay(pde), expected, rtol=1e-5)


@pytest.mark.parametrize(("scheme", "order"), [("backward_euler", 1), ("crank_nicolson", 2)])
def test_the_continuous_decay_rate_is_approached_at_the_scheme_order(scheme, order):
    errors = []
    for substeps in (2, 4, 8):
        pde = family(resolution=31, time_steps=3, dt=0.01, substeps=substeps, scheme=scheme)
        _, discrete, continuous = eigenmode(pde)
        t = pde.dt * np.arange(pde.time_steps)
        errors.append(np.abs(decay(pde) - np.exp(-discrete * t)).max())
        # space: the discrete rate is the continuous one up to O(h^2) (here 0.3 %)
        assert abs(discrete / continuous - 1) < 4e-3
    observed = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(observed - order) < 0.2), observed


def test_recycled_solves_agree_with_direct_ones():
    pde = family(resolution=16, time_steps=4)
    rng = np.random.default_rng
    direct = pde.simulate(rng(1), solver(pde))
    recycled = pde.simulate(rng(1), solver(pde, "gcrodr", m=20, k=5, rtol=1e-10))
    np.testing.assert_array_equal(direct.inputs, recycled.inputs)
    scale = np.abs(direct.states).max()
    np.testing.assert_allclose(recycled.states, direct.states, rtol=0, atol=1e-7 * scale)
    assert recycled.result.converged and recycled.result.residual <= 1e-10
    assert recycled.result.iterations > 0 and direct.result.iterations == 0


def iterations_per_step(pde: HeatTransient, chain) -> list[int]:
    counts = []
    solve = chain.solve

    def counted(matrix, rhs):
        result = solve(matrix, rhs)
        counts.append(result.iterations)
        return result

    chain.solve = counted
    for seed in range(2):
        pde.simulate(np.random.default_rng(seed), chain)
    return counts


def test_the_recycling_engine_needs_far_fewer_iterations_after_the_first_step():
    pde = family(resolution=24, time_steps=8, substeps=1)
    gcrodr = iterations_per_step(pde, solver(pde, "gcrodr", rtol=1e-8))
    gmres = iterations_per_step(pde, solver(pde, "gmres", rtol=1e-8))
    assert gcrodr[1] <= 0.6 * gcrodr[0]  # the second step reuses the first's Ritz vectors
    assert np.mean(gcrodr[1:]) <= 0.75 * np.mean(gmres[1:]), (gcrodr, gmres)


def test_fisher_reaction_keeps_the_density_in_the_unit_interval():
    pde = family(resolution=12, time_steps=5, reaction="fisher", reaction_rate=200.0, substeps=4)
    trajectory = pde.simulate(np.random.default_rng(0), solver(pde))
    assert trajectory.states.min() >= -1e-6 and trajectory.states.max() <= 1 + 1e-6
    assert trajectory.states[0].max() == pytest.approx(1.0)
    assert trajectory.result.iterations == 0 and trajectory.result.converged


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"time_steps": 1}, "pde.time_steps=1 must be >= 2"),
        ({"dt": 0.0}, "pde.dt=0.0 must be > 0"),
        ({"scheme": "rk4"}, "pde.scheme='rk4' is unknown"),
        ({"reaction": "fisher", "reaction_rate": 1e4}, "explicit reaction step is unstable"),
        ({"coefficient": "uniform"}, "pde.coefficient='uniform' is unknown"),
    ],
)
def test_bad_values_are_rejected_with_one_line(override, message):
    with pytest.raises(UserError, match=message):
        family(**override)


def test_cli_generates_trajectories(tmp_path):
    args = ["generate", "pde=heat_transient", "pde.resolution=12", "pde.time_steps=4"]
    result = run_cli([*args, "n_train=3", "n_test=1", "name=ht"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with h5py.File(tmp_path / "data" / "ht" / "train.h5") as file:
        assert file["outputs"].shape == (3, 4, 1, 12, 12)
        assert file["inputs"].shape == (3, 1, 12, 12)
        assert list(file.attrs["output_names"]) == ["temperature"]
        np.testing.assert_allclose(file["times"][:], 0.005 * np.arange(4))
        assert file["solver/converged"][:].all() and (file["solver/seconds"][:] > 0).all()
