"""Metrics and normalisation against hand-computed values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from surrogate.evaluation.metrics import (
    LABELS,
    boundary_rmse,
    distribution,
    fourier_rmse,
    max_abs_error,
    nrmse,
    per_sample_metrics,
    rmse,
)
from surrogate.loading.normalizer import ChannelNormalizer, fit_statistics
from surrogate.training.losses import relative_h1, relative_l2


def test_relative_l2_by_hand():
    target = torch.tensor([[[3.0, 4.0]], [[1.0, 0.0]]])  # norms 5 and 1
    pred = torch.tensor([[[3.0, 1.0]], [[1.0, 2.0]]])  # errors (0, 3) and (0, 2)
    np.testing.assert_allclose(relative_l2(pred, target).numpy(), [3 / 5, 2.0])


def test_rmse_and_max_error_by_hand():
    target = torch.zeros(1, 1, 2, 2)
    pred = torch.tensor([[[[1.0, -1.0], [3.0, 1.0]]]])
    assert rmse(pred, target).item() == pytest.approx(np.sqrt((1 + 1 + 9 + 1) / 4))
    assert max_abs_error(pred, target).item() == 3.0


def test_rmse_nrmse_and_max_error_average_over_channels():
    target = torch.stack([torch.full((4, 4), 2.0), torch.full((4, 4), -4.0)])[None]
    error = torch.stack([torch.full((4, 4), 1.0), torch.full((4, 4), 3.0)])[None]
    error[0, 1, 0, 0] = -5.0  # channel 1: one point off by 5, the rest by 3
    pred = target + error
    rms_1 = np.sqrt((15 * 9 + 25) / 16)
    assert rmse(pred, target).item() == pytest.approx((1.0 + rms_1) / 2)
    assert nrmse(pred, target).item() == pytest.approx((1.0 / 2.0 + rms_1 / 4.0) / 2)
    assert max_abs_error(pred, target).item() == pytest.approx((1.0 + 5.0) / 2)


def test_boundary_rmse_sees_only_the_boundary_faces():
    target = torch.zeros(1, 1, 4, 5)
    interior = target.clone()
    interior[..., 1:-1, 1:-1] = 7.0
    assert boundary_rmse(interior, target).item() == 0.0
    ring = torch.ones(1, 1, 4, 5)
    ring[..., 1:-1, 1:-1] = 0.0
    assert boundary_rmse(ring, target).item() == pytest.approx(1.0)
    corner = target.clone()
    corner[0, 0, 0, 0] = 2.0  # on two faces, of 2*5 + 2*4 face points
    assert boundary_rmse(corner, target).item() == pytest.approx(np.sqrt(2 * 4 / 18))
    line = torch.tensor([[[3.0, 9.0, 9.0, 4.0]]])
    assert boundary_rmse(line, torch.zeros_like(line)).item() == pytest.approx(np.sqrt(25 / 2))
    cube = torch.zeros(1, 1, 3, 4, 5)
    cube[0, 0, 0, 0, 0] = 1.0  # on three faces, of 2 * (4*5 + 3*5 + 3*4) face points
    assert boundary_rmse(cube, torch.zeros_like(cube)).item() == pytest.approx(np.sqrt(3 / 94))


def _mode(n: int, *wavenumbers: int) -> torch.Tensor:
    """cos(2 pi k.x) on the periodic grid x = i / n of the unit cube, shape (1, 1, n, ...)."""
    axes = np.meshgrid(*(np.arange(n) / n for _ in wavenumbers), indexing="ij")
    phase = sum(k * x for k, x in zip(wavenumbers, axes))
    return torch.from_numpy(np.cos(2 * np.pi * phase))[None, None]


@pytest.mark.parametrize(
    ("wavenumbers", "band", "shells_in_band"),
    [
        ((3, 0), "low", 4),  # |k| = 3: shell 3 of [0, 4)
        ((5, 6), "mid", 8),  # |k| = 7.8: shell 7 of [4, 12)
        ((10, 9), "high", 4),  # |k| = 13.5: shell 13 of [12, 16) on 32 points
    ],
)
def test_fourier_rmse_puts_a_single_mode_in_its_band(wavenumbers, band, shells_in_band):
    error = _mode(32, *wavenumbers)
    bands = fourier_rmse(error, torch.zeros_like(error), lengths=(1.0, 1.0))
    # |FFT| of cos is n^2 / 2 at +k (the quadrant keeps it, -k falls outside); * L^2 / n^2.
    expected = {name: 0.0 for name in bands}
    expected[band] = 0.5 / shells_in_band
    assert {name: value.item() for name, value in bands.items()} == pytest.approx(expected)


def test_fourier_rmse_in_1d_and_3d_and_its_domain_scaling():
    line = _mode(32, 5)  # one-sided spectrum: |F_5| = 16, * L / n = 0.5, mid band of 8 shells
    bands = fourier_rmse(line, torch.zeros_like(line), lengths=(1.0,))
    assert bands["mid"].item() == pytest.approx(0.5 / 8)
    assert bands["low"].item() == pytest.approx(0.0, abs=1e-12)
    cube = _mode(8, 1, 1, 1)  # |k| = 1.7: shell 1; only 4 shells on 8 points: no mid, no high
    bands = fourier_rmse(cube, torch.zeros_like(cube), lengths=(2.0, 2.0, 2.0))
    assert bands["low"].item() == pytest.approx(8 * 0.5 / 4)  # L^3 = 8
    assert np.isnan(bands["mid"].item()) and np.isnan(bands["high"].item())


def test_fourier_rmse_keeps_pdebench_quadrant_and_misses_a_mode_outside_it():
    error = _mode(16, 3, -2)  # at (3, -2) and (-3, 2): neither has both indices in [0, 8)
    bands = fourier_rmse(error, torch.zeros_like(error), lengths=(1.0, 1.0))
    assert bands["low"].item() < 1e-12 and bands["mid"].item() < 1e-12


def test_relative_h1_uses_the_given_grid_spacing():
    h = 0.1
    x = h * torch.arange(1, 9, dtype=torch.float64)
    target = (2.0 * x)[None, None]  # derivative 2
    pred = target + 3.0  # error 3, derivative 0; differences are exact on linear fields
    expected = np.sqrt(8 * 9) / np.sqrt(((2 * x) ** 2).sum() + 8 * 4)
    assert relative_h1(pred, target, spacing=[h]).item() == pytest.approx(expected.item())
    default = np.sqrt(8 * 9) / np.sqrt(((2 * x) ** 2).sum() + 8 * (2 * h * 9) ** 2)  # h = 1/9
    assert relative_h1(pred, target).item() == pytest.approx(default.item())


def test_per_sample_metrics_returns_every_metric_per_sample():
    target = torch.randn(3, 2, 6, 6, dtype=torch.float64)
    values = per_sample_metrics(target + 0.1, target, spacing=(0.2, 0.2))
    assert set(values) == set(LABELS)
    assert all(value.shape == (3,) for value in values.values())
    torch.testing.assert_close(values["rmse"], torch.full((3,), 0.1, dtype=torch.float64))
    assert values["rel_l2"].tolist() == relative_l2(target + 0.1, target).tolist()


def test_distribution_and_undefined_values():
    stats = distribution(np.array([1.0, 2.0, 6.0]))
    assert stats == pytest.approx(
        {"mean": 3.0, "median": 2.0, "std": np.std([1, 2, 6]), "min": 1.0, "max": 6.0}
    )
    assert distribution(np.array([1.0, np.nan])) == dict.fromkeys(stats)


def test_fit_statistics_streams_to_the_numpy_answer(tmp_path):
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(10, 2, 5, 5)).astype(np.float32)
    with h5py.File(tmp_path / "f.h5", "w") as file:
        file["x"] = data
    indices = np.array([7, 1, 3, 9, 0])
    stats = fit_statistics(tmp_path / "f.h5", "x", indices, block=2)
    chosen = data[np.sort(indices)].astype(np.float64)
    np.testing.assert_allclose(stats["mean"], chosen.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(stats["std"], chosen.std(axis=(0, 2, 3)), rtol=1e-8)
    np.testing.assert_allclose(stats["field_mean"], chosen.mean(axis=0), rtol=1e-10)


def test_normalizer_round_trip():
    normalizer = ChannelNormalizer(2)
    normalizer.set(np.array([1.0, -2.0]), np.array([2.0, 0.5]))
    x = torch.randn(3, 2, 4, 4)
    torch.testing.assert_close(normalizer.decode(normalizer.encode(x)), x)
    encoded = normalizer.encode(torch.full((1, 2, 1), 3.0))
    torch.testing.assert_close(encoded.flatten(), torch.tensor([1.0, 10.0]))
