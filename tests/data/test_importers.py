"""`surrogate import`: small files written in each tool's real layout become trainable datasets."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import run_cli

from surrogate.data import importers
from surrogate.data.formats.source import ReadOptions
from surrogate.data.importers import import_files, split_named_by
from surrogate.data.reader import FieldDataset, read_split_info
from surrogate.errors import UserError

RNG = np.random.default_rng(0)


def make_pdebench_darcy(path: Path, n: int = 10, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    nu = RNG.uniform(1, 12, (n, size, size)).astype(np.float32)
    tensor = RNG.normal(size=(n, 1, size, size)).astype(np.float32)
    with h5py.File(path, "w") as file:
        file["nu"], file["tensor"] = nu, tensor
        file["x-coordinate"] = (np.arange(size) + 0.5) / size
        file["y-coordinate"] = (np.arange(size) + 0.5) / size
    return nu, tensor


def make_neuraloperator_darcy(path: Path, n: int, size: int = 16) -> dict[str, torch.Tensor]:
    """As darcy_train_16.pt: x (N, 16, 16) bool, y (N, 16, 16) float32, no channel axis."""
    data = {"x": torch.rand(n, size, size) > 0.5, "y": torch.randn(n, size, size)}
    torch.save(data, path)
    return data


def test_split_is_read_from_file_names_and_folders():
    assert split_named_by(Path("darcy_train_16.pt")) == "train"
    assert split_named_by(Path("darcy_test_32.pt")) == "test"
    assert split_named_by(Path("2D_DarcyFlow_beta1.0_Train.hdf5")) == "train"
    assert split_named_by(Path("data/valid/shear_flow_Re_1e4.hdf5")) == "valid"
    assert split_named_by(Path("1D_Advection_Sols_beta0.1.hdf5")) is None
    assert split_named_by(Path("contest.pt")) is None  # a word, not a substring


def test_neuraloperator_train_and_test_files_become_the_two_splits(tmp_path):
    train = make_neuraloperator_darcy(tmp_path / "darcy_train_16.pt", 6)
    test = make_neuraloperator_darcy(tmp_path / "darcy_test_16.pt", 3)
    paths = [tmp_path / "darcy_train_16.pt", tmp_path / "darcy_test_16.pt"]
    assert import_files("neuraloperator", paths, tmp_path / "data" / "no") == {
        "train": 6,
        "test": 3,
    }
    info = read_split_info(tmp_path / "data" / "no", "test")
    assert (info.input_names, info.output_names, info.spatial_shape) == (("x0",), ("y0",), (16, 16))
    x, y = FieldDataset(info.path)[2]
    torch.testing.assert_close(x, test["x"][2][None].float())
    torch.testing.assert_close(y, test["y"][2][None])
    x, _ = FieldDataset(tmp_path / "data" / "no" / "train.h5")[5]
    torch.testing.assert_close(x, train["x"][5][None].float())
    with h5py.File(info.path) as file:  # neuraloperator's grid, i / n on [0, 1)
        np.testing.assert_allclose(file["grid/x"][:], np.arange(16) / 16)
        assert "darcy_test_16.pt[0:3]" in file.attrs["config"]


def test_explicit_split_and_channel_axis(tmp_path):
    torch.save({"x": torch.randn(4, 2, 8), "y": torch.randn(4, 3, 8)}, tmp_path / "a.pt")
    torch.save({"x": torch.randn(2, 2, 8), "y": torch.randn(2, 3, 8)}, tmp_path / "b.pt")
    sizes = import_files(
        "neuraloperator",
        [tmp_path / "a.pt", tmp_path / "b.pt"],
        tmp_path / "data" / "c",
        split=["train", "valid"],
        options=ReadOptions(spatial_dims=1),
    )
    assert sizes == {"train": 4, "valid": 2}  # a tenth of 4 train samples is no test sample
    info = read_split_info(tmp_path / "data" / "c", "valid")
    assert (info.input_names, info.output_names, info.spatial_shape) == (
        ("x0", "x1"),
        ("y0", "y1", "y2"),
        (8,),
    )


def test_neuraloperator_trajectories_as_burgers_train_16(tmp_path):
    """burgers_train_16.pt: x (N, 16) the initial state, y (N, 17, 16) the trajectory, visc."""
    y = torch.randn(5, 17, 16, dtype=torch.float64)
    torch.save({"x": y[:, 0].clone(), "y": y, "visc": torch.tensor([[0.01]])}, tmp_path / "b.pt")
    sizes = import_files(
        "neuraloperator",
        [tmp_path / "b.pt"],
        tmp_path / "data" / "burgers",
        n_test=1,
        options=ReadOptions(dt=0.0625),
    )
    assert sizes == {"train": 4, "test": 1}
    info = read_split_info(tmp_path / "data" / "burgers", "test")
    assert (info.time_steps, info.dt, info.input_names) == (17, 0.0625, ("x",))
    x, states = FieldDataset(info.path)[0]
    torch.testing.assert_close(states, y[4][:, None].float())  # the last sample is the test one
    torch.testing.assert_close(x[0], torch.arange(16) / 16.0)  # the coordinates as the input
    with h5py.File(info.path) as file:
        assert "visc: 0.01" in file.attrs["config"]


def test_pdebench_darcy_test_split_is_the_first_tenth_as_pdebench_loads_it(tmp_path):
    nu, tensor = make_pdebench_darcy(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    paths = [tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"]
    sizes = import_files("pdebench", paths, tmp_path / "data" / "pb", n_test=3)
    assert sizes == {"train": 7, "test": 3}
    train = read_split_info(tmp_path / "data" / "pb", "train")
    assert (train.input_names, train.output_names) == (("coefficient",), ("solution",))
    assert train.spatial_shape == (12, 12) and train.pde == "darcy"
    x, y = FieldDataset(tmp_path / "data" / "pb" / "test.h5")[1]
    np.testing.assert_array_equal(x.numpy(), nu[1][None])
    np.testing.assert_array_equal(y.numpy(), tensor[1])
    x, _ = FieldDataset(train.path)[0]
    np.testing.assert_array_equal(x.numpy(), nu[3][None])
    with h5py.File(train.path) as file:
        np.testing.assert_allclose(file["grid/x"][:], (np.arange(12) + 0.5) / 12)


@pytest.mark.parametrize("spatial", [(16,), (8, 6)])
def test_pdebench_scalar_trajectories_with_one_more_time_than_states(tmp_path, spatial):
    """1D_Advection_Sols_beta*.hdf5: tensor (N, T, X), x-coordinate (X,), t-coordinate (T+1,)."""
    tensor = RNG.normal(size=(10, 5, *spatial)).astype(np.float32)
    with h5py.File(tmp_path / "adv.hdf5", "w") as file:
        file["tensor"] = tensor
        for axis, size in zip("xy", spatial):
            file[f"{axis}-coordinate"] = (np.arange(size) + 0.5) / size
        file["t-coordinate"] = np.linspace(0, 0.1, 6)
    sizes = import_files("pdebench", [tmp_path / "adv.hdf5"], tmp_path / "data" / "adv")
    assert sizes == {"train": 9, "test": 1}
    info = read_split_info(tmp_path / "data" / "adv", "train")
    assert info.time_steps == 5 and info.dt == pytest.approx(0.02)
    assert info.output_names == ("u",) and info.input_names == ("x", "y")[: len(spatial)]
    x, states = FieldDataset(info.path)[0]
    np.testing.assert_array_equal(states.numpy(), tensor[1][:, None])
    centres = (np.arange(spatial[0]) + 0.5) / spatial[0]
    np.testing.assert_allclose(x[0].numpy().reshape(spatial[0], -1)[:, 0], centres)


def test_pdebench_cfd_fields_are_the_channels_in_pdebench_order(tmp_path):
    fields = {k: RNG.normal(size=(4, 3, 8, 8)).astype(np.float32) for k in ("Vy", "density", "Vx")}
    fields["pressure"] = RNG.normal(size=(4, 3, 8, 8)).astype(np.float32)
    with h5py.File(tmp_path / "2D_CFD_Rand_M0.1.hdf5", "w") as file:
        for key, value in fields.items():
            file[key] = value
        file["x-coordinate"] = file["y-coordinate"] = np.linspace(0, 1, 8)
        file["t-coordinate"] = np.array([0.0, 0.05, 0.1, 0.15])
    import_files(
        "pdebench", [tmp_path / "2D_CFD_Rand_M0.1.hdf5"], tmp_path / "data" / "cfd", n_test=0
    )
    info = read_split_info(tmp_path / "data" / "cfd", "train")
    assert info.output_names == ("density", "pressure", "Vx", "Vy")
    _, states = FieldDataset(info.path)[2]
    np.testing.assert_array_equal(states[:, 2].numpy(), fields["Vx"][2])


def test_pdebench_one_group_per_sample_test_is_the_last_tenth(tmp_path):
    """2D_diff-react_NA_NA.h5: groups 0000.. with data (T, X, Y, C) and grid/x, grid/y, grid/t."""
    data = RNG.normal(size=(10, 4, 6, 6, 2)).astype(np.float32)
    with h5py.File(tmp_path / "2D_diff-react_NA_NA.h5", "w") as file:
        for i in range(10):
            group = file.create_group(f"{i:04d}")
            group["data"] = data[i]
            group["grid/x"] = group["grid/y"] = np.linspace(-1, 1, 6)
            group["grid/t"] = np.linspace(0, 0.3, 4)
    sizes = import_files(
        "pdebench", [tmp_path / "2D_diff-react_NA_NA.h5"], tmp_path / "data" / "dr"
    )
    assert sizes == {"train": 9, "test": 1}
    info = read_split_info(tmp_path / "data" / "dr", "test")
    assert info.output_names == ("u0", "u1") and info.dt == pytest.approx(0.1)
    _, states = FieldDataset(info.path)[0]
    np.testing.assert_array_equal(states.numpy(), np.moveaxis(data[9], -1, 1))


def make_the_well(path: Path, n: int = 3, steps: int = 4, nx: int = 6, ny: int = 5) -> dict:
    """A 2D file in The Well's layout (docs/data_format.md of the_well)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "pressure": RNG.normal(size=(n, steps, nx, ny)).astype(np.float32),
        "velocity": RNG.normal(size=(n, steps, nx, ny, 2)).astype(np.float32),
        "stress": RNG.normal(size=(n, steps, nx, ny, 2, 2)).astype(np.float32),
        "obstacle": RNG.normal(size=(n, nx, ny)).astype(np.float32),
    }
    with h5py.File(path, "w") as file:
        file.attrs.update(
            {
                "dataset_name": "toy_flow",
                "grid_type": "cartesian",
                "n_spatial_dims": 2,
                "n_trajectories": n,
                "simulation_parameters": ["Re"],
                "Re": 100.0,
            }
        )
        dims = file.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["time"] = np.arange(steps, dtype=np.float32) * 0.25
        dims["time"].attrs["sample_varying"] = False
        for axis, size in (("x", nx), ("y", ny)):
            dims[axis] = np.linspace(0, 1, size, dtype=np.float32)
            dims[axis].attrs.update({"sample_varying": False, "time_varying": False})
        bc = file.create_group("boundary_conditions/x_periodic")
        bc.attrs.update(
            {
                "associated_dims": ["x"],
                "associated_fields": [],
                "bc_type": "PERIODIC",
                "sample_varying": False,
                "time_varying": False,
            }
        )
        bc["mask"] = np.r_[True, np.zeros(nx - 2, bool), True]
        scalars = file.create_group("scalars")
        scalars.attrs["field_names"] = ["Re", "inflow"]
        scalars["Re"] = np.float32(100.0)
        scalars["Re"].attrs.update({"sample_varying": False, "time_varying": False})
        scalars["inflow"] = np.arange(n, dtype=np.float32)
        scalars["inflow"].attrs.update({"sample_varying": True, "time_varying": False})
        for group, names in (
            ("t0_fields", ["pressure", "obstacle"]),
            ("t1_fields", ["velocity"]),
            ("t2_fields", ["stress"]),
        ):
            fields = file.create_group(group)
            fields.attrs["field_names"] = names
            for name in names:
                fields[name] = values[name]
                fields[name].attrs.update(
                    {
                        "dim_varying": [True, True],
                        "sample_varying": True,
                        "time_varying": name != "obstacle",
                    }
                )
    return values


