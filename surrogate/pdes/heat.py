"""Steady heat conduction -div(k grad u) = f on a rectangle with a slot cut out (SKR's domain).

Domain: [-0.5, 0.5] x [-0.8, 0.8] minus the slot [-0.05, 0.05] x [-0.4, 0.4]. Boundary
conditions: a random temperature u = g (Dirichlet) on the outer rectangle and a random heat flux
k du/dn = q (Neumann, n the outward normal of the domain, so q > 0 heats it) on the four slot
walls; f = 0 and k constant in the family (the assembly takes any f, and the tests use it).
g is SKR-style: four degree-5 Chebyshev series, one per side, made continuous at the corners
(`SquareBoundary`); q is one Chebyshev series per slot wall (it may jump at the slot corners).

Grid: n x n nodes on the bounding box (n = `pde.resolution`), hx = 1 / (n - 1), hy = 1.6 / (n - 1)
(anisotropic: stored fields are square arrays). The slot's walls are put on the grid lines
nearest to x = +-0.05 and y = +-0.4 that still remove at least one node column/row: the geometry
is exact when n - 1 is a multiple of 20 (n = 21, 41, 81, ...); otherwise the slot is slightly
wider or narrower (at n = 16 it is 0.2 x 0.75) and the stored `mask` shows the domain actually
solved. Nodes of the closed domain are the unknowns (mask 1); nodes strictly inside the slot are
not (mask 0, outputs 0 there).

Discretisation: vertex-centred finite volumes on that grid: each node's control volume is the
box of half cells around it clipped to the domain; neighbours exchange k * (dual face length) /
(spacing) * (u_i - u_j), which is the 5-point stencil inside and half (or three-quarter) cells at
the slot walls and corners; the Neumann flux enters as the integral of q over the node's half
edges on the wall (midpoint rule on each half edge). On straight walls this is the ghost-node
scheme. The half-cell dual faces between two wall nodes get a flux correction from the data
((depth^2 / 2) dq/dtangent, see `assemble`); it telescopes along a wall and matters at the four
re-entrant slot corners, where it lifts the max-norm order from about 1.7 (h^2 log h) to 2
(measured in tests/pdes/test_pdes_heat.py on a smooth manufactured solution; random data give a
solution with r^(2/3) corner singularities, like the continuous problem). Dirichlet nodes (outer ring)
stay unknowns with the decoupled row c u = c g (c the diagonal of an interior row), their
couplings moved to the right-hand side, so the matrix is symmetric positive definite and the
solution vector holds the temperature at every domain node.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from omegaconf import DictConfig

from surrogate.errors import UserError
from surrogate.pdes.base import FAMILIES, FieldSpec, Problem, SteadyFamily, read_only
from surrogate.pdes.random_fields import SquareBoundary, chebyshev

BOX = (0.5, 0.8)  # half-widths of the outer rectangle in x and y
SLOT = (0.05, 0.4)  # half-widths of the slot
MIN_RESOLUTION = 8


def _snap(coordinates: np.ndarray, target: float) -> float:
    """The node |coordinate| nearest `target` among those that leave a node strictly inside."""
    values = np.unique(np.round(np.abs(coordinates), 12))
    candidates = values[values > values[0]]
    return float(candidates[np.argmin(np.abs(candidates - target))])


class SlotGeometry:
    """The masked grid, its finite-volume edges and its boundary pieces, for n nodes per side."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.hx, self.hy = 2 * BOX[0] / (n - 1), 2 * BOX[1] / (n - 1)
        self.x = -BOX[0] + self.hx * np.arange(n)
        self.y = -BOX[1] + self.hy * np.arange(n)
        self.slot = (_snap(self.x, SLOT[0]), _snap(self.y, SLOT[1]))
        xc, yc = 0.5 * (self.x[:-1] + self.x[1:]), 0.5 * (self.y[:-1] + self.y[1:])
        cells = (np.abs(xc)[:, None] > self.slot[0]) | (np.abs(yc)[None, :] > self.slot[1])
        pad = np.pad(cells, 1).astype(np.float64)  # pad[i + 1, j + 1] = cell (i, j)
        count = pad[:-1, :-1] + pad[1:, :-1] + pad[:-1, 1:] + pad[1:, 1:]
        self.mask = count > 0  # (n, n): nodes of the closed domain
        self.area = count * self.hx * self.hy / 4  # control-volume areas
        index = np.arange(n * n).reshape(n, n)

        # x-edges (i, j)-(i+1, j) with cells (i, j-1) below and (i, j) above; y-edges likewise.
        below, above = pad[1:-1, :-1], pad[1:-1, 1:]
        left, right = pad[:-1, 1:-1], pad[1:, 1:-1]
        self.a = np.concatenate([index[:-1, :].ravel(), index[:, :-1].ravel()])
        self.b = np.concatenate([index[1:, :].ravel(), index[:, 1:].ravel()])
        self.transmissibility = np.concatenate(
            [
                ((below + above) * self.hy / 2 / self.hx).ravel(),
                ((left + right) * self.hx / 2 / self.hy).ravel(),
            ]
        )

        # Slot walls: edges with the domain on one side only, away from the outer ring.
        inner_j = np.zeros((n - 1, n), bool)
        inner_j[:, 1:-1] = True
        inner_i = np.zeros((n, n - 1), bool)
        inner_i[1:-1, :] = True
        wall_x = (below != above) & inner_j  # horizontal walls y = +-slot_y
        wall_y = (left != right) & inner_i  # vertical walls x = +-slot_x
        i, j = np.nonzero(wall_x)
        ny = (below - above)[wall_x]
        k, m = np.nonzero(wall_y)
        nx = (left - right)[wall_y]
        q = self.hx / 4, self.hy / 4
        # Two half edges per wall edge: (node, midpoint x, midpoint y, normal x, normal y, length).
        self.wall_node = np.concatenate(
            [index[i, j], index[i + 1, j], index[k, m], index[k, m + 1]]
        )
        self.wall_x = np.concatenate([self.x[i] + q[0], self.x[i + 1] - q[0], self.x[k], self.x[k]])
        self.wall_y = np.concatenate([self.y[j], self.y[j], self.y[m] + q[1], self.y[m + 1] - q[1]])
        self.wall_nx = np.concatenate([0 * ny, 0 * ny, nx, nx])
        self.wall_ny = np.concatenate([ny, ny, 0 * nx, 0 * nx])
        self.wall_length = np.concatenate(
            [np.full(2 * len(i), self.hx / 2), np.full(2 * len(k), self.hy / 2)]
        )
        # Per wall edge P -> Q: its two half edges, the spacing along and across the wall.
        e1, e2 = len(i), len(k)
        self.edge_p = np.concatenate([np.arange(e1), 2 * e1 + np.arange(e2)])
        self.edge_q = np.concatenate([e1 + np.arange(e1), 2 * e1 + e2 + np.arange(e2)])
        self.edge_along = np.concatenate([np.full(e1, self.hx), np.full(e2, self.hy)])
        self.edge_across = np.concatenate([np.full(e1, self.hy), np.full(e2, self.hx)])

        self.dirichlet = np.zeros((n, n), bool)
        self.dirichlet[[0, -1], :] = True
        self.dirichlet[:, [0, -1]] = True
        self.unknowns = np.flatnonzero(self.mask.ravel())
        self._operators: dict[float, tuple[sp.csr_matrix, sp.csr_matrix]] = {}

    def operator(self, conductivity: float) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(coupling, matrix) over the domain nodes: the conductance matrix before the Dirichlet
        rows are decoupled (it moves the known temperatures to the right-hand side), and the
        system matrix. Both depend on the conductivity alone, so each is built once."""
        if conductivity not in self._operators:
            n2 = self.n * self.n
            t = conductivity * self.transmissibility
            keep = t > 0
            a, b, t = self.a[keep], self.b[keep], t[keep]
            rows, cols = np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a])
            laplacian = sp.csr_matrix(
                (np.concatenate([t, t, -t, -t]), (rows, cols)), shape=(n2, n2)
            )  # sum over edges of t (e_a - e_b)(e_a - e_b)^T
            dom = self.unknowns
            coupling = laplacian[dom][:, dom]
            is_dirichlet = self.dirichlet.ravel()[dom]
            free = sp.diags((~is_dirichlet).astype(np.float64))
            matrix = free @ coupling @ free + sp.diags(self.scale(conductivity) * is_dirichlet)
            matrix = matrix.tocsr()
            matrix.eliminate_zeros()
            self._operators[conductivity] = coupling, read_only(matrix)
        return self._operators[conductivity]

    def scale(self, conductivity: float) -> float:
        """The diagonal of an interior row, used for the decoupled Dirichlet rows c u = c g."""
        return conductivity * 2 * (self.hy / self.hx + self.hx / self.hy)

    def assemble(
        self,
        conductivity: float,
        temperature: np.ndarray,
        wall_flux: np.ndarray,
        source: np.ndarray | None = None,
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """System over the domain nodes (numbered in row-major order of the mask).

        `temperature` (n, n) is read on the outer ring, `wall_flux` gives q at the half-edge
        midpoints (`wall_x`, `wall_y`, outward normals `wall_nx`, `wall_ny`), `source` (n, n) is
        f at the nodes (None: 0). The matrix is the one `operator` keeps, read-only: shared by
        every sample, not copied.
        """
        n2 = self.n * self.n
        coupling, matrix = self.operator(conductivity)
        rhs = np.bincount(self.wall_node, weights=self.wall_length * wall_flux, minlength=n2)
        # The dual face between two wall nodes reaches only half a cell into the domain, so the
        # two-point flux (taken on the wall) misses (depth^2 / 2) d(q)/d(tangent) of its face
        # mean (d/dn of the tangential flux is -dq/dtangent on a straight wall). The correction is
        # conservative and cancels along a wall except at its ends, the re-entrant slot corners,
        # where without it the error is O(h^2 log h) instead of O(h^2).
        p, q = self.edge_p, self.edge_q
        slope = (wall_flux[q] - wall_flux[p]) / (self.edge_along / 2)
        correction = (self.edge_across / 2) ** 2 / 2 * slope
        rhs -= np.bincount(self.wall_node[p], weights=correction, minlength=n2)
        rhs += np.bincount(self.wall_node[q], weights=correction, minlength=n2)
        if source is not None:
            rhs = rhs + (self.area * source).ravel()
        dom = self.unknowns
        is_dirichlet = self.dirichlet.ravel()[dom]
        known = np.where(is_dirichlet, np.asarray(temperature, np.float64).ravel()[dom], 0.0)
        rhs = rhs[dom] - coupling @ known
        rhs[is_dirichlet] = self.scale(conductivity) * known[is_dirichlet]
        return matrix, rhs

    def scatter(self, values: np.ndarray) -> np.ndarray:
        """Values at the domain nodes onto the (n, n) grid, 0 outside the domain."""
        full = np.zeros(self.n * self.n)
        full[self.unknowns] = values
        return full.reshape(self.n, self.n)

    def wall_mean(self, wall_flux: np.ndarray) -> np.ndarray:
        """Mean flux over each node's wall segment on the (n, n) grid, 0 off the walls."""
        n2 = self.n * self.n
        total = np.bincount(self.wall_node, self.wall_length * wall_flux, minlength=n2)
        length = np.bincount(self.wall_node, self.wall_length, minlength=n2)
        return np.divide(total, length, out=np.zeros(n2), where=length > 0).reshape(self.n, self.n)


