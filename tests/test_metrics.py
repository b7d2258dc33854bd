"""Metrics and normalisation against hand-computed values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from surrogate.data.normalizer import ChannelNormalizer, fit_statistics
from surrogate.evaluation.metrics import max_abs_error, rmse
from surrogate.training.losses import relative_l2


def test_relative_l2_by_hand():
    target = torch.tensor([[[3.0, 4.0]], [[1.0, 0.0]]])  # norms 5 and 1
    pred = torch.tensor([[[3.0, 1.0]], [[1.0, 2.0]]])  # errors (0, 3) and (0, 2)
    np.testing.assert_allclose(relative_l2(pred, target).numpy(), [3 / 5, 2.0])


def test_rmse_and_max_error_by_hand():
    target = torch.zeros(1, 1, 2, 2)
    pred = torch.tensor([[[[1.0, -1.0], [3.0, 1.0]]]])
    assert rmse(pred, target).item() == pytest.approx(np.sqrt((1 + 1 + 9 + 1) / 4))
    assert max_abs_error(pred, target).item() == 3.0


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
