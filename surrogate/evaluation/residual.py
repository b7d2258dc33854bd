"""The PDE's own residual of a prediction: an error check that needs no labels.

For a sample with linear system A(a) u = b, the relative residual of a predicted solution û is

    r(û) = ‖A(a) û − b‖₂ / ‖b‖₂

computed on the test grid in float64. A dataset made by `surrogate generate` stores the config
that made it, and sample i depends only on (seed, split, i) (surrogate/generation/solving.py
`sample_rng`), so each test sample is re-drawn and its system assembled again; the re-drawn
inputs must equal the stored ones (else the family's code changed since the data was made, and no
residual is given). The family's `solution_vector` maps predicted output fields back to the
solution vector (the inverse of `solution_fields`). Reported per sample for the model, for the
mean-field baseline and for the stored solution itself (the floor set by the solver's tolerance
and float32 storage), with Spearman's rank correlation between the model's residual and its true
relative L2 error: how well the label-free check ranks the samples the model gets wrong.

Imported datasets (no family) and time-dependent families have no residual here: the metrics
say so instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp
import torch
from omegaconf import OmegaConf
from scipy.stats import spearmanr
from torch.utils.data import DataLoader

from surrogate.data.reader import FieldDataset, SplitInfo
from surrogate.errors import UserError
from surrogate.evaluation.metrics import distribution
from surrogate.evaluation.report import Section, format_value, markdown_table
from surrogate.generation.solving import SPLIT_CODES, sample_rng

DEFINITION = "||A(a) u_pred - b||_2 / ||b||_2 of each sample's linear system, on the test grid"


def relative_residual(matrix: sp.spmatrix, rhs: np.ndarray, solution: np.ndarray) -> float:
    """‖A x − b‖ / ‖b‖ (‖A x‖ when b = 0, so that it stays defined)."""
    residual = np.linalg.norm(matrix @ solution - rhs)
    scale = np.linalg.norm(rhs)
    return float(residual / scale) if scale > 0 else float(residual)


@dataclass
class Systems:
    """Rebuilds the linear system of each sample of a split made by `surrogate generate`."""

    family: Any
    seed: int
    split: str
    inputs: h5py.Dataset = field(repr=False)

    def system(self, index: int) -> tuple[sp.spmatrix, np.ndarray]:
        problem = self.family.problem(sample_rng(self.seed, self.split, index))
        stored = self.inputs[index]
        if problem.inputs.shape != stored.shape or not np.allclose(
            problem.inputs, stored, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(stored).max()))
        ):
            raise Unavailable(
                f"sample {index} drawn again from the stored config differs from the stored one "
                "(the family's code changed since the data was made)"
            )
        return problem.matrix, problem.rhs


class Unavailable(Exception):
    """No residual for this split; the message says why (shown in metrics.json and report.md)."""


def open_systems(info: SplitInfo, file: h5py.File) -> Systems:
    """The systems of a split, or Unavailable saying why there are none."""
    from surrogate.pdes import FAMILIES, build_pde

    try:
        config = OmegaConf.create(str(file.attrs.get("config", "")))
    except Exception:  # omegaconf raises several types for text that is no YAML mapping
        config = None
    if not OmegaConf.is_dict(config) or "imported" in config:
        raise Unavailable("the dataset was not made by `surrogate generate` (imported data)")
    pde = config.get("pde")
    if not OmegaConf.is_dict(pde) or "seed" not in config:
        raise Unavailable("the dataset's config does not say how its samples were drawn")
    if pde.get("name") not in FAMILIES:
        raise Unavailable(f"pde={pde.get('name')} is not a family of this surrogate")
    if info.temporal:
        raise Unavailable("time-dependent data: the residual is given for steady families")
    split = str(file.attrs.get("split"))
    if split not in SPLIT_CODES:
        raise Unavailable(f"the file's split {split!r} is not one generate writes")
    try:
        family = build_pde(pde)
    except UserError as error:
        raise Unavailable(f"its pde config no longer builds ({error})") from error
    if not hasattr(family, "solution_vector"):
        raise Unavailable(f"pde={family.name} has no linear system per sample")
    return Systems(family, int(config.seed), split, file["inputs"])


def pde_residuals(
    info: SplitInfo,
    predict: Callable[[torch.Tensor], torch.Tensor],
    baseline: torch.Tensor,
    device: torch.device,
    batch_size: int,
) -> dict[str, np.ndarray]:
    """Per-sample residuals of the model (`predict` maps a batch of inputs to outputs, both
    physical), of the mean field `baseline` (1, C, *spatial) and of the stored solution; raises
    Unavailable when the split has no systems."""
    loader = DataLoader(FieldDataset(info.path), batch_size=batch_size)
    names = ("pde_residual", "mean_baseline_pde_residual", "stored_solution_pde_residual")
    values: dict[str, list[float]] = {name: [] for name in names}
    mean = baseline[0].cpu().numpy()
    with h5py.File(info.path, "r") as file:
        systems = open_systems(info, file)
        index = 0
        for x, y in loader:
            with torch.inference_mode():
                pred = predict(x.to(device)).cpu().numpy()
            for offset in range(len(x)):
                matrix, rhs = systems.system(index)
                for name, fields in zip(names, (pred[offset], mean, y[offset].numpy())):
                    vector = systems.family.solution_vector(fields)
                    values[name].append(relative_residual(matrix, rhs, vector))
                index += 1
    return {name: np.asarray(v) for name, v in values.items()}


def rank_correlation(residual: np.ndarray, error: np.ndarray) -> float | None:
    """Spearman's rho of residual and error over the samples; None if undefined (fewer than
    three samples, a constant or non-finite column)."""
    if len(residual) < 3 or not (np.isfinite(residual).all() and np.isfinite(error).all()):
        return None
    if np.ptp(residual) == 0 or np.ptp(error) == 0:
        return None
    return float(spearmanr(residual, error).statistic)


def summary(values: dict[str, np.ndarray], rel_l2: np.ndarray) -> dict[str, Any]:
    """metrics.json's `pde_residual` entry."""
    return {
        "available": True,
        "definition": DEFINITION,
        "model": distribution(values["pde_residual"]),
        "mean_baseline": distribution(values["mean_baseline_pde_residual"]),
        "stored_solution": distribution(values["stored_solution_pde_residual"]),
        "rank_correlation_with_rel_l2": rank_correlation(values["pde_residual"], rel_l2),
    }


def unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason, "definition": DEFINITION}


def section(entry: dict[str, Any]) -> Section:
    """report.md's block on the residual (or why there is none)."""
    if not entry["available"]:
        return Section("PDE residual (no labels needed)", f"Not computed: {entry['reason']}.")
    stats = ("mean", "median", "max")
    rows = [
        [label, *(entry[key][s] for s in stats)]
        for label, key in (
            ("model", "model"),
            ("predicting the training mean", "mean_baseline"),
            ("stored solution (solver + float32)", "stored_solution"),
        )
    ]
    rho = format_value(entry["rank_correlation_with_rel_l2"])
    body = markdown_table(["relative residual of", *stats], rows) + (
        f"\n\nResidual ‖A(a)û − b‖ / ‖b‖ of each test sample's own linear system, rebuilt from "
        f"the dataset's config. Spearman rank correlation with the model's relative L2 error: "
        f"{rho} (1: the residual orders the samples exactly as the true error does). "
        "Definitions: docs/evaluation.md."
    )
    return Section("PDE residual (no labels needed)", body)
