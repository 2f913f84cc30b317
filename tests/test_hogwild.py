"""pyfastopt.hogwild: Hogwild! SGD for sparse linear models.

With one thread the trainer is checked step for step against a plain-Python transcription of
the update (below, written from the module docstring, with its own Philox4x32-10 and
Fisher-Yates); with more it is checked for reaching the same loss. Convergence is checked
against scikit-learn's LogisticRegression and the closed-form ridge solution.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyfastopt
from pyfastopt import _core, hogwild, schedules

try:
    import scipy.sparse as sp
except ImportError:  # SciPy is optional
    sp = None

LOSSES = ("logistic", "hinge", "squared")
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


# -- the reference ----------------------------------------------------------------------------

M32 = 0xFFFFFFFF


def philox4x32_10(counter, key0, key1):
    """Salmon et al. 2011, Philox4x32 with 10 rounds, on Python ints."""
    c = list(counter)
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ key0, p1 & M32, (p0 >> 32) ^ c[3] ^ key1, p0 & M32]
        key0, key1 = (key0 + 0x9E3779B9) & M32, (key1 + 0xBB67AE85) & M32
    return c


def permutation(n, seed, epoch):
    """The bucket shuffle of hogwild.hpp: the uint32 stream of Philox blocks with counter (k,
    epoch) and key seed (as 32-bit halves); element i's bucket is byte i % 4 of draw i // 4;
    elements sorted by bucket (stable); then Fisher-Yates within each bucket, in bucket order,
    uniform draws by Lemire's method from the draws that follow."""

    def stream():
        k = 0
        while True:
            yield from philox4x32_10([k & M32, k >> 32, epoch & M32, epoch >> 32],
                                     seed & M32, seed >> 32)  # fmt: skip
            k += 1

    bits = stream()

    def below(r):
        m = next(bits) * r
        if (m & M32) < r:
            t = (2**32 - r) % r
            while (m & M32) < t:
                m = next(bits) * r
        return m >> 32

    words = [next(bits) for _ in range((n + 3) // 4)]
    bucket = [(words[i // 4] >> (8 * (i % 4))) & 255 for i in range(n)]
    order = []
    for b in range(256):
        part = [i for i in range(n) if bucket[i] == b]
        for j in range(len(part) - 1, 0, -1):
            k = below(j + 1)
            part[j], part[k] = part[k], part[j]
        order += part
    return order


def test_permutation_is_uniform():
    """Every order of 4 elements, about equally often (chi-square, 24 cells)."""
    counts = {}
    for seed in range(2400):
        key = tuple(_core._hogwild_permutation(4, seed, 1).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 24
    chi2 = sum((c - 100) ** 2 / 100 for c in counts.values())
    assert chi2 < 49.7  # the 0.999 quantile of chi-square with 23 degrees of freedom


def loss_grad(loss, y, z):
    if loss == "logistic":
        m = y * z
        if m > 0:
            e = math.exp(-m)
            return math.log1p(e), -y * e / (1.0 + e)
        e = math.exp(m)
        return -m + math.log1p(e), -y / (1.0 + e)
    if loss == "hinge":
        m = y * z
        return (1.0 - m, -y) if m < 1.0 else (0.0, 0.0)
    r = z - y
    return 0.5 * r * r, r


def reference_train(X, y, n_features, *, loss, alpha, rate, epochs, adagrad=False, eps=1e-10,
                    fit_intercept=True, intercept_lr_scale=0.01, shuffle=True,
                    seed=0):  # fmt: skip
    """The update of pyfastopt.hogwild, one example at a time. X is (data, indices, indptr);
    y is +-1 (or real); rate(epoch, position) is the learning rate. Arithmetic in float64,
    weights stored in the data's dtype. Returns (coef, intercept, progressive loss)."""
    data, indices, indptr = X
    dtype = data.dtype.type
    n = len(indptr) - 1
    count = np.bincount(indices, minlength=n_features)
    c = [dtype(alpha * n / k) if k else dtype(0) for k in count]
    w = np.zeros(n_features, dtype)
    acc = np.zeros(n_features, dtype)
    b = ab = 0.0
    history = []
    for epoch in range(epochs):
        order = permutation(n, seed, epoch) if shuffle else range(n)
        total = 0.0
        for p, i in enumerate(order):
            row = range(indptr[i], indptr[i + 1])
            z = b
            for k in row:
                z += float(data[k]) * float(w[indices[k]])
            loss_i, g = loss_grad(loss, float(y[i]), z)
            total += loss_i
            lr = rate(epoch, p)
            for k in row:
                j, x, wv = indices[k], float(data[k]), float(w[indices[k]])
                if adagrad:
                    grad = g * x + (float(c[j]) * wv if alpha > 0 else 0.0)
                    acc[j] = float(acc[j]) + grad * grad
                    w[j] = wv - lr * grad / (math.sqrt(float(acc[j])) + eps)
                elif alpha > 0:
                    w[j] = wv - lr * (g * x + float(c[j]) * wv)
                else:
                    w[j] = wv - (lr * g) * x
            if fit_intercept:
                if adagrad:
                    ab += g * g
                    b -= lr * intercept_lr_scale * g / (math.sqrt(ab) + eps)
                else:
                    b -= (lr * g) * intercept_lr_scale
        history.append(total / n)
    return w, b, np.array(history)


def dense(X, n_features):
    data, indices, indptr = X
    out = np.zeros((len(indptr) - 1, n_features))
    for i in range(len(indptr) - 1):
        for k in range(indptr[i], indptr[i + 1]):
            out[i, indices[k]] += data[k]
    return out


def reference_objective(X, y, n_features, w, b, loss, alpha):
    z = dense(X, n_features) @ w.astype(np.float64) + b
    losses = [loss_grad(loss, float(t), float(m))[0] for t, m in zip(y, z)]
    return float(np.mean(losses)) + 0.5 * alpha * float(np.dot(w.astype(np.float64), w))


# -- problems ---------------------------------------------------------------------------------


def tiny(dtype=np.float64, n=40, d=12, seed=0, loss="logistic"):
    """A small CSR problem with an empty row, a repeated index in a row, and unused features."""
    rng = np.random.default_rng(seed)
    nnz = rng.integers(0, 5, n)
    nnz[3] = 0
    indptr = np.concatenate([[0], np.cumsum(nnz)]).astype(np.int64)
    indices = rng.integers(0, d - 2, indptr[-1]).astype(np.int32)  # features d-2, d-1 unused
    k = indptr[5]
    if indptr[6] - k >= 2:
        indices[k + 1] = indices[k]
    data = rng.standard_normal(indptr[-1]).astype(dtype)
    y = rng.standard_normal(n) if loss == "squared" else np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return (data, indices, indptr), y, d


def classification(n, d, nnz_per_row, seed=0, dtype=np.float64, noise=0.1):
    """Labels from the sign of a noisy margin under a hidden weight vector."""
    rng = np.random.default_rng(seed)
    indptr = np.arange(n + 1, dtype=np.int64) * nnz_per_row
    indices = rng.integers(0, d, n * nnz_per_row).astype(np.int32)
    data = (rng.standard_normal(n * nnz_per_row) / np.sqrt(nnz_per_row)).astype(dtype)
    w = rng.standard_normal(d)
    margin = np.add.reduceat(data * w[indices], indptr[:-1]) + noise * rng.standard_normal(n)
    return (data, indices, indptr), np.where(margin > 0, 1.0, -1.0)


# -- step for step against the reference ------------------------------------------------------


def test_permutation_is_a_bucket_shuffle_over_philox():
    cases = [(0, 0, 0), (1, 0, 0), (2, 0, 0), (10, 7, 3), (5003, 9, 2),
             (1000, 2**40 + 5, 2**33 + 1)]  # fmt: skip
    for n, seed, epoch in cases:
        assert _core._hogwild_permutation(n, seed, epoch).tolist() == permutation(n, seed, epoch)
    expected = permutation(3001, 4, 1)
    for piece in (1, 2, 3, 5, 64, 1000):  # drawn a little at a time, as during an epoch
        assert _core._hogwild_permutation(3001, 4, 1, piece).tolist() == expected
    assert philox4x32_10([1, 2, 3, 4], 5, 6) == list(_core._philox4x32_10([1, 2, 3, 4], 5, 6))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("adagrad", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_one_thread_matches_reference(dtype, loss, alpha, adagrad):
    X, y, d = tiny(dtype, loss=loss)
    lr = 0.05
    r = hogwild.train(X, y, loss=loss, alpha=alpha, lr=lr, epochs=3, adagrad=adagrad, seed=11,
                      n_threads=1, n_features=d)  # fmt: skip
    w, b, hist = reference_train(X, y, d, loss=loss, alpha=alpha, rate=lambda e, p: lr,
                                 epochs=3, adagrad=adagrad, seed=11)  # fmt: skip
    assert r.coef.dtype == dtype
    np.testing.assert_allclose(r.coef, w, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-3)
    np.testing.assert_allclose(r.intercept, b, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-3)
    np.testing.assert_allclose(r.loss_history, hist, rtol=RTOL[dtype])
    assert r.coef[d - 2] == r.coef[d - 1] == 0  # features no row stores never move


@pytest.mark.parametrize("shuffle", [True, False])
def test_order_and_intercept_options(shuffle):
    X, y, d = tiny(np.float64, seed=3)
    kw = dict(loss="hinge", alpha=0.01, epochs=2, fit_intercept=False, shuffle=shuffle, seed=5)
    if shuffle:  # and the intercept at the weights' rate
        kw.update(fit_intercept=True, intercept_lr_scale=1.0)
    r = hogwild.train(X, y, lr=0.1, n_threads=1, n_features=d, **kw)
    w, b, hist = reference_train(X, y, d, rate=lambda e, p: 0.1, **kw)
    assert r.intercept == pytest.approx(b, rel=1e-12)
    assert shuffle or r.intercept == 0.0
    np.testing.assert_allclose(r.coef, w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.loss_history, hist, rtol=1e-12)


def test_one_thread_is_deterministic_and_seeded():
    X, y = classification(3000, 200, 8, seed=1)
    runs = [hogwild.train(X, y, seed=s, epochs=2, n_threads=1) for s in (4, 4, 5)]
    assert np.array_equal(runs[0].coef, runs[1].coef)
    assert runs[0].intercept == runs[1].intercept
    assert not np.array_equal(runs[0].coef, runs[2].coef)


# -- learning-rate schedules ------------------------------------------------------------------


def test_per_step_schedule():
    X, y, d = tiny(np.float64, n=30)
    s = schedules.time_based_decay_schedule(0.2, decay=0.05)
    n = len(y)
    r = hogwild.train(X, y, lr=s, epochs=3, seed=2, n_threads=1, n_features=d)
    w, b, _ = reference_train(X, y, d, loss="logistic", alpha=1e-4, epochs=3, seed=2,
                              rate=lambda e, p: s(e * n + p))  # fmt: skip
    np.testing.assert_allclose(r.coef, w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.intercept, b, rtol=1e-12)


def test_per_epoch_schedule_and_plain_callable():
    X, y, d = tiny(np.float64, n=30)
    s = schedules.step_decay_schedule(0.3, drop_rate=0.5, drop_every=1)
    r = hogwild.train(X, y, lr=s, lr_unit="epoch", epochs=3, seed=2, n_threads=1, n_features=d)
    w, _b, _ = reference_train(X, y, d, loss="logistic", alpha=1e-4, epochs=3, seed=2,
                              rate=lambda e, p: s(e))  # fmt: skip
    np.testing.assert_allclose(r.coef, w, rtol=1e-12, atol=1e-15)
    # a scalar-only callable is evaluated step by step
    r2 = hogwild.train(X, y, lr=lambda t: 0.3 * 0.5 ** ((1 + t) // 1), lr_unit="epoch",
                       epochs=3, seed=2, n_threads=1, n_features=d)  # fmt: skip
    np.testing.assert_array_equal(r2.coef, r.coef)


def test_later_epochs_use_their_own_rates():
    # Per-step rates of epochs >= 1 are filled while the epoch before runs: a schedule that is
    # zero from epoch 2 on must leave the weights of 2 epochs unchanged (bitwise, 1 thread).
    X, y, d = tiny(np.float64, n=30)
    n = len(y)

    def stops_after_two(t):
        t = np.asarray(t)
        return np.where(t < 2 * n, 0.2 / (1.0 + 0.01 * t), 0.0)

    two = hogwild.train(X, y, lr=stops_after_two, epochs=2, seed=4, n_threads=1, n_features=d)
    five = hogwild.train(X, y, lr=stops_after_two, epochs=5, seed=4, n_threads=1, n_features=d)
    np.testing.assert_array_equal(five.coef, two.coef)
    assert five.intercept == two.intercept


@pytest.mark.parametrize("threads", [1, 2])
def test_bad_rate_in_a_later_epoch_raises(threads):
    X, y, d = tiny(np.float64, n=30)
    n = len(y)
    bad_step = 2 * n + 5

    def nan_later(t):
        t = np.asarray(t)
        return np.where(t == bad_step, np.nan, 0.1)

    with pytest.raises(ValueError, match=rf"returned nan at step {bad_step} "):
        hogwild.train(X, y, lr=nan_later, epochs=4, n_threads=threads, n_features=d)

    def fails_later(t):
        if np.max(t) >= 3 * n:
            msg = "schedule broke"
            raise RuntimeError(msg)
        return np.full(np.shape(t), 0.1)

    with pytest.raises(RuntimeError, match="schedule broke"):
        hogwild.train(X, y, lr=fails_later, epochs=4, n_threads=threads, n_features=d)


# -- input forms ------------------------------------------------------------------------------


@pytest.mark.skipif(sp is None, reason="SciPy is not installed")
@pytest.mark.parametrize("make", ["csr_matrix", "csr_array", "csc", "coo"])
def test_scipy_input_equals_arrays(make):
    X, y, d = tiny(np.float32, seed=4)
    m = sp.csr_matrix(X, shape=(len(y), d))
    m = {"csr_matrix": m, "csr_array": sp.csr_array(m), "csc": m.tocsc(), "coo": m.tocoo()}[make]
    if make in ("csc", "coo"):  # conversions sum the repeated index: compare with that
        m.sum_duplicates()
        c = m.tocsr()
        X = (c.data, c.indices, c.indptr)
    a = hogwild.train(X, y, seed=1, epochs=2, n_threads=1, n_features=d)
    b = hogwild.train(m, y, seed=1, epochs=2, n_threads=1)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.intercept == b.intercept
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(m))


def test_int64_indices_and_labels_of_any_two_values():
    X, y, d = tiny(np.float64)
    data, indices, indptr = X
    a = hogwild.train(X, y, n_threads=1, n_features=d)
    b = hogwild.train((data, indices.astype(np.int64), indptr.astype(np.int32)),
                      np.where(y > 0, "spam", "ham"), n_threads=1, n_features=d)  # fmt: skip
    np.testing.assert_array_equal(a.coef, b.coef)
    assert b.classes == ("ham", "spam")
    assert set(b.predict(X)) <= {"ham", "spam"}


def test_decision_function_and_objective_match_dense():
    X, y, d = tiny(np.float64, seed=6)
    w = np.random.default_rng(0).standard_normal(d)
    np.testing.assert_allclose(hogwild.decision_function(X, w, 0.3), dense(X, d) @ w + 0.3,
                               rtol=1e-12)  # fmt: skip
    for loss in LOSSES:
        got = hogwild.objective(X, y, w, 0.3, loss=loss, alpha=0.1)
        assert got == pytest.approx(reference_objective(X, y, d, w, 0.3, loss, 0.1), rel=1e-12)


def test_objective_history():
    X, y = classification(5000, 300, 6, seed=2)
    r = hogwild.train(X, y, alpha=1e-3, epochs=3, n_threads=1, history="objective")
    assert r.loss_history[-1] == hogwild.objective(X, y, r.coef, r.intercept, alpha=1e-3)
    assert np.all(np.diff(r.loss_history) < 0)


# -- convergence ------------------------------------------------------------------------------


def test_logistic_converges_to_sklearn():
    linear_model = pytest.importorskip("sklearn.linear_model")
    n, d, alpha = 4000, 40, 1e-3
    X, y = classification(n, d, 10, seed=7, noise=0.5)
    lr = schedules.time_based_decay_schedule(0.5, decay=1e-3)  # sklearn's "optimal" shape
    r = hogwild.train(X, y, alpha=alpha, lr=lr, epochs=30, n_threads=1, history="objective")
    Xd = dense(X, d)
    # the same objective: C sum(loss) + |w|^2 / 2 = n C (mean loss + alpha/2 |w|^2)
    ref = linear_model.LogisticRegression(C=1 / (n * alpha), tol=1e-10, max_iter=10_000).fit(Xd, y)
    best = hogwild.objective(X, y, ref.coef_[0], ref.intercept_[0], alpha=alpha)
    assert r.loss_history[0] > r.loss_history[2] > r.loss_history[-1] >= best
    assert r.loss_history[-1] == pytest.approx(best, rel=1e-4)
    assert np.mean(r.predict(X) == y) >= ref.score(Xd, y) - 0.01


def test_squared_converges_to_ridge_closed_form():
    n, d, alpha = 3000, 30, 1e-2
    (data, indices, indptr), _ = classification(n, d, 8, seed=8)
    X = (data, indices, indptr)
    Xd = dense(X, d)
    y = Xd @ np.random.default_rng(1).standard_normal(d) + 0.1
    # minimise mean (Xw + b - y)^2 / 2 + alpha/2 |w|^2, b free: centre, then solve
    xm, ym = Xd.mean(0), y.mean()
    Xc = Xd - xm
    w = np.linalg.solve(Xc.T @ Xc / n + alpha * np.eye(d), Xc.T @ (y - ym) / n)
    b = ym - xm @ w
    best = hogwild.objective(X, y, w, b, loss="squared", alpha=alpha)
    lr = schedules.time_based_decay_schedule(0.2, decay=1e-4)
    r = hogwild.train(X, y, loss="squared", alpha=alpha, lr=lr, epochs=40, n_threads=1)
    assert r.classes is None
    got = hogwild.objective(X, y, r.coef, r.intercept, loss="squared", alpha=alpha)
    assert got == pytest.approx(best, rel=1e-2)
    np.testing.assert_allclose(r.coef, w, atol=0.05)


@pytest.mark.parametrize(("loss", "adagrad"),
                         [("hinge", False), ("hinge", True), ("logistic", True)])  # fmt: skip
def test_other_losses_and_adagrad_learn(loss, adagrad):
    X, y = classification(8000, 200, 8, seed=9)
    r = hogwild.train(X, y, loss=loss, alpha=1e-4, lr=0.1, epochs=8, adagrad=adagrad, n_threads=1)
    assert r.loss_history[-1] < 0.75 * r.loss_history[0]
    assert np.mean(r.predict(X) == y) > 0.9


def test_l2_shrinks_the_weights():
    X, y = classification(4000, 100, 8, seed=10)
    norms = [np.linalg.norm(hogwild.train(X, y, alpha=a, epochs=5, n_threads=1).coef)
             for a in (0.0, 1e-3, 1e-2)]  # fmt: skip
    assert norms[0] > norms[1] > norms[2]


def test_two_threads_reach_the_loss_of_one():
    X, y = classification(60_000, 5000, 10, seed=11)
    kw = dict(alpha=1e-5, lr=schedules.time_based_decay_schedule(0.5, decay=5e-6), epochs=4)
    one = hogwild.train(X, y, n_threads=1, **kw)
    two = hogwild.train(X, y, n_threads=2, **kw)
    f1, f2 = (hogwild.objective(X, y, r.coef, r.intercept, alpha=1e-5) for r in (one, two))
    assert f2 == pytest.approx(f1, rel=0.01)
    assert np.mean(two.predict(X) == y) >= np.mean(one.predict(X) == y) - 0.01


def test_default_thread_count(threads):
    X, y, d = tiny(np.float64)
    pyfastopt.set_num_threads(1)
    a = hogwild.train(X, y, n_features=d)
    b = hogwild.train(X, y, n_features=d, n_threads=1)
    np.testing.assert_array_equal(a.coef, b.coef)


# -- bad input --------------------------------------------------------------------------------


def _bad_inputs():
    X, y, d = tiny(np.float64)
    data, indices, indptr = X

    def with_(i, v):
        parts = [data, indices, indptr]
        parts[i] = v
        return tuple(parts)

    ip = indptr.copy()
    ip[0] = 1
    dec = indptr.copy()
    dec[5], dec[6] = dec[6], dec[5] - 1
    short = indptr.copy()
    short[-1] -= 1
    neg = indices.copy()
    neg[2] = -1
    big = indices.copy()
    big[2] = d
    wrap = indptr.copy()  # indptr[5] - indptr[4] would overflow int64
    wrap[5] = np.iinfo(np.int64).min
    y_nan = y.copy()
    y_nan[7] = np.nan  # NaN != NaN: it became a class of its own
    ok = dict(n_features=d)
    return [
        ("X", dict(X=[data, indices, indptr]), TypeError, "X must be"),
        ("X", dict(X=(data, indices)), TypeError, "tuple of 2"),
        ("indptr[0]", dict(X=with_(2, ip)), ValueError, r"indptr\[0\] must be 0"),
        ("indptr order", dict(X=with_(2, dec)), ValueError, "indptr must be non-decreasing"),
        ("indptr end", dict(X=with_(2, short)), ValueError, r"indptr\[-1\] must equal"),
        ("indptr dtype", dict(X=with_(2, indptr.astype(float))), TypeError, "indptr has dtype"),
        ("indptr 2d", dict(X=with_(2, indptr[:, None])), ValueError, "indptr must be 1-dim"),
        ("negative index", dict(X=with_(1, neg)), ValueError, r"indices\[2\] = -1 is out of range"),
        ("big index", dict(X=with_(1, big)), ValueError, rf"indices\[2\] = {d} is out of range"),
        ("indices dtype", dict(X=with_(1, indices.astype(float))), TypeError, "indices has dtype"),
        ("data dtype", dict(X=with_(0, data.astype(np.int64))), TypeError, "data has dtype int64"),
        ("data size", dict(X=with_(0, data[:-1])), ValueError, "indices has shape"),
        ("data nan", dict(X=with_(0, np.where(np.arange(data.size) == 1, np.nan, data))),
         ValueError, "data must be finite"),
        ("y shape", dict(y=y[:-1]), ValueError, r"y must have shape \(40,\)"),
        ("y 2d", dict(y=y[:, None]), ValueError, "y must have shape"),
        ("y classes", dict(y=np.arange(len(y)) % 3), ValueError, "exactly two classes"),
        ("y nan", dict(y=np.full(len(y), np.nan), loss="squared"), ValueError, "y must be finite"),
        ("y nan class", dict(y=y_nan), ValueError, r"y must be finite, got y\[7\] = nan"),
        ("y nan of 0/1", dict(y=np.where(np.isnan(y_nan), np.nan, y > 0)), ValueError,
         r"y must be finite, got y\[7\]"),
        ("y inf class", dict(y=np.where(y > 0, np.inf, 0.0)), ValueError, "y must be finite"),
        ("y nan hinge", dict(y=y_nan, loss="hinge"), ValueError, "y must be finite"),
        ("indptr overflow", dict(X=with_(2, wrap)), ValueError, "indptr must be non-decreasing"),
        ("loss", dict(loss="log"), ValueError, "Invalid loss"),
        ("alpha", dict(alpha=-1.0), ValueError, "Invalid alpha"),
        ("alpha type", dict(alpha="0.1"), TypeError, "alpha must be a real number"),
        ("lr", dict(lr=0.0), ValueError, "Invalid lr"),
        ("lr nan", dict(lr=float("nan")), ValueError, "Invalid lr"),
        ("lr type", dict(lr="0.1"), TypeError, "lr must be"),
        ("lr schedule", dict(lr=schedules.linear_schedule(0.1, -0.1, 10)), ValueError,
         "lr schedule returned"),
        ("lr_unit", dict(lr=schedules.constant_schedule(0.1), lr_unit="batch"), ValueError,
         "Invalid lr_unit"),
        ("epochs", dict(epochs=0), ValueError, "Invalid epochs"),
        ("epochs type", dict(epochs=2.0), TypeError, "epochs must be an int"),
        ("eps", dict(eps=0.0), ValueError, "Invalid eps"),
        ("intercept_lr_scale", dict(intercept_lr_scale=-1), ValueError, "Invalid intercept_lr"),
        ("seed", dict(seed=-1), ValueError, "Invalid seed"),
        ("n_threads", dict(n_threads=0), ValueError, "Invalid n_threads"),
        ("n_threads huge", dict(n_threads=50_000), ValueError, r"n_threads.*must be <= 1024"),
        ("n_threads int64", dict(n_threads=2**40), ValueError, "Invalid n_threads"),
        ("n_features", dict(n_features=-1), ValueError, "Invalid n_features"),
        ("history", dict(history="all"), ValueError, "Invalid history"),
    ], ok, X, y


BAD, OK, X_OK, Y_OK = _bad_inputs()


@pytest.mark.parametrize(("what", "change", "error", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_input(what, change, error, match):
    kw = {"X": X_OK, "y": Y_OK, **OK, **change}
    with pytest.raises(error, match=match):
        hogwild.train(kw.pop("X"), kw.pop("y"), **kw)


@pytest.mark.skipif(sp is None, reason="SciPy is not installed")
def test_bad_scipy_shape():
    m = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="n_features=5 but X has 3 columns"):
        hogwild.train(m, [0, 1, 1], n_features=5)


def test_core_checks_what_it_relies_on():
    """The private binding is memory-safe on its own: sizes, dtypes and ranges."""
    X, y, d = tiny(np.float64)
    data, indices, indptr = X
    coef = np.zeros(d)
    rates = np.array([0.1])

    def call(**kw):
        args = dict(indptr=indptr, indices=indices, data=data, y=y, coef=coef, intercept=0.0,
                    rates=rates, loss=0, alpha=0.0, adagrad=False, eps=1e-10,
                    fit_intercept=True, intercept_lr_scale=1.0, shuffle=True, seed=0,
                    epochs=1, rate_unit=0,
                    n_threads=1, objective_history=False)  # fmt: skip
        args.update(kw)
        return _core.hogwild_train(**args)

    with pytest.raises(TypeError, match="indptr has dtype int32"):
        call(indptr=indptr.astype(np.int32))
    with pytest.raises(ValueError, match="out of range for 5 features"):
        call(coef=np.zeros(5))
    with pytest.raises(TypeError, match="y has dtype float32"):
        call(y=y.astype(np.float32))
    ro = coef.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="coef is read-only"):
        call(coef=ro)
    with pytest.raises(ValueError, match="rates must hold 120 values"):
        call(rate_unit=2, epochs=3)
    with pytest.raises(ValueError, match="y has 39 labels for 40 rows"):
        call(y=y[:-1].copy())
    with pytest.raises(ValueError, match=r"y must be finite: y\[3\] = nan"):
        call(y=np.where(np.arange(y.size) == 3, np.nan, y))
    # OpenMP runtimes abort the process when they cannot start the threads asked for
    for n in (0, 1025, 50_000):
        with pytest.raises(ValueError, match=r"n_threads must be in \[1, 1024\]"):
            call(n_threads=n)
        with pytest.raises(ValueError, match=r"n_threads must be in \[1, 1024\]"):
            _core.hogwild_decision_function(indptr, indices, data, coef, 0.0, n)
        with pytest.raises(ValueError, match=r"n_threads must be in \[1, 1024\]"):
            _core.hogwild_objective(indptr, indices, data, y, coef, 0.0, 0, 0.0, n)
    assert not coef.any()  # nothing was written


def test_thread_limit_is_inclusive_and_the_same_everywhere():
    X, y, d = tiny(np.float64)
    w = np.random.default_rng(1).standard_normal(d)
    one = hogwild.decision_function(X, w, n_threads=1)
    # 40 rows: below the parallel threshold, so 1024 starts no thread
    np.testing.assert_array_equal(hogwild.decision_function(X, w, n_threads=1024), one)
    for f in (lambda n: hogwild.decision_function(X, w, n_threads=n),
              lambda n: hogwild.objective(X, y, w, n_threads=n)):  # fmt: skip
        with pytest.raises(ValueError, match=r"Invalid n_threads: 1025 \(must be <= 1024\)"):
            f(1025)
