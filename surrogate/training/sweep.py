"""Summary of a training sweep (`surrogate train -m ...`): one row per job, CSV and markdown,
and mean ± std over seeds per configuration.

Every job's rank 0 writes <job_dir>/result.json; after the sweep this Hydra callback gathers
them with each job's overrides into <sweep_dir>/summary.csv (one row per job),
<sweep_dir>/summary_configs.csv (one row per configuration: every override but `seed`, with
mean, std and count of each final metric) and <sweep_dir>/summary.md (both tables). It imports
nothing heavy, since Hydra builds it before any job starts.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from surrogate.evaluation import aggregate

COLUMNS = (
    "job",
    "overrides",
    "model",
    "seed",
    "best_val_rel_l2",
    "final_val_rel_l2",
    "epochs",
    "seconds",
    "parameters",
    "status",
)
# The final metrics averaged over seeds per configuration.
AGGREGATED = ("best_val_rel_l2", "final_val_rel_l2", "epochs", "seconds")


def _job_number(job_dir: Path) -> tuple[int, str]:
    return (int(job_dir.name), "") if job_dir.name.isdigit() else (math.inf, job_dir.name)


def _row(job_dir: Path) -> dict[str, Any]:
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = OmegaConf.load(overrides_file) if overrides_file.is_file() else []
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(map(str, overrides))}
    result_file = job_dir / "result.json"
    if not result_file.is_file():
        return {**row, "status": "no result.json (failed or interrupted)"}
    result = json.loads(result_file.read_text())
    return {**row, **{key: result.get(key) for key in COLUMNS[2:-1]}, "status": "done"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_summary(sweep_dir: Path) -> list[dict[str, Any]]:
    """Write summary.csv, summary_configs.csv and summary.md for the jobs under `sweep_dir`;
    returns the per-job rows."""
    job_dirs = sorted(
        (path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml")),
        key=_job_number,
    )
    rows = [_row(job_dir) for job_dir in job_dirs]
    with open(sweep_dir / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    configs = aggregate.by_configuration(rows, AGGREGATED)
    aggregate.write_csv(sweep_dir / "summary_configs.csv", configs, AGGREGATED)
    lines += [
        "",
        "Per configuration (every override but seed): mean ± std over seeds (count)",
        "",
        aggregate.markdown(configs, AGGREGATED),
    ]
    (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return rows


class SweepSummary(Callback):
    """Hydra callback: writes the sweep summary when a multirun ends, and prints it."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        write_summary(sweep_dir)
        print((sweep_dir / "summary.md").read_text(), end="")
        names = ", ".join(
            str(sweep_dir / n) for n in ("summary.csv", "summary_configs.csv", "summary.md")
        )
        print(f"sweep summary: {names}")
