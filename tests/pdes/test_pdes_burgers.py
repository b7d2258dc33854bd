"""Burgers (periodic, ETDRK4): the exact Cole-Hopf solution, linear decay of a small mode,
conservation of the mean, refinement of the step, and the CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import REPO_ROOT, run_cli
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.pdes.burgers import Burgers
from surrogate.pdes.temporal import StepStats


def family(**overrides) -> Burgers:
    cfg = OmegaConf.merge(OmegaConf.load(REPO_ROOT / "conf/pde/burgers.yaml"), overrides)
    return Burgers(cfg)


def cole_hopf(x: np.ndarray, t: float, nu: float, a: float = 1.2) -> np.ndarray:
    """u = -2 nu phi_x / phi with phi = a + exp(-4 pi^2 nu t) cos(2 pi x), a heat solution."""
    decay = np.exp(-4 * np.pi**2 * nu * t)
    return 4 * np.pi * nu * decay * np.sin(2 * np.pi * x) / (a + decay * np.cos(2 * np.pi * x))


def test_matches_the_exact_cole_hopf_solution():
    nu = 0.02
    pde = family(resolution=128, viscosity=nu, time_steps=5, record_dt=0.25)
    x = pde.points
    states = pde.evolve(cole_hopf(x, 0.0, nu), StepStats())[:, 0]
    for step, state in enumerate(states):
        exact = cole_hopf(x, step * pde.record_dt, nu)
        np.testing.assert_allclose(state, exact, rtol=0, atol=2e-6 * np.abs(exact).max())


def test_a_small_mode_decays_at_the_viscous_rate():
    pde = family(resolution=32, viscosity=0.1, time_steps=4, record_dt=0.1)
    wave = np.sin(2 * np.pi * 3 * pde.points)
    states = pde.evolve(1e-6 * wave, StepStats())[:, 0]
    amplitude = states @ wave / (wave @ wave) / 1e-6
    expected = np.exp(-0.1 * (2 * np.pi * 3) ** 2 * pde.record_dt * np.arange(4))
    np.testing.assert_allclose(amplitude, expected, rtol=1e-5)


def test_the_mean_is_conserved():
    pde = family(resolution=64, time_steps=4)
    u0 = pde.initial(np.random.default_rng(0)) + 0.3
    states = pde.evolve(u0, StepStats())[:, 0].astype(np.float64)
    np.testing.assert_allclose(states.mean(axis=1), 0.3, atol=1e-7)


def test_the_error_falls_when_the_step_is_refined():
    cfg = {"resolution": 256, "viscosity": 0.02, "time_steps": 2, "record_dt": 0.1, "max_dt": 1.0}
    u0 = family(**cfg, initial={"scale": 100.0}).initial(np.random.default_rng(1))
    final = {}
    for cfl in (1.0, 0.5, 0.0625):
        final[cfl] = family(**cfg, cfl=cfl).evolve(u0, StepStats())[-1, 0].astype(np.float64)
    coarse, finer = (np.abs(final[c] - final[0.0625]).max() for c in (1.0, 0.5))
    assert coarse < 1e-5 * np.abs(u0).max() and finer < coarse / 4


def test_trajectory_statistics_and_fields():
    pde = family(resolution=32, time_steps=3)
    trajectory = pde.simulate(np.random.default_rng(0))
    assert trajectory.states.shape == (3, 1, 32) and trajectory.inputs.shape == (1, 32)
    np.testing.assert_array_equal(trajectory.inputs, 0.1)
    result = trajectory.result
    assert (result.matvecs, result.residual, result.converged) == (0, 0.0, True)
    assert result.iterations >= 2 * 10  # record_dt 0.1 / max_dt 0.01 per stored interval


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"viscosity": -1.0}, "pde.viscosity=-1.0 must be > 0"),
        ({"record_dt": 0}, "pde.record_dt=0 must be > 0"),
        ({"solve_resolution": 100}, "pde.solve_resolution=100 must be >= pde.resolution=256"),
        ({"max_dt": "x"}, "pde.max_dt='x' must be a number"),
    ],
)
def test_bad_values_are_rejected_with_one_line(override, message):
    with pytest.raises(UserError, match=message):
        family(**override)


def test_cli_generates_trajectories(tmp_path):
    args = ["generate", "pde=burgers", "pde.resolution=64", "n_train=3", "n_test=1", "name=b"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with h5py.File(tmp_path / "data" / "b" / "train.h5") as file:
        assert file["outputs"].shape == (3, 11, 1, 64)
        np.testing.assert_allclose(file["grid/x"][:], np.arange(64) / 64)
        np.testing.assert_allclose(file["times"][:], 0.1 * np.arange(11))
        assert file["solver/converged"][:].all() and (file["solver/iterations"][:] >= 100).all()
