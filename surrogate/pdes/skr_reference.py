"""The SKR code's Darcy systems, reproduced as that code builds them: not a discretisation.

"Sorting Krylov Recycling" (Wang et al., ICLR 2024) reports its Darcy ratios on systems made by
`build_darcy` in its code (code_dracy/exp_generate_mpi_82_sort.py of wanghong1700/NO-DataGen-SKR).
`pde.stencil=skr_reference` rebuilds those systems entry for entry, so the paper's table can be
re-measured on the systems it was measured on. What that code does, with s unknowns per side
(s = 78 there: 6 084 unknowns):

- coefficient a = exp(g) on an (s + 2)² grid, g one sample of the FNO code's periodic
  `GaussianRF(2, s + 2, alpha=2.5, tau=7)` (Fourier coefficients sqrt_eig · ξ with complex
  normal ξ, real part of the inverse FFT), all in float32;
- before the matrix is formed, the first and last columns of the coefficient's interior rows
  are set to zero in place (they cut the east/west couplings across grid rows; the sort then
  compares the edited coefficients);
- diagonal 4 a_i, off-diagonals -a_j of the neighbour j, no 1/h² (it went into the
  right-hand side b = h² f, h = 1 / (s - 1));
- the diagonal at offset -s is taken one slice too early (`[s - 2:]` where `[s:]` was meant),
  and scipy's `diags` silently keeps the first entries of a too-long diagonal: each entry
  A[r, r - s] holds -a of the node two places before the intended one (wrapping into the
  previous grid row). That makes the matrices indefinite (eigenvalues of both signs next to
  zero), which is why restarted GMRES stalls on them and recycling gains so much.

The random stream is ours (numpy, per sample), the distribution theirs.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp


def fno_periodic_grf(rng: np.random.Generator, size: int, alpha: float, tau: float) -> np.ndarray:
    """One sample of the FNO code's `GaussianRF(2, size, alpha, tau)` (periodic), float32;
    `size` even, as that code's wavenumbers need (`Darcy` refuses an odd resolution + 2)."""
    half = size // 2
    wavenumbers = np.concatenate([np.arange(half), np.arange(-half, 0)]).astype(np.float32)
    kx, ky = np.meshgrid(wavenumbers, wavenumbers, indexing="ij")
    sigma = tau ** (0.5 * (2.0 * alpha - 2.0))
    sqrt_eig = (
        np.float32(size**2 * math.sqrt(2.0) * sigma)
        * (np.float32(4.0 * math.pi**2) * (kx**2 + ky**2) + np.float32(tau**2))
        ** np.float32(-alpha / 2.0)
    ).astype(np.float32)
    sqrt_eig[0, 0] = 0.0
    # torch.randn(complex64): real and imaginary parts each N(0, 1/2).
    xi = rng.standard_normal((2, size, size), dtype=np.float32) * np.float32(math.sqrt(0.5))
    coefficients = sqrt_eig * (xi[0] + 1j * xi[1]).astype(np.complex64)
    return np.fft.ifft2(coefficients).real.astype(np.float32)


def sample_coefficient(
    rng: np.random.Generator, unknowns_per_side: int, alpha: float, tau: float
) -> np.ndarray:
    """a = exp(GRF) on the (s + 2)² grid, float32, before the in-place edits."""
    return np.exp(fno_periodic_grf(rng, unknowns_per_side + 2, alpha, tau))


def edit_boundary_columns(coefficient: np.ndarray) -> np.ndarray:
    """A copy with a[1:-1, 0] = a[1:-1, -1] = 0, the edits the SKR code makes in place."""
    edited = coefficient.copy()
    edited[1:-1, 0] = 0.0
    edited[1:-1, -1] = 0.0
    return edited


def assemble(edited: np.ndarray, forcing: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """The SKR code's matrix and right-hand side from an edited (s + 2)² coefficient.

    Row r = p s + q is interior node (p, q), coefficient a[p + 1, q + 1]. Entries are the float32
    values of the coefficient in float64, as PETSc reads them; zero couplings are not stored.
    """
    s = edited.shape[0] - 2
    n = s * s
    a = edited.astype(np.float64)
    rows = np.arange(n)
    p, q = np.divmod(rows, s)
    entries = [(rows, rows, 4.0 * a[p + 1, q + 1])]
    east, west = q < s - 1, q > 0
    entries.append((rows[east], rows[east] + 1, -a[p[east] + 1, q[east] + 2]))
    entries.append((rows[west], rows[west] - 1, -a[p[west] + 1, q[west]]))
    north = p < s - 1
    entries.append((rows[north], rows[north] + s, -a[p[north] + 2, q[north] + 1]))
    # Offset -s: the SKR code's slice starts at flat index s - 2 of a[:-2, 1:-1] instead of s,
    # so row r holds the entry meant for row r - 2 (the node two places before its neighbour).
    south = rows[rows >= s]
    shifted = a[:-2, 1:-1].ravel()[south - 2]
    entries.append((south, south - s, -shifted))
    row, col, val = (np.concatenate(parts) for parts in zip(*entries))
    keep = val != 0.0
    matrix = sp.csr_matrix((val[keep], (row[keep], col[keep])), shape=(n, n))
    h = 1.0 / (s - 1)
    return matrix, np.full(n, h * h * forcing)
