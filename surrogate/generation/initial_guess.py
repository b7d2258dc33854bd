"""Starting each iterative solve from a trained model's prediction (`solver.initial_guess`).

Once a first model of a family exists, more data of that family can be generated faster: the
model predicts each sample's solution from the sample's inputs (rounded to float32, as the
dataset stores them, and normalised by the model's own statistics inside its forward pass),
the family's `solution_vector` maps the predicted fields back to a solution vector, and the
Krylov method starts from it (`ChainSolver.solve`'s `guess`: taken only where its residual is
below the warm start's and zero's). The stopping test is unchanged (true residual <= rtol
relative to b), so the stored solutions agree with a run without a guess to within rtol; only
the iterations differ. The guesses are predicted in batches of `batch_size` samples, since
inference per sample is what the iterations saved must pay for (docs/solvers.md).

Every check runs before any work (`check_initial_guess`): the checkpoint is readable, of the
same family, fields and grid (another grid only for a resolution-independent model), steady,
and the solver is iterative.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import systems_of
from surrogate.solvers.base import SOLVERS, concrete_solver

log = logging.getLogger(__name__)


@dataclass
class InitialGuess:
    """A loaded model that predicts solution vectors of a family's samples."""

    module: Any  # OperatorModule, in eval mode on `device`
    family: Any  # the family whose `solution_vector` maps fields to vectors
    device: Any  # torch.device
    threads: int  # torch threads during inference: the solver's own BLAS budget

    def vectors(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
        """The predicted solution vector of each sample (inputs (C_in, *spatial) each), and
        the seconds the batch's inference took (transfers and mapping included)."""
        import torch

        start = time.perf_counter()
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            x = torch.from_numpy(np.stack(inputs).astype(np.float32)).to(self.device)
            with torch.inference_mode():
                fields = self.module(x).cpu().numpy()
        finally:
            torch.set_num_threads(threads)
        vectors = [self.family.solution_vector(f) for f in fields]
        return vectors, time.perf_counter() - start


def checkpoint_file(value: str) -> Path:
    """The checkpoint as given, or a run directory's checkpoints/last.ckpt."""
    path = Path(value)
    return path / "checkpoints" / "last.ckpt" if (path / "checkpoints").is_dir() else path


def load_initial_guess(cfg: DictConfig, pde: Any) -> InitialGuess | None:
    """The model of `solver.initial_guess` for the family `pde`, checked; None when unset.

    Raises UserError (one line) for a checkpoint that is missing, unreadable, of another family,
    fields or grid, or time-dependent, and for a run where a guess has no use (direct solver,
    no linear system, backend=torch).
    """
    value = cfg.solver.get("initial_guess")
    if value is None:
        return None
    _check_run(cfg, pde)
    path = checkpoint_file(str(value))
    if not path.is_file():
        raise UserError(
            f"solver.initial_guess={value}: no checkpoint there; pass a file such as "
            "<run_dir>/checkpoints/last.ckpt or a run directory of `surrogate train`"
        )
    from surrogate.evaluation.run import load_checkpoint

    try:
        module = load_checkpoint(path)
    except UserError as error:
        raise UserError(f"solver.initial_guess: {error}") from None
    _check_model(module, pde, path)
    device = _device(str(cfg.device))
    return InitialGuess(module.to(device), pde, device, int(cfg.blas_threads))


def check_initial_guess(cfg: DictConfig, pde: Any) -> None:
    """Every check of `load_initial_guess`, before any work (the model is loaded and dropped)."""
    load_initial_guess(cfg, pde)


def _check_run(cfg: DictConfig, pde: Any) -> None:
    """The generation itself must be one where a starting vector is used."""
    if cfg.backend != "numpy":
        raise UserError(
            f"solver.initial_guess works with backend=numpy, not backend={cfg.backend}; "
            "drop one of the two"
        )
    if not hasattr(pde, "solution_vector") or pde.linear_solves != 1 or pde.fields.time_steps:
        raise UserError(
            f"solver.initial_guess: pde={pde.name} has no single linear system per sample to "
            "start from a guess (steady families only: darcy, darcy3d, poisson, helmholtz, heat)"
        )
    concrete = concrete_solver(cfg.solver, systems_of(pde))
    if not SOLVERS.get(str(concrete.name)).preconditioned:
        chosen = "" if cfg.solver.name == concrete.name else f" (solver=auto chose {concrete.name})"
        raise UserError(
            f"solver.initial_guess has no use with a direct solver{chosen}; choose an iterative "
            "one, e.g. solver=gcrodr or solver=cg, or drop solver.initial_guess"
        )


def _check_model(module: Any, pde: Any, path: Path) -> None:
    """Same family, fields and grid (another grid only for a resolution-independent model)."""
    from surrogate.models import resolution_dependent

    data, spec = module.hparams.data, pde.fields
    if module.temporal or data.get("time_steps"):
        raise UserError(f"solver.initial_guess={path} is a time-dependent model; use a steady one")
    if data["pde"] != pde.name:
        raise UserError(
            f"solver.initial_guess={path} was trained on pde={data['pde']}, not pde={pde.name}; "
            f"use a checkpoint trained on {pde.name} data"
        )
    expected = (tuple(data["input_names"]), tuple(data["output_names"]))
    if expected != (spec.input_names, spec.output_names):
        raise UserError(
            f"solver.initial_guess={path} maps {expected[0]} to {expected[1]}; this pde config "
            f"stores {spec.input_names} and {spec.output_names} (e.g. pde.wavenumber_channel)"
        )
    trained, grid = tuple(data["spatial_shape"]), tuple(spec.spatial_shape)
    if trained == grid:
        return
    name = str(module.hparams.model["name"])
    shapes = (
        f"trained on {'x'.join(map(str, trained))}, pde.resolution gives {'x'.join(map(str, grid))}"
    )
    if len(trained) != len(grid) or resolution_dependent(name):
        raise UserError(
            f"solver.initial_guess={path}: {name} {shapes} and is tied to its grid; "
            "use pde.resolution of the training data or a resolution-independent model (fno)"
        )
    log.info("initial guess from %s, %s: predicting on the new grid", name, shapes)


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is available; use device=cpu")
    return torch.device(name)


def initial_guess_attrs(cfg: DictConfig) -> dict[str, str]:
    """What a split file records of the model its solves started from: the checkpoint's SHA-256
    (the config holds its path), or nothing without `solver.initial_guess`."""
    value = cfg.solver.get("initial_guess")
    if value is None:
        return {}
    digest = hashlib.sha256()
    with checkpoint_file(str(value)).open("rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return {"initial_guess_sha256": digest.hexdigest()}
