"""Hydra's config composition errors as one line that lists the valid choices.

Hydra prints several lines (and a search path) for an unknown key, an unknown option of a
config group or an override it cannot parse, and exits 1. `surrogate` reports them like its own
checks: `error: <what is wrong>; <the valid choices>`, exit code 2, before any work.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from surrogate.cli.configs import config_dir

FULL_ERROR = "HYDRA_FULL_ERROR"
_composing = False


@contextmanager
def composition_errors_as_one_line(stage: str) -> Iterator[None]:
    """Run a Hydra app; an error while composing its config exits 2 with one line.

    Hydra raises (instead of printing) when HYDRA_FULL_ERROR=1, so that is set while it composes
    the config; `composed()`, called first in the task, restores the user's setting so errors of
    the stage itself are reported as before. A user who set HYDRA_FULL_ERROR=1 gets Hydra's
    traceback unchanged.
    """
    global _composing
    if os.environ.get(FULL_ERROR) == "1":
        yield
        return
    os.environ[FULL_ERROR] = "1"
    _composing = True
    try:
        yield
    except HydraException as error:
        if not _composing:
            raise
        print(f"error: {describe(error, stage)}", file=sys.stderr, flush=True)
        sys.exit(2)
    finally:
        composed()


def composed() -> None:
    """The config is composed: from now on Hydra reports errors its usual way."""
    global _composing
    if _composing:
        os.environ.pop(FULL_ERROR, None)
        _composing = False


def describe(error: HydraException, stage: str) -> str:
    """One line: what is wrong with the command line and what would be valid."""
    if isinstance(error, MissingConfigException) and error.missing_cfg_file and error.options:
        group, _, option = error.missing_cfg_file.rpartition("/")
        return f"{group}={option} is unknown; choose one of: {', '.join(error.options)}"
    if isinstance(error, OverrideParseException):
        reason = str(error).splitlines()[0]
        return f"cannot parse the override '{error.override}' ({reason}); write key=value"
    cause = error.__cause__
    full_key = getattr(cause, "full_key", None)
    parent = getattr(cause, "parent_node", None)
    if full_key and isinstance(parent, DictConfig):
        prefix = full_key.rpartition(".")[0]
        keys = [f"{prefix}.{key}" if prefix else str(key) for key in parent if key != "hydra"]
        return f"unknown key {full_key}; choose one of: {', '.join(keys)}"
    message = str(error).splitlines()[0]
    if "No match in the defaults list" in message:
        group = message.split("'")[1]
        groups = ", ".join(stage_groups(stage))
        return f"{group} is not a config group of `surrogate {stage}`; choose one of: {groups}"
    return message


def stage_groups(stage: str) -> list[str]:
    """The config groups a stage's config is composed of (model, trainer, ...)."""
    defaults = OmegaConf.load(os.path.join(config_dir(), f"{stage}.yaml")).get("defaults", [])
    return [
        str(next(iter(entry)))
        for entry in defaults
        if isinstance(entry, DictConfig) and next(iter(entry)) != "hydra"
    ]
