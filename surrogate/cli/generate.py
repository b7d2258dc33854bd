"""`surrogate generate`: solve a family of PDEs and write data/<name>/{train,valid,test}.h5."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from surrogate.checks import check_generate
from surrogate.cli.app import stage_app
from surrogate.cli.command import run_command


@stage_app("generate")
def main(cfg: DictConfig) -> None:
    check_generate(cfg)  # before the heavy imports, so bad input fails at once
    from surrogate.generation.run import generate_checked

    summaries = generate_checked(cfg)  # the checks that need the family, then the work
    table = Table(
        title=f"dataset {cfg.paths.data_dir}/{cfg.name} ({cfg.solver.name}, sort={cfg.sort.name})"
    )
    columns = (
        "split",
        "samples",
        "solved now",
        "wall s",
        "sort s",
        "solver s/sample",
        "mean iterations",
        "fallbacks",
        "unconverged",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for split, s in summaries.items():
        table.add_row(
            split,
            str(s["samples"]),
            str(s["solved_now"]),
            f"{s['seconds']:.2f}",
            f"{s['sort_seconds']:.2f}",
            f"{s['solver_seconds_mean']:.4f}",
            f"{s['iterations_mean']:.1f}",
            str(s["fallbacks"]),
            str(s["unconverged"]),
        )
    Console(width=140).print(
        table if summaries else f"dataset {cfg.paths.data_dir}/{cfg.name} is up to date"
    )
    _print_digests(Path(cfg.paths.data_dir) / cfg.name)


def _print_digests(directory: Path) -> None:
    """One line per split file: equal digests mean equal data (docs/reliability.md)."""
    from surrogate.data.digest import stored_digest
    from surrogate.data.schema import SPLITS, split_filename

    for split in SPLITS:
        path = directory / split_filename(split)
        if path.exists():
            digest = stored_digest(path) or "none (written before digests were recorded)"
            print(f"digest {path}: {digest}")


if __name__ == "__main__":
    run_command(main)
