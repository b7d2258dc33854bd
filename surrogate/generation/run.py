"""The generate stage: sample PDE problems, solve them, write the splits of a dataset."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from surrogate.checks import check_generate
from surrogate.data.schema import SPLITS, split_filename
from surrogate.data.writer import SplitWriter
from surrogate.errors import UserError
from surrogate.generation.batched import check_backend
from surrogate.generation.disk import generation_faults, stop_if_interrupted
from surrogate.generation.initial_guess import check_initial_guess, initial_guess_attrs
from surrogate.generation.lock import dataset_lock
from surrogate.generation.progress import progress
from surrogate.generation.resources import check_grid, check_resources
from surrogate.generation.shards import parse_shard, shard_of, shard_path
from surrogate.generation.solving import SolvedSample, plan_chains, solve_order
from surrogate.generation.workers import SolverWorkers, solve_chains, solver_workers
from surrogate.pdes import build_pde
from surrogate.pdes.base import PDEFamily, systems_of
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
    """The part of the config that defines the dataset's contents, as YAML (no paths or dates).

    backend=torch is recorded (its samples agree with numpy's to rounding, not bit for bit);
    the numpy backend is not, so that datasets made before the key existed stay up to date.
    Neither device nor batch_size is: a lane does not depend on its batch, and devices differ
    by rounding only. Settings that did not exist before are recorded only where they act, so
    that datasets made before them stay up to date: `solver.mg` when mg is the preconditioner,
    `solver.shift` and `solver.shift_rebuild` when shifted_amg is (`solver.shift` also for
    GMRES and GCRO-DR with mg, which shifts alike; CG's SPD families have no shift),
    `solver.recycle_batch` with backend=torch, `dtype` when it is not float64 (backend=torch's
    dtype=float32), `solver.initial_guess` when set (the checkpoint's digest goes into the
    split's attributes, `initial_guess_sha256`).
    """
    resolved = OmegaConf.to_container(cfg, resolve=True)
    keys = DATASET_KEYS + (("backend",) if resolved["backend"] != "numpy" else ())
    keys += ("dtype",) if resolved["dtype"] != "float64" else ()
    solver = resolved["solver"]
    if solver.get("preconditioner") != "mg":
        solver.pop("mg", None)
    if solver.get("preconditioner") != "shifted_amg":
        solver.pop("shift_rebuild", None)
        if solver.get("preconditioner") != "mg" or solver["name"] == "cg":  # CG's shift is 0
            solver.pop("shift", None)
    if resolved["backend"] == "numpy":
        solver.pop("recycle_batch", None)
    if solver.get("initial_guess", 0) is None:
        del solver["initial_guess"]
    return OmegaConf.to_yaml({key: resolved[key] for key in keys})


def _stored_config(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as file:
            return str(file.attrs.get("config"))
    except OSError:
        return None


def generate(cfg: DictConfig) -> dict[str, dict[str, float]]:
    """Check the config, then write every requested split of the dataset; returns per-split
    solver summaries (`generate_checked`)."""
    check_generate(cfg)
    return generate_checked(cfg)


def generate_checked(cfg: DictConfig) -> dict[str, dict[str, float]]:
    """`generate` for a config `check_generate` has passed (the CLI runs it before the heavy
    imports): the checks that need the family (grid, solver, resources), once, then the work.

    With `shard=i/n` only the i-th piece of each split is solved, into its own shard file; a
    later run without `shard` merges the finished shards and solves whatever is left.
    """
    shard = parse_shard(cfg.shard)
    check_grid(cfg)
    check_backend(cfg)
    pde = build_pde(cfg.pde)
    check_solver(cfg, systems_of(pde))
    check_initial_guess(cfg, pde)
    check_resources(cfg, pde, shard)
    directory = Path(cfg.paths.data_dir) / cfg.name
    config_yaml = dataset_config(cfg)
    sizes = {split: int(cfg[f"n_{split}"]) for split in SPLITS}
    with (
        generation_faults(directory),
        dataset_lock(directory, shard),
        solver_workers(cfg, pde) as workers,  # their start-up beside the checks and the sort
    ):
        stale = _stale_splits(cfg, directory, config_yaml, sizes)
        summaries = {}
        for split, n in sizes.items():
            path = directory / split_filename(split)
            if n == 0:
                continue
            if path.exists() and path not in stale:
                log.info("%s is up to date", path)
                continue
            summaries[split] = _generate_split(
                cfg, pde, split, n, path, config_yaml, shard, workers
            )
    return summaries


def _stale_splits(cfg: DictConfig, directory: Path, config_yaml: str, sizes: dict) -> list[Path]:
    """The split files written with another config: refused unless `overwrite`, then redone
    (or removed, for a split no longer asked for)."""
    existing = [
        directory / split_filename(s) for s in SPLITS if (directory / split_filename(s)).exists()
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
    return stale


@dataclass
class SplitTally:
    """What the solves of one split added up to, for its summary and log line."""

    split: str
    solver: str
    solved: int = 0
    iterations: int = 0
    seconds: float = 0.0
    unconverged: int = 0
    fallbacks: int = 0
    start: float = field(default_factory=time.perf_counter)

    def add(self, sample: SolvedSample) -> None:
        result = sample.result
        if result.fallback:
            self.fallbacks += 1
            log.warning(
                "%s sample %d: %s missed rtol after %d iterations; solved directly instead",
                self.split,
                sample.index,
                self.solver,
                result.iterations,
            )
        if not result.converged:
            self.unconverged += 1
            log.warning(
                "%s sample %d: residual %.2e above rtol; stored and flagged unconverged",
                self.split,
                sample.index,
                result.residual,
            )
        self.solved += 1
        self.iterations += result.iterations
        self.seconds += result.seconds

    def mean_iterations(self) -> float:
        return self.iterations / self.solved if self.solved else 0.0


def _generate_split(
    cfg: DictConfig,
    pde: PDEFamily,
    split: str,
    n: int,
    path: Path,
    config_yaml: str,
    shard: tuple[int, int] | None,
    workers: SolverWorkers | None,
) -> dict:
    """Order the split, open its file (or this shard's), solve what is pending, summarise."""
    start = time.perf_counter()
    order = solve_order(cfg, pde, split, n)
    sort_seconds = time.perf_counter() - start
    subset = None
    if shard is not None:  # this shard's contiguous run of the order's segments
        order = shard_of(order, int(cfg.segment), shard)
        subset = {int(i) for i in order}
    shards = sorted(path.parent.glob(f"{path.stem}.shard-*-of-*.h5"))
    writer = SplitWriter(
        path if shard is None else shard_path(path, shard),
        n,
        pde.fields,
        pde.grid(),
        attrs={
            "name": cfg.name,
            "split": split,
            "pde": pde.name,
            "config": config_yaml,
            **initial_guess_attrs(cfg),
        },
        flush_seconds=float(cfg.flush_seconds),
        subset=subset,
    )
    try:
        if shard is None:
            for piece in shards:
                log.info("merged %d samples from %s", writer.adopt(piece), piece)
        tally, redo = _solve_pending(cfg, split, n, order, writer, workers)
        writer.finish()
    finally:
        writer.close()
    if shard is None:
        for piece in shards:  # every sample of theirs is now in the complete split file
            piece.unlink()
    return _summary(tally, n, redo, sort_seconds, writer.path)


def _solve_pending(
    cfg: DictConfig,
    split: str,
    n: int,
    order: np.ndarray,
    writer: SplitWriter,
    workers: SolverWorkers | None,
) -> tuple[SplitTally, int]:
    """Solve every segment with a pending sample, writing each sample as it comes."""
    chains = plan_chains(order, set(writer.pending()), int(cfg.workers), int(cfg.segment))
    redo = sum(len(segment) for chain in chains for segment in chain)
    tally = SplitTally(split, str(cfg.solver.name))
    with progress(split, n, n - redo) as advance:
        for sample in solve_chains(cfg, split, chains, workers):
            tally.add(sample)
            writer.write(sample.index, sample.inputs, sample.outputs, sample.params, sample.result)
            advance(tally.mean_iterations())
            stop_if_interrupted()
    return tally, redo


def _summary(tally: SplitTally, n: int, redo: int, sort_seconds: float, path: Path) -> dict:
    elapsed = time.perf_counter() - tally.start
    log.info(
        "%s: %d samples -> %s (%d solved now in %.1f s after %.2f s sorting; %d fallbacks, %d unconverged)",
        tally.split,
        n,
        path,
        redo,
        elapsed,
        sort_seconds,
        tally.fallbacks,
        tally.unconverged,
    )
    return {
        "samples": n,
        "solved_now": redo,
        "seconds": elapsed,
        "sort_seconds": sort_seconds,
        "solver_seconds_mean": tally.seconds / tally.solved if tally.solved else 0.0,
        "iterations_mean": tally.mean_iterations(),
        "fallbacks": tally.fallbacks,
        "unconverged": tally.unconverged,
    }
