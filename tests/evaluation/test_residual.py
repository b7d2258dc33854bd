"""The PDE residual of predictions, ||A(a) u - b|| / ||b||: by hand, per family, and in eval."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import TINY_MODEL, compose_stage
from temporal_data import write_temporal_dataset

from surrogate.data.reader import read_split_info
from surrogate.evaluation import residual
from surrogate.evaluation.run import evaluate
from surrogate.generation.run import generate
from surrogate.training.run import train

FAMILIES = {
    "darcy": ["pde.resolution=8"],
    "poisson": ["pde=poisson", "pde.resolution=8"],
    "helmholtz": [
        "pde=helmholtz",
        "pde.resolution=10",
        "pde.wavenumber.min=1",
        "pde.wavenumber.max=3",
    ],
    "heat": ["pde=heat", "pde.resolution=11"],
    "darcy3d": ["pde=darcy3d", "pde.resolution=4"],
}


def test_relative_residual_by_hand():
    matrix = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    # A x - b = (2 - 1, -1 - 1) = (1, -2): ||.|| = sqrt(5), ||b|| = sqrt(2)
    value = residual.relative_residual(matrix, np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    assert value == pytest.approx(math.sqrt(5 / 2), rel=1e-12)
    assert residual.relative_residual(matrix, np.zeros(2), np.array([1.0, 1.0])) == pytest.approx(
        math.sqrt(2)
    )


def _dataset(root: Path, name: str, args: list[str], n_test: int = 6) -> Path:
    generate(
        compose_stage("generate", root, [*args, "n_train=0", f"n_test={n_test}", f"name={name}"])
    )
    return root / "data" / name


@pytest.mark.parametrize("family", FAMILIES)
def test_residual_of_the_truth_scaled_truth_and_zero(tmp_path, family):
    """r(u*) is the storage floor, r((1 + e) u*) = e ||A u*|| / ||b|| = e, r(0) = 1."""
    info = read_split_info(_dataset(tmp_path, family, FAMILIES[family]), "test")
    with h5py.File(info.path) as file:
        truth = torch.from_numpy(file["outputs"][:])
    scale = torch.linspace(0.0, 0.05, len(truth)).view(-1, *[1] * (truth.dim() - 1))
    position = 0

    def predict(x: torch.Tensor) -> torch.Tensor:  # (1 + e_i) u*_i, batch by batch in order
        nonlocal position
        rows = slice(position, position + len(x))
        position += len(x)
        return truth[rows] * (1 + scale[rows])

    baseline = torch.zeros(1, *truth.shape[1:])
    values = residual.pde_residuals(info, predict, baseline, torch.device("cpu"), batch_size=4)
    assert values["stored_solution_pde_residual"].max() < 1e-5  # float32 storage of the solve
    np.testing.assert_allclose(values["pde_residual"], scale.flatten().numpy(), atol=2e-5)
    np.testing.assert_allclose(values["mean_baseline_pde_residual"], 1.0, rtol=1e-12)
    errors = scale.flatten().numpy()
    assert residual.rank_correlation(values["pde_residual"][1:], errors[1:]) == pytest.approx(1.0)


def test_no_residual_for_imported_time_dependent_or_changed_data(tmp_path):
    from surrogate.data.importers import import_files

    torch.save({"x": torch.rand(10, 8, 8), "y": torch.rand(10, 8, 8)}, tmp_path / "a.pt")
    import_files("neuraloperator", [tmp_path / "a.pt"], tmp_path / "data" / "imp")
    temporal = write_temporal_dataset(tmp_path / "data" / "adv", "advect1d", {"test": 2})
    darcy = _dataset(tmp_path, "d", FAMILIES["darcy"], n_test=2)
    changed = tmp_path / "data" / "changed"
    shutil.copytree(darcy, changed)
    with h5py.File(changed / "test.h5", "r+") as file:
        file["inputs"][1] = file["inputs"][1] * 1.5
    cases = {
        tmp_path / "data" / "imp": "not made by `surrogate generate`",
        temporal: "does not say how its samples were drawn",
        changed: "sample 1 drawn again from the stored config differs",
    }
    for directory, reason in cases.items():
        info = read_split_info(directory, "test")
        with pytest.raises(residual.Unavailable, match=reason):
            residual.pde_residuals(
                info, lambda x: x, torch.zeros(1, 1, *info.spatial_shape), torch.device("cpu"), 4
            )
    assert residual.rank_correlation(np.array([1.0, 2.0]), np.array([2.0, 1.0])) is None


def test_eval_reports_the_residual_in_metrics_report_and_per_sample(tiny_dataset, tmp_path):
    args = ["data=tiny", "trainer.max_epochs=1", "loader.num_workers=0", *TINY_MODEL]
    args.append(f"paths.output_dir={tmp_path / 'run'}")
    run = train(compose_stage("train", tiny_dataset, args))["run_dir"]
    cfg = compose_stage(
        "eval",
        tiny_dataset,
        [f"ckpt={run}", "figures.enabled=false", f"paths.output_dir={tmp_path / 'eval'}"],
    )
    metrics = evaluate(cfg)
    out = tmp_path / "eval"
    entry = json.loads((out / "metrics.json").read_text())["pde_residual"]
    assert entry == metrics["pde_residual"] and entry["available"]
    assert entry["model"]["mean"] > 0 and entry["stored_solution"]["max"] < 1e-5
    assert entry["mean_baseline"]["mean"] > 0
    assert -1 <= entry["rank_correlation_with_rel_l2"] <= 1
    header = (out / "per_sample.csv").read_text().splitlines()[0].split(",")
    assert {"pde_residual", "mean_baseline_pde_residual"} <= set(header)
    assert "## PDE residual (no labels needed)" in (out / "report.md").read_text()
