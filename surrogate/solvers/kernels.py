"""Compiled kernels for the Krylov hot paths: sparse products, triangular sweeps, Arnoldi steps.

numba compiles them to machine code on first use and caches the result on disk (`cache=True`),
so a user needs no compiler and pays the compilation once per installation (docs/solvers.md
gives the figure). Every kernel works on plain arrays (CSR: indptr, indices, data) and writes
into arrays it is given, so the solvers call them with no copies and no Python per entry.

The Arnoldi step is classical Gram-Schmidt with the second pass of each vector measured in the
next step (delayed reorthogonalisation as in DCGS2: Bielich, Langou, Thomas, Swirydowicz,
Yamazaki, Boman, Parallel Computing 2022): step j makes one read of the basis to compute both
the projections of the new vector w and those, s, of the once-orthogonalised v_j, and one more
read to subtract w's. When |s| exceeds ORTHOGONALITY (rare: one pass against an orthonormal
basis loses about one rounding error) v_j's second pass is applied too, in closed form: the
Hessenberg column of v_j's predecessor and the projections of w are corrected for the change of
v_j (see `arnoldi_step`). That is the memory traffic of one-pass Gram-Schmidt with a measured
orthogonality of 1e-14 per vector.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True}
# Reductions may be reordered and fused (vectorised dot products); NaN and Inf keep their meaning.
_FAST = {**_JIT, "fastmath": {"reassoc", "contract", "nsz"}}
CHUNK = 512  # entries of the vectors kept in L1 while a block of basis rows streams past

CONTINUE, RECOMPUTE, BREAKDOWN = 0, 1, 2
# s (the second-pass projections of v_j) larger than this along C: the closed-form correction
# of w = A v_j would need A C; v_j is finished explicitly and A v_j recomputed instead.
DEFLATION_SLACK = 1e-12
REORTHOGONALIZE = 0.7071  # DGKS: a second pass when the norm fell below 1/sqrt(2)
# A vector whose projections on the rows before it exceed this (about 45 rounding errors) gets
# its second Gram-Schmidt pass; below it, it is orthonormal to the basis to that accuracy.
ORTHOGONALITY = 1e-14


# --- sparse matrix-vector products and preconditioner sweeps --------------------------------
# Indices are cast to unsigned before use: numba checks signed indices for wraparound (a
# negative index counts from the end), a branch per entry that halves the speed of these loops.


@numba.njit(**_JIT)
def csr_matvec(indptr, indices, data, x, out):
    """out = A x."""
    for i in range(len(indptr) - 1):
        total = 0.0
        for p in range(_u(indptr[i]), _u(indptr[i + 1])):
            total += data[p] * x[_u(indices[p])]
        out[i] = total
    return out


@numba.njit(**_JIT)
def _u(index):
    return np.uint64(index)


@numba.njit(**_JIT)
def canonical_rows(indptr, indices, data):
    """A copy of CSR arrays with each row's columns sorted and duplicates summed, and the index
    into the new `data` of each row's diagonal entry (-1 where absent).

    Rows of a stencil hold a few entries, so an insertion sort per row in one pass is much
    cheaper than scipy's sum_duplicates (sort, merge, prune: 0.5 ms on an 80² Darcy matrix,
    more than the ILU(0) factorisation itself).
    """
    n = len(indptr) - 1
    out_indptr = np.zeros_like(indptr)
    out_indices = np.empty_like(indices)
    out_data = np.empty(len(indices), dtype=np.float64)
    diagonal = np.full(n, -1, dtype=np.int64)
    q = 0
    for i in range(n):
        start, first, last = q, indptr[i], indptr[i + 1]
        descending = True  # as scipy leaves a stencil assembled from diagonals: just reverse it
        for p in range(first + 1, last):
            if indices[p] >= indices[p - 1]:
                descending = False
                break
        if descending:
            for p in range(first, last):
                out_indices[start + last - 1 - p] = indices[p]
                out_data[start + last - 1 - p] = data[p]
            q += last - first
        else:
            for p in range(first, last):
                column, value = indices[p], np.float64(data[p])
                position = q
                while position > start and out_indices[position - 1] > column:
                    out_indices[position] = out_indices[position - 1]
                    out_data[position] = out_data[position - 1]
                    position -= 1
                if position > start and out_indices[position - 1] == column:  # a duplicate
                    for back in range(position, q):
                        out_indices[back] = out_indices[back + 1]
                        out_data[back] = out_data[back + 1]
                    out_data[position - 1] += value
                    continue
                out_indices[position], out_data[position] = column, value
                q += 1
        for p in range(start, q):
            if out_indices[p] == i:
                diagonal[i] = p
        out_indptr[i + 1] = q
    return out_indptr, out_indices[:q], out_data[:q], diagonal


@numba.njit(**_JIT)
def ilu0_factor(indptr, indices, data, diagonal):
    """ILU(0) factors on A's pattern (IKJ elimination, natural order), in one CSR array.

    Strictly lower entries hold L (unit diagonal implied), the rest U. Returns (factors,
    inverted pivots, -1), or the index of the first row whose pivot is zero or not finite in
    place of -1. Indices must be sorted with every diagonal entry present.
    """
    n = len(indptr) - 1
    factors = data.copy()
    where = np.full(n, -1, dtype=np.int64)
    inverse = np.empty(n)
    for i in range(n):
        for p in range(_u(indptr[i]), _u(indptr[i + 1])):
            where[_u(indices[p])] = p
        for p in range(_u(indptr[i]), _u(diagonal[i])):
            k = _u(indices[p])
            factors[p] *= inverse[k]
            multiplier = factors[p]
            for q in range(_u(diagonal[k] + 1), _u(indptr[k + 1])):
                position = where[_u(indices[q])]
                if position >= 0:
                    factors[_u(position)] -= multiplier * factors[q]
        for p in range(_u(indptr[i]), _u(indptr[i + 1])):
            where[_u(indices[p])] = -1
        pivot = factors[_u(diagonal[i])]
        if pivot == 0.0 or not math.isfinite(pivot):
            return factors, inverse, i
        inverse[i] = 1.0 / pivot
    return factors, inverse, -1


# The triangular sweeps are latency-bound: row i waits for row i - 1. They take the entries
# pre-divided by the row's pivot (one multiply less on that chain) and keep row i - 1's value
# in a register when it is the row's last lower (first upper) entry (no store-to-load wait).


@numba.njit(**_JIT)
def forward_sweep(indptr, indices, scaled, diagonal, rhs_scale, r, out):
    """out_i = rhs_scale_i r_i - sum_{j < i} scaled_ij out_j: (D + L) z = r with `scaled` =
    D^{-1} L (rhs_scale = D^{-1}); a unit lower factor has rhs_scale = 1 and scaled = L."""
    previous = 0.0
    for i in range(len(indptr) - 1):
        total = r[i] * rhs_scale[i]
        start, stop = _u(indptr[i]), _u(diagonal[i])
        if stop > start and indices[stop - 1] == i - 1:
            stop -= 1
            total -= scaled[stop] * previous
        for p in range(start, stop):
            total -= scaled[p] * out[_u(indices[p])]
        out[i] = total
        previous = total
    return out


@numba.njit(**_JIT)
def backward_sweep(indptr, indices, scaled, diagonal, rhs_scale, r, out):
    """out_i = rhs_scale_i r_i - sum_{j > i} scaled_ij out_j: (D + U) z = r with `scaled` =
    D^{-1} U and rhs_scale = D^{-1}."""
    n = len(indptr) - 1
    previous = 0.0
    for step in range(n):
        i = _u(n - 1 - step)
        total = r[i] * rhs_scale[i]
        start, stop = _u(diagonal[i] + 1), _u(indptr[i + 1])
        if stop > start and indices[start] == i + 1:
            total -= scaled[start] * previous
            start += 1
        for p in range(start, stop):
            total -= scaled[p] * out[_u(indices[p])]
        out[i] = total
        previous = total
    return out


@numba.njit(**_JIT)
def scale_rows(indptr, data, row_scale, first):
    """data_ij * row_scale_i for the entries of row i from position first[i] on (the ones
    before it copied): entries divided by their row's pivot for the sweeps."""
    scaled = data.copy()
    for i in range(len(indptr) - 1):
        for p in range(_u(first[i]), _u(indptr[i + 1])):
            scaled[p] = data[p] * row_scale[i]
    return scaled


