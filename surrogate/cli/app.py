"""Shared plumbing of the stage apps: where the configs live and how errors are reported."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from surrogate.cli.config_errors import composed, composition_errors_as_one_line
from surrogate.cli.configs import config_dir
from surrogate.cli.run_mode import one_composition
from surrogate.errors import UserError


def stage_app(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Wrap a stage function as a Hydra app whose user errors end in one line and exit code 2
    (130 when interrupted), as do Hydra's errors in composing the config.

    With HYDRA_FULL_ERROR=1 the exception propagates with its full traceback instead.
    """

    def decorate(stage: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @hydra.main(config_path=config_dir(), config_name=config_name, version_base="1.3")
        @functools.wraps(stage)
        def run(cfg: DictConfig) -> Any:
            composed()
            try:
                return stage(cfg)
            except KeyboardInterrupt:
                print("error: interrupted", file=sys.stderr, flush=True)
                sys.exit(130)
            except UserError as error:
                if os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                logging.getLogger("surrogate").debug("user error", exc_info=True)
                print(f"error: {error}", file=sys.stderr, flush=True)
                remove_refused_run_dir(Path(cfg.paths.output_root))
                sys.exit(error.exit_code)

        @functools.wraps(stage)
        def main() -> Any:
            with composition_errors_as_one_line(config_name), one_composition():
                return run()

        return main

    return decorate


def remove_refused_run_dir(output_root: Path) -> None:
    """Delete the run directory Hydra made for a command refused before it wrote anything (only
    Hydra's own `.hydra/` and the log are in it), and the folders above it up to `output_root`
    that are left empty: a refused command leaves nothing behind. A run directory holding
    anything else (checkpoints, a resumed run's files) is kept."""
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir).resolve()
    if not run_dir.is_dir() or any(
        entry.name != hydra_config.output_subdir and entry.suffix != ".log"
        for entry in run_dir.iterdir()
    ):
        return
    logging.shutdown()  # the log file's handler lets go of it
    shutil.rmtree(run_dir, ignore_errors=True)
    root = output_root.resolve()
    for folder in run_dir.parents:
        if (folder != root and root not in folder.parents) or any(folder.iterdir()):
            break
        folder.rmdir()
