"""Steady families' samples drawn and assembled a block at a time: the same data as one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surrogate.data.digest import stored_digest
from surrogate.generation import solving
from surrogate.generation.run import generate
from surrogate.pdes import build_pde
from surrogate.pdes.base import SteadyFamily
from tests.conftest import compose_stage


@pytest.mark.parametrize("family", ["poisson", "heat", "darcy", "darcy3d"])
def test_solved_samples_do_not_depend_on_the_block_size(tmp_path, monkeypatch, family):
    cfg = compose_stage("generate", tmp_path, [f"pde={family}", "pde.resolution=12", "solver=auto"])
    segments = [[4, 0, 7, 1, 2], [3, 5, 6]]  # a sorted order cut into segments

    def solved(block: int) -> dict[int, solving.SolvedSample]:
        monkeypatch.setattr(solving, "SAMPLE_BLOCK", block)
        return {s.index: s for s in solving.solve_chain(cfg, "train", segments)}

    one, blocks = solved(1), solved(3)
    assert sorted(one) == sorted(blocks) == list(range(8))
    for index, sample in one.items():
        np.testing.assert_array_equal(sample.inputs, blocks[index].inputs)
        np.testing.assert_array_equal(sample.outputs, blocks[index].outputs)
        assert sample.result.residual == blocks[index].result.residual


def test_blocks_are_bounded_by_their_fields_bytes(tmp_path):
    def block(resolution: int) -> int:
        cfg = compose_stage("generate", tmp_path, ["pde=poisson", f"pde.resolution={resolution}"])
        return solving.samples_per_block(build_pde(cfg.pde))

    assert block(64) == solving.SAMPLE_BLOCK
    assert 1 < block(256) < solving.SAMPLE_BLOCK
    assert block(2048) == 1
    assert list(solving.sample_blocks([5, 1, 4, 2, 3], 2)) == [[5, 1], [4, 2], [3]]


@pytest.mark.parametrize(
    "overrides",
    [
        ["pde=darcy", "pde.coefficient=lognormal", "pde.resolution=16"],
        ["pde=helmholtz", "pde.resolution=16"],
        ["pde=darcy3d", "pde.resolution=8"],
    ],
    ids=["darcy", "helmholtz", "darcy3d"],
)
def test_a_generated_dataset_does_not_depend_on_drawing_in_blocks(tmp_path, monkeypatch, overrides):
    """The digests of a short run with blocks of 3 (a partial one included) are those of one
    sample at a time, each problem made alone (`SteadyFamily.problems`)."""
    overrides = [*overrides, "n_train=7", "n_test=2", "solver=auto", "name=x"]

    def digests(root: Path) -> list[str]:
        generate(compose_stage("generate", root, overrides))
        return [stored_digest(root / "data" / "x" / f"{split}.h5") for split in ("train", "test")]

    monkeypatch.setattr(solving, "SAMPLE_BLOCK", 3)
    blocks = digests(tmp_path / "blocks")
    monkeypatch.setattr(solving, "SAMPLE_BLOCK", 1)
    family = type(build_pde(compose_stage("generate", tmp_path, overrides).pde))
    monkeypatch.setattr(family, "problems", SteadyFamily.problems)
    assert blocks == digests(tmp_path / "one")
