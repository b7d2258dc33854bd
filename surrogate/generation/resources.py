"""Up-front memory and disk checks of `surrogate generate`, before any solve or file is made.

A run that cannot fit should say so in one line at once, not fail hours later (or be killed by
the kernel's OOM killer, which prints nothing). The largest objects are estimated from the
config: per solver process the matrix and its assembly, the direct factors or the Krylov vectors
and the preconditioner, one sample's fields; in the main process the sort's features and HDF5's
buffers for one chunk, the writer's staging blocks and the samples in flight from the workers;
on disk the split files, whose space is allocated when they are created.

The constants (bytes per non-zero, the fill of the factors as a function of the unknowns N)
were fitted to measured peak memory and to SuperLU's and PARDISO's own factor sizes on the
Darcy families: benchmarks/resources.py prints estimate against measurement (docs/benchmarks.md).
A run is refused when the estimate times `SAFETY` exceeds the memory available (the smaller of
the system's MemAvailable and a cgroup's limit: a container's or a batch job's), or when the
disk space it still has to allocate exceeds the free space. `check_resources=false` skips the
memory check for a user who knows better (swap, memory about to be freed).

With backend=torch a solver process holds a batch (`memory_of_batch`): batch_size samples'
fields, problems and matrices, and the batched solver's state per lane, in `dtype`'s bytes (the
stencil, the Krylov vectors, the multigrid hierarchy); counted array by array, checked against
measured peaks in docs/torch_backend.md. A batch that does not fit is refused naming the
batch_size that does. A GPU's memory is not checked: the estimate is of the host's.

The direct re-solve of a system an iterative solver fails (`solver.fallback`) is not counted:
it is rare, and counting it would refuse every large 3D iterative run; a warning says when it
would not fit.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from surrogate.checks import require_int
from surrogate.data.schema import SOLVER_STATS, SPLITS, split_filename
from surrogate.data.writer import BUFFER_BYTES
from surrogate.errors import UserError
from surrogate.generation.solving import BLOCK_BYTES, CSR_BYTES_PER_NONZERO, SAMPLE_BLOCK
from surrogate.memory import SAFETY, available_memory, size_text
from surrogate.solvers.base import Systems
from surrogate.solvers.sorting import BLOCK_BYTES as SORT_BLOCK_BYTES

log = logging.getLogger(__name__)

HDF5_CHUNK_LIMIT = 2**32 - 1  # bytes; the writer stores one sample (or one state) per chunk
PROCESS_BYTES = 150 * 2**20  # interpreter, numpy, scipy and h5py of each further worker
MATRIX_BYTES_PER_NONZERO = 60  # assembly triplets, their pieces and the CSR (12 B/nnz) at peak
FACTOR_BYTES_PER_NONZERO = {"superlu": 12, "pardiso": 10}
SUPERLU_UNSYMMETRIC_FILL = 1.6  # COLAMD on a non-symmetric matrix (Helmholtz at 512: 1.5x)
FIELD_BYTES_PER_POINT = 80  # random field, faces, rhs, solution, float32 copies of one sample
SPECTRAL_BYTES_PER_POINT = 240  # wavenumbers, masks, spectra and stages of a spectral solver
PROBE_RESOLUTION = 64  # builds every family quickly, and resolves Helmholtz's default waves
MAX_STEPS = 10**9  # internal time steps per trajectory: days of work even in 1D, surely a typo
DTYPE_BYTES = {"float64": 8, "float32": 4}
TORCH_SPECTRAL_BYTES_PER_POINT = 400  # float64; measured 396 and 384 (navier_stokes 64², 256²)
REFINEMENT_VECTORS = 4  # dtype=float32: float64 x, residual and its temporaries per lane


@dataclass(frozen=True)
class Sizes:
    """What the estimates need to know of a family's samples at one resolution."""

    resolution: int
    dims: int
    solve_resolution: int | None  # the spectral families' solve grid, None: the stored grid
    inputs: int
    outputs: int
    states: int  # stored states per sample (1: steady)
    params: int
    linear: bool  # whether samples are computed by linear solves
    spd: bool
    random_modes: int  # modes per axis of random fields finer than the grid (0: none are)
    systems: Systems  # what the solver (and so `sort=auto`) is told of the family
    blocks: bool  # whether a block of samples is drawn ahead of its solves (`block_assembly`)

    @classmethod
    def of(cls, cfg: DictConfig, pde: object, resolution: int | None = None) -> Sizes:
        """From the family built for `cfg.pde` (or the same family at another resolution)."""
        from surrogate.pdes.base import systems_of
        from surrogate.pdes.temporal import is_time_dependent

        spec = pde.fields  # type: ignore[attr-defined]
        solve = cfg.pde.get("solve_resolution")
        modes = max(  # set explicitly (their default, null, is the resolution)
            int(OmegaConf.select(cfg, key) or 0) for key in ("pde.grf.modes", "pde.initial.modes")
        )
        return cls(
            resolution=int(spec.spatial_shape[0]) if resolution is None else resolution,
            dims=len(spec.spatial_shape),
            solve_resolution=None if solve is None else int(solve),
            inputs=len(spec.input_names),
            outputs=len(spec.output_names),
            states=max(spec.time_steps, 1),
            params=len(spec.param_names),
            linear=not is_time_dependent(pde) or bool(pde.linear_solves),  # type: ignore[attr-defined]
            spd=bool(pde.spd),  # type: ignore[attr-defined]
            random_modes=modes if modes > spec.spatial_shape[0] else 0,
            systems=systems_of(pde),
            blocks=bool(getattr(pde, "block_assembly", False)),
        )

    @property
    def points(self) -> int:
        return self.resolution**self.dims

    @property
    def solve_points(self) -> int:
        return max(self.resolution, self.solve_resolution or 0) ** self.dims

    @property
    def nonzeros(self) -> int:
        return (2 * self.dims + 1) * self.points  # 3-, 5- and 7-point stencils

    @property
    def sample_bytes(self) -> int:
        """One sample's stored fields (float32)."""
        return (self.inputs + self.outputs * self.states) * self.points * 4

    @property
    def fields_bytes(self) -> float:
        """One sample's fields while it is computed."""
        per_point = FIELD_BYTES_PER_POINT if self.linear else SPECTRAL_BYTES_PER_POINT
        return self.solve_points * per_point + self.sample_bytes

    @property
    def random_field_bytes(self) -> float:
        """A random field of more modes than grid points (a coarse sample of a fine field):
        its coefficients, spectrum and wavenumbers, 40 B per mode beyond the grid's."""
        return 40.0 * max(0, self.random_modes**self.dims - self.points)


