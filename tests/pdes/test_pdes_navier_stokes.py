"""Navier-Stokes (vorticity, periodic): exact Taylor-Green decay, incompressibility, invariants,
the FNO initial spectrum, and the CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.fft as fft
from conftest import REPO_ROOT, run_cli
from omegaconf import OmegaConf

from surrogate.errors import UserError
from surrogate.pdes.navier_stokes import NavierStokes
from surrogate.pdes.temporal import StepStats

NU = 0.01


def family(**overrides) -> NavierStokes:
    cfg = OmegaConf.merge(OmegaConf.load(REPO_ROOT / "conf/pde/navier_stokes.yaml"), overrides)
    return NavierStokes(cfg)


def taylor_green(n: int, waves: int = 2) -> tuple[np.ndarray, float]:
    """w = 2 a sin(a x) sin(a y), a = 2 pi waves (psi = sin sin / a: |u| <= 1), and its decay rate.

    The advection term vanishes identically (w is a function of psi), so w(t) = w0 exp(-2 nu a^2 t).
    """
    a = 2 * np.pi * waves
    x = np.arange(n) / n
    return 2 * a * np.outer(np.sin(a * x), np.sin(a * x)), 2 * NU * a**2


def test_taylor_green_vortex_decays_exactly():
    pde = family(resolution=32, viscosity=NU, forcing_amplitude=0.0, time_steps=5, record_dt=0.25,
                 max_dt=0.005)  # fmt: skip
    w0, rate = taylor_green(32)
    stats = StepStats()
    states = pde.evolve(w0, stats)[:, 0]
    steps = 50  # max_dt (below the CFL bound) in every interval
    assert stats.iterations == steps * (pde.time_steps - 1)
    half = 0.5 * pde.record_dt / steps * rate
    crank_nicolson = ((1 - half) / (1 + half)) ** (steps * np.arange(pde.time_steps))
    scale = np.abs(w0).max()
    for state, factor in zip(states, crank_nicolson):
        np.testing.assert_allclose(state, factor * w0, rtol=0, atol=1e-6 * scale)
    # and the discrete decay is the exact exp(-2 nu a^2 t) up to Crank-Nicolson's O(dt^2)
    exact = np.exp(-rate * pde.record_dt * np.arange(pde.time_steps))
    np.testing.assert_allclose(crank_nicolson, exact, rtol=1e-4)


def test_taylor_green_error_falls_at_second_order_in_the_step():
    w0, rate = taylor_green(16)
    errors = []
    for max_dt in (0.02, 0.01, 0.005):
        pde = family(resolution=16, viscosity=NU, forcing_amplitude=0.0, time_steps=2,
                     record_dt=0.5, cfl=1.0, max_dt=max_dt)  # fmt: skip
        state = pde.evolve(w0, StepStats())[-1, 0]
        errors.append(np.abs(state - w0 * np.exp(-rate * 0.5)).max())
    observed = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(observed - 2) < 0.15), observed


def test_velocity_is_divergence_free_and_vorticity_keeps_zero_mean():
    pde = family(resolution=32, time_steps=4, record_dt=0.5)
    trajectory = pde.simulate(np.random.default_rng(0))
    states = trajectory.states[:, 0].astype(np.float64)
    assert np.abs(states.mean(axis=(1, 2))).max() < 1e-6 * np.abs(states).max()
    w_hat = fft.rfft2(states[-1])
    u, v = pde.velocity(w_hat)
    divergence = pde.kx * fft.rfft2(u) + pde.ky * fft.rfft2(v)
    assert np.abs(divergence).max() < 1e-10 * np.abs(pde.kx * fft.rfft2(u)).max()
    # the velocity's curl is the vorticity: v_x - u_y = w (mean mode aside)
    curl = fft.irfft2(1j * pde.kx * fft.rfft2(v) - 1j * pde.ky * fft.rfft2(u), (32, 32))
    np.testing.assert_allclose(curl, states[-1], atol=1e-5 * np.abs(states[-1]).max())
    result = trajectory.result
    assert (result.matvecs, result.residual, result.converged) == (0, 0.0, True)
    assert result.iterations >= 3 * 50  # record_dt 0.5 / max_dt 0.01 per stored interval


def test_kinetic_energy_decays_without_forcing():
    pde = family(resolution=32, forcing_amplitude=0.0, viscosity=1e-3, time_steps=6, record_dt=1.0)
    states = pde.simulate(np.random.default_rng(3)).states[:, 0].astype(np.float64)
    energy = []
    for state in states:
        u, v = pde.velocity(fft.rfft2(state))
        energy.append(0.5 * np.mean(u**2 + v**2))
    assert np.all(np.diff(energy) < 0), energy


def test_initial_vorticity_has_the_fno_spectrum():
    pde = family(resolution=32)
    power = np.mean(
        [np.abs(fft.fft2(pde.initial(np.random.default_rng(s)))) ** 2 for s in range(200)], axis=0
    )
    k = np.fft.fftfreq(32, 1 / 32)
    squared = k[:, None] ** 2 + k[None, :] ** 2
    # E|fft2(w0)_k|^2 = n^4 lambda_k^2: Re() takes half of xi_k and half of xi_-k
    expected = 32**4 * 2 * 7**3 * (4 * np.pi**2 * squared + 49) ** -2.5
    for low, high in [(1, 2), (3, 4), (6, 8)]:
        ring = (squared >= low**2) & (squared < high**2)
        ratio = power[ring].mean() / expected[ring].mean()
        assert 0.85 < ratio < 1.15, (low, high, ratio)
    assert power[0, 0] < 1e-20 * power.max()  # zero mean


def test_solve_resolution_is_truncated_to_the_stored_grid():
    fine = family(resolution=16, solve_resolution=32, time_steps=2, record_dt=0.2)
    trajectory = fine.simulate(np.random.default_rng(0))
    assert trajectory.states.shape == (2, 1, 16, 16) and trajectory.inputs.shape == (1, 16, 16)
    direct = family(resolution=32, time_steps=2, record_dt=0.2).simulate(np.random.default_rng(0))
    coarse = fft.rfft2(trajectory.states[-1, 0]) * 4  # the same modes, |k| < 8
    np.testing.assert_allclose(
        coarse[:7, :7], fft.rfft2(direct.states[-1, 0])[:7, :7], atol=1e-4 * np.abs(coarse).max()
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"viscosity": 0.0}, "pde.viscosity=0.0 must be > 0"),
        ({"resolution": 4}, "pde.resolution=4 must be >= 8"),
        ({"solve_resolution": 32}, "pde.solve_resolution=32 must be >= pde.resolution=64"),
        ({"cfl": 2.0}, "pde.cfl=2.0 must be <= 1.0"),
        ({"time_steps": 1}, "pde.time_steps=1 must be >= 2"),
    ],
)
def test_bad_values_are_rejected_with_one_line(override, message):
    with pytest.raises(UserError, match=message):
        family(**override)


def test_cli_generates_vorticity_trajectories(tmp_path):
    args = ["generate", "pde=navier_stokes", "pde.resolution=16", "pde.time_steps=3"]
    result = run_cli([*args, "pde.record_dt=0.1", "n_train=2", "n_test=1", "name=ns"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with h5py.File(tmp_path / "data" / "ns" / "train.h5") as file:
        assert file["outputs"].shape == (2, 3, 1, 16, 16)
        assert list(file.attrs["input_names"]) == ["forcing"]
        assert (file["solver/iterations"][:] == 20).all()  # 2 intervals of 0.1 / max_dt 0.01
        assert (file["solver/matvecs"][:] == 0).all() and (file["solver/residual"][:] == 0).all()
        assert file["solver/converged"][:].all() and (file["solver/seconds"][:] > 0).all()
