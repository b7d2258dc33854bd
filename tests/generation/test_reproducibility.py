"""CI's reproducibility run: the interface commands, twice, give the same dataset and metrics.

The dataset files are compared byte for byte, except the bytes of `solver/seconds`, which
hold wall-clock timings of the solves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_cli
from split_files import bytes_without_timings

from surrogate.data.digest import content_digest, stored_digest
from surrogate.generation.run import generate
from surrogate.solvers.preconditioners import PRECONDITIONERS

GENERATE = [
    "generate",
    "pde=darcy",
    "pde.resolution=32",
    "n_train=64",
    "n_test=16",
    "name=darcy32",
    "seed=0",
]
TRAIN = ["train", "data=darcy32", "model=fno", "trainer.max_epochs=5", "seed=0"]
TIMING_KEYS = {
    "inference_seconds_per_sample",
    "solver_seconds_per_sample",
    "speedup_vs_solver",
    "dataset",
    "checkpoint",
}
RUN_DIR = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}$")


def printed_digests(stdout: str) -> dict[str, str]:
    """{file: digest} from the lines `surrogate generate` ends with."""
    return dict(re.findall(r"^digest (\S+): (sha256:[0-9a-f]{64})$", stdout, re.MULTILINE))


def pipeline(cwd: Path) -> tuple[dict[str, bytes], dict, dict[str, str]]:
    cwd.mkdir()
    outputs = []
    for args in (GENERATE, TRAIN):
        result = run_cli(args, cwd)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout)
    digests = printed_digests(outputs[0])
    assert set(digests) == {"data/darcy32/train.h5", "data/darcy32/test.h5"}
    for name, digest in digests.items():
        assert stored_digest(cwd / name) == digest
    (train_dir,) = (cwd / "outputs" / "train").iterdir()
    assert RUN_DIR.match(train_dir.name)
    assert (train_dir / "checkpoints" / "best.ckpt").is_file()
    result = run_cli(["eval", f"ckpt={train_dir}/checkpoints/last.ckpt"], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "relative L2 (mean)" in result.stdout
    (eval_dir,) = (cwd / "outputs" / "eval").iterdir()
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    datasets = {p.name: bytes_without_timings(p) for p in (cwd / "data" / "darcy32").glob("*.h5")}
    return datasets, metrics, digests


def test_interface_commands_are_reproducible(tmp_path):
    datasets_a, metrics_a, digests_a = pipeline(tmp_path / "a")
    datasets_b, metrics_b, digests_b = pipeline(tmp_path / "b")
    assert set(datasets_a) == {"train.h5", "test.h5"}
    assert datasets_a == datasets_b
    assert digests_a == digests_b
    assert metrics_a["n_samples"] == 16 and 0 < metrics_a["rel_l2"] < 1
    deterministic = {k: v for k, v in metrics_a.items() if k not in TIMING_KEYS}
    assert deterministic == {k: v for k, v in metrics_b.items() if k not in TIMING_KEYS}


# The digest: one line that says whether two files hold the same data.


def copy_with_layout(source: Path, target: Path, **options: object) -> None:
    """`source` rewritten with other dataset options (chunks, compression) and new timings."""
    with h5py.File(source) as old, h5py.File(target, "w") as new:
        for key, value in old.attrs.items():
            new.attrs[key] = value

        def copy(name: str, item: object) -> None:
            if isinstance(item, h5py.Dataset):
                data = item[()]
                if name == "solver/seconds":
                    data = data + 1.0
                new.create_dataset(name, data=data, **(options if data.ndim > 1 else {}))

        old.visititems(copy)


def test_the_digest_covers_the_values_not_the_layout_timings_or_provenance(tiny_dataset, tmp_path):
    original = tiny_dataset / "data" / "tiny" / "train.h5"
    recorded = stored_digest(original)
    assert recorded is not None and recorded.startswith("sha256:")
    with h5py.File(original) as file:
        assert content_digest(file) == recorded
    relaid = tmp_path / "relaid.h5"
    copy_with_layout(original, relaid, chunks=True, compression="gzip")
    with h5py.File(relaid, "r+") as file:
        assert content_digest(file) == recorded  # other chunks, compression and timings
        file.attrs["config"] = "workers: 2"
        assert content_digest(file) == recorded  # how it was made is not what it holds
        file["outputs"][3, 0, 5, 5] += 1e-6
        changed = content_digest(file)
        assert changed != recorded
        file["outputs"][3, 0, 5, 5] -= 1e-6
        file.attrs["output_names"] = ["pressure"]
        assert content_digest(file) not in (recorded, changed)


def digest_of(make_cfg, *overrides: str) -> str:
    cfg = make_cfg("generate", *overrides)
    generate(cfg)
    return stored_digest(Path(cfg.paths.data_dir) / cfg.name / "train.h5")


def test_workers_do_not_change_the_digest_of_a_direct_generation(tmp_path):
    """Through the CLI, whose processes never load torch: PARDISO's last bits depend on the MKL
    threading layer, which loading torch first changes (docs/reliability.md, limits)."""
    args = ["generate", "pde.resolution=12", "n_train=6", "n_test=0", "segment=2", "name=d"]
    printed = []
    for workers in (1, 2):
        result = run_cli([*args, f"workers={workers}", f"paths.data_dir=w{workers}"], tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        printed.append(printed_digests(result.stdout))
    assert printed[0] == {"w1/d/train.h5": printed[1]["w2/d/train.h5"]}


@pytest.mark.parametrize(
    "solver",
    [
        ["pde=helmholtz", "pde.resolution=32", "solver=direct"],  # LU: scaled by the first matrix
        ["solver=gcrodr", "solver.m=20", "solver.k=5"],  # recycles across the segment
    ],
    ids=["pardiso-lu", "gcrodr"],
)
def test_workers_and_shards_do_not_change_the_data_of_solvers_that_carry_a_segments_state(
    make_cfg, solver
):
    """Segments start where the order alone puts them (a shard takes whole segments), so a
    solver whose results depend on a segment's first systems gives the same data with any
    number of workers or shards."""
    args = [*solver, "n_train=7", "n_test=0", "segment=2"]
    digests = [digest_of(make_cfg, *args, f"workers={w}", f"name=w{w}") for w in (1, 3)]
    for i in range(3):
        generate(make_cfg("generate", *args, "name=s", f"shard={i}/3"))
    digests.append(digest_of(make_cfg, *args, "name=s"))  # merges the shards, solves nothing
    assert digests[1:] == digests[:1] * 2


# Every solver and preconditioner: two runs of the same command give the same digest. Between
# the runs numpy's global generator is put in another state, as a fresh process would have it:
# anything a solver draws from it (pyamg's spectral radius estimates did) changes the data.

TINY = ["pde.resolution=16", "n_train=3", "n_test=0", "seed=3", "segment=2"]
KRYLOV = {
    "gmres": ["solver=gmres", "solver.m=20"],
    "gcrodr": ["solver=gcrodr", "solver.m=20", "solver.k=5"],
    "gcrotmk": ["solver=gcrotmk", "solver.m=20", "solver.k=5"],
}
SYMMETRIC_PRECONDITIONERS = [name for name, p in PRECONDITIONERS.items() if p.symmetric]
SOLVERS = {
    "direct-superlu": ["solver=direct", "solver.backend=superlu"],
    "direct-auto": ["solver=direct"],
    "auto": ["solver=auto"],
    "auto-darcy3d": ["pde=darcy3d", "pde.resolution=6", "solver=auto"],  # AMG-CG, reused
    **{
        f"{name}-{preconditioner}": [*args, f"solver.preconditioner={preconditioner}"]
        for name, args in KRYLOV.items()
        for preconditioner in PRECONDITIONERS
        if preconditioner != "mg" or name != "gcrotmk"  # gcrotmk carries no solver.mg settings
    },
    **{f"cg-{p}": ["solver=cg", f"solver.preconditioner={p}"] for p in SYMMETRIC_PRECONDITIONERS},
    "gmres-ssor-omega_auto": ["solver=gmres", "solver.preconditioner=ssor", "solver.omega=auto"],
    "cg-amg-warm_reuse": [
        "solver=cg",
        "solver.preconditioner=amg",
        "solver.warm_start=true",
        "solver.reuse_preconditioner=2",
    ],
}
IN_MAKE_TEST_WITH_TWO_WORKERS = ("cg-amg", "auto-darcy3d")


def two_runs(make_cfg, solver: list[str], workers: int) -> tuple[str, str]:
    digests = []
    for run in ("a", "b"):
        np.random.seed(len(digests))
        digests.append(digest_of(make_cfg, *TINY, *solver, f"workers={workers}", f"name={run}"))
    return digests[0], digests[1]


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_and_preconditioner_is_reproducible(make_cfg, solver):
    first, second = two_runs(make_cfg, SOLVERS[solver], workers=1)
    assert first == second


@pytest.mark.parametrize(
    "solver",
    [
        pytest.param(name, marks=[] if name in IN_MAKE_TEST_WITH_TWO_WORKERS else pytest.mark.slow)
        for name in SOLVERS
    ],
)
def test_every_solver_and_preconditioner_is_reproducible_with_two_workers(make_cfg, solver):
    first, second = two_runs(make_cfg, SOLVERS[solver], workers=2)
    assert first == second
