"""Drawing and assembling a steady family's problems: one at a time against a block at a time.

For each family (with `--extra` overrides) and resolution, times the same `--samples` samples
three ways, interleaved over `--repeats`, in one process, BLAS on one thread: `problem(rng)`
one by one, each dropped at once ("one by one"); the base class's `SteadyFamily.problems`, the
same `problem` calls a block at a time, the block's problems kept until it is done as the
generator keeps them ("loop, kept"); and the family's own `problems` ("block"). Blocks are of
`samples_per_block` (what `surrogate generate` takes: 32 at 64², fewer where a block's fields
would pass 16 MiB). Keeping a block's matrices alive costs fresh memory (page faults) that the
one-by-one loop does not pay: "loop, kept" against "block" is the vectorisation alone. The
random streams (`sample_rng`) are made beforehand, so no column holds their cost. Prints µs per
sample, median (min-max) of the repeats, and the ratio of the medians of "loop, kept" and
"block". Nothing is solved: in a run the solves in between leave the caches cold, which
`benchmarks/generation.py phases` measures. Usage:

    python benchmarks/draws.py --family darcy helmholtz --resolution 64 256
    python benchmarks/draws.py --family darcy --extra pde.coefficient=lognormal pde.stencil=skr
    python benchmarks/draws.py --family darcy3d --resolution 32

Time it under the CPU lock on a shared machine (`flock /tmp/surrogate-cpu.lock ...`).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

from hydra import compose, initialize_config_dir
from threadpoolctl import threadpool_limits

from surrogate.cli.app import config_dir
from surrogate.generation import solving
from surrogate.generation.solving import sample_rng
from surrogate.pdes import build_pde
from surrogate.pdes.base import SteadyFamily


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def time_case(family: str, resolution: int, at_64: int, repeats: int, extra: list[str]) -> str:
    """One table row: µs per sample one by one and in blocks, over as many samples as hold
    the grid points of `at_64` samples at 64² (at least 32)."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        overrides = [f"pde={family}", f"pde.resolution={resolution}", *extra]
        pde = build_pde(compose("generate", overrides).pde)
    size = solving.samples_per_block(pde)
    samples = max(32, at_64 * 64**2 // math.prod(pde.fields.spatial_shape))

    def one_by_one(rngs: list) -> None:
        for rng in rngs:
            pde.problem(rng)

    def in_blocks(make) -> Callable[[list], None]:
        def run(rngs: list) -> None:
            for first in range(0, samples, size):
                make(rngs[first : first + size])

        return run

    ways = {
        "one": one_by_one,
        "loop": in_blocks(lambda rngs: SteadyFamily.problems(pde, rngs)),
        "block": in_blocks(pde.problems),
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        for way, run in ways.items():
            rngs = [sample_rng(0, "train", index) for index in range(samples)]
            start = time.perf_counter()
            run(rngs)
            times[way].append(1e6 * (time.perf_counter() - start) / samples)
    ratio = statistics.median(times["loop"]) / statistics.median(times["block"])
    cells = " | ".join(spread(values) for values in times.values())
    return (
        f"| {family} | {' '.join(extra) or '-'} | {resolution} | {size} | {cells} | {ratio:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="+", default=["darcy", "helmholtz"])
    parser.add_argument("--resolution", type=int, nargs="+", default=[64, 256])
    parser.add_argument(
        "--samples", type=int, default=1000, help="per repeat at 64² (as many grid points else)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--extra", nargs="*", default=[], help="overrides, e.g. pde.stencil=skr")
    options = parser.parse_args()
    print(
        f"\nµs per sample to draw and assemble, median (min-max) of {options.repeats} repeats; "
        f"{options.samples} samples at 64², as many samples' grid points at other sizes\n"
    )
    print(
        "| family | overrides | resolution | samples per block | one by one | loop, kept | block "
        "| loop, kept / block |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with threadpool_limits(limits=1):
        for family in options.family:
            for resolution in options.resolution:
                row = time_case(family, resolution, options.samples, options.repeats, options.extra)
                print(row, flush=True)


if __name__ == "__main__":
    main()
