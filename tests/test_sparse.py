"""Row-sparse gradients (pyfastopt.sparse.SparseRows) against the dense NumPy reference.

The documented semantics: a sparse step is the dense rule applied to the touched rows with
duplicate rows summed, and every untouched row (parameter and state) stays bitwise as it
was. The reference takes one dense step of the whole table with the summed gradient
scattered into zeros, then puts the untouched rows back: that is the definition, computed
by an independent implementation.
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, IDS, SCALAR_STATE
from helpers import DTYPES, assert_close

import pyfastopt
from pyfastopt import functional as F
from pyfastopt import optim, reference
from pyfastopt.sparse import SparseRows, rowwise_adagrad_

ROWS, DIM, STEPS, PER_STEP = 40, 6, 25, 15
SPARSE_CASES = [c for c in CASES if c[0] not in SCALAR_STATE]
SPARSE_IDS = [i for c, i in zip(CASES, IDS) if c[0] not in SCALAR_STATE]


def sparse_steps(rng, dtype, rows=ROWS, dim=DIM, steps=STEPS, per_step=PER_STEP):
    """Random row gradients with repeated indices (about a third of the steps' rows)."""
    for _ in range(steps):
        indices = rng.integers(0, rows, per_step)
        yield SparseRows(indices, rng.standard_normal((per_step, dim)).astype(dtype))


def scattered(grad, rows, dim):
    """The dense float64 gradient: each row the sum of its values."""
    dense = np.zeros((rows, dim))
    np.add.at(dense, grad.indices, grad.values.astype(np.float64))
    return dense


class LazyReference:
    """The dense reference, stepped as the sparse semantics define: untouched rows of the
    parameter and of every state buffer are restored after each dense step."""

    def __init__(self, name, kwargs, table):
        self.table = table.astype(np.float64)
        self.ref = getattr(reference, name)([self.table], **kwargs)
        state = self.ref.state[0]
        state.update({"step": 0, **self.ref._init_state(self.table)})
        self.initial = {k: np.array(v) for k, v in state.items() if isinstance(v, np.ndarray)}

    def step(self, grad):
        untouched = np.setdiff1d(np.arange(self.table.shape[0]), grad.indices)
        state = self.ref.state[0]
        before = {k: np.array(v) for k, v in state.items() if isinstance(v, np.ndarray)}
        table_before = self.table.copy()
        self.ref.step([scattered(grad, *self.table.shape)])
        self.table[untouched] = table_before[untouched]
        for key, value in state.items():
            if isinstance(value, np.ndarray) and value.ndim:
                old = before.get(key, self.initial.get(key, np.zeros_like(value)))
                value[untouched] = old[untouched]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
def test_optimizer_sparse_rows_match_lazy_reference(case, dtype, rng):
    name, kwargs = case
    table = rng.standard_normal((ROWS, DIM)).astype(dtype)
    dense = rng.standard_normal(5).astype(dtype)  # a dense parameter in the same step
    lazy = LazyReference(name, kwargs, table)
    dense_ref = dense.astype(np.float64)
    ref = getattr(reference, name)([dense_ref], **kwargs)
    opt = getattr(optim, name)([table, dense], **kwargs)
    for grad in sparse_steps(rng, dtype):
        untouched = np.setdiff1d(np.arange(ROWS), grad.indices)
        before = [table.copy()] + [np.copy(v) for v in opt.state.get(0, {}).values()
                                   if isinstance(v, np.ndarray)]  # fmt: skip
        g = rng.standard_normal(5).astype(dtype)
        opt.step([grad, g])
        lazy.step(grad)
        ref.step([g.astype(np.float64)])
        after = [table] + [v for v in opt.state[0].values() if isinstance(v, np.ndarray)]
        if len(before) == len(after):  # from the second step on, state existed before
            for old, new in zip(before, after):
                np.testing.assert_array_equal(new[untouched], old[untouched])
    sign_based = name == "Lion"
    assert_close(table, lazy.table, sign_based=sign_based, what="table")
    assert_close(dense, dense_ref, sign_based=sign_based, what="dense param")
    assert opt.state[0]["step"] == STEPS
    for key, value in lazy.ref.state[0].items():
        if isinstance(value, np.ndarray) and value.ndim:
            assert_close(opt.state[0][key], value, sign_based=sign_based, what=key)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_functional_sparse_equals_dense_step_bitwise(dtype, rng):
    """Where a zero gradient changes nothing (SGD, Adagrad) a sparse step is the dense step
    with the scattered gradient, to the bit: duplicates are summed in order of occurrence,
    as np.add.at does."""
    table = rng.standard_normal((ROWS, DIM)).astype(dtype)
    twin = table.copy()
    total, twin_total = np.full_like(table, 0.1), np.full_like(table, 0.1)
    for step, grad in enumerate(sparse_steps(rng, dtype), start=1):
        dense = np.zeros_like(table)
        np.add.at(dense, grad.indices, grad.values)
        F.adagrad_(table, grad, total, step=step, lr=0.1)
        F.adagrad_(twin, dense, twin_total, step=step, lr=0.1)
        F.sgd_(table, grad, step=step, lr=0.01)
        F.sgd_(twin, dense, step=step, lr=0.01)
    np.testing.assert_array_equal(table, twin)
    np.testing.assert_array_equal(total, twin_total)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64, np.uint32, np.uint64])