@numba.njit(**_JIT)
def lower_columns(indptr, indices, data, diagonal, inverse_diagonal, r, out):
    """Solve (D + L) Z = R for every column of R (n, k) at once (D given by its inverse, L
    strictly lower): k independent chains per row, so no latency-bound chain."""
    k = r.shape[1]
    for i in range(len(indptr) - 1):
        row = out[i]
        for v in range(k):
            row[v] = r[i, v]
        for p in range(_u(indptr[i]), _u(diagonal[i])):
            a = data[p]
            source = out[_u(indices[p])]
            for v in range(k):
                row[v] -= a * source[v]
        d = inverse_diagonal[i]
        for v in range(k):
            row[v] *= d
    return out


@numba.njit(**_JIT)
def upper_columns(indptr, indices, data, diagonal, inverse_diagonal, r, out):
    """Solve (D + U) Z = R for every column of R (n, k) at once (U strictly upper)."""
    k, n = r.shape[1], len(indptr) - 1
    for step in range(n):
        i = _u(n - 1 - step)
        row = out[i]
        for v in range(k):
            row[v] = r[i, v]
        for p in range(_u(diagonal[i] + 1), _u(indptr[i + 1])):
            a = data[p]
            source = out[_u(indices[p])]
            for v in range(k):
                row[v] -= a * source[v]
        d = inverse_diagonal[i]
        for v in range(k):
            row[v] *= d
    return out


