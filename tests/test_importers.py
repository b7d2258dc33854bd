"""Importers: small synthetic PDEBench and neuraloperator files become trainable datasets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from surrogate.data.importers import import_dataset
from surrogate.data.reader import FieldDataset, read_split_info
from surrogate.errors import UserError


def make_pdebench(path: Path, n: int = 10, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    nu = rng.uniform(1, 12, (n, size, size)).astype(np.float32)
    tensor = rng.normal(size=(n, 1, size, size)).astype(np.float32)
    with h5py.File(path, "w") as file:
        file["nu"], file["tensor"] = nu, tensor
        file["x-coordinate"] = (np.arange(size) + 0.5) / size
        file["y-coordinate"] = (np.arange(size) + 0.5) / size
    return nu, tensor


def test_pdebench_darcy_becomes_train_and_test_splits_with_our_darcy_names(tmp_path):
    nu, tensor = make_pdebench(tmp_path / "darcy.h5")
    sizes = import_dataset("pdebench", tmp_path / "darcy.h5", "pb", tmp_path / "data", n_test=3)
    assert sizes == {"train": 7, "test": 3}
    train = read_split_info(tmp_path / "data" / "pb", "train")
    assert (train.input_names, train.output_names) == (("coefficient",), ("solution",))
    assert train.spatial_shape == (12, 12) and train.pde == "darcy"
    x, y = FieldDataset(tmp_path / "data" / "pb" / "test.h5")[1]
    np.testing.assert_array_equal(x.numpy(), nu[8][None])
    np.testing.assert_array_equal(y.numpy(), tensor[8])
    with h5py.File(tmp_path / "data" / "pb" / "train.h5") as file:
        np.testing.assert_allclose(file["grid/x"][:], (np.arange(12) + 0.5) / 12)


def test_neuraloperator_pt_with_and_without_channel_axis(tmp_path):
    x, y = torch.randn(6, 16, 16), torch.randn(6, 2, 16, 16)
    torch.save({"x": x, "y": y}, tmp_path / "no.pt")
    sizes = import_dataset("neuraloperator", tmp_path / "no.pt", "no", tmp_path / "data", n_test=2)
    assert sizes == {"train": 4, "test": 2}
    info = read_split_info(tmp_path / "data" / "no", "train")
    assert (info.input_names, info.output_names) == (("x0",), ("y0", "y1"))
    first_x, first_y = FieldDataset(info.path)[0]
    torch.testing.assert_close(first_x, x[0][None])
    torch.testing.assert_close(first_y, y[0])


def test_bad_files_and_existing_datasets_are_user_errors(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file["u"] = np.zeros((2, 4, 4))
    with pytest.raises(UserError, match="needs datasets 'nu' and 'tensor'"):
        import_dataset("pdebench", tmp_path / "other.h5", "a", tmp_path / "data")
    torch.save({"x": torch.zeros(3, 4, 4)}, tmp_path / "x_only.pt")
    with pytest.raises(UserError, match="needs a dict with 'x', 'y'"):
        import_dataset("neuraloperator", tmp_path / "x_only.pt", "b", tmp_path / "data")
    make_pdebench(tmp_path / "darcy.h5")
    import_dataset("pdebench", tmp_path / "darcy.h5", "c", tmp_path / "data")
    with pytest.raises(UserError, match="exists; choose another name= or pass overwrite=true"):
        import_dataset("pdebench", tmp_path / "darcy.h5", "c", tmp_path / "data")
    assert import_dataset("pdebench", tmp_path / "darcy.h5", "c", tmp_path / "data", 5, True) == {
        "train": 5,
        "test": 5,
    }


def test_command_line_imports_and_reports_errors_in_one_line(tmp_path):
    make_pdebench(tmp_path / "darcy.h5")
    command = [sys.executable, "-m", "surrogate.data.importers", "pdebench", "darcy.h5"]
    done = subprocess.run(
        [*command, "name=pb", "n_test=2"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "8 train, 2 test samples" in done.stdout
    assert (tmp_path / "data" / "pb" / "test.h5").is_file()
    failed = subprocess.run(
        [*command, "name=pb2", "n_test=x"], cwd=tmp_path, capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert failed.stderr.strip() == "error: n_test='x' must be a non-negative integer"