def test_index_dtypes_and_higher_rank_tables(index_dtype, rng):
    table = rng.standard_normal((10, 2, 3))
    expected = table.copy()
    indices = np.array([7, 2, 7], dtype=index_dtype)
    values = rng.standard_normal((3, 2, 3))
    F.sgd_(table, SparseRows(indices, values), step=1, lr=0.5)
    expected[7] -= 0.5 * (values[0] + values[2])
    expected[2] -= 0.5 * values[1]
    np.testing.assert_allclose(table, expected, rtol=1e-15)


def test_empty_gradient_changes_nothing(rng):
    table = rng.standard_normal((4, 3)).astype(np.float32)
    before = table.copy()
    m, v = np.zeros_like(table), np.zeros_like(table)
    F.adam_(table, SparseRows(np.zeros(0, np.int64), np.zeros((0, 3), np.float32)), m, v,
            step=1, lr=0.1)  # fmt: skip
    np.testing.assert_array_equal(table, before)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rowwise_adagrad_matches_numpy(dtype, rng):
    table = rng.standard_normal((ROWS, DIM)).astype(dtype)
    acc = np.full(ROWS, 0.1, dtype)
    ref_table, ref_acc = table.astype(np.float64), acc.astype(np.float64)
    lr, eps, wd = 0.1, 1e-6, 0.01
    for grad in sparse_steps(rng, dtype):
        untouched = np.setdiff1d(np.arange(ROWS), grad.indices)
        before = table[untouched].copy(), acc[untouched].copy()
        rowwise_adagrad_(table, grad, acc, lr=lr, eps=eps, weight_decay=wd)
        rows = np.unique(grad.indices)
        g = scattered(grad, ROWS, DIM)[rows] + wd * ref_table[rows]
        ref_acc[rows] += np.mean(g * g, axis=1)
        ref_table[rows] -= lr * g / (np.sqrt(ref_acc[rows]) + eps)[:, None]
        np.testing.assert_array_equal(table[untouched], before[0])
        np.testing.assert_array_equal(acc[untouched], before[1])
    assert_close(table, ref_table, what="table")
    assert_close(acc, ref_acc, what="sum")


def test_rowwise_adagrad_dense_gradient_updates_every_row(rng):
    table = rng.standard_normal((5, 4))
    acc = np.zeros(5)
    g = rng.standard_normal((5, 4))
    expected = table - 0.1 * g / (np.sqrt(np.mean(g * g, axis=1)) + 1e-10)[:, None]
    rowwise_adagrad_(table, g, acc, lr=0.1)
    np.testing.assert_allclose(table, expected, rtol=1e-14)
    np.testing.assert_allclose(acc, np.mean(g * g, axis=1), rtol=1e-14)


def test_threads_give_identical_bits(rng, threads):
    rows, dim = 20_000, 64  # well above the parallel grain
    grads = list(sparse_steps(rng, np.float32, rows=rows, dim=dim, steps=3, per_step=4000))
    results = []
    for n in (1, 2):
        pyfastopt.set_num_threads(n)
        table = np.ones((rows, dim), np.float32)
        m, v, acc = np.zeros_like(table), np.zeros_like(table), np.zeros(rows, np.float32)
        for step, grad in enumerate(grads, start=1):
            F.adam_(table, grad, m, v, step=step, lr=0.01)
            rowwise_adagrad_(table, grad, acc, lr=0.01)
        results.append((table, m, v, acc))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


