"""Layout of a dataset split file, `data/<name>/<split>.h5` (schema version 2).

Root attributes: schema_version, name, split, pde, n_samples, spatial_dims, input_names,
output_names, time_steps, dt, config (the YAML that made it), complete (set last, after all data
is flushed). Datasets: inputs (N, C_in, *spatial) float32, chunked per sample; outputs float32,
(N, C_out, *spatial) for a steady family (time_steps = 0) or the trajectories
(N, T, C_out, *spatial) of a time-dependent one (time_steps = T >= 2, chunked per sample and
step), whose inputs are the fields that stay fixed in time (coefficients, forcing);
times (T,) float64 for a time-dependent family (times[k] = k * dt); grid/<axis> float64 node
coordinates of the spatial axes; params/<name> (N,) per-sample parameters;
solver/{iterations, matvecs, seconds, residual, converged, fallback} (N,) per sample (for a
trajectory: summed iterations, matvecs and seconds over its steps, the largest residual, and
converged / fallback over all steps); completed (N,) uint8, the bitmap that lets an interrupted
generation resume.

Version 1 is version 2 without time: steady files of either version read alike.
"""

from __future__ import annotations

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
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
