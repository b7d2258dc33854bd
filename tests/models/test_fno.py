"""FNO: shapes in 1D/2D/3D, gradients, overfitting a batch, other resolutions."""

from __future__ import annotations

import pytest
import torch

from surrogate.models.fno import FNO, CPSpectralConv, SpectralConv

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


def test_evaluates_on_finer_and_coarser_grids():
    model = FNO(1, 1, 2, modes=6, width=8, n_layers=2, projection_width=8, padding=0.0)
    for size in (40, 8, 5):
        out = model(torch.randn(1, 1, size, size))
        assert out.shape == (1, 1, size, size) and torch.isfinite(out).all()


@pytest.mark.parametrize("factorization", [None, "cp"])
def test_a_coarse_grid_uses_the_lowest_modes_it_holds_with_their_own_weights(factorization):
    """On 8x8, 6 modes per axis become 4 (8 // 2) and 5 on the rfft axis: the block of
    frequencies 0..3 and -4..-1 must use the weights of exactly those frequencies."""
    torch.manual_seed(0)
    kwargs = {"rank": 3} if factorization else {}
    wide = (CPSpectralConv if factorization else SpectralConv)(2, 3, (6, 6), **kwargs)
    x = torch.randn(2, 2, 8, 8)
    spectrum = torch.fft.rfftn(x, dim=(-2, -1), norm="ortho")
    expected = torch.zeros(2, 3, 8, 5, dtype=spectrum.dtype)
    for rows, weight_rows, corner in ((slice(0, 4), slice(0, 4), 0), (slice(4, 8), slice(2, 6), 1)):
        weight = wide.dense_weight(corner)[:, :, weight_rows, :5]
        expected[:, :, rows, :5] = torch.einsum("bixy,ioxy->boxy", spectrum[:, :, rows, :5], weight)
    direct = torch.fft.irfftn(expected, s=(8, 8), dim=(-2, -1), norm="ortho")
    torch.testing.assert_close(wide(x), direct)


def test_modes_are_capped_to_what_the_training_grid_holds_with_a_note():
    params = {"modes": 12, "padding": 0.0}
    capped, notes = FNO.fit_to_grid(params, (16, 16))
    assert capped["modes"] == 8 and notes == [
        "modes=8 (capped from 12: a 16x16 grid holds 8 Fourier modes)"
    ]
    assert FNO.fit_to_grid({"modes": 12, "padding": 0.1}, (16, 16))[0]["modes"] == 9  # 18 points
    assert FNO.fit_to_grid(params, (32, 32)) == (params, [])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("factorization", [None, "cp"])
def test_ffts_run_in_float32_under_autocast_and_the_result_is_cast_back(
    monkeypatch, dtype, factorization
):
    seen = []
    rfftn = torch.fft.rfftn

    def recording_rfftn(x, *args, **kwargs):
        seen.append(x.dtype)
        return rfftn(x, *args, **kwargs)

    monkeypatch.setattr(torch.fft, "rfftn", recording_rfftn)
    model = FNO(
        1, 1, 2, modes=4, width=8, n_layers=2, projection_width=8, factorization=factorization
    )
    x = torch.randn(2, 1, 12, 12)
    with torch.autocast("cpu", dtype=dtype):
        out = model(x)
        inner = model.spectral[0](torch.randn(2, 8, 12, 12, dtype=dtype))
    assert seen and set(seen) == {torch.float32}
    assert inner.dtype == dtype and out.dtype == dtype and torch.isfinite(out).all()
    out.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


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
