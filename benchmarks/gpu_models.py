"""Every model's training throughput and peak memory per precision, with and without compile.

For each model at its default config (conf/model/*.yaml, fitted to the grid as training does),
each precision (`32-true`, `bf16-mixed`, `16-mixed`: autocast to that dtype, a GradScaler for
float16) and compile off/on (`torch.compile` of the model, compiled during the warm-up steps):
samples/s over `--steps` Adam steps with relative L2 loss after `--warmup` steps, peak device
memory, and whether every loss was finite. A configuration that fails is reported with its
error (that is what this script is for), the others go on. `--neuralop` adds neuraloperator's
FNO at our FNO's settings (12 modes per axis, width 32, projection 128, no padding) beside
ours with `padding=0`. `--data DIR` also measures loader throughput on that dataset's train
split: lazy HDF5 reads with 0 and 2 workers, and the in-memory modes (host, device), one
epoch each after a warm-up epoch; `--models` with no name measures only the loaders.

    python benchmarks/gpu_models.py --device cuda --size 128            # on the GPU machine
    python benchmarks/gpu_models.py --device cpu --size 24 --steps 1 --warmup 1 \\
        --precisions 32-true bf16-mixed --models fno mgno                  # a CPU dry run
    python benchmarks/gpu_models.py --device cpu --models --data data/darcy64  # loaders only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from surrogate.models import build_model

CONF = Path(__file__).resolve().parent.parent / "conf" / "model"
VARIANTS = {
    "fno": ("fno", {}),
    "tfno": ("fno", {"factorization": "cp"}),
    "mgno": ("mgno", {}),
    "unet": ("unet", {}),
    "deeponet": ("deeponet", {}),
    "galerkin": ("galerkin", {}),
}
DTYPES = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def our_model(variant: str, size: int, extra: dict | None = None) -> torch.nn.Module:
    name, options = VARIANTS[variant]
    cfg = {**OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml")), **options}
    return build_model({**cfg, **(extra or {})}, 1, 1, 2, grid=(size, size))


def neuralop_fno() -> torch.nn.Module:
    from neuralop.models import FNO

    return FNO(
        n_modes=(24, 23), in_channels=1, out_channels=1, hidden_channels=32,
        projection_channel_ratio=4,
    )  # fmt: skip


def measure(make, precision: str, compiled: bool, args, device: torch.device) -> dict:
    """Samples/s, peak memory and finiteness of training steps of a fresh model."""
    torch.manual_seed(0)
    model = make().to(device)
    if compiled:
        model = torch.compile(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = DTYPES[precision]
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    x = torch.randn(args.batch, 1, args.size, args.size, device=device)
    y = torch.randn(args.batch, 1, args.size, args.size, device=device)
    finite = True

    def step() -> None:
        nonlocal finite
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            pred = model(x)
        diff = (pred.float() - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)
        loss = diff.mean()
        finite &= bool(torch.isfinite(loss))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(args.warmup):
        step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"samples_per_s": args.batch * args.steps / seconds, "peak_mib": peak, "finite": finite}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader_rates(dataset_dir: Path, batch: int, device: torch.device) -> list[dict]:
    """Samples/s of one epoch of the train loader per data mode, batches moved to `device`."""
    from surrogate.loading.datamodule import FieldDataModule

    class Attached:  # what the datamodule reads of a Trainer: the processes and the device
        world_size = 1

        class strategy:  # noqa: N801
            root_device = device

    rows = []
    for mode, workers in (("lazy", 0), ("lazy", 2), ("host", 0), ("device", 0)):
        module = FieldDataModule(dataset_dir, batch, workers, 0.1, 0, in_memory=mode)
        module.trainer = Attached()
        start = time.perf_counter()
        module.setup("fit")
        read = time.perf_counter() - start
        loader = module.train_dataloader()
        for _ in range(2):  # the first epoch starts the workers
            count, start = 0, time.perf_counter()
            for x, y in loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                count += len(x)
            synchronize(device)
            seconds = time.perf_counter() - start
        rows.append(
            {"mode": mode, "workers": workers, "read_s": read, "samples_per_s": count / seconds}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list(VARIANTS))
    parser.add_argument("--precisions", nargs="*", default=list(DTYPES))
    parser.add_argument("--compile", nargs="*", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--neuralop", action="store_true")
    parser.add_argument("--data", type=Path, help="a dataset directory for loader throughput")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--budget", type=float, default=float("inf"), help="seconds; later configs are skipped"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    makers = {v: (lambda v=v: our_model(v, args.size)) for v in args.models}
    if args.neuralop:
        makers["fno (padding 0)"] = lambda: our_model("fno", args.size, {"padding": 0.0})
        makers["neuraloperator fno"] = neuralop_fno
    rows, start = [], time.perf_counter()
    for compiled in [c == "on" for c in args.compile]:  # eager first: cheap, and always measured
        for precision in args.precisions:
            for name, make in makers.items():
                row = {"model": name, "precision": precision, "compile": compiled}
                if time.perf_counter() - start > args.budget:
                    row["error"] = f"skipped: past the --budget of {args.budget:g} s"
                    rows.append(row)
                    continue
                try:
                    row.update(measure(make, precision, compiled, args, device))
                except Exception as error:  # noqa: BLE001 - report every failure, go on
                    row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
                rows.append(row)
                print(json.dumps(row), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if rows:
        print(f"\n{args.size}x{args.size}, batch {args.batch}, {args.steps} steps, {name}\n")
        print_models(rows)
    if args.data:
        loaders = loader_rates(args.data, args.batch, device)
        print(f"\n{args.data}: train split, batch {args.batch}, the second of two epochs, {name}\n")
        print("| data mode | workers | one-off read s | loader samples/s |")
        print("|---|---:|---:|---:|")
        for r in loaders:
            print(
                f"| {r['mode']} | {r['workers']} | {r['read_s']:.2f} | {r['samples_per_s']:.0f} |"
            )
        rows += loaders
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def print_models(rows: list[dict]) -> None:
    print("| model | precision | compile | train samples/s | peak MiB | finite | error |")
    print("|---|---|---|---:|---:|---|---|")
    for r in rows:
        rate = f"{r['samples_per_s']:.0f}" if "samples_per_s" in r else "–"
        peak = f"{r['peak_mib']:.0f}" if r.get("peak_mib") is not None else "–"
        print(
            f"| {r['model']} | {r['precision']} | {'on' if r['compile'] else 'off'} | {rate} "
            f"| {peak} | {r.get('finite', '–')} | {r.get('error', '')} |"
        )


if __name__ == "__main__":
    main()
