"""FNO: shapes in 1D/2D/3D, gradients, overfitting a batch, other resolutions."""

from __future__ import annotations

import pytest
import torch

from surrogate.models.fno import FNO, SpectralConv

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_output_shape_in_each_dimension(n_dims):
    model = FNO(2, 3, n_dims, modes=3, width=6, n_layers=2, projection_width=8)
    x = torch.randn(4, 2, *([10] * n_dims))
    assert model(x).shape == (4, 3, *([10] * n_dims))


def test_every_parameter_receives_a_gradient():
    model = FNO(1, 1, 2, modes=4, width=8, n_layers=2, projection_width=8)
    model(torch.randn(2, 1, 12, 12)).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_spectral_conv_keeps_only_low_modes():
    """A pure high-frequency input is annihilated; a low one passes."""
    conv = SpectralConv(1, 1, (2, 2))
    grid = torch.arange(16.0) / 16 * 2 * torch.pi
    high = torch.cos(6 * grid)[:, None] * torch.cos(6 * grid)[None, :]
    low = torch.cos(grid)[:, None] * torch.cos(grid)[None, :]
    assert conv(high[None, None]).abs().max() < 1e-5
    assert conv(low[None, None]).abs().max() > 1e-4


def test_overfits_one_small_batch():
    torch.manual_seed(0)
    model = FNO(1, 1, 2, modes=4, width=16, n_layers=2, projection_width=32)
    x = torch.randn(4, 1, 16, 16)
    y = torch.sin(x) + x.roll(1, dims=-1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        optimizer.zero_grad()
        loss = (model(x) - y).square().mean() / y.square().mean()
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.02 * first


def test_evaluates_on_finer_grids_and_rejects_too_coarse_ones():
    model = FNO(1, 1, 2, modes=6, width=8, n_layers=2, projection_width=8, padding=0.0)
    assert model(torch.randn(1, 1, 40, 40)).shape == (1, 1, 40, 40)
    with pytest.raises(ValueError, match="too coarse"):
        model(torch.randn(1, 1, 8, 8))


def test_padding_reaches_a_size_whose_fft_is_fast():
    """64 points with 10 % padding would be 71, a prime; the FFT then costs 3-4x more."""
    from surrogate.models.fno import fast_fft_size

    assert [fast_fft_size(n) for n in (1, 11, 36, 71, 77, 94, 97, 121)] == [
        1,
        12,
        36,
        72,
        80,
        96,
        98,
        125,
    ]
