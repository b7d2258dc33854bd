"""The generate stage: sample PDE problems, solve them, write the splits of a dataset."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from surrogate.checks import check_generate
from surrogate.data.chains import plan_chains, solve_chains, solve_order, timed
from surrogate.data.disk import generation_faults, stop_if_interrupted
from surrogate.data.lock import dataset_lock
from surrogate.data.resources import check_grid, check_resources
from surrogate.data.schema import SPLITS, split_filename
from surrogate.data.writer import SplitWriter
from surrogate.errors import UserError
from surrogate.pdes import build_pde
from surrogate.pdes.base import systems_of
from surrogate.solvers import check_solver

log = logging.getLogger(__name__)

DATASET_KEYS = (
    "name",
    "seed",
    "n_train",
    "n_valid",
    "n_test",
    "pde",
    "solver",
    "sort",
    "workers",
    "segment",
)


def dataset_config(cfg: DictConfig) -> str:
    """The part of the config that defines the dataset's contents, as YAML (no paths or dates)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return OmegaConf.to_yaml({key: resolved[key] for key in DATASET_KEYS})


def _stored_config(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as file:
            return str(file.attrs.get("config"))
    except OSError:
        return None


def parse_shard(shard: object) -> tuple[int, int] | None:
    """`shard=i/n` -> (i, n): this run solves the i-th of n contiguous pieces of the order."""
    if shard is None:
        return None
    parts = str(shard).split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not int(parts[0]) < int(parts[1]):
        raise UserError(f"shard={shard} must be i/n with 0 <= i < n, e.g. shard=0/4")
    return int(parts[0]), int(parts[1])


def shard_path(path: Path, shard: tuple[int, int]) -> Path:
    return path.with_name(f"{path.stem}.shard-{shard[0]}-of-{shard[1]}.h5")


def generate(cfg: DictConfig) -> dict[str, dict[str, float]]:
    """Write every requested split of the dataset; returns per-split solver summaries.

    With `shard=i/n` only the i-th piece of each split is solved, into its own shard file; a
    later run without `shard` merges the finished shards and solves whatever is left.
    """
    check_generate(cfg)
    shard = parse_shard(cfg.shard)
    check_grid(cfg)
    pde = build_pde(cfg.pde)
    check_solver(cfg, systems_of(pde))
    check_resources(cfg, pde, shard)
    directory = Path(cfg.paths.data_dir) / cfg.name
    config_yaml = dataset_config(cfg)
    sizes = {split: int(cfg[f"n_{split}"]) for split in SPLITS}

    with generation_faults(directory), dataset_lock(directory, shard):
        existing = [
            directory / split_filename(s)
            for s in SPLITS
            if (directory / split_filename(s)).exists()
        ]
        stale = [p for p in existing if _stored_config(p) != config_yaml]
        if stale and not cfg.overwrite:
            raise UserError(
                f"dataset {directory} exists with another config; choose another name= "
                "or pass overwrite=true to replace it"
            )
        for path in stale:
            if sizes[path.stem] == 0:
                path.unlink()
        summaries = {}
        for split, n in sizes.items():
            path = directory / split_filename(split)
            if n == 0:
                continue
            if path.exists() and path not in stale:
                log.info("%s is up to date", path)
                continue
            summaries[split] = _generate_split(cfg, pde, split, n, path, config_yaml, shard)
    return summaries


def _generate_split(
    cfg, pde, split: str, n: int, path: Path, config_yaml: str, shard: tuple[int, int] | None
) -> dict:
    order, sort_seconds = timed(solve_order, cfg, pde, split, n)
    subset = None
    if shard is not None:  # this shard's contiguous piece of the order is its whole chain
        order = np.array_split(order, shard[1])[shard[0]]
        subset = {int(i) for i in order}
    shards = sorted(path.parent.glob(f"{path.stem}.shard-*-of-*.h5"))
    writer = SplitWriter(
        path if shard is None else shard_path(path, shard),
        n,
        pde.fields,
        pde.grid(),
        attrs={"name": cfg.name, "split": split, "pde": pde.name, "config": config_yaml},
        flush_seconds=float(cfg.flush_seconds),
        subset=subset,
    )
    try:
        if shard is None:
            for piece in shards:
                log.info("merged %d samples from %s", writer.adopt(piece), piece)
        pending = set(writer.pending())
        chains = plan_chains(order, pending, int(cfg.workers), int(cfg.segment))
        solved, iterations, seconds, unconverged, fallbacks = 0, 0, 0.0, 0, 0
        start = time.perf_counter()
        redo = sum(len(segment) for chain in chains for segment in chain)
        with _progress(split, n, n - redo) as advance:
            for sample in solve_chains(cfg, split, chains):
                result = sample.result
                if result.fallback:
                    fallbacks += 1
                    log.warning(
                        "%s sample %d: %s missed rtol after %d iterations; solved directly instead",
                        split,
                        sample.index,
                        cfg.solver.name,
                        result.iterations,
                    )
                if not result.converged:
                    unconverged += 1
                    log.warning(
                        "%s sample %d: residual %.2e above rtol; stored and flagged unconverged",
                        split,
                        sample.index,
                        result.residual,
                    )
                writer.write(sample.index, sample.inputs, sample.outputs, sample.params, result)
                solved += 1
                iterations += result.iterations
                seconds += result.seconds
                advance(iterations / solved)
                stop_if_interrupted()
        writer.finish()
    finally:
        writer.close()
    if shard is None:
        for piece in shards:  # every sample of theirs is now in the complete split file
            piece.unlink()
    elapsed = time.perf_counter() - start
    summary = {
        "samples": n,
        "solved_now": redo,
        "seconds": elapsed,
        "sort_seconds": sort_seconds,
        "solver_seconds_mean": seconds / solved if solved else 0.0,
        "iterations_mean": iterations / solved if solved else 0.0,
        "fallbacks": fallbacks,
        "unconverged": unconverged,
    }
    log.info(
        "%s: %d samples -> %s (%d solved now in %.1f s after %.2f s sorting; %d fallbacks, %d unconverged)",
        split,
        n,
        writer.path,
        redo,
        elapsed,
        sort_seconds,
        fallbacks,
        unconverged,
    )
    return summary


@contextmanager
def _progress(split: str, total: int, done: int) -> Iterator:
    """A rich progress bar on a terminal; a log line every 10 % otherwise."""
    console = Console(stderr=True)
    if not console.is_terminal:
        start = last = time.perf_counter()
        count = 0

        def advance(mean_iterations: float) -> None:
            nonlocal count, last
            count += 1
            now = time.perf_counter()
            if now - last > 10.0 or done + count == total:
                last = now
                log.info(
                    "%s %d/%d  %.1f samples/s  mean iters %.1f",
                    split,
                    done + count,
                    total,
                    count / (now - start),
                    mean_iterations,
                )

        yield advance
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} samples/s  mean iters {task.fields[iters]:.1f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(split, total=total, completed=done, rate=0.0, iters=0.0)
        start = time.perf_counter()
        count = 0

        def advance(mean_iterations: float) -> None:
            nonlocal count
            count += 1
            rate = count / (time.perf_counter() - start)
            progress.update(task, advance=1, rate=rate, iters=mean_iterations)

        yield advance
