"""Up-front resource checks of `generate`: memory, disk, HDF5 chunks and time steps are refused
in one line before any solve or file, with the estimate and what to change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_cli

import surrogate.generation.resources as resources
from surrogate.errors import UserError
from surrogate.generation.resources import Sizes, memory_needed
from surrogate.generation.run import generate
from surrogate.pdes import build_pde


def test_a_grid_far_too_large_is_one_line_before_any_work(tmp_path):
    """The issue's command: it used to fail in HDF5 ("memory allocation failed for fill
    buffer") after start-up."""
    result = run_cli(
        ["generate", "pde=darcy3d", "pde.resolution=2000", "n_train=1", "n_test=0"], tmp_path
    )
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert re.fullmatch(
        r"error: pde=darcy3d at pde.resolution=2000 needs about [\d.]+ PiB of memory "
        r"\(pardiso factors .*, matrix [\d.]+ TiB, one sample's fields [\d.]+ GiB\) and "
        r"[\d.]+ GiB are available; use pde.resolution=\d+ or less, or an iterative solver "
        r"\(e.g. solver=cg solver.preconditioner=amg\) \(check_resources=false runs it anyway\)",
        line.replace("superlu", "pardiso"),
    ), line
    assert not (tmp_path / "data").exists()


@pytest.fixture
def memory(monkeypatch):
    """Pretend this machine has `memory.available` bytes free."""

    class Memory:
        available = 2**30

    monkeypatch.setattr(resources, "available_memory", lambda: Memory.available)
    return Memory


def test_a_run_that_does_not_fit_names_the_largest_parts_and_the_resolution_that_fits(
    make_cfg, memory
):
    args = ["pde.resolution=800", "n_train=1", "n_test=0", "solver=cg", "solver.preconditioner=amg"]
    cfg = make_cfg("generate", *args)
    needed = sum(memory_needed(cfg, cfg.solver, Sizes.of(cfg, build_pde(cfg.pde))).values())
    memory.available = int(needed)  # fits, but not with the safety factor
    with pytest.raises(UserError) as refused:
        generate(cfg)
    fitting = int(re.search(r"use pde.resolution=(\d+) or less", str(refused.value)).group(1))
    assert re.match(
        r"pde=darcy at pde.resolution=800 needs about [\d.]+ MiB of memory \(matrix [\d.]+ MiB, "
        r"amg preconditioner [\d.]+ MiB, one sample's fields [\d.]+ MiB\) and [\d.]+ MiB are "
        r"available; use pde.resolution=\d+ or less \(check_resources=false runs it anyway\)$",
        str(refused.value),
    ), refused.value
    assert 600 < fitting < 800
    assert not (tmp_path_of(cfg)).exists()
    pde = build_pde(cfg.pde)
    memory.available = int(needed * 1.3)
    resources.check_resources(cfg, pde, None)  # fits with the safety factor: no error
    memory.available = 1
    resources.check_resources(make_cfg("generate", *args, "check_resources=false"), pde, None)


def tmp_path_of(cfg) -> Path:
    return Path(cfg.paths.data_dir)


def test_workers_multiply_the_solver_memory_up_to_the_number_of_samples(make_cfg):
    def parts(*overrides: str) -> dict[str, float]:
        cfg = make_cfg("generate", "pde.resolution=200", "n_test=0", *overrides)
        return memory_needed(cfg, cfg.solver, Sizes.of(cfg, build_pde(cfg.pde)))

    def needed(*overrides: str) -> float:  # the writer's staging is the main process's alone
        return sum(v for k, v in parts(*overrides).items() if k != "writer staging blocks")

    one, four = needed("n_train=100", "workers=1"), needed("n_train=100", "workers=4")
    assert 3.9 * one < four - 3 * resources.PROCESS_BYTES < 4.2 * one
    assert needed("n_train=2", "workers=1000000") == needed("n_train=2", "workers=2")
    # staged fields: every sample of a small split (2 float32 fields of 200^2), at most the
    # writer's buffer of a large one; twice, for a block gathered into index order
    sample = 2 * 200**2 * 4
    assert parts("n_train=20", "workers=1")["writer staging blocks"] == 2 * 20 * sample
    rows = resources.BUFFER_BYTES // sample
    assert parts("n_train=5000", "workers=2")["writer staging blocks"] == 2 * rows * sample


@pytest.mark.parametrize(
    ("overrides", "drawn_ahead"),
    [
        (["pde=darcy"], True),
        (["pde=darcy3d", "pde.resolution=16"], True),
        (["pde=darcy", "pde.stencil=skr_reference", "pde.coefficient=lognormal"], False),
    ],
)
def test_samples_drawn_ahead_count_only_where_the_family_draws_in_blocks(
    make_cfg, overrides, drawn_ahead
):
    """A family that draws one at a time (skr_reference: `block_assembly` False) makes each
    problem just before its solve, so no block of samples waits in memory."""
    cfg = make_cfg("generate", "pde.resolution=64", "solver=gmres", *overrides)
    pde = build_pde(cfg.pde)
    assert pde.block_assembly == drawn_ahead
    sizes = Sizes.of(cfg, pde)
    parts = memory_needed(cfg, cfg.solver, sizes)
    assert ("samples drawn ahead" in parts) == drawn_ahead
    if drawn_ahead:
        sample = sizes.fields_bytes + resources.CSR_BYTES_PER_NONZERO * sizes.nonzeros
        ahead = min(resources.BLOCK_BYTES, (resources.SAMPLE_BLOCK - 1) * sample)
        assert parts["samples drawn ahead"] == ahead