def test_the_well_fields_by_tensor_order_folders_as_splits(tmp_path):
    train = make_the_well(tmp_path / "data" / "train" / "toy_Re_100.hdf5")
    make_the_well(tmp_path / "data" / "train" / "toy_Re_200.hdf5")
    test = make_the_well(tmp_path / "data" / "test" / "toy_Re_300.hdf5", n=2)
    paths = [
        tmp_path / "data/train/toy_Re_100.hdf5",
        tmp_path / "data/train/toy_Re_200.hdf5",
        tmp_path / "data/test/toy_Re_300.hdf5",
    ]
    sizes = import_files("the_well", paths, tmp_path / "datasets" / "well")
    assert sizes == {"train": 6, "test": 2}
    info = read_split_info(tmp_path / "datasets" / "well", "train")
    assert info.output_names == (
        "pressure",
        "velocity_x",
        "velocity_y",
        "stress_xx",
        "stress_xy",
        "stress_yx",
        "stress_yy",
    )
    assert info.input_names == ("obstacle",) and info.pde == "toy_flow"
    assert (info.time_steps, info.dt, info.spatial_shape) == (4, 0.25, (6, 5))
    x, states = FieldDataset(info.path)[1]
    np.testing.assert_array_equal(x[0].numpy(), train["obstacle"][1])
    np.testing.assert_array_equal(states[:, 2].numpy(), train["velocity"][1, ..., 1])
    np.testing.assert_array_equal(states[:, 4].numpy(), train["stress"][1, ..., 0, 1])
    _, states = FieldDataset(tmp_path / "datasets/well/test.h5")[1]
    np.testing.assert_array_equal(states[:, 0].numpy(), test["pressure"][1])
    with h5py.File(info.path) as file:
        np.testing.assert_array_equal(file["params/inflow"][:], [0, 1, 2, 0, 1, 2])
        np.testing.assert_array_equal(file["params/Re"][:], [100.0] * 6)
        assert "bc_type: PERIODIC" in file.attrs["config"]


