"""Compiled kernels against dense and scipy references; the Arnoldi step's invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp

from surrogate.solvers import kernels
from surrogate.solvers.arnoldi import arnoldi_cycle, preconditioned_operator
from surrogate.solvers.preconditioners import ILU0, apply_columns, build_preconditioner


def nonsymmetric(n: int = 10, seed: int = 0) -> sp.csr_matrix:
    """A diagonally dominant non-symmetric 5-point-like matrix with irregular extra entries."""
    rng = np.random.default_rng(seed)
    size = n * n
    laplacian = sp.diags([-1.0, -1.0, 4.0, -1.0, -1.0], [-n, -1, 0, 1, n], shape=(size, size))
    noise = sp.random(size, size, density=0.01, random_state=seed) * 0.3
    skew = sp.diags(rng.uniform(0.5, 2.0, size)) @ laplacian
    return (skew + noise + sp.identity(size)).tocsr()


def test_csr_product_matches_scipy_with_unsorted_indices():
    matrix = nonsymmetric()
    order = np.random.default_rng(1).permutation(matrix.nnz)
    coo = matrix.tocoo()
    unsorted = sp.csr_matrix((coo.data[order], (coo.row[order], coo.col[order])), matrix.shape)
    unsorted.has_sorted_indices = False
    x = np.random.default_rng(1).standard_normal(matrix.shape[0])
    arrays = (unsorted.indptr, unsorted.indices, unsorted.data)
    np.testing.assert_allclose(kernels.csr_matvec(*arrays, x, np.empty_like(x)), matrix @ x,
                               rtol=1e-13, atol=1e-13)  # fmt: skip


def test_canonical_rows_sort_each_row_sum_duplicates_and_find_the_diagonal():
    rng = np.random.default_rng(2)
    rows, columns = rng.integers(0, 30, 300), rng.integers(0, 30, 300)
    order = np.argsort(rows, kind="stable")  # grouped by row, columns in random order
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=30))]
    values = rng.standard_normal(300)
    raw = sp.csr_matrix((values[order], columns[order], indptr), shape=(30, 30))
    reference = sp.csr_matrix(raw, copy=True)
    reference.sum_duplicates()
    indptr, indices, data, diagonal = kernels.canonical_rows(raw.indptr, raw.indices, raw.data)
    np.testing.assert_array_equal(indptr, reference.indptr)
    np.testing.assert_array_equal(indices, reference.indices)
    np.testing.assert_allclose(data, reference.data, rtol=1e-14)
    for i in range(30):
        row = indices[indptr[i] : indptr[i + 1]]
        assert diagonal[i] == (indptr[i] + np.flatnonzero(row == i)[0] if i in row else -1)
    # Rows in descending order (scipy's assembly from diagonals) are reversed, not sorted.
    stencil = nonsymmetric()
    reversed_rows = np.concatenate(
        [np.arange(stencil.indptr[i + 1] - 1, stencil.indptr[i] - 1, -1) for i in range(100)]
    )
    backwards = sp.csr_matrix(
        (stencil.data[reversed_rows], stencil.indices[reversed_rows], stencil.indptr), stencil.shape
    )
    indptr, indices, data, diagonal = kernels.canonical_rows(
        backwards.indptr, backwards.indices, backwards.data
    )
    np.testing.assert_array_equal(indices, stencil.indices)
    np.testing.assert_array_equal(data, stencil.data)
    np.testing.assert_array_equal(indices[diagonal], np.arange(100))


@pytest.mark.parametrize("omega", [1.0, 1.6])
def test_sor_and_ssor_sweeps_solve_their_triangular_systems(omega):
    matrix = nonsymmetric()
    dense = matrix.toarray()
    d = np.diag(dense) / omega
    lower = np.tril(dense, -1) + np.diag(d)
    upper = np.triu(dense, 1) + np.diag(d)
    r = np.random.default_rng(2).standard_normal(len(d))
    sor = build_preconditioner("sor", matrix, omega=omega)
    np.testing.assert_allclose(sor(r), sla.solve(lower, r), rtol=1e-12)
    ssor = build_preconditioner("ssor", matrix, omega=omega)
    expected = (2.0 - omega) / omega * sla.solve(upper, d * sla.solve(lower, r))
    np.testing.assert_allclose(ssor(r), expected, rtol=1e-12)


def test_ilu0_is_exact_on_a_matrix_whose_factors_do_not_fill():
    """A tridiagonal matrix's LU has no fill: ILU(0) is the exact LU, M^{-1} = A^{-1}."""
    rng = np.random.default_rng(3)
    n = 50
    matrix = sp.diags(
        [rng.uniform(-1, 0, n - 1), rng.uniform(3, 4, n), rng.uniform(-1, 0, n - 1)], [-1, 0, 1]
    ).tocsr()
    r = rng.standard_normal(n)
    np.testing.assert_allclose(ILU0(matrix)(r), sla.solve(matrix.toarray(), r), rtol=1e-12)