def free_disk(directory: Path) -> int:
    """Free bytes on the file system that will hold `directory`."""
    existing = directory.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def check_grid(cfg: DictConfig) -> None:
    """Before the family is built (some build arrays the size of the grid): refuse a grid one
    sample of which cannot be held. The refusal names the resolution that fits, estimated on
    the family built at a small resolution (if it builds there; else a bound)."""
    if not cfg.check_resources:
        return
    key, value = _grid_key(cfg)
    from surrogate.pdes import FAMILIES

    dims = FAMILIES.get(cfg.pde.name).dimensions  # the class's: the family is not built yet

    def fields(size: int) -> dict[str, float]:
        return {"one sample's fields alone": size**dims * FIELD_BYTES_PER_POINT}

    if sum(fields(value).values()) * SAFETY <= available_memory():
        return
    probe = _small_family(cfg)
    if probe is not None:
        _check_solver_memory(cfg, probe, int(cfg.pde.resolution))
    _check_memory(cfg, key, value, fields, "at least ")


def _small_family(cfg: DictConfig) -> object | None:
    """The family of `cfg.pde` at a small resolution (None if it refuses to be built there)."""
    from omegaconf import OmegaConf

    from surrogate.pdes import build_pde

    small = OmegaConf.to_container(cfg.pde, resolve=True)
    small["resolution"] = PROBE_RESOLUTION
    if small.get("solve_resolution") is not None:
        small["solve_resolution"] = PROBE_RESOLUTION
    try:
        return build_pde(OmegaConf.create(small))
    except UserError:
        return None


