"""Layout of a dataset split file, `data/<name>/<split>.h5` (schema version 1).

Root attributes: schema_version, name, split, pde, n_samples, spatial_dims, input_names,
output_names, config (the YAML that made it), complete (set last, after all data is flushed).
Datasets: inputs (N, C_in, *spatial) and outputs (N, C_out, *spatial) float32, chunked per
sample; grid/<axis> float64 node coordinates; params/<name> (N,) per-sample parameters;
solver/{iterations, matvecs, seconds, residual, converged, fallback} (N,); completed (N,) uint8, the
bitmap that lets an interrupted generation resume.
"""

from __future__ import annotations

SCHEMA_VERSION = 1
SPLITS = ("train", "valid", "test")
SOLVER_STATS = {
    "iterations": "int32",
    "matvecs": "int32",
    "seconds": "float64",
    "residual": "float64",
    "converged": "uint8",
    "fallback": "uint8",
}
# Wall-clock timings differ between two runs of the same command; everything else is reproducible.
NONDETERMINISTIC_DATASETS = ("solver/seconds",)


def split_filename(split: str) -> str:
    return f"{split}.h5"