def test_ilu0_reports_a_zero_pivot_and_a_missing_diagonal():
    singular = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ArithmeticError, match="zero pivot in row 1"):
        ILU0(singular)
    with pytest.raises(ArithmeticError, match="diagonal"):
        ILU0(sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 1.0]])))


@pytest.mark.parametrize("name", ["none", "jacobi", "sor", "ssor", "ilu", "amg"])
def test_block_application_equals_column_by_column(name):
    matrix = nonsymmetric() if name != "amg" else (nonsymmetric() + nonsymmetric().T).tocsr()
    apply = build_preconditioner(name, matrix, omega=1.3)
    block = np.random.default_rng(4).standard_normal((matrix.shape[0], 7))
    expected = np.stack([apply(block[:, i].copy()) for i in range(7)], axis=1)
    np.testing.assert_allclose(apply_columns(apply, block), expected, rtol=1e-12, atol=1e-14)


def arnoldi_residual(operator, cycle, k: int) -> float:
    """||Â V_j - C B_j - V_{j+1} H̄_j|| for a finished cycle."""
    j = cycle.steps
    krylov = cycle.krylov
    images = np.stack([operator(v) for v in krylov[:j]])
    rebuilt = cycle.hessenberg.T @ krylov
    if k:
        rebuilt += cycle.coupling.T @ cycle.basis[:k]
    return float(np.abs(images - rebuilt).max())


@pytest.mark.parametrize("deflated", [False, True])
def test_arnoldi_cycle_keeps_its_relation_and_an_orthonormal_basis(deflated):
    matrix = nonsymmetric(12)
    operator = preconditioned_operator(matrix, build_preconditioner("ilu", matrix))
    rng = np.random.default_rng(5)
    c = np.linalg.qr(rng.standard_normal((matrix.shape[0], 5)))[0].T if deflated else None
    r = rng.standard_normal(matrix.shape[0])
    if deflated:
        r -= (c @ r) @ c
    cycle = arnoldi_cycle(operator, r, float(np.linalg.norm(r)), 30, 0.0, deflate=c)
    assert cycle.steps == 30
    basis = cycle.basis
    np.testing.assert_allclose(basis @ basis.T, np.eye(len(basis)), atol=1e-13)
    assert arnoldi_residual(operator, cycle, 5 if deflated else 0) < 1e-12
    # The least-squares solution and its residual agree with a dense solve of the small problem.
    rhs = np.zeros(31)
    rhs[0] = np.linalg.norm(r)
    y, *_ = np.linalg.lstsq(cycle.hessenberg, rhs, rcond=None)
    np.testing.assert_allclose(cycle.y, y, rtol=0, atol=1e-10 * np.abs(y).max())
    assert cycle.residual_norm == pytest.approx(np.linalg.norm(rhs - cycle.hessenberg @ y))


