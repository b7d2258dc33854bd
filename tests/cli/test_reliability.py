"""Issue 6: bad input, interruptions and faults end in one clear line, a non-zero exit and no
damaged file; an interrupted run resumes to the result of an uninterrupted one.

docs/reliability.md lists every case with the test that covers it (here or elsewhere).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, TINY_MODEL, compose_stage, run_cli
from interruption import interrupt_and_resume
from split_files import bytes_without_timings

from surrogate.data.reader import read_solver_stats, read_split_info
from surrogate.errors import UserError
from surrogate.evaluation.run import evaluate
from surrogate.generation.run import generate
from surrogate.training.run import train

QUICK_TRAIN = ["loader.num_workers=0", "loader.batch_size=8", *TINY_MODEL]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed on stderr (the test fails if there are more)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_dataset(root: Path, tmp_path: Path, name: str = "copy") -> Path:
    """A copy of the tiny dataset under tmp_path/data/<name>, to be damaged by a test."""
    target = tmp_path / "data" / name
    shutil.copytree(root / "data" / "tiny", target)
    return target


# 1. Configuration: rejected before any work, with the valid choices.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "foo=1"], "error: unknown key foo; choose one of: pde, solver, sort, paths"),
        (
            ["train", "data=x", "model.widht=3"],
            "error: unknown key model.widht; choose one of: model.name, model.modes, model.width",
        ),
        (
            ["generate", "pde=nope"],
            "error: pde=nope is unknown; choose one of: burgers, darcy, darcy3d, heat, heat_transient, helmholtz, helmholtz3d, navier_stokes, poisson",
        ),
        (
            ["generate", "solver=nope"],
            "error: solver=nope is unknown; choose one of: "
            + ", ".join(
                sorted(path.stem for path in (REPO_ROOT / "conf" / "solver").glob("*.yaml"))
            ),
        ),
        (["train", "data=x", "trainer=nope"], "error: trainer=nope is unknown; choose one of: ddp"),
        (
            ["train", "data=x", "pde=darcy"],
            "error: pde is not a config group of `surrogate train`; choose one of: model, trainer",
        ),
        (["generate", "seed=[1"], "error: cannot parse the override 'seed=[1'"),
        (["generate", "n_train=1.5"], "error: n_train=1.5 must be an integer"),
        (["train", "data=x", "optim.lr=fast"], "error: optim.lr='fast' must be a number"),
        (["train", "data=x", "compile=maybe"], "error: compile='maybe' must be true or false"),
        (["train", "data=x", "trainer.max_epochs=-3"], "error: trainer.max_epochs=-3 must be >= 1"),
        (
            ["generate", "solver=gcrodr", "solver.k=50"],
            "error: solver.k=50 must be smaller than solver.m=40",
        ),
        (
            ["generate", "pde=darcy", "pde.stencil=skr_reference", "pde.coefficient=lognormal"]
            + ["pde.resolution=7"],
            "error: pde.stencil=skr_reference needs an even pde.resolution (FNO's periodic GRF "
            "takes an even grid, resolution + 2 points per side); got 7: use pde.resolution=6 "
            "or 8",
        ),
    ],
)
def test_bad_configuration_is_one_line_with_the_choices_before_any_work(tmp_path, args, message):
    result = run_cli(args, tmp_path)
    assert result.returncode == 2
    assert one_error_line(result).startswith(message)
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "outputs").exists(), "a refused command left its run directory"


# 2. Data: damaged, outdated or unfitting files are refused, and left as they are.


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch FNO trained on the tiny Darcy dataset."""
    run_dir = tmp_path_factory.mktemp("ckpt")
    overrides = ["data=tiny", "trainer.max_epochs=1", *QUICK_TRAIN, f"paths.output_dir={run_dir}"]
    return Path(train(compose_stage("train", tiny_dataset, overrides))["last_checkpoint"])


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_bit(path: Path) -> None:
    """Flip one bit inside the stored outputs of sample 3."""
    with h5py.File(path) as file:
        offset = file["outputs"].id.get_chunk_info_by_coord((3, 0, 0, 0)).byte_offset + 100
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def old_schema(path: Path) -> None:
    with h5py.File(path, "r+") as file:
        file.attrs["schema_version"] = 99


