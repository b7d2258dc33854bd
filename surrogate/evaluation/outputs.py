"""What every evaluation of a checkpoint shares: timing on the device, writing the run directory.

Its own module so that the evaluations built on `evaluation/run.py` (the rollout over time)
import it without importing `run` back.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from surrogate.evaluation.report import Section, write_report


def device_timed(device: torch.device, work: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """work(*args) and its wall-clock seconds, GPU work included."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    begin = time.perf_counter()
    result = work(*args)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - begin


def write_outputs(
    run_dir: Path,
    metrics: dict[str, Any],
    values: dict[str, np.ndarray],
    figures: Sequence[Path] = (),
    sections: Sequence[Section] = (),
) -> None:
    """metrics.json, per_sample.csv (one row per sample, one column per metric), report.md."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(run_dir / "per_sample.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", *values])
        for index, row in enumerate(zip(*values.values())):
            writer.writerow([index, *(f"{v:.6g}" for v in row)])
    write_report(run_dir, metrics, figures, sections)
