"""Shared fixtures: configs composed like the CLI does, and a tiny dataset made once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from surrogate.cli.app import config_dir
from surrogate.training.process_group import DISTRIBUTED_VARIABLES

TINY_MODEL = ["model.modes=4", "model.width=8", "model.n_layers=2", "model.projection_width=16"]
REPO_ROOT = Path(__file__).resolve().parent.parent


def compose_stage(stage: str, root: Path, overrides: list[str]) -> DictConfig:
    """The stage's config with data and outputs under `root`, as `surrogate <stage>` builds it."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(
            config_name=stage,
            overrides=[
                f"paths.data_dir={root / 'data'}",
                f"paths.output_dir={root / 'outputs' / stage}",
                *overrides,
            ],
        )


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    def _make(stage: str, *overrides: str) -> DictConfig:
        return compose_stage(stage, tmp_path, list(overrides))

    return _make


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/tiny: Darcy 16x16, 24 train and 8 test samples. Returns the project root it is under."""
    from surrogate.generation.run import generate

    root = tmp_path_factory.mktemp("tiny")
    cfg = compose_stage(
        "generate", root, ["pde.resolution=16", "n_train=24", "n_test=8", "name=tiny", "seed=0"]
    )
    generate(cfg)
    return root


def run_cli(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """`surrogate <args>` in a subprocess, as a user would type it. The timeout only stops a
    hang: on a loaded machine a command may take many times its usual time."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A user's shell has none of these; a test session started under torchrun or in a
    # distributed job would (a DDP command inheriting them waits for ranks nobody launches).
    for name in ("HYDRA_FULL_ERROR", *DISTRIBUTED_VARIABLES):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "surrogate.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread than on two cores shared with other work."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
