"""PNG figures of an evaluation: fields of a few samples and the error histogram.

Figures are built with matplotlib's object API on an Agg canvas (no pyplot): no global figure
state, no GUI backend, nothing left open; each call writes one file and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_INCHES = 3.2


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _plane(field: np.ndarray) -> np.ndarray:
    """A field on 1 or 2 axes: 3D fields are cut in the middle of their last axis."""
    return field[..., field.shape[-1] // 2] if field.ndim == 3 else field


def _draw(
    figure: Figure,
    axes,
    field: np.ndarray,
    coords: Sequence[np.ndarray],
    title: str,
    limits: tuple[float, float] | None = None,
    cmap: str = "viridis",
) -> None:
    """One panel: a line over x (1D) or an image over (x, y) with a colorbar (2D, 3D slice)."""
    field = _plane(field)
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("x")
    if field.ndim == 1:
        axes.plot(coords[0], field, linewidth=1.2)
        if limits is not None:
            axes.set_ylim(*limits)
        return
    extent = (coords[0][0], coords[0][-1], coords[1][0], coords[1][-1])
    vmin, vmax = limits if limits is not None else (None, None)
    image = axes.imshow(
        field.T, origin="lower", extent=extent, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax
    )
    axes.set_ylabel("y")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)


def _limits(*fields: np.ndarray, symmetric: bool = False) -> tuple[float, float]:
    """Shared colour (or y) limits of the plotted planes, so panels compare by eye."""
    planes = [_plane(field) for field in fields]
    low, high = min(float(p.min()) for p in planes), max(float(p.max()) for p in planes)
    if symmetric:
        bound = max(abs(low), abs(high)) or 1.0
        return -bound, bound
    return (low, high) if high > low else (low - 1.0, high + 1.0)


def plot_fields(
    path: Path,
    inputs: np.ndarray,
    truth: np.ndarray,
    pred: np.ndarray,
    input_names: Sequence[str],
    output_names: Sequence[str],
    coords: Sequence[np.ndarray],
    title: str,
) -> Path:
    """One sample: per row an input channel, then truth, prediction and error of an output.

    Arrays are (channels, *spatial); 1D fields are line plots, 2D images with colorbars, 3D
    the middle slice of the last axis (z). Truth and prediction share their colour scale; the
    error's is symmetric about zero.
    """
    rows = max(len(input_names), len(output_names))
    figure = _figure(4 * PANEL_INCHES, rows * PANEL_INCHES * 0.85)
    grid = figure.subplots(rows, 4, squeeze=False)
    slice_note = f" (z = {coords[2][len(coords[2]) // 2]:.3g})" if len(coords) == 3 else ""
    for row in range(rows):
        for column, axes in enumerate(grid[row]):
            if column == 0 and row < len(input_names):
                _draw(figure, axes, inputs[row], coords, f"input {input_names[row]}{slice_note}")
            elif column > 0 and row < len(output_names):
                name, error = output_names[row], pred[row] - truth[row]
                if column == 3:
                    limits = _limits(error, symmetric=True)
                    _draw(figure, axes, error, coords, f"error {name}", limits, "RdBu_r")
                else:
                    field = truth[row] if column == 1 else pred[row]
                    label = f"{'truth' if column == 1 else 'prediction'} {name}"
                    _draw(figure, axes, field, coords, label, _limits(truth[row], pred[row]))
            else:
                axes.set_axis_off()
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=90)
    return path


def plot_histogram(path: Path, values: np.ndarray, xlabel: str, title: str) -> Path:
    """Histogram of one metric's per-sample values, with its mean and median marked."""
    figure = _figure(5, 3.5)
    axes = figure.subplots()
    finite = values[np.isfinite(values)]
    axes.hist(finite, bins=min(30, max(5, len(finite) // 4)), color="tab:blue", alpha=0.8)
    if len(finite):
        axes.axvline(finite.mean(), color="tab:red", label=f"mean {finite.mean():.3g}")
        axes.axvline(np.median(finite), color="k", ls="--", label=f"median {np.median(finite):.3g}")
        axes.legend(fontsize=8)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("samples")
    axes.set_title(title, fontsize=10)
    figure.savefig(path, dpi=90)
    return path
