"""3D Helmholtz -div(a grad u) - k^2 u = f on the unit cube with u = 0 on the boundary.

The 3D Darcy discretisation (`darcy3d.py`: 7-point FD, harmonic-mean faces, a 3D Gaussian random
field coefficient) minus k^2 on the diagonal, k ~ U(k_min, k_max) per sample, as the 2D
`helmholtz` family is 2D Darcy minus k^2. The matrix is symmetric and, once k^2 passes the
smallest eigenvalue of the diffusion operator (about 3 pi^2 for a ~ 1), indefinite: with the
default k in [8, 12] four lognormal samples at n = 14 (k = 8.9, 9.6, 10.6, 11.8) had 4, 7, 10
and 17 negative eigenvalues. In 3D direct factorisations fill in
badly and AMG on the indefinite matrix itself fails: the home ground of the shifted-Laplacian
preconditioner with recycling (`solver.preconditioner=shifted_amg`, docs/solvers.md).
The wavenumbers are checked for resolution as in 2D. Stored fields have shape (C, n, n, n).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from surrogate.pdes.base import FAMILIES
from surrogate.pdes.darcy3d import Darcy3D
from surrogate.pdes.helmholtz import Helmholtz
from surrogate.pdes.stencil import assemble_stencil, diagonal_positions


def assemble_helmholtz_3d(
    coefficient: np.ndarray, wavenumber: float, forcing: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """-div(a grad u) - k^2 u = f, zero Dirichlet data, on the unit cube of dimension d =
    coefficient.ndim; `coefficient` on the full (n+2)^d grid, `forcing` on the n^d interior."""
    matrix = assemble_stencil(coefficient)
    matrix.data[diagonal_positions(coefficient.shape[0] - 2, coefficient.ndim)] -= wavenumber**2
    matrix.eliminate_zeros()  # a diagonal that became 0 is dropped, as sparse subtraction does
    return matrix, forcing.astype(np.float64).ravel()


@FAMILIES.register("helmholtz3d")
class Helmholtz3D(Helmholtz):
    """Random coefficient and wavenumber in the unit cube; symmetric and indefinite: the 2D
    family on 3D Darcy's coefficient, grid and 7-point stencil."""

    name = "helmholtz3d"
    dimensions = 3
    diffusion = Darcy3D
    assemble = staticmethod(assemble_helmholtz_3d)
