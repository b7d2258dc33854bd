"""The (2d + 1)-point diffusion stencil on a tensor grid, assembled straight into CSR.

The sparsity pattern (row pointers, column indices, which neighbours exist) depends on the grid
alone, so it is built once per grid size and a sample only fills in the values: about 10x less
work than assembling from coordinates. Entries come in the order scipy's coordinate-to-CSR
conversion gives them (rows in C order, sorted columns), so the arrays are identical, bit for
bit, to those of the coordinate assembly this replaces (tested).

`stencil_data` fills in the values of a block of samples at once (darcy's, darcy3d's and
helmholtz's `problems`; `stencil_matrices` for a block's matrices), each bitwise what the sample
alone gives, and computes each face's harmonic mean once for the two nodes it joins (half the
means of one per node and face).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

CHUNK_VALUES = 2**13  # grid values per chunk of a block: bounds its temporaries (64 KiB each)
SWAP_SAFE = np.finfo(np.float64).max / 2  # |a| at most this: 2 a is exact


def harmonic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * a * b / (a + b)


def with_boundary(coefficients: np.ndarray, d: int) -> np.ndarray:
    """Coefficients (*batch, (n,) * d) on the full (n+2)^d grid: each boundary node takes its
    interior neighbour's value (np.pad's edge mode on the last d axes, one call for a block)."""
    return np.pad(coefficients, [(0, 0)] * (coefficients.ndim - d) + [(1, 1)] * d, mode="edge")


@functools.cache
def stencil_pattern(n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(indptr, indices, gather, slots) of the stencil on n^d unknowns in C order.

    `slots` are the stencil's (axis, step) in increasing column offset, the diagonal as
    (None, 0); a matrix's values, given slot by slot as an array (slots, n^d), are its CSR data
    in the order `gather` (flat positions in that array) takes them.
    """
    moves = [(axis, step) for axis in range(d) for step in (-1, 1)]
    offset = {(axis, step): step * n ** (d - 1 - axis) for axis, step in moves}
    slots = sorted([*moves, (None, 0)], key=lambda slot: offset.get(slot, 0))
    index = np.indices((n,) * d).reshape(d, -1)
    present = np.ones((n**d, len(slots)), dtype=bool)  # (row, slot): the neighbour exists
    for position, (axis, step) in enumerate(slots):
        if axis is not None:
            neighbour = index[axis] + step
            present[:, position] = (neighbour >= 0) & (neighbour < n)
    row, position = np.nonzero(present)  # row by row, slots in column order
    shifts = np.array([offset.get(slot, 0) for slot in slots])
    indices = (row + shifts[position]).astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    return indptr, indices, position * n**d + row, slots


def assemble_stencil(coefficient: np.ndarray) -> sp.csr_matrix:
    """-div(a grad u) with zero Dirichlet data on the unit cube of dimension d = coefficient.ndim.

    `coefficient` is on the full (n+2)^d grid (boundary layer included); the flux through a face
    uses the harmonic mean of the two nodes' coefficients, h = 1 / (n + 1).
    """
    n, d = coefficient.shape[0] - 2, coefficient.ndim
    return stencil_matrix(stencil_data(coefficient[None])[0], n, d)


def stencil_data(coefficients: np.ndarray) -> list[np.ndarray]:
    """The CSR data of `assemble_stencil` for each of a block's coefficients (B, (n+2,) * d).

    Assembled together a few samples at a time (`CHUNK_VALUES`): every value comes from the same
    operations as for that sample alone, so it is bitwise the same (tested), and a block costs
    the interpreter's per-call overhead once per chunk. Each sample's data is an array of its own
    (scipy copies a view of a larger array when it builds a matrix on it).
    """
    d = coefficients.ndim - 1
    n = coefficients.shape[-1] - 2
    _, indices, gather, slots = stencil_pattern(n, d)
    size = max(1, min(len(coefficients), CHUNK_VALUES // max(1, n**d)))
    values = np.empty((size, len(slots), *(n,) * d))  # one chunk's, slot by slot
    data = []
    for start in range(0, len(coefficients), size):
        chunk = coefficients[start : start + size]
        _fill_slots(chunk, values[: len(chunk)], slots)
        for sample in values[: len(chunk)]:
            data.append(sample.reshape(-1).take(gather))
    return data


def _fill_slots(coefficients: np.ndarray, values: np.ndarray, slots: list) -> None:
    """Each slot's values (k, slots, (n,) * d) of the samples' coefficients (k, (n+2,) * d).

    Each face's harmonic mean is computed once, for the two nodes it joins: the node below it
    computes a(centre, neighbour) and the node above a(neighbour, centre), which are the same
    bits wherever 2 a is exact (|a| <= `SWAP_SAFE`, finite); a chunk with any other value
    computes the two orders apart, as the coordinate assembly does.
    """
    d = coefficients.ndim - 1
    n = coefficients.shape[-1] - 2
    h2 = (1.0 / (n + 1)) ** 2
    swap = bool(coefficients.max() <= SWAP_SAFE and coefficients.min() >= -SWAP_SAFE)  # NaN: no
    inner = (slice(None), *(slice(1, -1),) * d)
    diagonal = values[:, slots.index((None, 0))]
    diagonal[...] = 0.0
    for axis in range(d):  # the diagonal sums the faces in this order, as the coordinate assembly
        lower, upper, below = list(inner), list(inner), list(inner)
        lower[1 + axis], upper[1 + axis] = slice(0, n + 1), slice(1, n + 2)
        faces = harmonic_mean(coefficients[tuple(lower)], coefficients[tuple(upper)]) / h2
        plus, minus = [slice(None)] * (d + 1), [slice(None)] * (d + 1)  # the faces above, below
        plus[1 + axis], minus[1 + axis] = slice(1, n + 1), slice(0, n)
        if swap:
            face_below = faces[tuple(minus)]
        else:
            below[1 + axis] = slice(0, n)
            face_below = harmonic_mean(coefficients[inner], coefficients[tuple(below)]) / h2
        for step, face in ((-1, face_below), (1, faces[tuple(plus)])):
            diagonal += face
            np.negative(face, out=values[:, slots.index((axis, step))])


def stencil_matrix(data: np.ndarray, n: int, d: int) -> sp.csr_matrix:
    """The stencil's CSR matrix on n^d unknowns with the values `data` (one sample's
    `stencil_data`), with its own copy of the pattern: solvers may sort or prune a matrix's
    arrays in place (a shared read-only pattern saves 3-6 µs of the 11-17 a matrix takes at 64²,
    nothing measurable in a run: docs/benchmarks.md)."""
    indptr, indices, _, _ = stencil_pattern(n, d)
    return sp.csr_matrix((data, indices.copy(), indptr.copy()), shape=(n**d, n**d))


def stencil_matrices(coefficients: np.ndarray) -> list[sp.csr_matrix]:
    """`assemble_stencil`'s matrix of each of a block's interior coefficients (B, (n,) * d),
    each boundary node taking its interior neighbour's value (`with_boundary`), bitwise."""
    n, d = coefficients.shape[-1], coefficients.ndim - 1
    return [stencil_matrix(data, n, d) for data in stencil_data(with_boundary(coefficients, d))]


@functools.cache
def diagonal_positions(n: int, d: int) -> np.ndarray:
    """Where the diagonal entries are in the CSR data of the stencil on n^d unknowns."""
    indptr, indices, _, _ = stencil_pattern(n, d)
    return np.flatnonzero(indices == np.repeat(np.arange(n**d), np.diff(indptr)))
