"""FNO architecture options (lifting, skips, channel MLPs, grid, spectral initialisation): each
builds, trains, round-trips through a checkpoint and keeps its parameter count exact."""

from __future__ import annotations

import io

import pytest
import torch

from surrogate.models.fno import FNO
from surrogate.models.grid import grid_coordinates
from surrogate.models.layers import ChannelMLP, SoftGating

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"modes": 4, "width": 8, "n_layers": 2, "projection_width": 16}
OPTIONS = {
    "lifting-mlp": {"lifting": "mlp", "lifting_width": 12},
    "skip-soft-gating": {"skip": "soft_gating"},
    "skip-identity": {"skip": "identity"},
    "channel-mlp": {"channel_mlp": True, "channel_mlp_width": 6},
    "channel-mlp-linear-skip": {"channel_mlp": True, "channel_mlp_skip": "linear"},
    "grid-periodic": {"grid": "periodic"},
    "spectral-init-normal": {"spectral_init": "normal"},
    "all": {
        "lifting": "mlp",
        "channel_mlp": True,
        "grid": "periodic",
        "spectral_init": "normal",
    },
}
DEFAULTS = {"lifting_width": 64, "channel_mlp_width": 16, "channel_mlp_skip": "soft_gating"}


def make(option: str, n_dims: int = 2) -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, n_dims, **TINY, **OPTIONS[option])


@pytest.mark.parametrize(
    ("option", "n_dims"), [(option, 2) for option in OPTIONS] + [("all", 1), ("all", 3)]
)
def test_shapes_and_exact_parameter_count(option, n_dims):
    model = make(option, n_dims)
    x = torch.randn(2, 1, *([9] * n_dims))
    assert model(x).shape == x.shape
    params = {**DEFAULTS, **TINY, **OPTIONS[option]}
    assert FNO.parameter_count(params, 1, 1, n_dims) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("option", OPTIONS)
def test_every_parameter_receives_a_gradient(option):
    model = make(option)
    model(torch.randn(2, 1, 12, 12)).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, (option, name)


@pytest.mark.parametrize("option", ["skip-soft-gating", "all"])
def test_overfits_one_small_batch(option):
    model = make(option)
    generator = torch.Generator().manual_seed(1)
    s = torch.arange(1, 13) / 13
    x = torch.zeros(4, 1, 12, 12)
    for k in range(1, 4):
        for m in range(1, 4):
            c = torch.randn(4, 1, 1, 1, generator=generator) / (k * m)
            x += c * torch.sin(k * torch.pi * s)[:, None] * torch.sin(m * torch.pi * s)[None, :]
    y = torch.sin(2 * x) + x.square()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = (model(x) - y).square().mean() / y.square().mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (option, losses[0], losses[-1])


@pytest.mark.parametrize("option", OPTIONS)
def test_checkpoint_round_trip_gives_the_same_outputs(option):
    model = make(option)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)  # another initialisation: the loaded weights must replace all of it
    restored = FNO(1, 1, 2, **TINY, **OPTIONS[option])
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(2, 1, 10, 10)
    torch.testing.assert_close(restored(x), model(x), rtol=0, atol=0)


def test_the_original_architecture_keeps_its_checkpoint_keys():
    """A checkpoint of the original FNO (linear lifting and skips, no channel MLPs) loads."""
    keys = set(FNO(1, 1, 2, **TINY).state_dict())
    assert {"lift.weight", "pointwise.0.weight", "project.0.weight", "project.2.weight"} <= keys
    assert not any(key.startswith("channel_mlp") for key in keys)


def test_periodic_grid_starts_at_zero_and_interior_grid_matches_nodes():
    periodic = grid_coordinates("periodic", (4,))
    torch.testing.assert_close(periodic[0], torch.tensor([0.0, 0.25, 0.5, 0.75]))
    interior = grid_coordinates("interior", (3,))
    torch.testing.assert_close(interior[0], torch.tensor([0.25, 0.5, 0.75]))


def test_soft_gating_starts_as_identity_and_channel_mlp_is_pointwise():
    x = torch.randn(2, 3, 7, 7)
    torch.testing.assert_close(SoftGating(3, 2)(x), x)
    mlp = ChannelMLP(2, 3, 5, 4)
    torch.testing.assert_close(mlp(x)[..., 2, 3], mlp(x[..., 2:3, 3:4])[..., 0, 0])


def test_normal_spectral_init_is_glorot_scaled_and_uniform_is_near_zero():
    normal = FNO(1, 1, 2, **TINY, spectral_init="normal").spectral[0].weight
    uniform = FNO(1, 1, 2, **TINY).spectral[0].weight
    # Complex N(0, 2 / (in + out)): each real part has variance 1 / (in + out) = 1 / 16.
    assert abs(normal.std().item() - 0.25) < 0.02
    assert uniform.min() >= 0 and uniform.max() <= 1 / 64


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"lifting": "deep"}, "lifting='deep'; choose one of: linear, mlp"),
        ({"skip": "gated"}, "skip='gated'; choose one of: linear, soft_gating, identity"),
        ({"grid": "cells"}, "grid='cells'; choose one of: interior, periodic"),
        ({"spectral_init": "zeros"}, "spectral_init='zeros'; choose one of: uniform, normal"),
    ],
)
def test_unknown_choices_are_refused(option, message):
    with pytest.raises(ValueError, match=message):
        FNO(1, 1, 2, **TINY, **option)