def _grid_key(cfg: DictConfig) -> tuple[str, int]:
    """The setting that sizes the computed grid: pde.solve_resolution where it is set above
    pde.resolution (spectral families), else pde.resolution."""
    resolution = require_int(cfg, "pde.resolution", minimum=1)
    if cfg.pde.get("solve_resolution") is None:
        return "pde.resolution", resolution
    solve = require_int(cfg, "pde.solve_resolution", minimum=1)
    return ("pde.solve_resolution", solve) if solve > resolution else ("pde.resolution", resolution)


def memory_per_solver(solver: DictConfig, sizes: Sizes) -> dict[str, float]:
    """Bytes a solver process needs at its peak, by what needs them (`solver` concrete: not
    `auto`)."""
    parts = {"one sample's fields": sizes.fields_bytes}
    if sizes.random_modes:
        parts[f"random fields of {sizes.random_modes} modes per axis"] = sizes.random_field_bytes
    if not sizes.linear:  # the spectral families: no linear system
        return parts
    parts["matrix"] = sizes.nonzeros * MATRIX_BYTES_PER_NONZERO
    # The rest of a block of samples drawn and assembled before their solves, by a steady
    # family that draws in blocks (at most solving.BLOCK_BYTES; none where one sample alone is
    # more); one that draws one at a time makes each sample's problem just before its solve.
    block = sizes.fields_bytes + CSR_BYTES_PER_NONZERO * sizes.nonzeros
    if sizes.blocks and block < BLOCK_BYTES:
        parts["samples drawn ahead"] = float(min(BLOCK_BYTES, (SAMPLE_BLOCK - 1) * block))
    if sizes.states > 1:  # implicit steps: the operator, its scaled copy and the step's matrix
        parts["time-step operators"] = 3 * CSR_BYTES_PER_NONZERO * sizes.nonzeros
    from surrogate.solvers import SOLVERS
    from surrogate.solvers.preconditioners import PRECONDITIONERS

    method = SOLVERS.get(solver.name)
    if not method.preconditioned:  # a direct solve: its factors
        backend, factors = direct_factor_bytes(solver, sizes)
        parts[f"{backend} factors"] = factors
        return parts
    parts[f"{solver.name} vectors"] = method.work_vectors(solver) * sizes.points * 8.0
    preconditioner = PRECONDITIONERS.get(solver.preconditioner)
    parts[f"{solver.preconditioner} preconditioner"] = preconditioner.setup_bytes(
        sizes.nonzeros, solver
    )
    return parts


def direct_factor_bytes(solver: DictConfig, sizes: Sizes) -> tuple[str, float]:
    """(backend, bytes) of one sparse factorisation: fill fitted to SuperLU (minimum degree)
    and PARDISO (METIS nested dissection) on the 5- and 7-point Darcy stencils."""
    from surrogate.solvers.direct import pardiso_available

    backend = str(solver.get("backend", "superlu"))
    if backend == "auto":
        backend = "pardiso" if pardiso_available() else "superlu"
    n = float(sizes.points)
    if sizes.dims == 1:
        nonzeros = 3 * n
    elif backend == "pardiso":  # the lower triangle, both for a non-symmetric matrix
        fill = 3.0 * n * math.log2(n) if sizes.dims == 2 else 1.0 * n**1.5
        nonzeros = fill * (1 if sizes.spd else 2)
    else:  # L and U
        nonzeros = 4.0 * n * math.log2(n) if sizes.dims == 2 else 0.6 * n ** (5 / 3)
        nonzeros *= 1 if sizes.spd else SUPERLU_UNSYMMETRIC_FILL
    return backend, nonzeros * FACTOR_BYTES_PER_NONZERO[backend]


