"""The (2d + 1)-point stencil of a symmetric diffusion operator applied matrix-free in torch to
a batch of fields (..., B, *grid), B lanes with d grid axes, zero Dirichlet data.

A stencil is its diagonal and one face weight per (axis, step), in the order of
`surrogate.pdes.stencil.assemble_stencil`: (A u)_i = diag_i u_i - sum_faces face_i u_{i+step}.
It is built from a lane's coefficient on the full grid (harmonic-mean faces, as the numpy
assembly does) or read off an assembled CSR matrix (`from_matrix`, for the numpy path's `mg`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from surrogate.errors import UserError


def moves(d: int) -> list[tuple[int, int]]:
    """The (axis, step) of each face, in the assembly's order."""
    return [(axis, step) for axis in range(d) for step in (-1, 1)]


def shifted(padded: torch.Tensor, offset: tuple[int, ...]) -> torch.Tensor:
    """u_{i + offset} on the interior of `padded` (u with one zero layer on each of its last
    len(offset) axes)."""
    d = len(offset)
    sizes = padded.shape[-d:]
    return padded[(..., *(slice(1 + o, n - 1 + o) for o, n in zip(offset, sizes)))]


def pad(u: torch.Tensor, d: int) -> torch.Tensor:
    return torch.nn.functional.pad(u, (1, 1) * d)


def unit(d: int, axis: int, step: int) -> tuple[int, ...]:
    return tuple(step if a == axis else 0 for a in range(d))


class Stencil:
    """-div(a grad u) on (B, *grid) lanes from its diagonal and faces, each (B, *grid)."""

    def __init__(self, diagonal: torch.Tensor, faces: list[torch.Tensor]) -> None:
        self.diagonal, self.faces = diagonal, faces
        self.d = diagonal.dim() - 1

    @classmethod
    def from_coefficient(cls, coefficient: torch.Tensor) -> Stencil:
        """From coefficients on the full (B, n + 2, ...) grid: harmonic-mean faces, h = 1/(n+1)."""
        d = coefficient.dim() - 1
        n = coefficient.shape[-1] - 2
        h2 = (1.0 / (n + 1)) ** 2
        padded_center = coefficient[(slice(None), *(slice(1, -1),) * d)]
        faces = []
        for axis, step in moves(d):
            other = shifted(coefficient, unit(d, axis, step))
            faces.append(2.0 * padded_center * other / (padded_center + other) / h2)
        diagonal = torch.zeros_like(padded_center)
        for face in faces:  # summed in the assembly's order
            diagonal = diagonal + face
        return cls(diagonal, faces)

    @classmethod
    def from_matrix(cls, matrix: sp.spmatrix) -> Stencil:
        """One lane from a CSR matrix of a (2d + 1)-point stencil on an n^d grid in C order;
        a matrix that is no such stencil is a UserError."""
        csr = sp.csr_matrix(matrix, copy=True)  # the caller's (maybe shared, read-only) stays
        csr.eliminate_zeros()
        size = csr.shape[0]
        d = (int(np.diff(csr.indptr).max()) - 1) // 2
        n = round(size ** (1.0 / d)) if d >= 1 else 0
        if d < 1 or n**d != size:
            raise UserError(
                f"solver.preconditioner=mg needs a (2d+1)-point stencil on an n^d grid; this "
                f"matrix ({size} unknowns) is not one: use solver.preconditioner=amg"
            )
        grid = (n,) * d
        index = np.indices(grid).reshape(d, -1)
        faces, found = [], 0
        for axis, step in moves(d):
            offset = step * n ** (d - 1 - axis)
            inside = (index[axis] + step >= 0) & (index[axis] + step < n)
            values = np.zeros(size)
            rows = np.flatnonzero(inside)
            values[rows] = -np.asarray(csr[rows, rows + offset]).ravel()
            found += int(np.count_nonzero(values))
            faces.append(torch.from_numpy(values.reshape(1, *grid)))
        diagonal = csr.diagonal()
        if found + np.count_nonzero(diagonal) != csr.nnz:
            raise UserError(
                "solver.preconditioner=mg needs a (2d+1)-point stencil on an n^d grid; this "
                "matrix has entries off it: use solver.preconditioner=amg"
            )
        return cls(torch.from_numpy(diagonal.reshape(1, *grid)), faces)

    def entries(self) -> list[tuple[tuple[int, ...], torch.Tensor]]:
        """(offset, weight (B, *grid)) of every point of the stencil: A's row entries."""
        points = [((0,) * self.d, self.diagonal)]
        return points + [(unit(self.d, a, s), -f) for f, (a, s) in zip(self.faces, moves(self.d))]

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        padded = pad(u, self.d)
        out = self.diagonal * u
        for face, (axis, step) in zip(self.faces, moves(self.d)):
            out -= face * shifted(padded, unit(self.d, axis, step))
        return out