def test_a_dataset_larger_than_the_free_disk_is_refused_before_any_file(make_cfg, monkeypatch):
    monkeypatch.setattr(resources, "free_disk", lambda directory: 10 * 2**20)
    cfg = make_cfg("generate", "pde.resolution=64", "n_train=1000", "n_test=0")
    with pytest.raises(UserError, match=r"needs about 3\d\.\d MiB on disk and 10\.0 MiB are free"):
        generate(cfg)
    assert not tmp_path_of(cfg).exists()


def test_a_sample_larger_than_an_hdf5_chunk_is_refused(make_cfg):
    cfg = make_cfg("generate", "pde=darcy3d", "pde.resolution=1100", "n_train=1", "n_test=0")
    cfg.check_resources = False  # the chunk limit holds whatever the memory
    with pytest.raises(
        UserError, match=r"HDF5 holds at most 4 GiB in one chunk .* use pde.resolution=1023 or less"
    ):
        generate(cfg)


def test_a_trajectory_of_too_many_steps_is_refused(make_cfg):
    cfg = make_cfg("generate", "pde=burgers", "pde.resolution=32", "pde.record_dt=1e12", "n_test=0")
    with pytest.raises(
        UserError, match=r"10 intervals of pde.record_dt=1e\+12 need at least 1e\+15 steps"
    ):
        generate(cfg)
    fixed = make_cfg("generate", "pde=heat_transient", "pde.substeps=1000000000000", "n_test=0")
    with pytest.raises(UserError, match=r"are 1\.9e\+13 steps per trajectory \(more than 1e\+09\)"):
        generate(fixed)  # it ran for ever (found by the config fuzz)


def test_backend_torch_counts_a_batch_of_solver_state_in_dtype_bytes(make_cfg):
    """darcy 16^2 (N = 256 per lane, 5-point stencil), 4 lanes, mg down to 64 unknowns: one
    smoothed level (16^2) and the coarsest (8^2)."""
    from surrogate.generation.resources import memory_of_batch, mg_bytes, torch_vectors

    args = ["pde.resolution=16", "backend=torch", "solver=cg", "solver.preconditioner=mg"]
    cfg = make_cfg("generate", *args)
    sizes = Sizes.of(cfg, build_pde(cfg.pde))
    # the 16^2 level's scaling, a 9-point stencil on 8^2, 3 x 9 set-up fields, 64^2 x 2 dense
    assert mg_bytes(cfg.solver, sizes, 8) == (256 + 9 * 64 + 3 * 9 * 64 + 2 * 64**2) * 8
    double = memory_of_batch(cfg, cfg.solver, sizes, 4)
    assert double["4 samples' stencils"] == 4 * 256 * 6 * 8  # coefficient, diagonal, 4 faces
    assert double["4 samples' cg vectors"] == 4 * 256 * 20 * 8
    assert double["4 samples' mg hierarchies"] == 4 * mg_bytes(cfg.solver, sizes, 8)
    assert double["4 samples' matrices"] == 5 * 256 * (60 + 3 * 12)  # one assembly, 3 more CSR
    assert "4 samples' refinement" not in double
    single = memory_of_batch(make_cfg("generate", *args, "dtype=float32"), cfg.solver, sizes, 4)
    assert single["4 samples' cg vectors"] == 4 * 256 * 20 * 4
    assert single["4 samples' stencils"] == 4 * 256 * (6 * 8 + 2 * 5 * 4)  # + float32 copies
    assert single["4 samples' refinement"] == 4 * 256 * (4 * 8 + 2 * 4)
    m, k = 40, 20
    assert torch_vectors(make_cfg("generate", "solver=gmres").solver) == 3.5 * (m + 1)
    assert torch_vectors(make_cfg("generate", "solver=gcrodr").solver) == 3.5 * (m + 1) + 7 * k


def test_a_spectral_batch_in_float32_counts_half_its_state(make_cfg):
    from surrogate.generation.resources import memory_of_batch

    def batch(dtype: str) -> float:
        cfg = make_cfg("generate", "pde=navier_stokes", "pde.resolution=32", "backend=torch",
                       f"dtype={dtype}")  # fmt: skip
        sizes = Sizes.of(cfg, build_pde(cfg.pde))
        return (
            memory_of_batch(cfg, cfg.solver, sizes, 8)["8 samples' fields"] - 8 * sizes.sample_bytes
        )

    assert batch("float64") == 8 * 32**2 * resources.TORCH_SPECTRAL_BYTES_PER_POINT
    assert batch("float32") == batch("float64") / 2


def test_a_torch_batch_that_does_not_fit_is_refused_naming_the_batch_size_that_does(
    make_cfg, memory
):
    args = ["pde.resolution=64", "n_train=64", "n_test=0", "backend=torch", "device=cpu",
            "solver=cg", "solver.preconditioner=mg", "batch_size=64"]  # fmt: skip
    cfg = make_cfg("generate", *args)
    sizes = Sizes.of(cfg, build_pde(cfg.pde))

    def needed(batch: int) -> float:
        return sum(memory_needed(cfg, cfg.solver, sizes, batch).values())

    memory.available = int(needed(10) * resources.SAFETY)  # batches of 10 fit, of 11 do not
    with pytest.raises(UserError) as refused:
        generate(cfg)
    assert re.fullmatch(
        r"pde=darcy at pde.resolution=64 with backend=torch batch_size=64 needs about [\d.]+ MiB "
        r"of memory \(64 samples' .*\) and [\d.]+ MiB are available; use batch_size=10 or less "
        r"\(check_resources=false runs it anyway\)",
        str(refused.value),
    ), refused.value
    assert not tmp_path_of(cfg).exists()
    resources.check_resources(
        make_cfg("generate", *args, "batch_size=10"), build_pde(cfg.pde), None
    )