def memory_of_sort(cfg: DictConfig, sizes: Sizes, largest_split: int) -> dict[str, float]:
    """The main process while it orders a split: the features of every sample (greedy; and the
    rows gathered when a step is computed directly, measured at up to half of them more) with
    the blocks of its distance matrix (the float64 block, its argpartition's int64 indices, the
    float32 product), or their projections and the projection matrix (binned), and one
    sample's problem."""
    from surrogate.solvers import resolve_sort
    from surrogate.solvers.sorts import FEWEST_SORTED

    features = sizes.inputs * sizes.points  # the sort compares the parameter fields
    if largest_split < FEWEST_SORTED:  # `solve_order` sorts nothing this small
        return {}
    sort = str(resolve_sort(cfg, sizes.systems, largest_split, largest_split * features * 4).name)
    if sort == "none":
        return {}
    if sort == "greedy":
        block = min(float(SORT_BLOCK_BYTES), 8.0 * largest_split**2)
        parts = {
            "sort features": 1.5 * largest_split * features * 4.0,
            "sort distance blocks": 2.5 * block,
        }
    else:
        parts = {"sort projections": (largest_split + features) * int(cfg.sort.dims) * 4.0}
    parts["one sample's problem"] = sizes.fields_bytes + (
        sizes.nonzeros * MATRIX_BYTES_PER_NONZERO if sizes.linear else 0
    )
    return parts


