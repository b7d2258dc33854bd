"""Random inputs: Gaussian random fields (unit square and cube), Chebyshev boundary data.

Gaussian random fields on the unit square, as used by the FNO and SKR data generators.

The field is a cosine series u(x, y) = sum_k xi_k * lambda_k * cos(pi k1 x) cos(pi k2 y) with
xi_k ~ N(0, 1) and lambda_k the square root of the eigenvalues of (-Laplacian + tau^2)^(-alpha)
with Neumann conditions; the mean mode is zero. The series is evaluated at the requested points,
so the same coefficients give the same field at every resolution. `sample_grf_3d` is the same in
3D. `chebyshev` and `SquareBoundary` make SKR-style random boundary data (Chebyshev series per
side, made continuous at the corners).
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=8)
def grf_spectrum(modes: int, alpha: float, tau: float) -> np.ndarray:
    """Standard deviations lambda_k of the (modes x modes) cosine coefficients (read-only: one
    array per setting, computed once)."""
    k = np.arange(modes)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    sigma = tau ** (0.5 * (2.0 * alpha - 2.0))
    spectrum = np.sqrt(2.0) * sigma * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    spectrum[0, 0] = 0.0
    spectrum.flags.writeable = False
    return spectrum


@functools.lru_cache(maxsize=8)
def grf_spectrum_3d(modes: int, alpha: float, tau: float) -> np.ndarray:
    """`grf_spectrum` in 3D, (modes, modes, modes) (see `sample_grf_3d`); read-only."""
    k = np.arange(modes)
    k1, k2, k3 = np.meshgrid(k, k, k, indexing="ij")
    sigma = tau ** (alpha - 1.5)
    spectrum = np.sqrt(2.0) * sigma * (np.pi**2 * (k1**2 + k2**2 + k3**2) + tau**2) ** (-alpha / 2)
    spectrum[0, 0, 0] = 0.0
    spectrum.flags.writeable = False
    return spectrum


def cosine_basis(points: np.ndarray, modes: int) -> np.ndarray:
    """cos(pi k x) at the points (rows) for k < modes (columns); read-only, computed once per
    grid and number of modes."""
    return _cosine_basis(np.asarray(points, np.float64).tobytes(), modes)


@functools.lru_cache(maxsize=8)
def _cosine_basis(points: bytes, modes: int) -> np.ndarray:
    basis = np.cos(np.pi * np.outer(np.frombuffer(points), np.arange(modes)))
    basis.flags.writeable = False
    return basis


def sample_grf(
    rng: np.random.Generator,
    points: np.ndarray,
    modes: int,
    alpha: float,
    tau: float,
) -> np.ndarray:
    """Sample a GRF on the tensor grid points x points (1D array in [0, 1]); shape (n, n)."""
    coefficients = rng.standard_normal((modes, modes)) * grf_spectrum(modes, alpha, tau)
    basis = cosine_basis(points, modes)  # (n, modes)
    return basis @ coefficients @ basis.T


def sample_grf_3d(
    rng: np.random.Generator,
    points: np.ndarray,
    modes: int,
    alpha: float,
    tau: float,
) -> np.ndarray:
    """3D analogue of `sample_grf` on points^3: cosine series in x, y, z; shape (n, n, n).

    Spectrum sqrt(2) tau^(alpha - 3/2) (pi^2 |k|^2 + tau^2)^(-alpha/2) (the 2D scaling with the
    dimension 3 in place of 2), zero mean mode; needs alpha > 3/2 for a field that stays bounded
    as modes grow. Same coefficients give the same field at every resolution.
    """
    coefficients = rng.standard_normal((modes, modes, modes)) * grf_spectrum_3d(modes, alpha, tau)
    basis = cosine_basis(points, modes)  # (n, modes)
    return np.einsum("ia,jb,kc,abc->ijk", basis, basis, basis, coefficients, optimize=True)


def chebyshev(coefficients: np.ndarray, t: np.ndarray) -> np.ndarray:
    """sum_k c_k T_k(2 t - 1) for t in [0, 1]: a Chebyshev series on the unit interval.

    `coefficients` (degree + 1,) gives t's shape; (rows, degree + 1) evaluates each row's series
    at t in one pass, shape (rows,) + t.shape. Clenshaw's recurrence in numpy's `chebval` order,
    so each value is bitwise what `chebval` gives for that row alone (the data stay the same)."""
    c = np.asarray(coefficients, np.float64)
    x = 2.0 * np.asarray(t, np.float64) - 1.0
    # Degree first, then the row axis and one axis per axis of t: c[i] broadcasts against x.
    c = c.T.reshape(c.shape[::-1] + (1,) * x.ndim)
    if len(c) == 1:
        return c[0] + 0 * x
    x2 = 2 * x
    c0, c1 = c[-2], c[-1]
    for i in range(3, len(c) + 1):
        c0, c1 = c[-i] - c1, c0 + c1 * x2
    return c0 + c1 * x


class SquareBoundary:
    """Four random boundary functions of the unit square, made to agree at the corners.

    `coefficients` (4, degree + 1) are Chebyshev series of the sides south (y = 0), north (y = 1),
    west (x = 0), east (x = 1), each in its own coordinate on [0, 1] (x for south/north, y for
    west/east). The value at each corner is taken as the mean of the two sides meeting there and
    each side is corrected by the linear function that moves its two ends onto those corner values
    (so it stays a polynomial of the same degree). `extend` is the transfinite (Coons)
    interpolation of the four sides: a smooth function on the square equal to them on the boundary.

    Leading axes of `coefficients` (batch, 4, degree + 1) are a block of boundaries, evaluated
    together: every value comes from the same elementwise operations, in the same order, as for
    that boundary alone, so it is bitwise the same (tested); the results gain the batch axes in
    front. A block costs the interpreter's per-call overhead once instead of once per sample.
    """

    SIDES = ("south", "north", "west", "east")
    # Each side's (corner at t = 0, corner at t = 1).
    SPAN = {
        "south": ((0, 0), (1, 0)),
        "north": ((0, 1), (1, 1)),
        "west": ((0, 0), (0, 1)),
        "east": ((1, 0), (1, 1)),
    }

    def __init__(self, coefficients: np.ndarray) -> None:
        self.coefficients = np.asarray(coefficients, np.float64)
        self.batch = self.coefficients.shape[:-2]
        # Each side's values at t = 0 and 1, (*batch, 4, 2) (elementwise, so the same numbers
        # as scalar evaluations).
        self.ends = self._series([0, 1, 2, 3], np.array([0.0, 1.0]))
        south, north, west, east = np.moveaxis(self.ends, -2, 0)
        self.corner = {
            (0, 0): 0.5 * (south[..., 0] + west[..., 0]),
            (1, 0): 0.5 * (south[..., 1] + east[..., 0]),
            (0, 1): 0.5 * (north[..., 0] + west[..., 1]),
            (1, 1): 0.5 * (north[..., 1] + east[..., 1]),
        }

    def _series(self, rows: list[int], t: np.ndarray) -> np.ndarray:
        """The uncorrected series of the sides `rows` at t, shape (*batch, len(rows), *t.shape)."""
        c = self.coefficients[..., rows, :]
        values = chebyshev(c.reshape(-1, c.shape[-1]), t)
        return values.reshape(c.shape[:-1] + np.shape(t))

    def _lift(self, value: np.ndarray, ndim: int) -> np.ndarray:
        """A per-boundary value (*batch) shaped to broadcast against a batch of ndim-D arrays."""
        return np.reshape(value, self.batch + (1,) * ndim)

    def sides(self, names: tuple[str, ...], t: np.ndarray) -> np.ndarray:
        """Corrected values of the sides `names` at their coordinate t in [0, 1], shape
        (*batch, len(names), *t.shape): the series of all of them evaluated in one pass."""
        rows = [self.SIDES.index(name) for name in names]
        t = np.asarray(t, np.float64)
        values = np.moveaxis(self._series(rows, t), len(self.batch), 0)
        corrected = []
        for value, name, row in zip(values, names, rows):
            start, end = self.SPAN[name]
            at_start, at_end = self.ends[..., row, 0], self.ends[..., row, 1]
            corrected.append(
                value
                + (1.0 - t) * self._lift(self.corner[start] - at_start, t.ndim)
                + t * self._lift(self.corner[end] - at_end, t.ndim)
            )
        return np.stack(corrected, axis=len(self.batch))

    def side(self, name: str, t: np.ndarray) -> np.ndarray:
        """Corrected values of one side at its coordinate t in [0, 1]."""
        return np.take(self.sides((name,), t), 0, axis=len(self.batch))

    def extend(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Coons patch at points (x, y) of the unit square (arrays of one shape, or broadcasting
        to one: a column of x and a row of y give the tensor grid, each side evaluated once
        per grid line); shape (*batch, *that shape)."""
        ndim = max(np.ndim(x), np.ndim(y))
        c = {key: self._lift(value, ndim) for key, value in self.corner.items()}
        bilinear = (
            (1 - x) * (1 - y) * c[0, 0]
            + x * (1 - y) * c[1, 0]
            + (1 - x) * y * c[0, 1]
            + x * y * c[1, 1]
        )
        axis = len(self.batch)
        west, east = np.moveaxis(self.sides(("west", "east"), y), axis, 0)
        south, north = np.moveaxis(self.sides(("south", "north"), x), axis, 0)
        return (1 - x) * west + x * east + (1 - y) * south + y * north - bilinear
