"""Our FNO against neuraloperator's FNO at the same hyper-parameters, side by side in one run.

neuraloperator is a benchmark-time dependency only; install it in a separate environment:

    python3 -m venv /tmp/novenv && /tmp/novenv/bin/pip install torch==2.13.0 \
        neuraloperator==2.0.0 omegaconf && /tmp/novenv/bin/pip install --no-deps -e .
    /tmp/novenv/bin/python benchmarks/models_vs_neuraloperator.py

Both: 12 Fourier modes per direction (positive and negative), width 32, 4 spectral layers
with a linear skip, GELU, grid coordinates appended, projection through 128 channels, no
padding. neuraloperator's per-layer channel MLP is switched off (ours has none); its lifting is
a two-layer MLP (ours one linear map), a small cost at width 32. Timed alternately, after
warm-up, on random (batch, 1, size, size) data with relative L2 loss and Adam.
"""

from __future__ import annotations

import argparse
import time

import torch
from neuralop.models import FNO as NeuralopFNO

from surrogate.models.fno import FNO


def build(which: str) -> torch.nn.Module:
    if which == "surrogate":
        return FNO(1, 1, 2, modes=12, width=32, n_layers=4, projection_width=128, padding=0.0)
    # neuraloperator counts modes over the whole spectrum: 24 keeps ±12 on the first axis,
    # 23 // 2 + 1 = 12 on the halved (rfft) last axis.
    return NeuralopFNO(
        n_modes=(24, 23),
        in_channels=1,
        out_channels=1,
        hidden_channels=32,
        n_layers=4,
        projection_channel_ratio=4,
        use_channel_mlp=False,
        fno_skip="linear",
    )


def seconds_per_step(model, x, y, train: bool, steps: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        if train:
            optimizer.zero_grad()
            loss = ((model(x) - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean()
            loss.backward()
            optimizer.step()
        else:
            with torch.inference_mode():
                model(x)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = (
        torch.randn(args.batch, 1, args.size, args.size),
        torch.randn(args.batch, 1, args.size, args.size),
    )
    models = {name: build(name) for name in ("surrogate", "neuraloperator")}
    times = {(name, mode): [] for name in models for mode in ("train", "infer")}
    for _ in range(args.rounds):  # alternate, so drifts in machine load hit both alike
        for name, model in models.items():
            for mode in ("train", "infer"):
                times[(name, mode)].append(
                    seconds_per_step(model, x, y, mode == "train", args.steps)
                )
    print(
        f"\n### FNO throughput, {args.size}x{args.size}, batch {args.batch}, {args.threads} thread(s), "
        f"best of {args.rounds} rounds of {args.steps} steps\n"
    )
    print("| model | parameters | train samples/s | inference samples/s |")
    print("|---|---|---|---|")
    rate = {}
    for name, model in models.items():
        # Real degrees of freedom: torch counts a complex weight once, ours are real pairs.
        params = sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
        rate[name] = {m: args.batch / min(times[(name, m)]) for m in ("train", "infer")}
        print(f"| {name} | {params:,} | {rate[name]['train']:.1f} | {rate[name]['infer']:.1f} |")
    ours, theirs = rate["surrogate"], rate["neuraloperator"]
    print(
        f"| ratio ours / neuraloperator | | {ours['train'] / theirs['train']:.2f} | "
        f"{ours['infer'] / theirs['infer']:.2f} |"
    )


if __name__ == "__main__":
    main()
