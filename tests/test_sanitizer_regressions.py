"""Native input defects of the sparse and Hogwild! paths, found with UBSan (misaligned
loads) and by reading them: index and CSR arrays in the other byte order or at unaligned
addresses, and the GIL held while a sparse call sorts its indices.

The kernels read arrays in place (pyfastopt.sparse: refused unless aligned and in native
byte order, as every array argument); pyfastopt.hogwild converts its read-only inputs
(an aligned native copy), and its private binding refuses what it cannot read safely.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pyfastopt import _core, hogwild, optim
from pyfastopt import functional as F
from pyfastopt.sparse import SparseRows


def unaligned(a):
    """A copy of `a` whose data starts one byte past an aligned address."""
    buf = np.empty(a.nbytes + 1, np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


def swapped(a):
    """`a` in the other byte order (same values)."""
    return a.astype(a.dtype.newbyteorder("S"))


# -- sparse rows: refused, nothing written -----------------------------------------------------

SPARSE_BAD = [
    (lambda i, v: (swapped(i), v), TypeError, r"indices has dtype >i8, expected int32 or int64"),
    (lambda i, v: (swapped(i.astype(np.int32)), v), TypeError, "indices has dtype >i4"),
    (lambda i, v: (unaligned(i), v), ValueError, "indices must be aligned"),
    (lambda i, v: (unaligned(i.astype(np.uint32)), v), ValueError, "indices must be aligned"),
    (lambda i, v: (i, swapped(v)), TypeError, "values has dtype >f8, expected float64"),
    (lambda i, v: (i, unaligned(v)), ValueError, "values must be aligned"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "error", "match"), SPARSE_BAD)
def test_sparse_rows_refuse_foreign_byte_order_and_unaligned_arrays(make, error, match, rng):
    table = rng.standard_normal((4, 3))
    exp_avg, exp_avg_sq = np.ones_like(table), np.ones_like(table)
    before = [a.copy() for a in (table, exp_avg, exp_avg_sq)]
    indices, values = make(np.array([1, 2], np.int64), np.ones((2, 3)))
    with pytest.raises(error, match=match):
        F.adam_(table, SparseRows(indices, values), exp_avg, exp_avg_sq, step=1, lr=0.1)
    for a, b in zip((table, exp_avg, exp_avg_sq), before):
        np.testing.assert_array_equal(a, b)
    acc = np.zeros(4)
    with pytest.raises(error, match=match):
        _core.rowwise_adagrad_rows(table, indices, values, acc, (1.0, 0.0, 1e-10, -0.1))
    np.testing.assert_array_equal(table, before[0])
    assert not acc.any()
    # an optimizer checks every gradient before the first table is written
    other = rng.standard_normal((4, 3))
    other_before = other.copy()
    opt = optim.Adam([other, table], lr=0.1)
    with pytest.raises(error, match=r"grads\[1\]\." + match):
        opt.step([SparseRows(np.array([0]), np.ones((1, 3))), SparseRows(indices, values)])
    np.testing.assert_array_equal(other, other_before)
    np.testing.assert_array_equal(table, before[0])


def test_sparse_call_sorts_without_the_gil():
    """Another Python thread runs while a call sorts and sums many indices: the longest
    pause it sees is a small part of the call (with the GIL held, it is the whole sort)."""
    rows = 1 << 21
    rng = np.random.default_rng(0)
    indices = rng.integers(0, rows, 2 * rows)  # duplicates: summed too
    values = rng.standard_normal((indices.size, 1))
    table = np.zeros((rows, 1))
    done = threading.Event()
    gaps = []

    def watch():
        last, longest = time.perf_counter(), 0.0
        while not done.is_set():
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        gaps.append(longest)

    watcher = threading.Thread(target=watch)
    watcher.start()
    start = time.perf_counter()
    F.sgd_(table, SparseRows(indices, values), step=1, lr=1.0)
    elapsed = time.perf_counter() - start
    done.set()
    watcher.join()
    assert gaps[0] < elapsed / 2, (gaps[0], elapsed)
    expected = np.zeros(rows)
    np.add.at(expected, indices, -values[:, 0])
    np.testing.assert_allclose(table[:, 0], expected, rtol=1e-12, atol=1e-12)


# -- Hogwild!: the public API converts, the binding refuses ------------------------------------


def _problem(dtype=np.float64):
    rng = np.random.default_rng(3)
    n, d = 60, 9
    indptr = np.concatenate([[0], np.cumsum(rng.integers(0, 4, n))]).astype(np.int64)
    indices = rng.integers(0, d, indptr[-1]).astype(np.int32)
    data = rng.standard_normal(indptr[-1]).astype(dtype)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return data, indices, indptr, y, d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("convert", [swapped, unaligned], ids=["byte-swapped", "unaligned"])
def test_hogwild_reads_converted_copies_of_foreign_arrays(dtype, convert):
    data, indices, indptr, y, d = _problem(dtype)
    native = hogwild.train((data, indices, indptr), y, n_threads=1, n_features=d, epochs=2)
    foreign = (convert(data), convert(indices), convert(indptr))
    got = hogwild.train(foreign, convert(y), n_threads=1, n_features=d, epochs=2)
    np.testing.assert_array_equal(got.coef, native.coef)
    assert got.intercept == native.intercept
    X, coef = (data, indices, indptr), convert(native.coef)
    margins = hogwild.decision_function(X, native.coef, 0.5)
    value = hogwild.objective(X, y, native.coef, alpha=0.1)
    for X_any in (foreign, X):
        np.testing.assert_array_equal(hogwild.decision_function(X_any, coef, 0.5), margins)
        assert hogwild.objective(X_any, y, coef, alpha=0.1) == value


def test_hogwild_binding_refuses_unaligned_and_foreign_arrays():
    data, indices, indptr, y, d = _problem()
    coef, rates = np.zeros(d), np.array([0.1])
    args = dict(indptr=indptr, indices=indices, data=data, y=y, coef=coef, intercept=0.0,
                rates=rates, loss=0, alpha=0.0, adagrad=False, eps=1e-10, fit_intercept=True,
                intercept_lr_scale=1.0, shuffle=True, seed=0, epochs=1, rate_unit=0,
                n_threads=1, objective_history=False)  # fmt: skip
    for name in ("indptr", "indices", "data", "y", "coef", "rates"):
        with pytest.raises(ValueError, match=f"{name} must be aligned"):
            _core.hogwild_train(**{**args, name: unaligned(args[name])})
    for name, match in (("indptr", "indptr has dtype >i8"), ("y", "y has dtype >f8"),
                        ("indices", "indices must be an int32 or int64"),
                        ("data", "data must be a float32 or float64")):  # fmt: skip
        with pytest.raises(TypeError, match=match):
            _core.hogwild_train(**{**args, name: swapped(args[name])})
    with pytest.raises(ValueError, match="coef must be aligned"):
        _core.hogwild_decision_function(indptr, indices, data, unaligned(coef), 0.0, 1)
    with pytest.raises(ValueError, match="y must be aligned"):
        _core.hogwild_objective(indptr, indices, data, unaligned(y), coef, 0.0, 0, 0.0, 1)
    assert not coef.any()  # nothing was written