def step_buffers(k: int, steps: int, n: int, beta: float):
    g = np.zeros(steps + 1)
    g[0] = beta
    return dict(
        projections=np.zeros((k + steps + 1, steps)),
        triangle=np.zeros((steps, steps)),
        cosines=np.zeros(steps),
        sines=np.zeros(steps),
        g=g,
        g_before=np.zeros(steps + 1),
        s=np.empty(k + steps + 1),
        t=np.empty(k + steps + 1),
    )


def lean(basis, projections, row, j, target, amount):
    """Tilt v_j (basis[row]) towards basis[target] and rewrite column j - 1 to match, as if the
    step before had left v_j that far from orthogonal: the Arnoldi relation still holds."""
    h = projections[row, j - 1]
    basis[row] += amount * basis[target]
    norm = np.linalg.norm(basis[row])
    basis[row] /= norm
    projections[target, j - 1] -= h * amount
    projections[row, j - 1] = h * norm


def run_steps(operator, basis, k, steps, buffers, target, amount):
    """Arnoldi steps with the kernel, v_j tilted by `lean` before each step j >= 1."""
    finished, j = True, 0
    statuses = []
    while j < steps:
        if not finished:
            lean(basis, buffers["projections"], k + j, j, target, amount)
        b = buffers
        status, _ = kernels.arnoldi_step(
            basis, k, j, finished, operator(basis[k + j]), b["projections"], b["triangle"],
            b["cosines"], b["sines"], b["g"], b["g_before"], b["s"], b["t"],
        )  # fmt: skip
        statuses.append(status)
        if status == kernels.RECOMPUTE:
            finished = True
            continue
        j, finished = j + 1, False
    return statuses


def test_a_vector_that_lost_orthogonality_gets_its_second_pass_in_closed_form():
    """v_j made to lean 1e-9 on v_0 before its step: the step finishes it (no extra product)
    and corrects the previous column, so the relation and orthonormality still hold."""
    matrix = nonsymmetric(8)
    n = matrix.shape[0]
    operator = preconditioned_operator(matrix, build_preconditioner("jacobi", matrix))
    r = np.random.default_rng(6).standard_normal(n)
    beta = float(np.linalg.norm(r))
    basis = np.zeros((9, n))
    basis[0] = r / beta
    buffers = step_buffers(0, 8, n, beta)
    statuses = run_steps(operator, basis, 0, 8, buffers, target=0, amount=1e-9)
    assert kernels.RECOMPUTE not in statuses
    kernels.finish_vector(basis, 0, 8, **buffers)
    np.testing.assert_allclose(basis @ basis.T, np.eye(9), atol=1e-13)
    images = np.stack([operator(v) for v in basis[:8]])
    rebuilt = buffers["projections"].T @ basis
    assert np.abs(images - rebuilt).max() < 1e-12


def test_a_vector_leaning_on_the_deflation_space_is_finished_and_recomputed():
    matrix = nonsymmetric(8)
    n = matrix.shape[0]
    operator = preconditioned_operator(matrix, build_preconditioner("none", matrix))
    rng = np.random.default_rng(7)
    c = np.linalg.qr(rng.standard_normal((n, 3)))[0].T
    r = rng.standard_normal(n)
    r -= (c @ r) @ c
    beta = float(np.linalg.norm(r))
    basis = np.zeros((3 + 6 + 1, n))
    basis[:3], basis[3] = c, r / beta
    buffers = step_buffers(3, 6, n, beta)
    statuses = run_steps(operator, basis, 3, 6, buffers, target=1, amount=1e-8)
    assert statuses.count(kernels.RECOMPUTE) == 5  # every step after the first
    kernels.finish_vector(basis, 3, 6, **buffers)
    np.testing.assert_allclose(basis @ basis.T, np.eye(10), atol=1e-13)
    images = np.stack([operator(v) for v in basis[3:9]])
    rebuilt = buffers["projections"].T @ basis
    assert np.abs(images - rebuilt).max() < 1e-12
