"""Comparison of every run under a directory (`surrogate train -m` sweep, or runs side by side).

Each run's checkpoints/<ckpt_name>.ckpt is evaluated on the split into <eval run>/<job>/ (its
own metrics.json, per_sample.csv, figures, report.md); one row per run goes to
comparison.csv, one row per configuration (the runs whose overrides differ only in `seed`:
mean, std and count of each metric) to comparison_configs.csv, and both tables to
comparison.md, in the eval run directory.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from surrogate.checks import check_eval
from surrogate.errors import UserError
from surrogate.evaluation import aggregate
from surrogate.evaluation.report import markdown_table
from surrogate.evaluation.run import evaluate_checkpoint

log = logging.getLogger("surrogate.eval")

# The metrics averaged over seeds per configuration.
AGGREGATED = (
    "rel_l2",
    "rel_h1",
    "nrmse",
    "frmse_low",
    "frmse_mid",
    "frmse_high",
    "inference_seconds_per_sample",
    "speedup_vs_solver",
    "pde_residual",
)

COLUMNS = ("job", "model", "seed", "overrides", "parameters", *AGGREGATED, "dataset")


def is_comparison(path: Path) -> bool:
    """A directory that is not itself a run (no checkpoints/ of its own)."""
    return path.is_dir() and not (path / "checkpoints").is_dir()


def _order(job: Path) -> tuple:
    """Sweep jobs by number (0, 1, ..., 10), other names alphabetically."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in job.parts)


def find_runs(root: Path, ckpt_name: str) -> list[Path]:
    """Run directories under `root` holding checkpoints/<ckpt_name>.ckpt, in sweep order."""
    runs = [path.parent.parent for path in root.rglob(f"checkpoints/{ckpt_name}.ckpt")]
    if not runs:
        raise UserError(
            f"{root} holds no run with checkpoints/{ckpt_name}.ckpt; pass a checkpoint, a run "
            "directory or a `surrogate train -m` sweep directory"
        )
    unfinished = [p.parent for p in root.rglob("result.json") if p.parent not in runs]
    for run in unfinished:
        log.warning("%s has no checkpoints/%s.ckpt; left out of the comparison", run, ckpt_name)
    return sorted(runs, key=lambda run: _order(run.relative_to(root)))


def _run_facts(run: Path) -> dict[str, Any]:
    """Seed and overrides of a training run, from its result.json and Hydra's record."""
    facts: dict[str, Any] = {"seed": None, "overrides": ""}
    result = run / "result.json"
    if result.is_file():
        facts["seed"] = json.loads(result.read_text()).get("seed")
    overrides = run / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        facts["overrides"] = " ".join(map(str, OmegaConf.load(overrides)))
    return facts


def _residual_mean(entry: dict[str, Any]) -> float | None:
    """The model's mean PDE residual of one run's metrics (None where there is none)."""
    return entry["model"]["mean"] if entry.get("available") else None


def compare(cfg: DictConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Check the config, then evaluate every run under `cfg.ckpt` (`compare_checked`)."""
    check_eval(cfg)
    return compare_checked(cfg)


def compare_checked(cfg: DictConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Evaluate every run under `cfg.ckpt` (a config `check_eval` has passed); writes
    comparison.csv, comparison_configs.csv and comparison.md; returns the per-run rows and the
    per-configuration ones."""
    root = Path(cfg.ckpt)
    out_dir = Path(cfg.paths.output_dir)
    rows = []
    for run in find_runs(root, str(cfg.ckpt_name)):
        job = run.relative_to(root).as_posix()
        log.info("evaluating %s", job)
        ckpt = run / "checkpoints" / f"{cfg.ckpt_name}.ckpt"
        metrics = evaluate_checkpoint(cfg, ckpt, out_dir / job.replace("/", "_"))
        residual = metrics.get("pde_residual") or {}
        row = {"job": job, **_run_facts(run), **metrics, "pde_residual": _residual_mean(residual)}
        rows.append({column: row.get(column) for column in COLUMNS})
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "comparison.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    configs = aggregate.by_configuration(rows, AGGREGATED)
    aggregate.write_csv(out_dir / "comparison_configs.csv", configs, AGGREGATED)
    table = markdown_table(COLUMNS, [[row[c] for c in COLUMNS] for row in rows])
    (out_dir / "comparison.md").write_text(
        f"# {cfg.split} split, checkpoints/{cfg.ckpt_name}.ckpt of each run under `{root}`\n\n"
        f"{table}\n\nEach run's metrics, figures and report: `<job>/` next to this file.\n\n"
        "## Per configuration (every override but seed): mean ± std over seeds (count)\n\n"
        f"{aggregate.markdown(configs, AGGREGATED)}\n\n"
        "std is the sample standard deviation (n - 1), shown from two runs on.\n"
    )
    return rows, configs
