"""Accuracy side by side with neuraloperator: same Darcy data, epochs and batch; 1x, 2x, 4x grids.

Data (made by `surrogate generate`, seed 0): two-phase Darcy (coefficient 12/3 from a thresholded
GRF, f = 1) with 1000 train / 100 valid / 100 test samples at n x n interior nodes, n = 16, 32
and 64 (`pde.grf.modes` at its default, n). Finer test sets: the same 100 test samples on the
same unit square with the grid spacing halved (2x: 2n + 1 nodes) and quartered (4x: 4n + 3),
generated with the same seed and `pde.grf.modes=n`: the GRF is a cosine series whose n x n
coefficients are drawn from the sample's own stream, so the finer set evaluates the same
series at the finer nodes. The coarse grid's nodes are every 2nd (4th) node of the finer grid,
where the coefficients agree exactly; the solutions differ only by the finite-difference
discretisation (finer interfaces of the two-phase field).

Ours: `surrogate train data=darcy<n> model=<m> trainer.max_epochs=<E> loader.batch_size=<B>`
(the defaults otherwise; valid.h5 only reports, the last checkpoint is evaluated), then
`surrogate eval` of last.ckpt on each test set. neuraloperator 2.0: its FNO (default
architecture: lifting and projection MLPs, channel MLPs, linear skips, grid embedding) with
the same modes per axis and width as our FNO's effective ones (parameter counts, in real numbers, within 1 %),
its `Trainer`, `LpLoss` (relative L2, d=2), a channel-wise `UnitGaussianNormalizer` of inputs
and outputs fitted on train inside a `DefaultDataProcessor`, and the recipe its Darcy
examples document (Adam, lr 5e-3, weight decay 1e-4, StepLR x0.5 every 25 epochs, no domain
padding; a shorter run halves the rate at the same fractions of its epochs); evaluated as relative L2 of the decoded prediction, sample by sample, as ours.

neuraloperator is a benchmark-time dependency; it runs from its own environment:

    python3 -m venv /tmp/novenv && /tmp/novenv/bin/pip install torch==2.13.0 \
        neuraloperator==2.0.0 h5py        # check that pip kept torch 2.13.0
    B=benchmarks/accuracy_vs_neuraloperator.py
    .venv/bin/python $B data                                   # all datasets (minutes)
    /tmp/novenv/bin/python $B neuralop --resolution 16         # one run per grid
    .venv/bin/python $B ours --resolution 16 --model fno       # one run per grid and model
    .venv/bin/python $B table                                  # the markdown table

Each run writes <root>/results/<label>.json; `ours --tag T -- key=value ...` adds overrides
(a recipe search, or the architecture ablation: e.g. `ours --resolution 16 --tag mlps --
model.lifting=mlp model.channel_mlp=true`, neuraloperator's lifting MLP and channel MLPs with
their soft-gating skips; `model.spectral_init=normal` its spectral initialisation;
`model.grid=periodic` its grid embedding) under its own label. A run with `ema.decay=...`
is also evaluated with the weights its training ended with (kept in the checkpoint beside the
average): the same run without the average, as a second row of the table. One thread per run
(OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESOLUTIONS = (16, 32, 64)
SCALES = (1, 2, 4)


def finer(n: int, scale: int) -> int:
    """Interior nodes per side when the spacing 1 / (n + 1) is divided by `scale`."""
    return scale * (n + 1) - 1


def dataset(n: int, scale: int) -> str:
    return f"darcy{n}" if scale == 1 else f"darcy{n}_x{scale}"


def surrogate(args: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "surrogate.cli.main", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")


def make_data(root: Path, resolutions: list[int]) -> None:
    for n in resolutions:
        common = [f"paths.data_dir={root / 'data'}", "pde=darcy", "seed=0"]
        surrogate(
            ["generate", *common, f"pde.resolution={n}", "n_train=1000", "n_valid=100"]
            + ["n_test=100", f"name={dataset(n, 1)}"]
        )
        for scale in SCALES[1:]:
            surrogate(
                ["generate", *common, f"pde.resolution={finer(n, scale)}", f"pde.grf.modes={n}"]
                + ["n_train=0", "n_test=100", f"name={dataset(n, scale)}"]
            )
        print(f"datasets for {n}x{n} written", file=sys.stderr, flush=True)


def write_result(root: Path, label: str, result: dict) -> None:
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / f"{label}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


def run_ours(args: argparse.Namespace) -> None:
    n, root = args.resolution, args.root
    label = f"{args.tag}_{args.model}_{n}"
    run_dir = root / "runs" / label
    common = [f"paths.data_dir={root / 'data'}"]
    start = time.perf_counter()
    surrogate(
        ["train", *common, f"data={dataset(n, 1)}", f"model={args.model}"]
        + [f"trainer.max_epochs={args.epochs}", f"loader.batch_size={args.batch}", "seed=0"]
        + [f"hydra.run.dir={run_dir / 'train'}", *args.overrides]
    )
    seconds = time.perf_counter() - start
    trained = json.loads((run_dir / "train" / "result.json").read_text())
    last = run_dir / "train" / "checkpoints" / "last.ckpt"

    def evaluate(ckpt: Path, tag: str) -> dict[int, float]:
        errors = {}
        for scale in SCALES:
            eval_dir = run_dir / f"eval{tag}_x{scale}"
            surrogate(
                ["eval", *common, f"ckpt={ckpt}", f"data={dataset(n, scale)}"]
                + ["figures.enabled=false", f"hydra.run.dir={eval_dir}"]
            )
            errors[scale] = json.loads((eval_dir / "metrics.json").read_text())["rel_l2"]
        return errors

    errors = evaluate(last, "")
    extra = {}
    without = training_weights_checkpoint(last)
    if without is not None:  # an `ema.decay` run: the same run's weights without the average
        extra["rel_l2_without_ema"] = evaluate(without, "_without_ema")
    write_result(
        root,
        label,
        {
            "label": label,
            "who": f"surrogate {args.tag}",
            "model": args.model,
            "resolution": n,
            "epochs": args.epochs,
            "batch": args.batch,
            "overrides": args.overrides,
            "parameters": trained["parameters"],
            "train_seconds": seconds,
            "rel_l2": errors,
            **extra,
        },
    )


def training_weights_checkpoint(ckpt: Path) -> Path | None:
    """For a checkpoint of an `ema.decay` run (its state_dict is the average), a copy beside
    it holding the weights training ended with instead; None for a run without an average."""
    import torch

    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    if "ema" not in saved:
        return None
    for name, weight in saved.pop("ema")["training_weights"].items():
        saved["state_dict"][f"model.{name}"] = weight
    path = ckpt.with_name("last_without_ema.ckpt")
    torch.save(saved, path)
    return path


def run_neuralop(args: argparse.Namespace) -> None:
    import h5py
    import torch
    from neuralop import LpLoss, Trainer
    from neuralop.data.datasets.tensor_dataset import TensorDataset
    from neuralop.data.transforms.data_processors import DefaultDataProcessor
    from neuralop.data.transforms.normalizers import UnitGaussianNormalizer
    from neuralop.models import FNO

    torch.manual_seed(0)
    n, root = args.resolution, args.root

    def read(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        with h5py.File(root / "data" / name / f"{split}.h5", "r") as file:
            return torch.from_numpy(file["inputs"][:]), torch.from_numpy(file["outputs"][:])

    x_train, y_train = read(dataset(n, 1), "train")
    normalizers = []
    for data in (x_train, y_train):
        normalizer = UnitGaussianNormalizer(dim=[0, 2, 3])  # channel-wise
        normalizer.fit(data)
        normalizers.append(normalizer)
    processor = DefaultDataProcessor(in_normalizer=normalizers[0], out_normalizer=normalizers[1])
    # Our FNO's effective modes: 12 per axis, capped to n // 2 (docs/models.md). neuraloperator
    # counts the whole spectrum: 2m keeps +-m on the first axis, (2m - 1) // 2 + 1 = m on the
    # halved (rfft) last axis.
    modes = min(12, n // 2)
    model = FNO(
        n_modes=(2 * modes, 2 * modes - 1),
        in_channels=1,
        out_channels=1,
        hidden_channels=32,
        projection_channel_ratio=4,  # 128 channels, as ours
    )
    loader = torch.utils.data.DataLoader(
        TensorDataset(x_train, y_train),
        batch_size=args.batch,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, weight_decay=1e-4)
    # Halved every 25 of 60 epochs; a shorter run (64x64) halves at the same fractions.
    step_size = max(1, round(25 * args.epochs / 60))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=0.5)
    loss = LpLoss(d=2, p=2)
    trainer = Trainer(model=model, n_epochs=args.epochs, data_processor=processor, verbose=False)
    start = time.perf_counter()
    trainer.train(loader, {}, optimizer, scheduler, training_loss=loss, eval_losses={"l2": loss})
    seconds = time.perf_counter() - start
    processor.eval()
    errors = {}
    with torch.no_grad():
        for scale in SCALES:
            x, y = read(dataset(n, scale), "test")
            sample = processor.preprocess({"x": x, "y": y})
            pred, _ = processor.postprocess(model(sample["x"]), sample)
            error = (pred - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)
            errors[scale] = float(error.mean())
    write_result(
        root,
        f"neuralop_fno_{n}",
        {
            "label": f"neuralop_fno_{n}",
            "who": "neuraloperator 2.0",
            "model": "fno",
            "resolution": n,
            "epochs": args.epochs,
            "batch": args.batch,
            "overrides": [],
            # Real degrees of freedom: torch counts a complex weight once, ours are real pairs.
            "parameters": sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters()),
            "train_seconds": seconds,
            "rel_l2": errors,
        },
    )


def print_table(root: Path) -> None:
    results = [json.loads(p.read_text()) for p in sorted((root / "results").glob("*.json"))]
    results.sort(key=lambda r: (r["resolution"], r["who"] != "neuraloperator 2.0", r["label"]))
    reference = {r["resolution"]: r for r in results if r["who"] == "neuraloperator 2.0"}
    print("| grid | who | model | epochs | parameters | rel L2 1x | 2x | 4x | 1x / neuralop FNO |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        e = {int(k): v for k, v in r["rel_l2"].items()}
        ref = reference.get(r["resolution"])
        ratio = f"{e[1] / ref['rel_l2']['1']:.2f}" if ref else "–"
        who = r["who"] + (f" ({' '.join(r['overrides'])})" if r["overrides"] else "")
        print(
            f"| {r['resolution']}² | {who} | {r['model']} | {r['epochs']} | {r['parameters']:,} "
            f"| {e[1]:.4f} | {e[2]:.4f} | {e[4]:.4f} | {ratio} |"
        )
        if "rel_l2_without_ema" in r:
            e = {int(k): v for k, v in r["rel_l2_without_ema"].items()}
            ratio = f"{e[1] / ref['rel_l2']['1']:.2f}" if ref else "–"
            print(
                f"| {r['resolution']}² | {who}, weights without the average | {r['model']} "
                f"| {r['epochs']} | {r['parameters']:,} | {e[1]:.4f} | {e[2]:.4f} | {e[4]:.4f} "
                f"| {ratio} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/accuracy_vs_neuraloperator"))
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="generate every dataset")
    data.add_argument("--resolutions", type=int, nargs="*", default=list(RESOLUTIONS))
    for name in ("ours", "neuralop"):
        run = commands.add_parser(name, help=f"train and evaluate {name}")
        run.add_argument("--resolution", type=int, choices=RESOLUTIONS, required=True)
        run.add_argument("--epochs", type=int, default=60)
        run.add_argument("--batch", type=int, default=32)
    ours = commands.choices["ours"]
    ours.add_argument("--model", default="fno")
    ours.add_argument("--tag", default="default", help="label of this recipe")
    ours.add_argument("overrides", nargs="*", help="extra `surrogate train` overrides")
    commands.add_parser("table", help="print the markdown table of every result")
    args = parser.parse_args()
    if args.command == "data":
        make_data(args.root, args.resolutions)
    elif args.command == "ours":
        run_ours(args)
    elif args.command == "neuralop":
        run_neuralop(args)
    else:
        print_table(args.root)


if __name__ == "__main__":
    main()
