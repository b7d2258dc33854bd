"""`one_composition`: Hydra's run mode read from the command line, the config composed once."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_cli
from omegaconf import OmegaConf

from surrogate.cli.run_mode import one_composition

GENERATE = ["generate", "pde.resolution=8", "n_train=2", "n_test=0", "paths.data_dir=data"]


def test_no_config_of_ours_sets_the_run_mode():
    """What makes skipping Hydra's composition for the mode exact (`surrogate.cli.run_mode`)."""
    for path in sorted((REPO_ROOT / "conf").rglob("*.yaml")):
        cfg = OmegaConf.load(path)
        hydra_package = "hydra" in path.relative_to(REPO_ROOT / "conf").parts  # keys at hydra.*
        key = "mode" if hydra_package else "hydra.mode"
        assert OmegaConf.select(cfg, key) is None, path


def test_the_mode_comes_from_an_override_that_names_it_else_is_none():
    from hydra._internal.hydra import Hydra

    original = Hydra.get_mode
    seen = []
    Hydra.get_mode = lambda self, config_name, overrides: seen.append(overrides) or "composed"
    try:
        with one_composition():
            assert Hydra.get_mode(None, "generate", ["pde=darcy"]) is None
            assert Hydra.get_mode(None, "generate", ["hydra.mode=MULTIRUN"]) == "composed"
        assert seen == [["hydra.mode=MULTIRUN"]]
    finally:
        Hydra.get_mode = original


@pytest.mark.parametrize("mode", [[], ["hydra.mode=RUN"], ["-m"]])
def test_generate_runs_in_every_mode(tmp_path: Path, mode: list[str]):
    result = run_cli([*GENERATE, *mode], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "darcy8" / "train.h5").exists()
