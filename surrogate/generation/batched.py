"""`backend=torch`: a chain's samples solved batch_size at a time by the family's batched
version (surrogate/pdes/batched/), on the device `device` names.

Batches are cut from each segment's samples in solve order (a batch never spans two segments)
and a lane's arithmetic does not depend on the other lanes (tested: batch_size=1 and 7 give the
same bytes with CG and GMRES). What a family carries from one batch to the next (GCRO-DR's
recycled space, `solver.recycle_batch`) is dropped at every segment (`restart`), as the numpy
chain drops it, so a resumed run, which redoes whole segments, still writes the data of an
uninterrupted one. Each sample reaches the writer on its own, as with the numpy backend.

`dtype` is the precision the batch computes in (float64, or float32: the spectral families'
whole step, the steady families' correction solves of a float64 iterative refinement); the
numpy backend computes in float64 only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from surrogate.errors import UserError

if TYPE_CHECKING:
    import torch

    from surrogate.generation.solving import SolvedSample


DTYPES = ("float64", "float32")


def check_backend(cfg: DictConfig) -> None:
    """backend=torch: the family has a batched version, and the device exists; `dtype` is one
    torch computes in, and float64 with backend=numpy."""
    if cfg.dtype not in DTYPES:
        raise UserError(f"dtype={cfg.dtype} is not one of {', '.join(DTYPES)}")
    if cfg.backend != "torch":
        if cfg.dtype != "float64":
            raise UserError(
                f"dtype={cfg.dtype} needs backend=torch (backend={cfg.backend} computes in "
                "float64 only); pass backend=torch or dtype=float64"
            )
        return
    from surrogate.pdes.batched import BATCHED

    if cfg.pde.name not in BATCHED:
        raise UserError(
            f"backend=torch does not support pde={cfg.pde.name} yet (it supports: "
            f"{', '.join(sorted(BATCHED.names()))}); use backend=numpy for it"
        )
    family = BATCHED.get(cfg.pde.name)
    if hasattr(family, "check"):  # what of the family and solver config it batches
        family.check(cfg)
    torch_device(str(cfg.device))


def torch_device(name: str) -> torch.device:
    """The device `device=<name>` stands for: auto is cuda when torch sees a GPU, else cpu."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        build = "built without CUDA" if torch.version.cuda is None else "finding no GPU"
        raise UserError(
            f"device=cuda but this torch ({torch.__version__}, {build}) has no CUDA device; "
            "use device=cpu or device=auto"
        )
    return torch.device(name)


def solve_chain_batched(
    cfg: DictConfig, split: str, segments: Iterable[list[int]]
) -> Iterator[SolvedSample]:
    """The samples of a chain's segments, batch_size at a time, in order; torch uses
    `blas_threads` threads meanwhile (as the numpy backend's BLAS does)."""
    import torch

    from surrogate.generation.solving import SolvedSample, sample_rng
    from surrogate.pdes import build_pde
    from surrogate.pdes.batched import BATCHED

    pde = build_pde(cfg.pde)
    dtype = getattr(torch, str(cfg.dtype))
    batched = BATCHED.get(pde.name)(pde, cfg.solver, torch_device(str(cfg.device)), dtype)
    seed, size = int(cfg.seed), int(cfg.batch_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(cfg.blas_threads))
    try:
        for segment in segments:
            if hasattr(batched, "restart"):  # what it carries from batch to batch (GCRO-DR)
                batched.restart()
            for start in range(0, len(segment), size):
                batch = segment[start : start + size]
                solved = batched.simulate([sample_rng(seed, split, index) for index in batch])
                for index, trajectory in zip(batch, solved):
                    yield SolvedSample.of(index, trajectory)
    finally:
        torch.set_num_threads(threads)
