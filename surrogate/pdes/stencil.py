"""The (2d + 1)-point diffusion stencil on a tensor grid, assembled straight into CSR.

The sparsity pattern (row pointers, column indices, which neighbours exist) depends on the grid
alone, so it is built once per grid size and a sample only fills in the values: about 10x less
work than assembling from coordinates. Entries come in the order scipy's coordinate-to-CSR
conversion gives them (rows in C order, sorted columns), so the arrays are identical, bit for
bit, to those of the coordinate assembly this replaces (tested).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp


def harmonic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * a * b / (a + b)


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
    d = coefficient.ndim
    n = coefficient.shape[0] - 2
    h2 = (1.0 / (n + 1)) ** 2
    inner = (slice(1, -1),) * d
    center = coefficient[inner]
    indptr, indices, gather, slots = stencil_pattern(n, d)
    values = np.empty((len(slots), *center.shape))
    diagonal = values[slots.index((None, 0))]
    diagonal[...] = 0.0
    for axis in range(d):  # the diagonal sums the faces in this order, as the coordinate assembly
        for step in (-1, 1):
            shifted = list(inner)
            shifted[axis] = slice(1 + step, n + 1 + step)
            face = harmonic_mean(center, coefficient[tuple(shifted)]) / h2
            diagonal += face
            np.negative(face, out=values[slots.index((axis, step))])
    return sp.csr_matrix((values.take(gather), indices.copy(), indptr.copy()), shape=(n**d, n**d))


@functools.cache
def diagonal_positions(n: int, d: int) -> np.ndarray:
    """Where the diagonal entries are in the CSR data of the stencil on n^d unknowns."""
    indptr, indices, _, _ = stencil_pattern(n, d)
    return np.flatnonzero(indices == np.repeat(np.arange(n**d), np.diff(indptr)))
