"""The config fuzz: every stage, config group option and scalar leaf key, with bad values.

A case is one override `key=value` on a small, fast base config of a stage and group option.
Its outcome is `refused` (one line `error: ...`, exit 2: a UserError), `ran` (the stage
completed) or `failed` (a traceback, another exit code, or more than one line). A case that
ran must be listed in ACCEPTED with the reason the value is usable: anything else that runs is a
value silently accepted. Cases in NOT_RUN are accepted by design but would run for too long
(10^12 epochs); for them only the up-front checks run.

The same cases run in-process (compose + the stage's own function, as the CLI calls it: fast)
or through the real CLI in a subprocess (`surrogate <stage> ...`: the slow, full sweep).
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import compose_stage, run_cli
from omegaconf import DictConfig, OmegaConf

from surrogate.errors import UserError

HUGE = "1000000000000"
VALUES = {"zero": "0", "negative": "-1", "huge": HUGE, "wrong_type": None, "empty": ""}
GROUPS = {
    "generate": ("pde", "solver", "sort"),
    "train": ("model", "trainer", "logger"),
    "eval": (),
}
SKIPPED_KEYS = ("paths.output_dir", "paths.output_root", "hydra")  # set by the harness, or Hydra's
TINY_PDE = {
    "darcy": ["pde.resolution=8"],
    "darcy3d": ["pde.resolution=5"],
    "poisson": ["pde.resolution=8"],
    "helmholtz": ["pde.resolution=16"],
    "helmholtz3d": ["pde.resolution=8"],
    "heat": ["pde.resolution=9"],
    "heat_transient": ["pde.resolution=8", "pde.time_steps=3"],
    "navier_stokes": ["pde.resolution=16", "pde.time_steps=3", "pde.record_dt=0.05"],
    "burgers": ["pde.resolution=32", "pde.time_steps=3"],
}
TINY_MODEL = {
    "fno": ["model.modes=4", "model.width=8", "model.n_layers=2", "model.projection_width=16"],
    "mgno": ["model.width=8", "model.n_layers=1", "model.n_levels=2"],
    "unet": ["model.width=8", "model.channel_multipliers=[1,2]"],
    "deeponet": [
        "model.n_sensors=4",
        "model.basis=8",
        "model.branch_width=16",
        "model.trunk_width=16",
        "model.branch_layers=1",
        "model.trunk_layers=1",
    ],
    "galerkin": ["model.width=8", "model.n_heads=2", "model.n_layers=1", "model.ffn_width=16"],
}
BASE = {
    "generate": ["n_train=2", "n_valid=0", "n_test=1", "name=fuzz", "workers=1"],
    "train": [
        "data=tiny",
        "trainer.max_epochs=1",
        "loader.num_workers=0",
        "loader.batch_size=8",
        "logger=none",
    ],
    "eval": ["figures.n_samples=1", "rollout.figures=0"],
}

Z, N, H, W = "zero", "negative", "huge", "wrong_type"
# (stage, key) or (stage, group option, key): the "bad" values that are usable, and why.
# Everything else must be refused in one line.
ACCEPTED: dict[tuple[str, ...], tuple[tuple[str, ...], str]] = {
    ("generate", "seed"): ((Z, H), "any seed >= 0 (numpy's SeedSequence takes any size)"),
    ("generate", "n_train"): ((Z,), "a split may be empty while another is not"),
    ("generate", "n_valid"): ((Z,), "a split may be empty while another is not"),
    ("generate", "n_test"): ((Z,), "a split may be empty while another is not"),
    ("generate", "workers"): ((H,), "never more worker processes than samples (2 here)"),
    ("generate", "segment"): ((H,), "one segment per chain: the solver state is never reset"),
    ("generate", "flush_seconds"): ((Z, H), "flush after every sample, or only at the end"),
    ("generate", "batch_size"): ((H,), "never more lanes than samples (2 here)"),
    ("generate", "pde.forcing"): ((Z, N, H), "any constant right-hand side"),
    ("generate", "pde.forcing_amplitude"): ((Z, H), "unforced (0) or strongly forced flow"),
    ("generate", "pde.forcing_scale"): ((H,), "a scale of the random forcing"),
    ("generate", "pde.boundary_scale"): ((H,), "a scale of the random boundary data"),
    ("generate", "pde.temperature_scale"): ((H,), "a scale of the random temperatures"),
    ("generate", "pde.flux_scale"): ((H,), "a scale of the random fluxes"),
    ("generate", "pde.conductivity"): ((H,), "any conductivity > 0"),
    ("generate", "pde.degree"): ((Z,), "constant Chebyshev data"),
    ("generate", "pde.dt"): ((H,), "implicit steps are stable at any dt (the steady state)"),
    ("generate", "pde.reaction_rate"): ((Z, H), "used by pde.reaction=fisher only"),
    ("generate", "pde.viscosity"): ((H,), "any viscosity > 0 (ETDRK4 is exact for it)"),
    ("generate", "pde.max_dt"): ((H,), "the CFL condition then bounds the step"),
    ("generate", "pde.grf.tau"): ((H,), "a nearly constant field (length scale 1/tau)"),
    ("generate", "pde.initial.tau"): ((H,), "a nearly constant initial field"),
    ("generate", "pde=burgers", "pde.initial.alpha"): ((H,), "ever smoother u0 (vanishing)"),
    ("generate", "pde=heat_transient", "pde.initial.scale"): ((H,), "the initial field's scale"),
    ("generate", "pde.wavenumber.min"): ((Z,), "k in [0, max]"),
    ("generate", "solver.maxiter"): ((H,), "the solve stops when it converges"),
    ("generate", "solver=gmres", "solver.k"): ((Z,), "GMRES recycles nothing: k=0, its default"),
    ("generate", "solver.reuse_preconditioner"): ((Z, H), "rebuild always, or once a chain"),
    ("generate", "solver.ilu_fill_factor"): ((H,), "a bound only: ILU stops at full fill"),
    ("generate", "solver.ilu_drop_tol"): ((Z,), "drop nothing: exact ILU(0)"),
    ("generate", "solver.shift"): ((Z, H), "any beta >= 0 keeps the shifted operator SPD"),
    ("generate", "solver.shift_rebuild"): ((Z, H), "a new hierarchy always, or once a segment"),
    ("generate", "solver.skip_update"): ((Z,), "GCRO-DR updates after every cycle that restarts"),
    ("generate", "sort.bin_size"): ((H,), "one bin: greedy over the whole split"),
    ("generate", "sort.greedy_max"): ((Z, H), "binned for every split, or greedy for every split"),
    ("train", "seed"): ((Z,), "any seed below 2^32"),
    ("train", "early_stopping.patience"): ((H,), "never stops early"),
    ("train", "early_stopping.min_delta"): ((Z, H), "any threshold >= 0"),
    ("train", "loader.batch_size"): ((H,), "one batch of the whole (24-sample) split"),
    ("train", "loader.num_workers"): ((Z,), "load in the training process"),
    ("train", "optim.weight_decay"): ((Z,), "no weight decay"),
    ("train", "optim.lr_by_model.mgno"): (
        (H,),
        "the rate of a model not trained here; trained, a rate of 1e12 ends in the NaN guard as optim.lr=1e12 does",
    ),
    ("train", "scheduler.warmup"): ((Z,), "no warm-up"),
    ("train", "scheduler.step_size"): ((H,), "the learning rate never decays"),
    ("train", "scheduler.gamma"): ((H,), "a growing learning rate: the NaN guard stops it"),
    ("train", "model.padding"): ((Z,), "no padding (periodic problems)"),
    ("train", "model.rank"): ((H,), "used with model.factorization=cp only"),
    ("train", "model.lifting_width"): ((H,), "used with model.lifting=mlp only"),
    ("train", "model.channel_mlp_width"): ((H,), "used with model.channel_mlp=true only"),
    ("train", "model.groups"): ((H,), "reduced to a divisor of the channels (documented)"),
    ("train", "trainer.gradient_clip_val"): ((Z, H), "0 is off in Lightning; huge never clips"),
    ("train", "trainer.log_every_n_steps"): ((H,), "no per-step logging; epochs still logged"),
    ("train", "trainer.num_sanity_val_steps"): ((Z, N, H), "none, -1 = all, or all of them"),
    ("train", "logger.entity"): ((W,), "'abc' is a valid W&B entity (offline)"),
    ("eval", "batch_size"): ((H,), "one batch of the whole split"),
    ("eval", "spectral.high"): ((H,), "an empty high band: its fRMSE is 0"),
    ("eval", "figures.n_samples"): ((Z, H), "no figures, or one per sample"),
    ("eval", "rollout.figures"): ((Z, H), "steady data: rollout options are not used"),
    ("eval", "rollout.threshold"): ((H,), "steady data: rollout options are not used"),
    ("eval", "rollout.blow_up"): ((H,), "steady data: rollout options are not used"),
}
# Accepted values whose run would take too long to finish in a test: only the checks run.
NOT_RUN: dict[tuple[str, ...], tuple[tuple[str, ...], str]] = {
    ("train", "trainer.max_epochs"): ((H,), "asks for 10^12 epochs"),
}


@dataclass(frozen=True)
class Case:
    stage: str
    option: tuple[str, ...]  # the group option overrides (e.g. pde=heat and its tiny size)
    key: str
    kind: str  # a key of VALUES
    value: str

    def overrides(self, extra: list[str]) -> list[str]:
        """The base, the group option, `extra` (the run's own settings), then the bad value."""
        return [*BASE[self.stage], *self.option, *extra, f"{self.key}={self.value}"]

    @property
    def name(self) -> str:
        option = ",".join(o for o in self.option if "=" in o and "." not in o.split("=")[0])
        return f"{self.stage}[{option}] {self.key}={self.value!r} ({self.kind})"


def options(stage: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(group, overrides) of every group option of a stage; group '' is the stage's defaults."""
    yield "", _tiny(stage, None, None)
    config_dir = Path(__file__).resolve().parent.parent / "conf"
    for group in GROUPS[stage]:
        for path in sorted((config_dir / group).glob("*.yaml")):
            yield group, (f"{group}={path.stem}", *_tiny(stage, group, path.stem))


def _tiny(stage: str, group: str | None, option: str | None) -> tuple[str, ...]:
    if stage == "generate":
        return tuple(TINY_PDE[option if group == "pde" else "darcy"])
    if stage == "train":
        return tuple(TINY_MODEL[option if group == "model" else "fno"])
    return ()


def leaf_keys(cfg: DictConfig, group: str) -> list[tuple[str, object]]:
    """(dotted key, default value) of the scalar leaves: the group's own keys for a group
    option, every other key for the stage's defaults."""
    container = OmegaConf.to_container(cfg, resolve=False)
    keys: list[tuple[str, object]] = []

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif not isinstance(node, list):
            keys.append((prefix, node))

    walk(container, "")
    groups = tuple(f"{g}." for stage_groups in GROUPS.values() for g in stage_groups)
    return [
        (key, value)
        for key, value in keys
        if not key.startswith(SKIPPED_KEYS)
        and (key.startswith(f"{group}.") if group else not key.startswith(groups))
    ]


def cases(stage: str, root: Path) -> list[Case]:
    """Every case of a stage (`root`: where its base config's data lie)."""
    found = []
    for group, option in options(stage):
        cfg = compose_stage(stage, root, [*BASE[stage], *option])
        for key, default in leaf_keys(cfg, group):
            if group == "" and key.startswith("name") and stage != "generate":
                continue
            for kind, value in VALUES.items():
                if value is None:  # a wrong type: a string for a number, a list for a string
                    value = "[1,2]" if isinstance(default, str) and "${" not in default else "abc"
                found.append(Case(stage, option, key, kind, value))
    return found


def expected(case: Case) -> str:
    """'ran' where ACCEPTED lists the value, 'checked' where NOT_RUN does, else 'refused'."""
    group_option = case.option[0] if case.option and "." not in case.option[0] else ""
    for table, outcome in ((NOT_RUN, "checked"), (ACCEPTED, "ran")):
        for entry in ((case.stage, group_option, case.key), (case.stage, case.key)):
            if case.kind in table.get(entry, ((), ""))[0]:
                return outcome
    return "refused"


def stage_function(stage: str):
    """The stage's own function, the one the CLI runs once Hydra has composed the config."""
    return importlib.import_module(f"surrogate.cli.{stage}").main.__wrapped__


def stage_checks(stage: str, cfg: DictConfig) -> None:
    """The up-front checks of a stage (for the cases in NOT_RUN)."""
    from surrogate.checks import check_eval, check_generate, check_train

    {"generate": check_generate, "train": check_train, "eval": check_eval}[stage](cfg)
    if stage == "train":
        from surrogate.training.trainer_config import check_trainer_devices

        check_trainer_devices(cfg, OmegaConf.to_container(cfg.trainer, resolve=True))


def run_in_process(case: Case, root: Path, work: Path, extra: list[str]) -> tuple[str, str]:
    """(outcome, detail) of a case run in this process: 'refused', 'ran', 'checked' or 'failed'."""
    overrides = [f"paths.output_dir={work / 'out'}", *case.overrides(extra)]
    try:
        cfg = compose_stage(stage=case.stage, root=root, overrides=overrides)
        if expected(case) == "checked":
            stage_checks(case.stage, cfg)
            return "checked", ""
        stage_function(case.stage)(cfg)
    except UserError as error:
        message = str(error)
        return ("refused", message) if "\n" not in message else ("failed", message)
    except Exception as error:  # what the fuzz is looking for
        return "failed", f"{type(error).__name__}: {error}"
    return "ran", ""


def run_through_cli(case: Case, root: Path, work: Path, extra: list[str]) -> tuple[str, str]:
    """(outcome, detail) of `surrogate <stage> <overrides>` run as a user would."""
    if expected(case) == "checked":
        return "checked", "not run through the CLI"
    work.mkdir(parents=True, exist_ok=True)
    own = [f"paths.data_dir={root / 'data'}", f"hydra.run.dir={work / 'out'}", *extra]
    try:
        result = run_cli([case.stage, *case.overrides(own)], work, timeout=600)
    except subprocess.TimeoutExpired:
        return "failed", "still running after 600 s"
    lines = result.stderr.strip().splitlines()
    if result.returncode == 0:
        return "ran", ""
    if result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "):
        return "refused", lines[0]
    return "failed", f"exit {result.returncode}: {result.stderr[-1500:]}"