@FAMILIES.register("heat")
class Heat(SteadyFamily):
    """Random boundary temperature (outer rectangle) and heat flux (slot walls)."""

    name = "heat"
    spd = True
    symmetric = True
    block_assembly = True  # one shared matrix; the data of a block evaluated together

    def __init__(self, cfg: DictConfig) -> None:
        self.n = int(cfg.resolution)
        if self.n < MIN_RESOLUTION:
            raise UserError(
                f"pde.resolution={self.n} is too coarse for the slotted domain; "
                f"use >= {MIN_RESOLUTION} (exact geometry when resolution - 1 is a multiple of 20)"
            )
        self.degree = cfg.degree
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 0:
            raise UserError(f"pde.degree={self.degree!r} must be an integer >= 0 (SKR: 5)")
        if self.degree > self.n:  # its coefficients do not decay: higher degrees are noise
            raise UserError(
                f"pde.degree={self.degree} is more than the grid resolves; use at most "
                f"pde.resolution={self.n} (SKR: 5)"
            )
        for key in ("conductivity", "temperature_scale", "flux_scale"):
            value = cfg[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise UserError(f"pde.{key}={value!r} must be a number > 0")
        self.conductivity = float(cfg.conductivity)
        self.temperature_scale = float(cfg.temperature_scale)
        self.flux_scale = float(cfg.flux_scale)
        self.geometry = SlotGeometry(self.n)

    @property
    def fields(self) -> FieldSpec:
        return FieldSpec(("mask", "temperature", "flux"), ("solution",), (self.n, self.n))

    def grid(self) -> dict[str, np.ndarray]:
        return {"x": self.geometry.x, "y": self.geometry.y}

    def boundary_data(self, rngs: Sequence[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
        """g on the (B, n, n) grid (its Coons extension; the ring is what counts) and q at the
        walls (B, half edges) of the samples `rngs` draw (each from its own stream), evaluated
        as one block: bitwise each sample's data alone (elementwise series and selections)."""
        d = self.degree + 1
        draws = [  # outer sides, then walls left, right, bottom, top: each stream's order
            (
                self.temperature_scale * rng.uniform(-1.0, 1.0, (4, d)),
                self.flux_scale * rng.uniform(-1.0, 1.0, (4, d)),
            )
            for rng in rngs
        ]
        outer = SquareBoundary(np.stack([sides for sides, _ in draws]))
        walls = np.stack([walls for _, walls in draws])  # (B, 4, d)
        geo = self.geometry
        xs, ys = geo.slot
        s = (geo.x + BOX[0]) / (2 * BOX[0])
        t = (geo.y + BOX[1]) / (2 * BOX[1])
        temperature = outer.extend(s[:, None], t[None, :])
        along_y = (geo.wall_y + ys) / (2 * ys)  # wall coordinate in [0, 1]
        along_x = (geo.wall_x + xs) / (2 * xs)
        vertical = chebyshev(walls[:, :2].reshape(-1, d), along_y).reshape(len(rngs), 2, -1)
        horizontal = chebyshev(walls[:, 2:].reshape(-1, d), along_x).reshape(len(rngs), 2, -1)
        flux = np.select(
            [geo.wall_nx > 0, geo.wall_nx < 0, geo.wall_ny > 0, geo.wall_ny < 0],
            [vertical[:, 0], vertical[:, 1], horizontal[:, 0], horizontal[:, 1]],
        )
        return temperature, flux

    def inputs(self, temperature: np.ndarray, flux: np.ndarray) -> np.ndarray:
        """The stored inputs (mask, temperature on the outer ring, mean wall flux) of the data."""
        geo = self.geometry
        return np.stack(
            [
                geo.mask.astype(np.float64),
                np.where(geo.dirichlet, temperature, 0.0),
                geo.wall_mean(flux),
            ]
        )

    def features(self, rng: np.random.Generator) -> np.ndarray:
        """The sort's features of the sample `rng` draws (the inputs without the fixed mask),
        without assembling."""
        temperature, flux = self.boundary_data([rng])
        return self.inputs(temperature[0], flux[0])[1:].ravel()

    def problem(self, rng: np.random.Generator) -> Problem:
        return self.problems([rng])[0]

    def problems(self, rngs: Sequence[np.random.Generator]) -> list[Problem]:
        """The samples' problems, their boundary data drawn as one block; one shared matrix."""
        problems = []
        for temperature, flux in zip(*self.boundary_data(rngs)):
            matrix, rhs = self.geometry.assemble(self.conductivity, temperature, flux)
            inputs = self.inputs(temperature, flux)
            problems.append(Problem(matrix, rhs, inputs, features=inputs[1:].ravel()))
        return problems

    def solution_fields(self, solution: np.ndarray) -> np.ndarray:
        return self.geometry.scatter(solution)[None]

    def solution_vector(self, fields: np.ndarray) -> np.ndarray:
        """The solution vector of stored output fields (the inverse of `solution_fields`: the
        values at the domain nodes), for the PDE residual of a prediction in eval."""
        return np.asarray(fields, np.float64)[0].reshape(-1)[self.geometry.unknowns]