# --- Arnoldi with delayed reorthogonalisation -------------------------------------------------


# The sweeps below take the basis four rows at a time over chunks of CHUNK entries (the chunk of
# v and w stays in L1, each basis entry is read once), slicing so that loop indices start at 0
# (numba's negative-index checks otherwise keep LLVM from vectorising).


@numba.njit(**_FAST)
def _project_two(basis, rows, v, w, s, t):
    """s[i] = basis[i] . v and t[i] = basis[i] . w for i < rows, in one read of the basis."""
    n = v.shape[0]
    s[:rows] = 0.0
    t[:rows] = 0.0
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        size = stop - start
        vb, wb = v[start:stop], w[start:stop]
        i = 0
        while i + 4 <= rows:
            r0, r1 = basis[i, start:stop], basis[i + 1, start:stop]
            r2, r3 = basis[i + 2, start:stop], basis[i + 3, start:stop]
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
            for e in range(size):
                x, y = vb[e], wb[e]
                a0 += r0[e] * x
                a1 += r1[e] * x
                a2 += r2[e] * x
                a3 += r3[e] * x
                b0 += r0[e] * y
                b1 += r1[e] * y
                b2 += r2[e] * y
                b3 += r3[e] * y
            s[i] += a0
            s[i + 1] += a1
            s[i + 2] += a2
            s[i + 3] += a3
            t[i] += b0
            t[i + 1] += b1
            t[i + 2] += b2
            t[i + 3] += b3
            i += 4
        while i < rows:
            row = basis[i, start:stop]
            a = b = 0.0
            for e in range(size):
                a += row[e] * vb[e]
                b += row[e] * wb[e]
            s[i] += a
            t[i] += b
            i += 1


@numba.njit(**_FAST)
def _project_one(basis, rows, v, s):
    """s[i] = basis[i] . v for i < rows."""
    n = v.shape[0]
    s[:rows] = 0.0
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        size = stop - start
        vb = v[start:stop]
        i = 0
        while i + 4 <= rows:
            r0, r1 = basis[i, start:stop], basis[i + 1, start:stop]
            r2, r3 = basis[i + 2, start:stop], basis[i + 3, start:stop]
            a0 = a1 = a2 = a3 = 0.0
            for e in range(size):
                x = vb[e]
                a0 += r0[e] * x
                a1 += r1[e] * x
                a2 += r2[e] * x
                a3 += r3[e] * x
            s[i] += a0
            s[i + 1] += a1
            s[i + 2] += a2
            s[i + 3] += a3
            i += 4
        while i < rows:
            row = basis[i, start:stop]
            a = 0.0
            for e in range(size):
                a += row[e] * vb[e]
            s[i] += a
            i += 1


