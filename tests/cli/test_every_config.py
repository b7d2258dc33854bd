"""Every option of every config group (conf/<group>/<option>.yaml) composes through Hydra and
is built through its registry: a new YAML file is tested here with no edit to this file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, compose_stage
from omegaconf import OmegaConf

from surrogate.checks import check_generate, check_train
from surrogate.models import build_model
from surrogate.pdes import FAMILIES, build_pde
from surrogate.pdes.base import systems_of
from surrogate.pdes.darcy import assemble_darcy
from surrogate.solvers import SOLVERS, build_solver, check_solver, resolve_sort
from surrogate.solvers.sorts import SORTS
from surrogate.training.loggers import build_logger

CONF = REPO_ROOT / "conf"
STAGES = ("generate", "train", "eval")


def stage_of(group: str) -> str:
    """The first stage whose defaults list has `group`."""
    for stage in STAGES:
        defaults = OmegaConf.load(CONF / f"{stage}.yaml").defaults
        if any(OmegaConf.is_dict(entry) and group in entry for entry in defaults):
            return stage
    raise AssertionError(f"conf/{group}/ belongs to no stage")


OPTIONS = sorted(
    (path.parent.name, path.stem)
    for path in CONF.glob("*/*.yaml")
    if path.parent.name != "hydra"  # Hydra's own settings (run directories, launcher)
)


def small_system():
    a = np.exp(np.random.default_rng(0).standard_normal((14, 14)))
    return assemble_darcy(a, np.ones((12, 12)))


def build_generate_option(group: str, option: str, cfg) -> None:
    check_generate(cfg)
    if group == "pde":
        pde = build_pde(cfg.pde)
        assert isinstance(pde, FAMILIES.get(option)) and pde.fields.output_shape
        assert pde.dimensions == len(pde.fields.spatial_shape)
    darcy = systems_of(build_pde(cfg.pde)) if group != "pde" else systems_of(pde)
    if group == "solver":
        assert SOLVERS.get(option) is not None
        check_solver(cfg, darcy)
        matrix, rhs = small_system()
        assert (
            build_solver(cfg.solver, darcy, np.random.default_rng(0), 2)
            .solve(matrix, rhs)
            .converged
        )
    if group == "sort":
        sort = resolve_sort(cfg, darcy, 6, 6 * 16 * 4)
        features = np.random.default_rng(0).standard_normal((6, 16))
        order = SORTS.get(sort.name).order(sort, features.__getitem__, 6, 16, 0)
        assert sorted(order) == list(range(6))


def build_train_option(group: str, option: str, cfg, tmp_path: Path) -> None:
    check_train(cfg)
    if group == "model":
        model = build_model(cfg.model, 1, 1, 2, grid=(16, 16))
        assert sum(p.numel() for p in model.parameters()) > 0
    if group == "logger":
        assert build_logger(cfg.logger, tmp_path) is not None


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_config_option_composes_and_builds(group, option, tmp_path):
    stage = stage_of(group)
    overrides = [f"{group}={option}"] if group != "paths" else []
    if stage == "train":
        overrides.append("data=x")
        if group == "trainer" and option == "ddp":
            overrides.append("trainer.devices=1")
    cfg = compose_stage(stage, tmp_path, overrides)
    assert cfg[group] is not None
    if stage == "generate":
        build_generate_option(group, option, cfg)
    elif stage == "train":
        build_train_option(group, option, cfg, tmp_path)