def test_foreign_and_mismatched_files_are_one_line_errors_and_nothing_is_written(tmp_path):
    data = tmp_path / "data"
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file["u"] = np.zeros((2, 4, 4))
    with pytest.raises(UserError, match="is not a PDEBench file: it needs"):
        import_files("pdebench", [tmp_path / "other.h5"], data / "a")
    with pytest.raises(UserError, match="is not a file of The Well: it lacks dimensions"):
        import_files("the_well", [tmp_path / "other.h5"], data / "a")
    torch.save({"x": torch.zeros(3, 4, 4)}, tmp_path / "x_only.pt")
    with pytest.raises(UserError, match="needs a dict with 'x', 'y'"):
        import_files("neuraloperator", [tmp_path / "x_only.pt"], data / "b")
    (tmp_path / "text.pt").write_text("not torch")
    with pytest.raises(UserError, match="cannot be read by torch.load"):
        import_files("neuraloperator", [tmp_path / "text.pt"], data / "b")
    make_neuraloperator_darcy(tmp_path / "darcy_train_16.pt", 4)
    make_neuraloperator_darcy(tmp_path / "darcy_test_32.pt", 2, size=32)
    with pytest.raises(UserError, match=r"darcy_test_32.pt has spatial shape \(32, 32\)"):
        import_files(
            "neuraloperator",
            [tmp_path / "darcy_train_16.pt", tmp_path / "darcy_test_32.pt"],
            data / "c",
        )
    with pytest.raises(UserError, match="names no split"):
        import_files(
            "neuraloperator", [tmp_path / "darcy_train_16.pt", tmp_path / "x_only.pt"], data / "c"
        )
    with pytest.raises(UserError, match="n_test= applies only when no file is a test split"):
        import_files(
            "neuraloperator",
            [tmp_path / "darcy_train_16.pt", tmp_path / "darcy_train_16.pt"],
            data / "c",
            split=["train", "test"],
            n_test=1,
        )
    assert not data.exists()


