"""Every registered operator: shapes in 1D/2D/3D, gradients, overfitting a batch, other grids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from surrogate.cli.app import config_dir
from surrogate.errors import UserError
from surrogate.models import MODELS, build_model
from surrogate.models.deeponet import sample_at
from surrogate.models.fno import FNO

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "fno": {"name": "fno", "modes": 3, "width": 8, "n_layers": 2, "projection_width": 8},
    "tfno": {
        "name": "fno",
        "modes": 3,
        "width": 8,
        "n_layers": 2,
        "projection_width": 8,
        "factorization": "cp",
        "rank": 4,
    },
    "mgno": {"name": "mgno", "width": 8, "n_layers": 2, "n_levels": 3, "smoothing": 2},
    "unet": {"name": "unet", "width": 8, "channel_multipliers": [1, 2], "groups": 4},
    "deeponet": {
        "name": "deeponet",
        "n_sensors": 6,
        "basis": 8,
        "branch_width": 16,
        "branch_layers": 2,
        "trunk_width": 16,
        "trunk_layers": 2,
    },
    "galerkin": {"name": "galerkin", "width": 16, "n_layers": 2, "n_heads": 2, "ffn_width": 16},
}
# Sizes per dimension; odd and non-power-of-two ones where the model must pad, crop or interpolate.
SIZES = {1: (16, 21), 2: (16, 11), 3: (8,)}


def make(key: str, n_dims: int = 2, in_channels: int = 1, out_channels: int = 1):
    torch.manual_seed(0)
    return build_model(dict(TINY[key]), in_channels, out_channels, n_dims)


def test_every_registered_model_has_a_config_whose_defaults_build_and_run():
    model_dir = Path(config_dir()) / "model"
    assert {path.stem for path in model_dir.glob("*.yaml")} == set(MODELS)
    for name in MODELS:
        cfg = OmegaConf.load(model_dir / f"{name}.yaml")
        model = build_model(cfg, 1, 1, 2)
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 1, 32, 32), name


@pytest.mark.parametrize("key", TINY)
@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_output_shape_in_each_dimension(key, n_dims):
    model = make(key, n_dims, in_channels=2, out_channels=3)
    for size in SIZES[n_dims]:
        x = torch.randn(2, 2, *([size] * n_dims))
        assert model(x).shape == (2, 3, *([size] * n_dims)), (key, size)


@pytest.mark.parametrize("key", TINY)
def test_every_parameter_receives_a_gradient(key):
    model = make(key)
    model(torch.randn(2, 1, 12, 12)).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, (key, name)


def smooth_batch(n: int = 4, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs: random sums of low sine modes; outputs: a pointwise nonlinear map of them."""
    generator = torch.Generator().manual_seed(1)
    s = torch.arange(1, size + 1) / (size + 1)
    x = torch.zeros(n, 1, size, size)
    for k in range(1, 4):
        for m in range(1, 4):
            c = torch.randn(n, 1, 1, 1, generator=generator) / (k * m)
            x += c * torch.sin(k * torch.pi * s)[:, None] * torch.sin(m * torch.pi * s)[None, :]
    return x, torch.sin(2 * x) + x.square()


@pytest.mark.parametrize("key", TINY)
def test_overfits_one_small_batch(key):
    model = make(key)
    x, y = smooth_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = (model(x) - y).square().mean() / y.square().mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (key, losses[0], losses[-1])


@pytest.mark.parametrize("key", ["fno", "tfno", "mgno"])
def test_evaluates_on_finer_grids_than_trained(key):
    model = make(key)
    for size in (32, 33, 48):
        out = model(torch.randn(1, 1, size, size))
        assert out.shape == (1, 1, size, size) and torch.isfinite(out).all()


def test_cp_factorisation_has_far_fewer_parameters():
    full = FNO(1, 1, 2, modes=12, width=32)
    factorised = FNO(1, 1, 2, modes=12, width=32, factorization="cp", rank=16)
    assert sum(p.numel() for p in factorised.parameters()) < 0.1 * sum(
        p.numel() for p in full.parameters()
    )


def test_deeponet_sensors_are_the_same_physical_points_at_every_resolution():
    sensors = torch.tensor([0.2, 0.5, 0.8])
    for n in (9, 16, 31):
        nodes = torch.arange(1, n + 1, dtype=torch.float32) / (n + 1)
        torch.testing.assert_close(sample_at(nodes.view(1, 1, n), sensors), sensors.view(1, 1, 3))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"name": "nope"}, "model=nope is unknown; choose one of: fno, mgno"),
        ({"name": "mgno", "width": 0}, "model=mgno: width, n_layers"),
        ({"name": "mgno", "padding_mode": "mirror"}, "padding_mode='mirror'"),
        ({"name": "galerkin", "width": 10, "n_heads": 4}, "divisible by n_heads"),
        ({"name": "fno", "factorization": "tucker"}, "factorization='tucker'; choose null or cp"),
        ({"name": "unet", "depth": 3}, "model=unet: .*unexpected keyword argument 'depth'"),
    ],
)
def test_bad_model_settings_are_user_errors(cfg, message):
    with pytest.raises(UserError, match=message):
        build_model(cfg, 1, 1, 2)
