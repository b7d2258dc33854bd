"""The Python API: `surrogate.load` predicts in physical units, `surrogate.open_dataset` reads a
split; the README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, TINY_MODEL, compose_stage
from temporal_data import write_temporal_dataset

import surrogate
from surrogate.errors import UserError
from surrogate.evaluation.run import load_checkpoint
from surrogate.training.run import train

QUICK = ["trainer.max_epochs=1", "loader.num_workers=0", "loader.batch_size=8", *TINY_MODEL]


@pytest.fixture(scope="module")
def steady_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("api_run")
    cfg = compose_stage("train", tiny_dataset, ["data=tiny", *QUICK, f"paths.output_dir={run}"])
    return Path(train(cfg)["run_dir"])


def test_load_predicts_numpy_and_torch_in_physical_units(steady_run, tiny_dataset):
    model = surrogate.load(steady_run)
    assert model.input_names == ("coefficient",) and not model.temporal
    assert "fno: coefficient -> solution, 2D, trained on 16×16" in repr(model)
    with h5py.File(tiny_dataset / "data/tiny/test.h5") as file:
        x, y = file["inputs"][:], file["outputs"][:]
    module = load_checkpoint(steady_run / "checkpoints" / "last.ckpt")
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    batch = model(x)
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-6)
    one = model(x[3])  # no batch axis in, none out
    np.testing.assert_allclose(one, expected[3], rtol=1e-5, atol=1e-6)
    tensor = model(torch.from_numpy(x[:2]).double())
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (2, 1, 16, 16)
    # physical units: the error is that of the model, not of normalised fields
    error = np.linalg.norm(batch - y) / np.linalg.norm(y)
    assert 0 < error < 10
    np.testing.assert_allclose(surrogate.load(steady_run, checkpoint="best")(x).shape, y.shape)


def test_bad_inputs_and_devices_say_what_is_expected(steady_run):
    model = surrogate.load(steady_run / "checkpoints" / "last.ckpt")
    with pytest.raises(ValueError, match=r"inputs have 2 channels; this model takes 1: coeff"):
        model(np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match=r"expected \(1, \*spatial\) or \(batch, 1, \*spatial\)"):
        model(np.zeros(16))
    with pytest.raises(ValueError, match="this model is steady"):
        model(np.zeros((1, 16, 16)), np.zeros((1, 1, 16, 16)))
    with pytest.raises(UserError, match="does not exist"):
        surrogate.load(steady_run / "nope.ckpt")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA device is available"):
            surrogate.load(steady_run, device="cuda")
    assert model.to("cpu").device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_prediction_matches_cpu(steady_run):
    x = np.random.default_rng(0).uniform(1, 12, (4, 1, 16, 16)).astype(np.float32)
    cpu = surrogate.load(steady_run)(x)
    gpu = surrogate.load(steady_run, device="cuda")
    np.testing.assert_allclose(gpu(x), cpu, rtol=1e-4, atol=1e-5)
    assert gpu(torch.from_numpy(x).cuda()).device.type == "cuda"


def test_one_step_and_rollout_of_a_time_dependent_model(tmp_path):
    write_temporal_dataset(tmp_path / "data" / "adv", "advect1d", {"train": 8, "test": 2}, steps=6)
    args = ["data=adv", *QUICK, "temporal.window=2"]
    run = Path(train(compose_stage("train", tmp_path, args))["run_dir"])
    model = surrogate.load(run)
    assert model.temporal and model.window == 2 and model.dt == 0.01
    data = surrogate.open_dataset(tmp_path / "data" / "adv")
    x, states = data.inputs, data.outputs  # (2, 1, 16), (2, 6, 1, 16)
    module = load_checkpoint(run / "checkpoints" / "last.ckpt")
    with torch.no_grad():
        expected = module.unroll(torch.from_numpy(x), torch.from_numpy(states[:, :2]), 4).numpy()
    np.testing.assert_allclose(model.rollout(x, states[:, :2], steps=4), expected, rtol=1e-5)
    one = model.rollout(x[1], states[1, :2], 4)  # no batch axis
    np.testing.assert_allclose(one, expected[1], rtol=1e-5, atol=1e-6)
    # from the last window of the states given: those of a longer history are ignored
    np.testing.assert_allclose(
        model.rollout(x, states[:, :2], 4),
        model.rollout(x, np.concatenate([states[:, 4:], states[:, :2]], 1), 4),
    )
    np.testing.assert_allclose(model(x, states[:, :2]), expected[:, 0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="call it as model\\(x, states\\)"):
        model(x)
    with pytest.raises(ValueError, match="states hold 1 states; the model needs 2"):
        model.rollout(x, states[:, :1], 3)


def test_open_dataset_reads_fields_grid_params_and_solver_stats(tiny_dataset):
    test = surrogate.open_dataset(tiny_dataset / "data" / "tiny")
    assert len(test) == 8 and test.inputs.shape == (8, 1, 16, 16)
    assert test.outputs.shape == (8, 1, 16, 16) and test.times is None
    np.testing.assert_allclose(test.grid["x"], np.arange(1, 17) / 17)
    assert (test.solver["iterations"] >= 0).all() and test.solver["seconds"].shape == (8,)
    assert test.config["pde"]["name"] == "darcy" and test.params == {}
    x, y = test[5]
    np.testing.assert_array_equal(x, test.inputs[5])
    train_split = surrogate.open_dataset(tiny_dataset / "data" / "tiny" / "train.h5")
    assert len(train_split) == 24 and "24 samples of darcy" in repr(train_split)
    with pytest.raises(UserError, match="has no 'valid' split"):
        surrogate.open_dataset(tiny_dataset / "data" / "tiny", split="valid")


def readme_python_example() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys, one_thread):
    """README's Python API example, after its own generate and train commands (tiny sizes)."""
    from surrogate.generation.run import generate

    generate(
        compose_stage(
            "generate", tmp_path, ["pde.resolution=16", "n_train=16", "n_test=4", "name=darcy32"]
        )
    )
    cfg = compose_stage(
        "train",
        tmp_path,
        [
            "data=darcy32",
            *QUICK,
            f"paths.output_dir={tmp_path / 'outputs/train/2026-01-01_00-00-00'}",
        ],
    )
    train(cfg)
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_python_example(), "README.md", "exec"), {})
    assert "relative L2 of the model on the test split:" in capsys.readouterr().out
