"""The eval stage: a checkpoint, a dataset split -> metrics.json, per_sample.csv, a printed table."""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from surrogate.checks import check_eval
from surrogate.data.reader import (
    FieldDataset,
    SplitInfo,
    read_solver_stats,
    read_split_info,
    resolve_dataset_dir,
)
from surrogate.errors import UserError
from surrogate.evaluation.metrics import PER_SAMPLE
from surrogate.training.losses import relative_l2
from surrogate.training.module import OperatorModule

log = logging.getLogger("surrogate.eval")


def load_checkpoint(path: Path) -> OperatorModule:
    if not path.is_file():
        raise UserError(
            f"checkpoint {path} does not exist; pass ckpt=<run_dir>/checkpoints/last.ckpt"
        )
    try:
        module = OperatorModule.load_from_checkpoint(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise UserError(
            f"checkpoint {path} cannot be read ({type(error).__name__}: {error})"
        ) from error
    return module.eval()


def _dataset_for(cfg: DictConfig, data: dict[str, Any]) -> Path:
    if cfg.data is not None:
        return resolve_dataset_dir(str(cfg.data), cfg.paths.data_dir)
    if Path(data["dir"]).is_dir():
        return Path(data["dir"])
    return resolve_dataset_dir(data["name"], cfg.paths.data_dir)


def _check_compatible(info: SplitInfo, data: dict[str, Any]) -> None:
    expected = (tuple(data["input_names"]), tuple(data["output_names"]), len(data["spatial_shape"]))
    found = (info.input_names, info.output_names, len(info.spatial_shape))
    if expected != found:
        raise UserError(
            f"{info.path} does not fit the checkpoint: it has inputs {found[0]}, outputs {found[1]} "
            f"in {found[2]}D, the model expects {expected[0]}, {expected[1]} in {expected[2]}D"
        )


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is available; use device=cpu")
    return torch.device(name)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Measure the checkpoint on the split; writes metrics.json and per_sample.csv in the run dir."""
    check_eval(cfg)
    module = load_checkpoint(Path(cfg.ckpt))
    data = module.hparams.data
    info = read_split_info(_dataset_for(cfg, data), str(cfg.split))
    _check_compatible(info, data)
    device = _device(str(cfg.device))
    module.to(device)
    if info.temporal or module.temporal:
        from surrogate.evaluation.rollout import evaluate_rollout

        return evaluate_rollout(cfg, module, info, device)
    loader = DataLoader(FieldDataset(info.path), batch_size=int(cfg.batch_size))

    per_sample: dict[str, list[np.ndarray]] = {name: [] for name in PER_SAMPLE}
    per_sample["mean_baseline_rel_l2"] = []
    baseline = module.mean_output.unsqueeze(0)
    if (
        tuple(baseline.shape[2:]) != info.spatial_shape
    ):  # another resolution: resample the mean field
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[baseline.dim() - 2]
        baseline = F.interpolate(baseline, size=info.spatial_shape, mode=mode, align_corners=True)
    inference_seconds = 0.0
    with torch.inference_mode():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            pred = module(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            inference_seconds += time.perf_counter() - start
            for name, metric in PER_SAMPLE.items():
                per_sample[name].append(metric(pred, y).cpu().numpy())
            mean_pred = baseline.expand_as(y)
            per_sample["mean_baseline_rel_l2"].append(relative_l2(mean_pred, y).cpu().numpy())
    values = {name: np.concatenate(parts) for name, parts in per_sample.items()}
    if not np.all(np.isfinite(values["rel_l2"])):
        log.warning("the model produced non-finite predictions on %s", info.path)

    solver_seconds = float(np.mean(read_solver_stats(info.path)["seconds"]))
    inference_per_sample = inference_seconds / info.n_samples
    metrics: dict[str, Any] = {
        "rel_l2": float(values["rel_l2"].mean()),
        "rel_l2_std": float(values["rel_l2"].std()),
        "rel_l2_median": float(np.median(values["rel_l2"])),
        "rel_l2_max": float(values["rel_l2"].max()),
        "rmse": float(values["rmse"].mean()),
        "max_error": float(values["max_error"].max()),
        "mean_baseline_rel_l2": float(values["mean_baseline_rel_l2"].mean()),
        "n_samples": info.n_samples,
        "inference_seconds_per_sample": inference_per_sample,
        "solver_seconds_per_sample": solver_seconds,
        "speedup_vs_solver": solver_seconds / inference_per_sample
        if inference_per_sample > 0
        else None,
        "dataset": str(info.path),
        "split": str(cfg.split),
        "resolution": list(info.spatial_shape),
        "trained_resolution": list(data["spatial_shape"]),
        "checkpoint": str(Path(cfg.ckpt)),
        "device": device.type,
    }
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(run_dir / "per_sample.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", *values])
        for index, row in enumerate(zip(*values.values())):
            writer.writerow([index, *(f"{v:.6g}" for v in row)])
    return metrics
