"""Model hyper-parameters and Lightning's trainer settings are refused in one line before any
work: ranges and types from the config, model sizes from exact parameter counts, devices this
machine does not have."""

from __future__ import annotations

import pytest
import torch
from conftest import run_cli
from omegaconf import OmegaConf

import surrogate.model_checks as model_checks
from surrogate.checks import check_train
from surrogate.errors import UserError
from surrogate.model_checks import check_model_size, parameter_count
from surrogate.models import build_model
from surrogate.training.trainer_config import (
    check_trainer_devices,
    lightning_configuration_errors,
)

VARIANTS = {
    "fno": {},
    "tfno": {"factorization": "cp"},
    "fno-mlps": {"lifting": "mlp", "channel_mlp": True, "skip": "soft_gating"},
    "tfno-mlps": {"factorization": "cp", "channel_mlp": True, "channel_mlp_skip": "linear"},
    "mgno": {},
    "mgno-smoothing": {"smoothing": 2},
    "unet": {},
    "unet-blocks": {"blocks_per_level": 2, "channel_multipliers": [1, 3]},
    "deeponet": {},
    "galerkin": {},
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("dims", "c_in", "c_out"), [(1, 1, 1), (2, 3, 1), (3, 1, 2)])
def test_the_parameter_count_is_exact(variant, dims, c_in, c_out):
    name = variant.split("-")[0].replace("tfno", "fno")
    model = {
        **OmegaConf.to_container(OmegaConf.load(f"conf/model/{name}.yaml")),
        **VARIANTS[variant],
    }
    built = build_model(dict(model), c_in, c_out, dims)
    assert parameter_count(model, c_in, c_out, dims) == sum(p.numel() for p in built.parameters())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.width=-3"], "model.width=-3 must be >= 1"),
        (["model.modes=0"], "model.modes=0 must be >= 1"),
        (["model.n_layers=2.5"], "model.n_layers=2.5 must be an integer"),
        (["model.padding=2"], "model.padding=2 must be <= 1.0"),
        (
            ["model.factorization=tucker"],
            "model.factorization='tucker' is unknown; choose one of: cp",
        ),
        (["model.rank=0"], "model.rank=0 must be >= 1"),
        (["model.lifting=deep"], "model.lifting='deep' is unknown; choose one of: linear, mlp"),
        (["model.skip=gated"], "model.skip='gated' is unknown"),
        (["model.channel_mlp=2"], "model.channel_mlp=2 must be true or false"),
        (["model.channel_mlp_width=0"], "model.channel_mlp_width=0 must be >= 1"),
        (["model.grid=cells"], "model.grid='cells' is unknown; choose one of: interior, periodic"),
        (["model.spectral_init=zeros"], "model.spectral_init='zeros' is unknown"),
        (["model=mgno", "model.n_levels=0"], "model.n_levels=0 must be >= 1"),
        (["model=mgno", "model.padding_mode=wrap"], "model.padding_mode='wrap' is unknown"),
        (["model=unet", "model.groups=0"], "model.groups=0 must be >= 1"),
        (
            ["model=unet", "model.channel_multipliers=[]"],
            "model.channel_multipliers=[] must be a non-empty list",
        ),
        (
            ["model=unet", "model.channel_multipliers=[1,0]"],
            "model.channel_multipliers.1=0 must be >= 1",
        ),
        (["model=deeponet", "model.n_sensors=0"], "model.n_sensors=0 must be >= 1"),
        (["model=galerkin", "model.n_heads=0"], "model.n_heads=0 must be >= 1"),
        (
            ["model=galerkin", "model.width=30"],
            "model.width=30 must be divisible by model.n_heads=4 (each head gets width / n_heads "
            "features), e.g. model.width=32",
        ),
        (["trainer.accelerator=quantum"], "trainer.accelerator='quantum' is unknown"),
        (["trainer.devices=0"], "trainer.devices=0 must be auto, a number of devices >= 1, or -1"),
        (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps=0 must be >= 1"),
        (["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val=-1 must be >= 0.0"),
        (["trainer=ddp", "trainer.num_nodes=0"], "trainer.num_nodes=0 must be >= 1"),
    ],
)
def test_bad_hyper_parameters_are_refused_by_the_config_checks(make_cfg, overrides, message):
    with pytest.raises(UserError) as refused:
        check_train(make_cfg("train", "data=x", *overrides))
    assert str(refused.value).startswith(message)


def test_a_model_too_large_to_train_is_refused_before_it_is_built(monkeypatch):
    model = {**OmegaConf.to_container(OmegaConf.load("conf/model/fno.yaml")), "width": 100000}
    with pytest.raises(UserError, match=r"has 2\.31e\+13 parameters: training it needs about"):
        check_model_size(model, 1, 1, 2)
    model["width"] = 32
    check_model_size(model, 1, 1, 2)
    monkeypatch.setattr(model_checks, "available_memory", lambda: 2**20)  # 1 MiB free
    with pytest.raises(
        UserError, match=r"2\.37e\+06 parameters: training it needs about 36\.1 MiB"
    ):
        check_model_size(model, 1, 1, 2)


no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


@no_gpu
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["trainer.accelerator=gpu", "trainer.devices=4"],
            "trainer.accelerator=gpu needs a CUDA GPU and none is available; use "
            "trainer.accelerator=cpu (or auto)",
        ),
        (["trainer.devices=-1"], "trainer.devices=-1 (all GPUs) needs a GPU"),
        (
            ["trainer=ddp", "trainer.strategy=ddp_magic"],
            "trainer.strategy=ddp_magic is unknown to Lightning",
        ),
        (
            ["+trainer.gradient_clip_valu=1"],
            "trainer.gradient_clip_valu is not an argument of lightning.Trainer",
        ),
    ],
)
def test_trainer_settings_this_machine_or_lightning_cannot_run_are_refused(
    make_cfg, overrides, message
):
    cfg = make_cfg("train", "data=x", *overrides)
    with pytest.raises(UserError) as refused:
        check_train(cfg)
        check_trainer_devices(cfg, OmegaConf.to_container(cfg.trainer, resolve=True))
    assert str(refused.value).startswith(message)


def test_more_cpu_processes_than_cores_are_refused(make_cfg):
    cfg = make_cfg("train", "data=x", "trainer.accelerator=cpu", "trainer.devices=1000")
    with pytest.raises(UserError, match=r"trainer.devices=1000 asks for 1000 devices and this"):
        check_trainer_devices(cfg, OmegaConf.to_container(cfg.trainer, resolve=True))


def test_lightnings_own_configuration_error_is_one_line():
    from lightning.pytorch.utilities.exceptions import MisconfigurationException

    expected = r"^Lightning cannot run this trainer configuration: a b$"
    with pytest.raises(UserError, match=expected), lightning_configuration_errors():
        raise MisconfigurationException("a\n   b")


@no_gpu
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.width=-3"], "error: model.width=-3 must be >= 1"),
        (["model.modes=0"], "error: model.modes=0 must be >= 1"),
        (
            ["trainer.accelerator=gpu", "trainer.devices=4"],
            "error: trainer.accelerator=gpu needs a CUDA GPU and none is available",
        ),
    ],
)
def test_the_issues_training_commands_end_in_one_line(tiny_dataset, tmp_path, overrides, message):
    args = ["train", "data=tiny", f"paths.data_dir={tiny_dataset / 'data'}", "model=fno"]
    result = run_cli([*args, *overrides], tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message)
