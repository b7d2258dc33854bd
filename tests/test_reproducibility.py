"""CI's reproducibility run: the interface commands, twice, give the same dataset and metrics.

The dataset files are compared byte for byte, except the bytes of `solver/seconds`, which
hold wall-clock timings of the solves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
from conftest import run_cli

from surrogate.data.schema import NONDETERMINISTIC_DATASETS

GENERATE = [
    "generate",
    "pde=darcy",
    "pde.resolution=32",
    "n_train=64",
    "n_test=16",
    "name=darcy32",
    "seed=0",
]
TRAIN = ["train", "data=darcy32", "model=fno", "trainer.max_epochs=5", "seed=0"]
TIMING_KEYS = {
    "inference_seconds_per_sample",
    "solver_seconds_per_sample",
    "speedup_vs_solver",
    "dataset",
    "checkpoint",
}
RUN_DIR = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}$")


def bytes_without_timings(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    with h5py.File(path) as file:
        for name in NONDETERMINISTIC_DATASETS:
            offset, size = file[name].id.get_offset(), file[name].id.get_storage_size()
            data[offset : offset + size] = bytes(size)
    return bytes(data)


def pipeline(cwd: Path) -> tuple[dict[str, bytes], dict]:
    cwd.mkdir()
    for args in (GENERATE, TRAIN):
        result = run_cli(args, cwd)
        assert result.returncode == 0, result.stderr[-3000:]
    (train_dir,) = (cwd / "outputs" / "train").iterdir()
    assert RUN_DIR.match(train_dir.name)
    assert (train_dir / "checkpoints" / "best.ckpt").is_file()
    result = run_cli(["eval", f"ckpt={train_dir}/checkpoints/last.ckpt"], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "relative L2 (mean)" in result.stdout
    (eval_dir,) = (cwd / "outputs" / "eval").iterdir()
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    datasets = {p.name: bytes_without_timings(p) for p in (cwd / "data" / "darcy32").glob("*.h5")}
    return datasets, metrics


def test_interface_commands_are_reproducible(tmp_path):
    datasets_a, metrics_a = pipeline(tmp_path / "a")
    datasets_b, metrics_b = pipeline(tmp_path / "b")
    assert set(datasets_a) == {"train.h5", "test.h5"}
    assert datasets_a == datasets_b
    assert metrics_a["n_samples"] == 16 and 0 < metrics_a["rel_l2"] < 1
    deterministic = {k: v for k, v in metrics_a.items() if k not in TIMING_KEYS}
    assert deterministic == {k: v for k, v in metrics_b.items() if k not in TIMING_KEYS}
