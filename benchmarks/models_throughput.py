"""Throughput and peak memory of every model at its default config, on CPU.

For each model (and FNO with CP factorisation, TFNO) a fresh process builds the model from
conf/model/<name>.yaml for one input and one output channel, then times inference (forward
under inference_mode) and training steps (forward, relative L2 loss, backward, Adam step) on
random (batch, 1, size, size) inputs, after warm-up steps. Peak memory is the growth of the
process's maximum resident set size over the measurement, i.e. what the model, its
activations and its optimiser state add on top of the interpreter and torch.

    .venv/bin/python benchmarks/models_throughput.py            # 64x64, batch 16, 1 thread
    .venv/bin/python benchmarks/models_throughput.py --size 85 --threads 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
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


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(variant: str, size: int, batch: int, steps: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    name, extra = VARIANTS[variant]
    cfg = {**OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml")), **extra}
    x = torch.randn(batch, 1, size, size)
    y = torch.randn(batch, 1, size, size)
    start_rss = _max_rss_mib()
    model = build_model(cfg, 1, 1, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step() -> None:
        optimizer.zero_grad()
        loss = ((model(x) - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean()
        loss.backward()
        optimizer.step()

    def infer() -> None:
        with torch.inference_mode():
            model(x)

    timings = {}
    for label, step in (("train", train_step), ("infer", infer)):
        for _ in range(2):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        timings[label] = batch * steps / (time.perf_counter() - start)
    return {
        "model": variant,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_samples_per_s": timings["train"],
        "infer_samples_per_s": timings["infer"],
        "peak_mib": _max_rss_mib() - start_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")  # a fresh process per model: clean peaks
    rows = []
    for variant in args.models:
        with context.Pool(1) as pool:
            rows.append(
                pool.apply(measure, (variant, args.size, args.batch, args.steps, args.threads))
            )
    print(
        f"{args.size}x{args.size}, batch {args.batch}, {args.steps} timed steps, "
        f"{args.threads} thread(s), torch {torch.__version__}"
    )
    print("| model | parameters | train samples/s | inference samples/s | peak memory MiB |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['model']} | {row['parameters']:,} | {row['train_samples_per_s']:.1f} "
            f"| {row['infer_samples_per_s']:.1f} | {row['peak_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
