"""report.md of an eval run: metric table, speed against the solver, figures, extra sections.

Other evaluations (a rollout over time, say) add their own `Section`s; `write_report` appends
them after the standard ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surrogate.evaluation.metrics import LABELS


@dataclass(frozen=True)
class Section:
    """A titled block of markdown in report.md."""

    title: str
    body: str


def format_value(value: Any) -> str:
    """A table cell: floats to 4 significant digits, None (undefined) as a dash."""
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_value(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _metric_section(metrics: dict[str, Any]) -> Section:
    stats = ("mean", "median", "std", "max")
    rows = [
        [LABELS[name], *(metrics["per_sample"][name][s] for s in stats)]
        for name in LABELS
        if name in metrics["per_sample"]
    ]
    baseline = metrics["mean_baseline_rel_l2"]
    body = markdown_table(["metric", *stats], rows) + (
        f"\n\nPredicting the training mean field gives relative L2 {format_value(baseline)}. "
        "Definitions: docs/evaluation.md."
    )
    return Section(f"Errors over {metrics['n_samples']} samples", body)


def _speed_section(metrics: dict[str, Any]) -> Section:
    rows = [
        ["inference s/sample", metrics["inference_seconds_per_sample"]],
        ["solver s/sample", metrics["solver_seconds_per_sample"]],
        ["speed-up over the solver", metrics["speedup_vs_solver"]],
    ]
    body = markdown_table(["", metrics["device"]], rows) + (
        "\n\nInference is timed on the device above, batch by batch after one warm-up batch; "
        "the solver time is the dataset's own record of how long each sample took."
    )
    return Section("Speed", body)


def _figure_section(run_dir: Path, figures: Sequence[Path]) -> Section:
    body = "\n\n".join(
        f"![{path.stem}]({Path(os.path.relpath(path, run_dir)).as_posix()})" for path in figures
    )
    return Section("Figures", body)


def weights_description(averaged_decay: float | None) -> str:
    """Which weights a checkpoint holds: those training ended with, or their average."""
    if averaged_decay is None:
        return "as training ended"
    return f"exponential moving average of training's (ema.decay={averaged_decay:g})"


def write_report(
    run_dir: Path,
    metrics: dict[str, Any],
    figures: Sequence[Path] = (),
    extra_sections: Sequence[Section] = (),
) -> Path:
    """Write <run_dir>/report.md from metrics.json's content; returns its path."""
    resolution = "×".join(map(str, metrics["resolution"]))
    trained = "×".join(map(str, metrics["trained_resolution"]))
    header = [
        f"# Evaluation of {metrics['model']} on the {metrics['split']} split",
        "",
        f"- checkpoint: `{metrics['checkpoint']}` ({metrics['parameters']} parameters)",
        f"- weights: {metrics['weights']}",
        f"- dataset: `{metrics['dataset']}`",
        f"- resolution: {resolution} (trained on {trained}"
        + ("; zero-shot on a resolution it was not trained on)" if resolution != trained else ")"),
    ]
    if metrics.get("warning"):
        header += ["", f"> **Warning:** {metrics['warning']}"]
    sections = [_metric_section(metrics)] if "per_sample" in metrics else []
    sections.append(_speed_section(metrics))
    if figures:
        sections.append(_figure_section(run_dir, figures))
    sections += extra_sections
    text = "\n".join(header) + "".join(f"\n\n## {s.title}\n\n{s.body}" for s in sections)
    path = run_dir / "report.md"
    path.write_text(text + "\n")
    return path
