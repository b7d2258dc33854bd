"""`surrogate eval`: measure a checkpoint on a dataset split; writes metrics.json to its run dir."""

from __future__ import annotations

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from surrogate.checks import check_eval
from surrogate.cli.app import stage_app

SHOWN = {
    "rel_l2": "relative L2 (mean)",
    "rel_l2_median": "relative L2 (median)",
    "rel_l2_max": "relative L2 (worst sample)",
    "mean_baseline_rel_l2": "relative L2 of predicting the training mean",
    "rmse": "RMSE",
    "max_error": "max abs error",
    "n_samples": "samples",
    "inference_seconds_per_sample": "inference s/sample",
    "solver_seconds_per_sample": "solver s/sample",
    "speedup_vs_solver": "speed-up over the solver",
}


@stage_app("eval")
def main(cfg: DictConfig) -> float:
    check_eval(cfg)  # before the heavy imports, so bad input fails at once
    from surrogate.evaluation.run import evaluate

    metrics = evaluate(cfg)
    table = Table(title=f"{metrics['split']} split of {metrics['dataset']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in SHOWN.items():
        value = metrics[key]
        table.add_row(label, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
    print(f"metrics: {cfg.paths.output_dir}/metrics.json")
    return metrics["rel_l2"]


if __name__ == "__main__":
    main()