def infinite_value(path: Path) -> None:
    with h5py.File(path, "r+") as file:
        file["inputs"][5, 0, 3, 3] = np.inf


DAMAGES = {
    "truncated": (truncate, r"is not a readable surrogate dataset \(.*truncated file"),
    "bit_flip": (flip_a_bit, r"is damaged: outputs of sample 3 cannot be read"),
    "schema": (old_schema, r"has schema version 99, this surrogate reads versions 1, 2"),
    "inf": (infinite_value, r"inputs of sample 5 has non-finite values"),
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("stage", ["train", "eval"])
def test_damaged_or_outdated_dataset_is_refused_and_left_untouched(
    tiny_dataset, tmp_path, checkpoint, damage, stage
):
    directory = copy_dataset(tiny_dataset, tmp_path)
    damaged = directory / ("train.h5" if stage == "train" else "test.h5")
    change, message = DAMAGES[damage]
    change(damaged)
    before = digest(damaged)
    overrides = [f"paths.output_dir={tmp_path / 'out'}", f"data={directory}"]
    with pytest.raises(UserError, match=message):
        if stage == "train":
            train(compose_stage("train", tmp_path, [*overrides, *QUICK_TRAIN]))
        else:
            evaluate(compose_stage("eval", tmp_path, [*overrides, f"ckpt={checkpoint}"]))
    assert digest(damaged) == before
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_missing_split_names_the_splits_there_are(tiny_dataset, checkpoint):
    cfg = compose_stage("eval", tiny_dataset, [f"ckpt={checkpoint}", "split=valid"])
    with pytest.raises(UserError, match=r"has no 'valid' split \(it has: test, train\)"):
        evaluate(cfg)


def test_incomplete_file_under_the_final_name_is_refused(tiny_dataset, tmp_path):
    directory = copy_dataset(tiny_dataset, tmp_path)
    with h5py.File(directory / "train.h5", "r+") as file:
        file.attrs["complete"] = False
    with pytest.raises(UserError, match="is incomplete; run the same `surrogate generate`"):
        read_split_info(directory, "train")


@pytest.mark.parametrize(
    ("family", "found"),
    [
        (["pde=poisson", "pde.resolution=16"], r"inputs \('forcing', 'boundary'\).* in 2D"),
        (["pde=darcy3d", "pde.resolution=5"], r"inputs \('coefficient',\).* in 3D"),
    ],
)
def test_eval_refuses_a_dataset_of_another_family(
    tiny_dataset, tmp_path, checkpoint, family, found
):
    generate(compose_stage("generate", tmp_path, [*family, "n_train=0", "n_test=2", "name=other"]))
    cfg = compose_stage("eval", tmp_path, [f"ckpt={checkpoint}", "data=other"])
    with pytest.raises(UserError, match=f"does not fit the checkpoint: it has {found}"):
        evaluate(cfg)


# 3. Interruption: the same command resumes to the uninterrupted result.


GENERATE = ["pde.resolution=16", "n_train=1000", "n_test=0", "name=big", "flush_seconds=0.05"]


@pytest.mark.parametrize(
    "sig, word",
    [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")],
    ids=["sigint", "sigterm"],
)
def test_generation_interrupted_with_sigint_resumes_to_the_identical_file(tmp_path, sig, word):
    """Ctrl-C, or the SIGTERM a batch scheduler sends before SIGKILL."""
    command = [sys.executable, "-m", "surrogate.cli.generate", *GENERATE, "paths.data_dir=data"]
    code, stderr = interrupt_and_resume(tmp_path, lambda run: command, "data/big/train.h5", sig, 20)
    assert code == 128 + sig, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == (
        f"error: generation {word}; the samples finished so far are kept in data/big: "
        "rerun the same command to resume"
    )


EPOCHS = 40


@pytest.fixture(scope="module")
def uninterrupted(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    with_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        overrides = ["data=tiny", f"trainer.max_epochs={EPOCHS}", *QUICK_TRAIN]
        return train(
            compose_stage("train", tiny_dataset, [*overrides, f"paths.output_dir={run_dir}"])
        )
    finally:
        torch.set_num_threads(with_threads)


def saved_epoch(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])
    except (OSError, RuntimeError, EOFError, KeyError):
        return -1


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["sigint", "sigterm", "sigkill"]
)
def test_training_killed_resumes_from_last_checkpoint_to_the_same_metrics(
    tiny_dataset, tmp_path, monkeypatch, one_thread, uninterrupted, sig
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = tmp_path / "killed"
    args = ["data=tiny", f"trainer.max_epochs={EPOCHS}", *QUICK_TRAIN]
    args += [f"paths.data_dir={tiny_dataset / 'data'}", f"hydra.run.dir={run_dir}"]
    command = [sys.executable, "-m", "surrogate.cli.train", *args]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    while saved_epoch(last) < 1 and process.poll() is None:  # no deadline: load only slows it
        time.sleep(0.02)
    assert process.poll() is None, "it ended before the signal"
    process.send_signal(sig)
    _, stderr = process.communicate()
    if sig != signal.SIGKILL:
        word = "interrupted" if sig == signal.SIGINT else "terminated"
        assert process.returncode == 128 + sig, stderr[-2000:]
        assert stderr.strip().splitlines()[-1] == (
            f"error: training {word}; resume with ckpt_path={last}"
        )
    else:
        assert process.returncode == -signal.SIGKILL
    stopped_at = saved_epoch(last)
    assert 1 <= stopped_at < EPOCHS - 1, "the signal did not land mid-run"

    cfg = compose_stage(
        "train",
        tiny_dataset,
        [*args[:-2], f"ckpt_path={last}", f"paths.output_dir={tmp_path / 'resumed'}"],
    )
    resumed = train(cfg)
    for key in ("best_val_rel_l2", "final_val_rel_l2", "final_train_loss", "epochs"):
        assert resumed[key] == uninterrupted[key], key
    weights = torch.load(resumed["last_checkpoint"], weights_only=False)["state_dict"]
    reference = torch.load(uninterrupted["last_checkpoint"], weights_only=False)["state_dict"]
    for key, value in reference.items():
        torch.testing.assert_close(weights[key], value, rtol=0, atol=0)


def test_ctrl_c_to_the_whole_process_group_stops_training_with_loader_workers(
    tiny_dataset, tmp_path, monkeypatch
):
    """A terminal's Ctrl-C reaches every process of the job, the DataLoader workers too: forked
    with the flag handler, they keep loading until the main process stops at its next batch."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = tmp_path / "run"
    args = ["data=tiny", f"trainer.max_epochs={EPOCHS}", "loader.num_workers=2", *TINY_MODEL]
    args += [f"paths.data_dir={tiny_dataset / 'data'}", f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "surrogate.cli.train", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    while saved_epoch(last) < 1 and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "it ended before the signal"
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate()
    assert process.returncode == 130, stderr[-2000:]
    assert (
        stderr.strip().splitlines()[-1]
        == f"error: training interrupted; resume with ckpt_path={last}"
    )
    assert 1 <= saved_epoch(last) < EPOCHS - 1


# 4. Faults: full disk, unwritable directory, a second writer, unconverged solves, NaN loss.


def _file_size_limit(limit: int) -> None:
    """In the child: writes past `limit` bytes fail with EFBIG instead of killing it (SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_stops_before_solving_keeps_finished_splits_and_resumes(tmp_path):
    args = ["pde.resolution=32", "n_train=4", "n_test=100", "name=full"]
    command = [sys.executable, "-m", "surrogate.cli.generate", *args, "paths.data_dir=data"]
    reference = subprocess.run(
        [*command[:-1], "paths.data_dir=ref"], cwd=tmp_path, capture_output=True
    )
    assert reference.returncode == 0
    full = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=lambda: _file_size_limit(300_000),  # train.h5 fits, test.h5 does not
    )
    assert full.returncode == 2
    assert one_error_line(full) == (
        "error: cannot write dataset data/full: disk full or file size limit reached "
        "(File too large); free space and rerun the same command to resume"
    )
    directory = tmp_path / "data" / "full"
    assert sorted(p.name for p in directory.iterdir()) == ["train.h5"]
    kept = digest(directory / "train.h5")
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert digest(directory / "train.h5") == kept
    for split in ("train.h5", "test.h5"):
        reference = tmp_path / "ref" / "full" / split
        assert bytes_without_timings(directory / split) == bytes_without_timings(reference)


def test_unwritable_data_directory_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("in the way")
    result = run_cli(["generate", "n_train=2", "n_test=0", "paths.data_dir=a_file"], tmp_path)
    assert result.returncode == 2
    assert one_error_line(result) == (
        "error: cannot write dataset a_file/darcy32 (Not a directory); make it writable or "
        "choose another paths.data_dir=, then rerun the same command"
    )
    assert (tmp_path / "a_file").read_text() == "in the way"


def test_a_second_generation_process_is_refused_while_one_writes(tmp_path):
    directory = tmp_path / "data" / "darcy8"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from surrogate.generation.lock import dataset_lock\n"
            f"with dataset_lock(Path({str(directory)!r})):\n"
            "    print('locked', flush=True); sys.stdin.read()",  # held until killed
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = run_cli(["generate", "pde.resolution=8", "n_train=2", "n_test=0"], tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert one_error_line(result) == (
        "error: dataset data/darcy8 is being written by another `surrogate generate` "
        f"(pid {holder.pid} on host {socket.gethostname()}); wait for it to finish or stop it, "
        "or choose another name="
    )
    assert sorted(p.name for p in directory.iterdir()) == [".lock"]


@pytest.mark.parametrize("fallback", [True, False])
def test_unconverged_solves_are_flagged_and_never_stored_as_converged(make_cfg, fallback):
    cfg = make_cfg(
        "generate",
        "pde.resolution=16",
        "n_train=3",
        "n_test=0",
        "solver=gmres",
        "solver.maxiter=2",
        f"solver.fallback={str(fallback).lower()}",
    )
    summary = generate(cfg)["train"]
    stats = read_solver_stats(Path(cfg.paths.data_dir) / cfg.name / "train.h5")
    assert stats["fallback"].all() == fallback and summary["fallbacks"] == 3 * fallback
    assert stats["converged"].all() == fallback and summary["unconverged"] == 3 * (not fallback)
    assert ((stats["residual"] <= 1e-8) == stats["converged"].astype(bool)).all()


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        [
            "train",
            "data=tiny",
            f"paths.data_dir={tiny_dataset / 'data'}",
            f"hydra.run.dir={run_dir}",
            "trainer.max_epochs=5",
            *QUICK_TRAIN,
            # From epoch 2 the learning rate is 1e17: the weights overflow at once.
            "scheduler.name=step",
            "scheduler.step_size=2",
            "scheduler.gamma=1e20",
        ],
        tmp_path,
    )
    assert result.returncode == 2
    last = run_dir / "checkpoints" / "last.ckpt"
    assert re.fullmatch(
        rf"error: training stopped at epoch 2, step \d+: non-finite (loss \S+|model weights); "
        rf"the last good checkpoint is {re.escape(str(last))} \(epoch 1\)\. Lower optim.lr.*",
        one_error_line(result),
    )
    for name in ("last.ckpt", "best.ckpt"):
        saved = torch.load(run_dir / "checkpoints" / name, weights_only=False)
        assert saved["epoch"] <= 1
        assert all(torch.isfinite(value).all() for value in saved["state_dict"].values())


# 5. A crash never leaves a file that looks complete.

CRASH = """
import os, sys
import numpy as np
from pathlib import Path
sys.path.insert(0, {tests!r})
from split_files import writer, write
w = writer(Path({path!r}))
for i in (0, 1):
    write(w, i)
w.flush()
for i in (2, 3, 4, 5):
    write(w, i)  # written, not yet flushed
os._exit(9)
"""


def test_samples_count_as_done_only_once_flushed_and_the_final_name_only_when_complete(tmp_path):
    path = tmp_path / "train.h5"
    code = CRASH.format(tests=str(Path(__file__).resolve().parents[1]), path=str(path))
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert not path.exists()
    from split_files import writer

    resumed = writer(path)
    assert resumed.pending() == [2, 3, 4, 5]
    resumed.close()
    with pytest.raises(UserError, match="has no 'train' split"):
        read_split_info(tmp_path, "train")


def test_a_crash_before_the_rename_leaves_only_the_partial_file(tmp_path, monkeypatch):
    from split_files import write, writer

    w = writer(tmp_path / "train.h5")
    for i in range(6):
        write(w, i)

    def crash(*args: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        w.finish()
    assert [p.name for p in tmp_path.iterdir()] == ["train.h5.partial"]
