"""Results of a sweep per configuration: the runs whose overrides differ only in `seed`.

A paper reports mean ± std over seeds; `by_configuration` groups per-run rows by their
overrides without `seed=` and gives, for each metric, the mean, the sample standard deviation
(n - 1; none for a single run) and the count of runs that have the metric. Pure Python, since
the sweep's Hydra callback imports it before any job starts.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STATS = ("mean", "std", "count")


def configuration(overrides: str) -> str:
    """The overrides of a run without its seed (`model=fno seed=1` -> `model=fno`)."""
    kept = [o for o in overrides.split() if o.lstrip("+").partition("=")[0] != "seed"]
    return " ".join(kept) if kept else "(defaults)"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _seed(row: dict[str, Any]) -> str | None:
    """A run's seed: its result's, else its `seed=` override (a failed run has no result)."""
    if row.get("seed") not in (None, ""):
        return str(row["seed"])
    for override in str(row.get("overrides") or "").split():
        key, _, value = override.lstrip("+").partition("=")
        if key == "seed":
            return value
    return None


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean, sample std (None below two values) and count of the values."""
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "count": len(values),
    }


def by_configuration(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[dict]:
    """One row per configuration, in order of first appearance: `configuration`, the `seeds`
    of its runs (failed ones too), and `<metric>_mean`, `<metric>_std`, `<metric>_count` for each metric."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(configuration(str(row.get("overrides") or "")), []).append(row)
    table = []
    for name, members in groups.items():
        seeds = " ".join(s for s in (_seed(m) for m in members) if s is not None)
        entry: dict[str, Any] = {"configuration": name, "seeds": seeds}
        for metric in metrics:
            values = [v for v in (_finite(m.get(metric)) for m in members) if v is not None]
            entry.update({f"{metric}_{s}": v for s, v in summarize(values).items()})
        table.append(entry)
    return table


def columns(metrics: Sequence[str]) -> list[str]:
    return ["configuration", "seeds", *(f"{m}_{s}" for m in metrics for s in STATS)]


def mean_std(entry: dict[str, Any], metric: str) -> str:
    """`0.0123 ± 0.0011 (3)`: a table cell; `–` where no run has the metric."""
    mean, std, count = (entry[f"{metric}_{s}"] for s in STATS)
    if mean is None:
        return "–"
    spread = f" ± {std:.2g}" if std is not None else ""
    return f"{mean:.4g}{spread} ({count})"


def markdown(table: Sequence[dict[str, Any]], metrics: Sequence[str]) -> str:
    header = ["configuration", "seeds", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in table:
        cells = [entry["configuration"], entry["seeds"], *(mean_std(entry, m) for m in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(path: Path, table: Sequence[dict[str, Any]], metrics: Sequence[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(metrics))
        writer.writeheader()
        writer.writerows(table)