@numba.njit(**_FAST)
def _subtract_one(basis, rows, v, s):
    """v -= basis[:rows]^T s; returns ||v||^2."""
    n = v.shape[0]
    total = 0.0
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        size = stop - start
        vb = v[start:stop]
        i = 0
        while i + 4 <= rows:
            r0, r1 = basis[i, start:stop], basis[i + 1, start:stop]
            r2, r3 = basis[i + 2, start:stop], basis[i + 3, start:stop]
            a0, a1, a2, a3 = s[i], s[i + 1], s[i + 2], s[i + 3]
            for e in range(size):
                vb[e] -= r0[e] * a0 + r1[e] * a1 + r2[e] * a2 + r3[e] * a3
            i += 4
        while i < rows:
            row = basis[i, start:stop]
            a = s[i]
            for e in range(size):
                vb[e] -= row[e] * a
            i += 1
        for e in range(size):
            total += vb[e] * vb[e]
    return total


@numba.njit(**_FAST)
def _subtract_two(basis, rows, v, s, nu, w, t, gamma):
    """v <- (v - B s) / nu and w <- (w - B t - gamma v) / nu in one read of B = basis[:rows].

    Returns ||w||^2 after the update.
    """
    n = v.shape[0]
    scale = 1.0 / nu
    total = 0.0
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        size = stop - start
        vb, wb = v[start:stop], w[start:stop]
        i = 0
        while i + 4 <= rows:
            r0, r1 = basis[i, start:stop], basis[i + 1, start:stop]
            r2, r3 = basis[i + 2, start:stop], basis[i + 3, start:stop]
            a0, a1, a2, a3 = s[i], s[i + 1], s[i + 2], s[i + 3]
            b0, b1, b2, b3 = t[i], t[i + 1], t[i + 2], t[i + 3]
            for e in range(size):
                vb[e] -= r0[e] * a0 + r1[e] * a1 + r2[e] * a2 + r3[e] * a3
                wb[e] -= r0[e] * b0 + r1[e] * b1 + r2[e] * b2 + r3[e] * b3
            i += 4
        while i < rows:
            row = basis[i, start:stop]
            a, b = s[i], t[i]
            for e in range(size):
                vb[e] -= row[e] * a
                wb[e] -= row[e] * b
            i += 1
        for e in range(size):
            vb[e] *= scale
            wb[e] = (wb[e] - gamma * vb[e]) * scale
            total += wb[e] * wb[e]
    return total


@numba.njit(**_JIT)
def _rotate_column(projections, k, column, triangle, cosines, sines, g, g_before):
    """Givens-reduce Hessenberg column `column` (rows k.. of `projections`) with the rotations
    of the columns before it, then make and apply its own; returns the new residual |g|."""
    size = column + 2
    values = np.empty(size)
    for i in range(size):
        values[i] = projections[k + i, column]
    for i in range(column):
        c = cosines[i]
        s = sines[i]
        first = c * values[i] + s * values[i + 1]
        values[i + 1] = c * values[i + 1] - s * values[i]
        values[i] = first
    radius = math.hypot(values[column], values[column + 1])
    if radius == 0.0:
        c, s = 1.0, 0.0
    else:
        c, s = values[column] / radius, values[column + 1] / radius
    cosines[column] = c
    sines[column] = s
    values[column] = radius
    for i in range(column + 1):
        triangle[i, column] = values[i]
    g[column] = c * g_before[column]
    g[column + 1] = -s * g_before[column]
    return abs(g[column + 1])


@numba.njit(**_JIT)
def _correct_previous_column(projections, k, j, s, nu):
    """v_j = B s + nu v_j' changed the basis: Â v_{j-1} = [B v_j'] (column + h s, h nu)."""
    h = projections[k + j, j - 1]
    for i in range(k + j):
        projections[i, j - 1] += h * s[i]
    projections[k + j, j - 1] = h * nu


