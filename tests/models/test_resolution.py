"""Models on grids other than the one they were trained on: FNO's modes capped to the training
grid, MgNO run at its training grid's spacing, U-Net's resolution warning in eval."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import pytest
import torch
from conftest import compose_stage
from omegaconf import OmegaConf

from surrogate.cli.app import config_dir
from surrogate.cli.eval import _print_metrics
from surrogate.evaluation.run import evaluate, load_checkpoint
from surrogate.models import MODELS, build_model, effective_config
from surrogate.models.grid import resample_nodes
from surrogate.models.mgno import MgNO
from surrogate.training.losses import relative_l2
from surrogate.training.run import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def finer_tiny(tiny_dataset: Path) -> Path:
    """data/tiny_x2: the tiny dataset's 8 test samples on the grid of half its spacing (33x33),
    the same coefficient series (pde.grf.modes=16) evaluated at the finer nodes."""
    from surrogate.generation.run import generate

    overrides = ["pde.resolution=33", "pde.grf.modes=16", "n_train=0", "n_test=8"]
    generate(compose_stage("generate", tiny_dataset, [*overrides, "name=tiny_x2", "seed=0"]))
    return tiny_dataset


def read_test(root: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    with h5py.File(root / "data" / name / "test.h5", "r") as file:
        return torch.from_numpy(file["inputs"][:]), torch.from_numpy(file["outputs"][:])


def fit(root: Path, name: str, *overrides: str) -> dict:
    base = ["data=tiny", "loader.batch_size=8", f"paths.output_dir={root / 'outputs' / name}"]
    return train(compose_stage("train", root, [*base, *overrides]))


def test_every_default_model_builds_and_runs_on_a_16x16_training_grid():
    for name in MODELS:
        cfg = OmegaConf.load(Path(config_dir()) / "model" / f"{name}.yaml")
        model = build_model(cfg, 1, 1, 2, grid=(16, 16))
        for size in (16, 33):
            assert model(torch.randn(2, 1, size, size)).shape == (2, 1, size, size), name


def test_fno_default_modes_are_capped_on_16x16_with_one_log_line(tiny_dataset, caplog):
    with caplog.at_level(logging.INFO, logger="surrogate.train"):
        result = fit(
            tiny_dataset,
            "capped",
            "trainer.max_epochs=1",
            "model=fno",
            "model.width=8",
            "model.padding=0",
        )
    capped = [r.getMessage() for r in caplog.records if "capped from" in r.getMessage()]
    assert capped == [
        "fno on the 16x16 training grid: modes=8 (capped from 12: a 16x16 grid holds 8 Fourier modes)"
    ]
    assert any("model fno: modes=8, width=8" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("recipe: ") for r in caplog.records)
    module = load_checkpoint(Path(result["last_checkpoint"]))  # rebuilds with the capped modes
    assert module.model.spectral[0].modes == (8, 8)


def test_resampling_keeps_shared_nodes_and_reproduces_linear_fields():
    coarse = torch.arange(1, 17) / 17
    field = (2 * coarse[:, None] - 3 * coarse[None, :] + 1)[None, None]
    fine = resample_nodes(field, (33, 33))
    torch.testing.assert_close(fine[..., 1::2, 1::2], field)
    nodes = torch.arange(1, 34) / 34
    torch.testing.assert_close(fine, (2 * nodes[:, None] - 3 * nodes[None, :] + 1)[None, None])
    torch.testing.assert_close(resample_nodes(fine, (16, 16)), field)


def test_mgno_on_a_finer_grid_equals_its_training_grid_prediction_at_the_shared_nodes():
    torch.manual_seed(0)
    model = MgNO(1, 1, 2, width=8, n_layers=2, n_levels=3, grid=(16, 16))
    x = torch.randn(2, 1, 33, 33)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[..., 1::2, 1::2], model(x[..., 1::2, 1::2]))
        assert model(torch.randn(1, 1, 24, 24)).shape == (1, 1, 24, 24)


def test_mgno_error_at_twice_the_resolution_stays_within_twice_its_own(finer_tiny):
    mgno = ["model=mgno", "model.width=8", "model.n_layers=2", "model.n_levels=3"]
    result = fit(finer_tiny, "mgno_x2", *mgno, "trainer.max_epochs=15", "optim.lr=5e-3")
    module = load_checkpoint(Path(result["last_checkpoint"]))
    errors = {}
    with torch.no_grad():
        for name in ("tiny", "tiny_x2"):
            x, y = read_test(finer_tiny, name)
            errors[name] = relative_l2(module(x), y).mean().item()
        module.model.grid = None  # the paper's MgNO: the same stencils on the finer spacing
        x, y = read_test(finer_tiny, "tiny_x2")
        naive = relative_l2(module(x), y).mean().item()
    assert errors["tiny"] < 0.3, errors
    assert errors["tiny_x2"] < 2 * errors["tiny"], errors
    assert naive > errors["tiny_x2"], (naive, errors)


def test_eval_warns_in_table_and_report_when_a_unet_sees_another_grid(finer_tiny, capsys):
    unet = ["model=unet", "model.width=8", "model.channel_multipliers=[1,2]"]
    result = fit(finer_tiny, "unet", *unet, "trainer.max_epochs=1")
    for data, warned in (("tiny", False), ("tiny_x2", True)):
        run_dir = finer_tiny / "outputs" / f"eval_unet_{data}"
        cfg = compose_stage(
            "eval",
            finer_tiny,
            [
                f"ckpt={result['last_checkpoint']}",
                f"data={data}",
                "figures.enabled=false",
                f"paths.output_dir={run_dir}",
            ],
        )
        metrics = evaluate(cfg)
        report = (run_dir / "report.md").read_text()
        _print_metrics(metrics, str(run_dir))
        table = capsys.readouterr().out
        assert ("resolution-dependent" in report) is warned
        assert ("warning" in metrics) is warned and ("warning:" in table) is warned
    assert "unet is resolution-dependent: trained on 16x16, evaluated on 33x33" in report


def test_effective_config_lists_every_hyper_parameter():
    params, notes = effective_config({"name": "mgno", "width": 8}, (16, 16))
    assert params == {
        "name": "mgno",
        "width": 8,
        "n_layers": 4,
        "n_levels": 4,
        "smoothing": 1,
        "padding_mode": "zeros",
        "grid": [16, 16],
    }
    assert notes == ["V-cycles at the 16x16 grid's spacing (other grids are resampled to it)"]
