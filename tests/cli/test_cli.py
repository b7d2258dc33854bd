"""The `surrogate` command as a user types it: help, and one clear line for each bad input."""

from __future__ import annotations

import pytest
from conftest import run_cli


def test_help_lists_the_stages(tmp_path):
    result = run_cli(["--help"], tmp_path)
    assert result.returncode == 0
    for stage in ("generate", "train", "eval"):
        assert stage in result.stdout


def test_no_stage_or_unknown_stage_exits_nonzero(tmp_path):
    assert run_cli([], tmp_path).returncode == 2
    result = run_cli(["frobnicate"], tmp_path)
    assert result.returncode == 2 and "unknown stage 'frobnicate'" in result.stderr


def test_stage_help_shows_hydra_help_and_config(tmp_path):
    result = run_cli(["train", "--help"], tmp_path)
    assert result.returncode == 0
    assert "model: deeponet, fno, galerkin, mgno, unet" in result.stdout
    assert "Powered by Hydra" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["generate", "foo=1"], 2, "error: unknown key foo; choose one of: pde, solver"),
        (
            ["train", "model=nope", "data=x"],
            2,
            "error: model=nope is unknown; choose one of: deeponet",
        ),
        (["train", "data=nope"], 2, "error: dataset 'nope' not found"),
        (["generate", "pde.resolution=2"], 2, "error: pde.resolution=2 must be >= 3"),
        (["generate", "pde.resolution=abc"], 2, "error: pde.resolution='abc' must be an integer"),
        (["eval", "ckpt=missing.ckpt"], 2, "error: checkpoint missing.ckpt does not exist"),
        (["eval"], 2, "error: ckpt is required"),
        (["eval", "ckpt=."], 2, "error: . holds no run with checkpoints/last.ckpt"),
        (["eval", "ckpt=x", "ckpt_name=worst"], 2, "error: ckpt_name='worst' is unknown"),
        (["eval", "ckpt=x", "spectral.high=2"], 2, "error: spectral.high=2 must be >= 4"),
        (["eval", "ckpt=x", "rollout.threshold=0"], 2, "error: rollout.threshold=0 must be > 0.0"),
    ],
)
def test_bad_input_gets_one_clear_line_and_no_traceback(tmp_path, args, code, message):
    result = run_cli(args, tmp_path)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_full_error_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "surrogate.cli.generate", "pde.resolution=2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,  # only against a hang: a loaded machine may be slow
    )
    assert result.returncode != 0 and "Traceback" in result.stderr