@numba.njit(**_JIT)
def finish_vector(basis, k, j, projections, triangle, cosines, sines, g, g_before, s, t):
    """Give v_j = basis[k + j] its second pass if it needs one (DGKS thereafter), normalise it,
    and correct column j - 1 and its rotation; returns the residual estimate."""
    rows = k + j
    v = basis[rows]
    _project_one(basis, rows + 1, v, s)  # s[rows] = ||v||^2
    lost = 0.0
    for i in range(rows):
        lost += s[i] * s[i]
    if lost <= ORTHOGONALITY**2:
        return abs(g[j])
    before = math.sqrt(s[rows])
    norm = math.sqrt(_subtract_one(basis, rows, v, s))
    if norm < REORTHOGONALIZE * before:
        _project_one(basis, rows, v, t)
        norm = math.sqrt(_subtract_one(basis, rows, v, t))
        for i in range(rows):
            s[i] += t[i]
    v *= 1.0 / norm
    if j == 0:
        return abs(g[0])
    _correct_previous_column(projections, k, j, s, norm)
    return _rotate_column(projections, k, j - 1, triangle, cosines, sines, g, g_before)


@numba.njit(**_JIT)
def arnoldi_step(
    basis, k, j, finished, w, projections, triangle, cosines, sines, g, g_before, s, t
):
    """One Arnoldi step on w = Â v_j for the basis rows [C (k rows); v_0 .. v_j].

    v_0 .. v_{j-1} are orthonormal; v_j is normalised and, unless `finished`, orthogonalised
    once. One read of the basis gives the projections t of w and s of v_j on the rows before
    v_j. If |s| <= ORTHOGONALITY (nearly always: one pass against an orthonormal basis loses
    about one rounding error) v_j is final as it is; otherwise it gets its second pass in
    closed form: with v_j = B s + nu v_j', Â v_j' = (w - Â B s) / nu, whose projections on
    [B v_j'] follow from those of w, so w still needs one subtraction. Only the C part of
    Â B s is unknown (Â C is not kept): when s has a component along C above
    `DEFLATION_SLACK`, v_j is finished explicitly and RECOMPUTE asks for Â v_j anew.

    Writes column j of `projections` ([coupling; Hessenberg]) and the new v_{j+1} (normalised,
    orthogonalised once) into basis[k + j + 1]; returns (status, residual estimate).
    """
    rows = k + j
    v = basis[rows]
    if finished:
        _project_one(basis, rows + 1, w, t)
        lost = 0.0
    else:
        _project_two(basis, rows + 1, v, w, s, t)  # s[rows] = ||v||^2, t[rows] = v . w
        along_c = 0.0
        for i in range(k):
            along_c += s[i] * s[i]
        lost = along_c
        for i in range(k, rows):
            lost += s[i] * s[i]
        if along_c > DEFLATION_SLACK**2 or lost > 0.25 * s[rows]:
            finish_vector(basis, k, j, projections, triangle, cosines, sines, g, g_before, s, t)
            return RECOMPUTE, abs(g[j])
    if lost <= ORTHOGONALITY**2:  # v_j is final: w'' = w - [B v_j] t
        for i in range(rows + 1):
            projections[i, j] = t[i]
        norm_w = math.sqrt(_subtract_one(basis, rows + 1, w, t))
    else:
        nu = math.sqrt(s[rows] - lost)
        _correct_previous_column(projections, k, j, s, nu)
        _rotate_column(projections, k, j - 1, triangle, cosines, sines, g, g_before)
        st = 0.0
        for i in range(rows):
            st += s[i] * t[i]
        gamma = (t[rows] - st) / nu  # v_j' . w
        # Column j: projections of (w - [B v_j'] (G s_V)) / nu on [B v_j'], with G the first
        # j columns of `projections` (rows up to k + j).
        for i in range(rows + 1):
            correction = 0.0
            for c in range(j):
                correction += projections[i, c] * s[k + c]
            projections[i, j] = ((t[i] if i < rows else gamma) - correction) / nu
        norm_w = math.sqrt(_subtract_two(basis, rows, v, s, nu, w, t, gamma))
    largest = 0.0
    for i in range(k, rows + 1):
        largest = max(largest, abs(projections[i, j]))
    projections[rows + 1, j] = norm_w
    g_before[j] = g[j]
    residual = _rotate_column(projections, k, j, triangle, cosines, sines, g, g_before)
    if norm_w <= 1e-14 * largest:
        basis[rows + 1] = 0.0
        return BREAKDOWN, residual
    basis[rows + 1] = w * (1.0 / norm_w)
    return CONTINUE, residual