def memory_of_writer(sizes: Sizes, workers: int, largest_split: int) -> dict[str, float]:
    """The main process while it writes: HDF5's buffers, the writer's staging blocks (fields
    buffered between flushes, up to `BUFFER_BYTES`, and a field's block gathered into index
    order when samples arrive out of it, sorted or from workers), the samples in flight."""
    chunk = max(sizes.inputs, sizes.outputs) * sizes.points * 4
    rows = min(largest_split, max(1, BUFFER_BYTES // max(1, sizes.sample_bytes)))
    parts = {
        "HDF5 chunk buffers": 3.0 * chunk,  # fill value, checksum filter, write
        "writer staging blocks": 2.0 * rows * sizes.sample_bytes,
    }
    if workers > 1:
        parts["samples in flight"] = 4.0 * workers * sizes.sample_bytes
    return parts


def torch_vectors(solver: DictConfig) -> float:
    """Vectors of N values per lane that backend=torch's batched method holds at its peak,
    fitted to measured peaks (VmHWM of the solve alone, docs/torch_backend.md): CG 20 (x, r, z, p,
    A p and the stencil's and updates' temporaries: 21 measured on darcy 256^2); GMRES 3.5 (m + 1)
    (143 measured for m = 40 at 64^2 and 128^2: the basis, the next cycle's allocated while the
    last one's is alive, and the allocator's retained blocks); GCRO-DR 7 k more (U, C, their
    re-fit and recycled copies, the space carried to the next batch: 268-285 for k = 20)."""
    if solver.name == "cg":
        return 20.0
    basis = 3.5 * (int(solver.m) + 1)
    return basis + 7 * int(solver.k) if solver.name == "gcrodr" else basis


def mg_bytes(solver: DictConfig, sizes: Sizes, itemsize: int) -> float:
    """One lane's multigrid hierarchy (surrogate/solvers/batched/mg.py): on every smoothed level
    its Jacobi scaling (the V-cycle's work fields reuse CG's temporaries: measured), on every
    coarse level its 3^d-point Galerkin stencil, the set-up's probes, responses and weights of
    the first coarse level (3 x 3^d fields) and the coarsest level's dense matrix and Cholesky
    factor."""
    from surrogate.solvers.batched.mg import coarse_size

    grid, points = (sizes.resolution,) * sizes.dims, 0.0
    coarse, first = 0.0, None
    while math.prod(grid) > int(solver.mg.coarsest) and max(grid) > 1:
        points += math.prod(grid)
        grid = tuple(coarse_size(n) for n in grid)
        coarse += 3**sizes.dims * math.prod(grid)
        first = first or math.prod(grid)
    setup = 3 * 3**sizes.dims * (first or 0)
    return (points + coarse + setup + 2 * math.prod(grid) ** 2) * itemsize


def memory_of_batch(cfg: DictConfig, solver: DictConfig, sizes: Sizes, batch: int) -> dict:
    """Bytes a backend=torch solver process needs for a batch of `batch` samples, by part."""
    itemsize, lanes = DTYPE_BYTES[str(cfg.dtype)], f"{batch} samples'"
    drawn = {}  # one sample's fine random field at a time, while the batch is drawn
    if sizes.random_modes:
        drawn[f"random fields of {sizes.random_modes} modes per axis"] = sizes.random_field_bytes
    if not sizes.linear:  # the spectral state in dtype, the stored float32 states
        spectral = sizes.solve_points * TORCH_SPECTRAL_BYTES_PER_POINT * itemsize / 8
        return {f"{lanes} fields": batch * (spectral + sizes.sample_bytes), **drawn}
    n, stencil = sizes.points, 2 * sizes.dims + 1
    assembly = MATRIX_BYTES_PER_NONZERO + (batch - 1) * CSR_BYTES_PER_NONZERO  # one at a time
    lower = 0 if itemsize == 8 else 2 * stencil * itemsize  # float32: the batch's, a subset's
    parts = {
        f"{lanes} fields": batch * sizes.fields_bytes,
        f"{lanes} matrices": sizes.nonzeros * assembly,
        f"{lanes} stencils": batch
        * n
        * ((stencil + 1) * 8 + lower),  # coefficient, diagonal, faces
        f"{lanes} {solver.name} vectors": batch * n * torch_vectors(solver) * itemsize,
    }
    if itemsize != 8:  # the float64 side of the refinement
        parts[f"{lanes} refinement"] = batch * n * (REFINEMENT_VECTORS * 8 + 2 * itemsize)
    if solver.get("preconditioner") == "mg":
        parts[f"{lanes} mg hierarchies"] = batch * mg_bytes(solver, sizes, itemsize)
    return parts | drawn


def memory_needed(
    cfg: DictConfig, solver: DictConfig, sizes: Sizes, batch: int | None = None
) -> dict[str, float]:
    """The peak, by what needs it: the larger of ordering a split and solving it; with
    backend=torch, for batches of `batch` samples (None: batch_size, or the split if smaller)."""
    largest_split = max(int(cfg[f"n_{split}"]) for split in SPLITS)
    workers = min(int(cfg.workers), largest_split)  # never more chains than samples
    if cfg.backend == "torch":
        batch = min(int(cfg.batch_size), largest_split) if batch is None else batch
        per_solver = memory_of_batch(cfg, solver, sizes, batch)
    else:
        per_solver = memory_per_solver(solver, sizes)
    solving = {
        f"{name} x {workers}" if workers > 1 else name: size * workers
        for name, size in per_solver.items()
    }
    solving |= memory_of_writer(sizes, workers, largest_split)
    if workers > 1:
        solving["worker processes"] = (workers - 1) * PROCESS_BYTES
    sorting = memory_of_sort(cfg, sizes, largest_split)
    return solving if sum(solving.values()) >= sum(sorting.values()) else sorting


def split_bytes(sizes: Sizes, n: int) -> int:
    """Disk bytes of a split file of n samples (allocated in full when it is created)."""
    stats = sum(8 if dtype.endswith("64") else 4 for dtype in SOLVER_STATS.values())
    per_sample = sizes.sample_bytes + 8 * sizes.params + stats + 1 + 64  # + chunk index
    return n * per_sample + 2**20  # grid, attributes, metadata


def check_resources(cfg: DictConfig, pde: object, shard: tuple[int, int] | None) -> None:
    """Refuse in one line, before any work, a generation this machine cannot hold."""
    sizes = Sizes.of(cfg, pde)
    chunk = max(sizes.inputs, sizes.outputs) * sizes.points * 4
    if chunk > HDF5_CHUNK_LIMIT:
        channels = max(sizes.inputs, sizes.outputs)
        largest = int((HDF5_CHUNK_LIMIT / (4 * channels)) ** (1 / sizes.dims))
        raise UserError(
            f"one sample of pde={cfg.pde.name} at pde.resolution={cfg.pde.resolution} is "
            f"{size_text(chunk)} per field and HDF5 holds at most 4 GiB in one chunk (the writer "
            f"keeps a sample per chunk); use pde.resolution={largest} or less"
        )
    _check_steps(cfg, pde)
    _check_disk(cfg, sizes, shard)
    if cfg.check_resources:
        _check_solver_memory(cfg, pde, sizes.resolution)


def _check_steps(cfg: DictConfig, pde: object) -> None:
    """Refuse a trajectory of more than MAX_STEPS internal steps: a family with a fixed step
    count says it (`steps_per_trajectory`: heat_transient's substeps per interval); otherwise
    the step never exceeds `max_dt` (a record_dt of 10^12 time units), and where the family fixes it per trajectory
    from the initial state by the CFL condition (Burgers), sample 0 shows what it will be
    (an initial.scale of 10^12 made it 10^-15)."""
    fixed = getattr(pde, "steps_per_trajectory", None)
    if fixed is not None and fixed > MAX_STEPS:
        raise UserError(
            f"pde={cfg.pde.name}: pde.substeps={cfg.pde.substeps} steps per interval over "
            f"{pde.fields.time_steps - 1} intervals are {fixed:.3g} steps per trajectory "  # type: ignore[attr-defined]
            f"(more than {MAX_STEPS:.0e}); lower pde.substeps or pde.time_steps"
        )
    record_dt, max_dt = getattr(pde, "record_dt", None), getattr(pde, "max_dt", None)
    if record_dt is None or max_dt is None:
        return
    intervals = pde.fields.time_steps - 1  # type: ignore[attr-defined]
    steps = intervals * record_dt / max_dt
    if steps <= MAX_STEPS and hasattr(pde, "step_size"):
        from surrogate.generation.solving import sample_rng

        split = next(s for s in SPLITS if int(cfg[f"n_{s}"]) > 0)
        initial = pde.initial(sample_rng(int(cfg.seed), split, 0))  # type: ignore[attr-defined]
        dt, substeps = pde.step_size(initial)  # type: ignore[attr-defined]
        if intervals * substeps > MAX_STEPS:
            raise UserError(
                f"pde={cfg.pde.name}: the CFL condition sets the step of {split} sample 0 to "
                f"{dt:.3g}, {intervals * substeps:.3g} steps for its trajectory (more than "
                f"{MAX_STEPS:.0e}); lower pde.initial.scale or pde.record_dt, or raise pde.cfl"
            )
    if steps > MAX_STEPS:
        raise UserError(
            f"pde={cfg.pde.name}: {pde.fields.time_steps - 1} intervals of "  # type: ignore[attr-defined]
            f"pde.record_dt={record_dt:g} need at least {steps:.3g} steps of pde.max_dt={max_dt:g}"
            f" per trajectory (more than {MAX_STEPS:.0e}); lower pde.record_dt or pde.time_steps"
        )


def _check_solver_memory(cfg: DictConfig, pde: object, resolution: int) -> None:
    from surrogate.pdes.base import systems_of
    from surrogate.solvers import concrete_solver

    sizes = Sizes.of(cfg, pde, resolution)
    solver = concrete_solver(cfg.solver, systems_of(pde))
    if cfg.backend == "torch":
        _check_batch(cfg, solver, sizes)
    key, value = _grid_key(cfg)
    field = "solve_resolution" if key == "pde.solve_resolution" else "resolution"
    _check_memory(
        cfg,
        key,
        value,
        lambda size: memory_needed(cfg, solver, replace(sizes, **{field: size})),
        "",
        "solver=cg solver.preconditioner=amg"
        if sizes.spd
        else "solver=gmres solver.preconditioner=ilu",
    )
    if sizes.linear and solver.name != "direct" and solver.fallback:
        backend, factors = direct_factor_bytes(solver, sizes)
        if factors * SAFETY > available_memory():
            log.warning(
                "a fallback direct solve (%s) of a system that misses rtol would need about %s of "
                "memory and %s are available; solver.fallback=false stores it flagged instead",
                backend,
                size_text(factors),
                size_text(available_memory()),
            )


def _check_batch(cfg: DictConfig, solver: DictConfig, sizes: Sizes) -> None:
    """backend=torch: refuse a batch that does not fit, naming the batch_size that does (if
    one sample does not fit either, the resolution check that follows says what to lower)."""
    largest_split = max(int(cfg[f"n_{split}"]) for split in SPLITS)
    batch = min(int(cfg.batch_size), largest_split)
    available = available_memory()

    def fits(size: int) -> bool:
        return sum(memory_needed(cfg, solver, sizes, size).values()) * SAFETY <= available

    if batch == 1 or fits(batch) or not fits(1):
        return
    low, high = 1, batch  # the largest batch that fits, by bisection
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    parts = memory_needed(cfg, solver, sizes, batch)
    largest = sorted(parts.items(), key=lambda item: -item[1])[:3]
    listed = ", ".join(f"{name} {size_text(size)}" for name, size in largest)
    raise UserError(
        f"pde={cfg.pde.name} at pde.resolution={cfg.pde.resolution} with backend=torch "
        f"batch_size={cfg.batch_size} needs about {size_text(sum(parts.values()))} of memory "
        f"({listed}) and {size_text(available)} are available; use batch_size={low} or less "
        "(check_resources=false runs it anyway)"
    )


def _check_disk(cfg: DictConfig, sizes: Sizes, shard: tuple[int, int] | None) -> None:
    directory = Path(cfg.paths.data_dir) / str(cfg.name)
    needed = 0
    for split in SPLITS:
        n = int(cfg[f"n_{split}"])
        final = directory / split_filename(split)
        if n == 0 or final.exists() or final.with_name(final.name + ".partial").exists():
            continue  # done, or allocated when it was created
        needed += split_bytes(sizes, n if shard is None else math.ceil(n / shard[1]))
    free = free_disk(directory)
    if needed > free:
        raise UserError(
            f"dataset {directory} needs about {size_text(needed)} on disk and {size_text(free)} "
            "are free there; free space, choose another paths.data_dir= or ask for fewer "
            "samples (n_train=, n_test=)"
        )


def _check_memory(
    cfg: DictConfig,
    key: str,
    value: int,
    needed: Callable[[int], dict[str, float]],
    qualifier: str,
    iterative: str = "solver=cg solver.preconditioner=amg",
) -> None:
    """Refuse if needed(value) does not fit, naming the largest parts and the `key` value that
    would fit."""
    available = available_memory()
    parts = needed(value)
    total = sum(parts.values())
    if total * SAFETY <= available:
        return
    low, high = 2, value  # the largest value that fits, by bisection
    while high - low > 1:
        middle = (low + high) // 2
        if sum(needed(middle).values()) * SAFETY <= available:
            low = middle
        else:
            high = middle
    largest = sorted(parts.items(), key=lambda item: -item[1])[:3]
    listed = ", ".join(f"{name} {size_text(size)}" for name, size in largest)
    if low <= 2:
        advice = [f"lower {key}"]
    elif qualifier:  # only a lower bound is known yet: the value that fits is lower still
        advice = [f"lower {key} (below {low} at the very least)"]
    else:
        advice = [f"use {key}={low} or less"]
    if largest[0][0].endswith("factors"):
        advice.append(f"an iterative solver (e.g. {iterative})")
    if largest[0][0].startswith("random fields"):
        advice = ["lower pde.grf.modes (or pde.initial.modes)"]
    if largest[0][0].startswith("sort "):
        advice.append("sort=binned with a smaller sort.dims, or sort=none")
    if int(cfg.workers) > 1:
        advice.append("fewer workers=")
    raise UserError(
        f"pde={cfg.pde.name} at {key}={value} needs {qualifier}about {size_text(total)} of "
        f"memory ({listed}) and {size_text(available)} are available; {', or '.join(advice)} "
        "(check_resources=false runs it anyway)"
    )
