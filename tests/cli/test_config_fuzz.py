"""Issue 10: the config fuzz. Every stage, group option and scalar leaf key with 0, -1, 10^12, a
wrong type and an empty string: each run succeeds (where ACCEPTED says why the value is usable)
or ends in one line with exit 2; never a traceback. tests/config_fuzz.py builds the cases.

`make test` runs a fixed sample in-process (the stage functions the CLI calls, after the same
Hydra composition) and a few cases through the real CLI; the full sweep is marked slow, in-process
and through the CLI (docs/reliability.md gives its size and time).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from config_fuzz import (
    TINY_MODEL,
    Case,
    cases,
    expected,
    options,
    run_in_process,
    run_through_cli,
)
from conftest import compose_stage

from surrogate.training.run import train

SAMPLE_EVERY = {"generate": 9, "train": 11, "eval": 3}  # the fixed sample: every n-th case


@pytest.fixture(scope="module")
def fuzz_root(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny dataset (train's and eval's data) and a one-epoch checkpoint (eval's)."""
    run_dir = tmp_path_factory.mktemp("fuzz_ckpt")
    overrides = [
        "data=tiny",
        "trainer.max_epochs=1",
        "loader.num_workers=0",
        "logger=none",
        *TINY_MODEL["fno"],
        f"paths.output_dir={run_dir}",
    ]
    checkpoint = train(compose_stage("train", tiny_dataset, overrides))["last_checkpoint"]
    return {"root": tiny_dataset, "extra": {"eval": [f"ckpt={checkpoint}"]}}


def run_cases(selected: list[Case], fuzz_root: dict, tmp_path: Path, runner) -> list[str]:
    """The cases whose outcome is not the expected one, as lines to read."""
    wrong = []
    for number, case in enumerate(selected):
        work = tmp_path / str(number)
        root = work if case.stage == "generate" else fuzz_root["root"]
        outcome, detail = runner(case, root, work, fuzz_root["extra"].get(case.stage, []))
        if outcome != expected(case):
            wrong.append(f"{case.name}: {outcome} (expected {expected(case)}) {detail[:300]}")
    return wrong


def all_cases(stage: str, root: Path) -> list[Case]:
    found = cases(stage, root)
    assert len(found) > 50, f"{stage} has only {len(found)} cases"
    return found


@pytest.mark.parametrize("stage", ["generate", "train", "eval"])
def test_a_fixed_sample_of_bad_values_is_refused_in_one_line(stage, fuzz_root, tmp_path):
    selected = all_cases(stage, fuzz_root["root"])[:: SAMPLE_EVERY[stage]]
    wrong = run_cases(selected, fuzz_root, tmp_path, run_in_process)
    assert not wrong, "\n".join(wrong)


CLI_SAMPLE = [
    Case("generate", ("pde.resolution=8",), "pde.forcing", "wrong_type", "abc"),
    Case("generate", ("pde=heat", "pde.resolution=9"), "pde.degree", "huge", "1000000000000"),
    Case("generate", ("solver=gmres", "pde.resolution=8"), "solver.m", "zero", "0"),
    Case("train", tuple(TINY_MODEL["fno"]), "trainer.log_every_n_steps", "negative", "-1"),
    Case("train", tuple(TINY_MODEL["fno"]), "optim.weight_decay", "zero", "0"),
    Case("eval", (), "spectral.low", "empty", ""),
]


def test_a_few_bad_values_through_the_real_cli(fuzz_root, tmp_path):
    wrong = run_cases(CLI_SAMPLE, fuzz_root, tmp_path, run_through_cli)
    assert not wrong, "\n".join(wrong)


OPTIONS = [
    (stage, option) for stage in ("generate", "train", "eval") for _, option in options(stage)
]
OPTION_IDS = [
    f"{stage}-{(option[0] if option and '.' not in option[0] else 'defaults')}"
    for stage, option in OPTIONS
]


@pytest.mark.slow
@pytest.mark.timeout(3600)  # only against a hang: one option's cases through the CLI take minutes
@pytest.mark.parametrize(("stage", "option"), OPTIONS, ids=OPTION_IDS)
def test_every_bad_value_in_process(stage, option, fuzz_root, tmp_path):
    selected = [c for c in all_cases(stage, fuzz_root["root"]) if c.option == option]
    wrong = run_cases(selected, fuzz_root, tmp_path, run_in_process)
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize(("stage", "option"), OPTIONS, ids=OPTION_IDS)
def test_every_bad_value_through_the_real_cli(stage, option, fuzz_root, tmp_path):
    selected = [c for c in all_cases(stage, fuzz_root["root"]) if c.option == option]
    wrong = run_cases(selected, fuzz_root, tmp_path, run_through_cli)
    assert not wrong, "\n".join(wrong)