def test_a_failure_midway_leaves_nothing_behind_and_keeps_the_old_dataset(tmp_path, monkeypatch):
    make_pdebench_darcy(tmp_path / "darcy.h5")
    paths = [tmp_path / "darcy.h5"]
    directory = tmp_path / "data" / "d"
    import_files("pdebench", paths, directory, n_test=5)
    before = (directory / "train.h5").read_bytes()
    with pytest.raises(UserError, match="exists; choose another name= or pass overwrite=true"):
        import_files("pdebench", paths, directory)
    written = []

    def write_then_fail(staging, split, pieces, name, config):
        if written:
            raise OSError(28, "No space left on device")
        written.append(split)
        return real(staging, split, pieces, name, config)

    real = importers._write_split
    monkeypatch.setattr(importers, "_write_split", write_then_fail)
    with pytest.raises(UserError, match=r"stopped \(\[Errno 28\] No space left on device\); noth"):
        import_files("pdebench", paths, directory, n_test=2, overwrite=True)
    assert written == ["train"]  # the first split was written, the second failed
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["d"]  # no staging left
    assert (directory / "train.h5").read_bytes() == before


def test_command_line_import_is_listed_and_writes_the_two_splits(tmp_path):
    assert "import" in run_cli(["--help"], tmp_path).stdout
    make_neuraloperator_darcy(tmp_path / "train.pt", 5)
    make_neuraloperator_darcy(tmp_path / "test.pt", 2)
    done = run_cli(["import", "neuraloperator", "train.pt", "test.pt", "name=mydata"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported 2 file(s) into data/mydata: 5 train, 2 test samples" in done.stdout
    assert read_split_info(tmp_path / "data" / "mydata", "test").n_samples == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["neuraloperator", "other.h5", "name=x"], "error: other.h5 does not exist"),
        (["neuraloperator", "a.pt", "name=x", "foo=1"], "error: unknown key foo; choose one of"),
        (["neuraloperator", "a.pt", "name=x", "split=train,test"], "error: split= lists 2 splits"),
        (["neuraloperator", "a.pt", "name=x/y"], "error: name='x/y' must be letters, digits"),
        (["neuraloperator", "a.pt", "name=x", "n_test=-1"], "error: n_test=-1 must be >= 0"),
        (["pdebench", "a.pt", "name=y", "dt=0.1"], "error: dt= applies to the neuraloperator"),
        (["pdebench", "a.pt", "name=y"], "error: a.pt is not a readable HDF5 file"),
        (["hdf5", "a.pt", "name=y"], "error: format 'hdf5' is unknown; choose one of: neuralop"),
        (["neuraloperator", "name=y"], "error: no file to import; usage: surrogate import"),
        (["neuraloperator", "name=y", "a.pt"], "error: give the files first, then the key=value"),
    ],
)
def test_bad_command_lines_are_one_line_exit_2_and_write_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    from surrogate.cli import import_data

    monkeypatch.chdir(tmp_path)
    make_neuraloperator_darcy(tmp_path / "a.pt", 3)
    with pytest.raises(SystemExit) as stop:
        import_data.main(args)
    error = capsys.readouterr().err
    assert stop.value.code == 2 and error.startswith(message), error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_sigterm_during_the_import_exits_143_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    import signal

    from surrogate.cli import import_data

    make_pdebench_darcy(tmp_path / "darcy.h5")
    monkeypatch.chdir(tmp_path)
    real = importers._write_split

    def signalled(staging, split, pieces, name, config):
        real(staging, split, pieces, name, config)
        import_data._stop(signal.SIGTERM, None)  # what the handler does when SIGTERM arrives

    monkeypatch.setattr(importers, "_write_split", signalled)
    with pytest.raises(SystemExit) as stop:
        import_data.main(["pdebench", "darcy.h5", "name=d"])
    assert stop.value.code == 143
    assert capsys.readouterr().err.startswith("error: import terminated; nothing was written")
    assert list((tmp_path / "data").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is not import_data._stop  # handlers restored
