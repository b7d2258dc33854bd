"""`surrogate eval`: measure a checkpoint on a dataset split, or compare the runs of a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from surrogate.checks import check_eval
from surrogate.cli.app import stage_app
from surrogate.cli.command import run_command

SHOWN = {
    "rel_l2": "relative L2 (mean)",
    "rel_l2_median": "relative L2 (median)",
    "rel_l2_max": "relative L2 (worst sample)",
    "mean_baseline_rel_l2": "relative L2 of predicting the training mean",
    "rel_h1": "relative H1",
    "nrmse": "nRMSE",
    "rmse": "RMSE",
    "max_error": "max abs error (worst sample)",
    "brmse": "boundary RMSE",
    "frmse_low": "fRMSE low wavenumbers",
    "frmse_mid": "fRMSE mid wavenumbers",
    "frmse_high": "fRMSE high wavenumbers",
    "one_step_rel_l2": "one-step relative L2 (teacher forced)",
    "rel_l2_full": "relative L2 of whole trajectories (FNO convention)",
    "n_samples": "samples",
    "inference_seconds_per_sample": "inference s/sample",
    "solver_seconds_per_sample": "solver s/sample",
    "speedup_vs_solver": "speed-up over the solver",
}
COMPARED = ("job", "model", "seed", "parameters", "rel_l2", "rel_h1", "nrmse", "speedup_vs_solver")
CONFIG_METRICS = ("rel_l2", "rel_h1", "nrmse")


def _print_metrics(metrics: dict[str, Any], run_dir: str) -> None:
    from surrogate.evaluation.report import format_value

    title = f"{metrics['split']} split of {metrics['dataset']}"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in SHOWN.items():
        if key in metrics:
            table.add_row(label, format_value(metrics[key]))
    residual = metrics.get("pde_residual")
    if residual and residual["available"]:
        table.add_row("PDE residual ‖Aû−b‖/‖b‖ (mean)", format_value(residual["model"]["mean"]))
        table.add_row(
            "PDE residual of predicting the training mean",
            format_value(residual["mean_baseline"]["mean"]),
        )
        table.add_row(
            "rank correlation of residual and error",
            format_value(residual["rank_correlation_with_rel_l2"]),
        )
    elif residual:
        table.add_row("PDE residual", "not computed (report.md says why)")
    rollout = metrics.get("rollout")
    if rollout:
        table.add_row("rollout horizon (steps)", format_value(rollout["horizon"]))
        table.add_row(
            f"first step above {rollout['threshold']:g}",
            format_value(rollout["steps_to_threshold"]),
        )
        table.add_row("rollouts that blew up", format_value(rollout["blow_ups"]))
    if metrics.get("warning"):
        table.caption = f"warning: {metrics['warning']}"
    Console().print(table)
    print(f"metrics: {run_dir}/metrics.json, report: {run_dir}/report.md")


def _print_comparison(
    rows: list[dict[str, Any]], configs: list[dict[str, Any]], run_dir: str
) -> None:
    from surrogate.evaluation.aggregate import mean_std
    from surrogate.evaluation.report import format_value

    table = Table(title=f"{len(rows)} runs compared")
    for column in COMPARED:
        table.add_column(column, justify="left" if column in ("job", "model") else "right")
    for row in rows:
        table.add_row(*(format_value(row[column]) for column in COMPARED))
    console = Console(width=160)
    console.print(table)
    summary = Table(title=f"{len(configs)} configurations: mean ± std over seeds (count)")
    summary.add_column("configuration")
    summary.add_column("seeds")
    for metric in CONFIG_METRICS:
        summary.add_column(metric, justify="right")
    for entry in configs:
        summary.add_row(
            entry["configuration"], entry["seeds"], *(mean_std(entry, m) for m in CONFIG_METRICS)
        )
    console.print(summary)
    print(
        f"comparison: {run_dir}/comparison.csv, {run_dir}/comparison_configs.csv, "
        f"{run_dir}/comparison.md"
    )


@stage_app("eval")
def main(cfg: DictConfig) -> float | None:
    check_eval(cfg)  # before the heavy imports, so bad input fails at once
    from surrogate.evaluation.compare import compare_checked, is_comparison
    from surrogate.evaluation.run import evaluate_checked

    if is_comparison(Path(cfg.ckpt)):
        rows, configs = compare_checked(cfg)
        _print_comparison(rows, configs, cfg.paths.output_dir)
        errors = [row["rel_l2"] for row in rows if row["rel_l2"] is not None]
        return min(errors, default=None)
    metrics = evaluate_checked(cfg)
    _print_metrics(metrics, cfg.paths.output_dir)
    return metrics["rel_l2"]


if __name__ == "__main__":
    run_command(main)