BAD = [
    (lambda t: SparseRows(np.array([0, 4]), np.ones((2, 3), np.float32)), ValueError,
     r"indices\[1\] = 4 is out of range"),
    (lambda t: SparseRows(np.array([-1]), np.ones((1, 3), np.float32)), ValueError,
     r"indices\[0\] = -1 is out of range"),
    (lambda t: SparseRows(np.array([0.0]), np.ones((1, 3), np.float32)), TypeError,
     "indices has dtype float64"),
    (lambda t: SparseRows(np.array([[0]]), np.ones((1, 3), np.float32)), ValueError,
     "indices must be one-dimensional"),
    (lambda t: SparseRows(np.array([0]), np.ones((1, 3), np.float64)), TypeError,
     "values has dtype float64"),
    (lambda t: SparseRows(np.array([0]), np.ones((2, 3), np.float32)), ValueError,
     r"values must have shape \(len\(indices\),\)"),
    (lambda t: SparseRows(np.array([0, 1]), np.ones((3, 2), np.float32).T), ValueError,
     "values must be C-contiguous"),
    (lambda t: SparseRows(np.array([0]), t[:1]), ValueError, "values shares memory"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "error", "match"), BAD)
def test_bad_sparse_input_raises_and_changes_nothing(make, error, match, rng):
    table = rng.standard_normal((4, 3)).astype(np.float32)
    m, v = np.ones_like(table), np.ones_like(table)
    before = table.copy(), m.copy(), v.copy()
    with pytest.raises(error, match=match):
        F.adam_(table, make(table), m, v, step=1, lr=0.1)
    for a, b in zip((table, m, v), before):
        np.testing.assert_array_equal(a, b)


def test_read_only_table_and_bad_rowwise_sum(rng):
    table = rng.standard_normal((4, 3))
    grad = SparseRows(np.array([1]), np.ones((1, 3)))
    table.flags.writeable = False
    with pytest.raises(ValueError, match="param is read-only"):
        F.sgd_(table, grad, step=1, lr=0.1)
    table.flags.writeable = True
    with pytest.raises(ValueError, match=r"sum must have shape \(param.shape\[0\],\)"):
        rowwise_adagrad_(table, grad, np.zeros(3))
    with pytest.raises(ValueError, match="Invalid lr"):
        rowwise_adagrad_(table, grad, np.zeros(4), lr=-1.0)


# (more in test_sanitizer_regressions.py: unaligned and byte-swapped arrays)
OPTIMIZER_BAD = [
    (lambda i, v: (np.array([9]), v), ValueError, r"grads\[1\].indices has an index out of range"),
    (lambda i, v: (np.arange(4)[::2], np.ones((2, 3))), ValueError,
     r"grads\[1\].indices must be C-contiguous"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "error", "match"), OPTIMIZER_BAD)
def test_optimizer_checks_every_sparse_gradient_before_writing(make, error, match, rng):
    """Each check of the native call is made for every gradient first: none may fail
    after the first table has been written."""
    tables = [rng.standard_normal((4, 3)) for _ in range(2)]
    before = [t.copy() for t in tables]
    opt = optim.Adam(tables, lr=0.1)
    good = SparseRows(np.array([0]), np.ones((1, 3)))
    bad = SparseRows(*make(np.array([0]), np.ones((1, 3))))
    with pytest.raises(error, match=match):
        opt.step([good, bad])
    for t, b in zip(tables, before):
        np.testing.assert_array_equal(t, b)
    assert opt.state == {}


def test_scalar_state_optimizers_reject_sparse_gradients(rng):
    table = rng.standard_normal((4, 3))
    opt = optim.NAdam([table])
    with pytest.raises(TypeError, match="NAdam takes no SparseRows"):
        opt.step([SparseRows(np.array([0]), np.ones((1, 3)))])


def test_list_call_rejects_sparse_gradients(rng):
    table = rng.standard_normal((4, 3))
    with pytest.raises(TypeError, match="one table per call"):
        F.sgd_([table], [SparseRows(np.array([0]), np.ones((1, 3)))], step=1, lr=0.1)
