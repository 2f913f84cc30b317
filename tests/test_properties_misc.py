"""Property-based tests (hypothesis) of the parts around the kernels: row-sparse gradients
against the lazy dense reference, schedules against their closed forms and torch's
schedulers, clipping against NumPy, and Hogwild! with one thread against its step-by-step
reference. The references are the existing tests' (test_sparse.py, test_schedules.py,
test_hogwild.py); here they meet drawn inputs. Profiles: see tests/conftest.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import test_hogwild as H
import test_schedules as TS
import torch
from cases import NAMES, SCALAR_STATE
from helpers import RTOL, assert_close
from hypothesis import assume, given
from hypothesis import strategies as st
from test_properties_optim import (
    BLOCK,
    EDGE_SIZES,
    GRAIN,
    ISAS,
    comparable_specials,
    hyperparameters,
    make_gradients,
    same_bits,
    scaled,
)  # fmt: skip
from test_sparse import LazyReference

import pyfastopt
from pyfastopt import _core, hogwild, optim
from pyfastopt import schedules as S
from pyfastopt.sparse import SparseRows

SPARSE_NAMES = [n for n in NAMES if n not in SCALAR_STATE]  # scalar state: dense only


# -- sparse rows ------------------------------------------------------------------------------


@st.composite
def sparse_examples(draw, name, big=False):
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    specials = comparable_specials(
        name,
        dtype,
        draw(st.frozensets(st.sampled_from(["zero", "subnormal", "inf", "nan"]))),
    )
    kwargs = draw(hyperparameters(name, specials))
    if big:  # enough touched elements to be split between threads
        rows, dim = 3000, 48
        counts = [
            draw(st.integers(GRAIN // dim, rows))
            for _ in range(draw(st.integers(1, 2)))
        ]
        index_lists = [("random", n) for n in counts]
    else:
        rows = draw(st.integers(1, 40))
        dim = draw(st.sampled_from([d for d in EDGE_SIZES if 0 < d < 100]))
        index_lists = draw(st.lists(st.lists(st.integers(0, rows - 1), max_size=2 * rows),
                                    min_size=1, max_size=3))  # fmt: skip
    seed = draw(st.integers(0, 2**32 - 1))
    return dtype, kwargs, rows, dim, index_lists, seed, specials


def sparse_arrays(dtype, rows, dim, index_lists, seed, specials):
    """The table and the SparseRows of each step (indices unsorted, repeated, or none)."""
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((rows, dim)).astype(dtype)
    grads = []
    for drawn in index_lists:
        # ("random", n) for the big tables
        indices = rng.integers(0, rows, drawn[1]).tolist() if isinstance(drawn, tuple) else drawn
        shape = (len(indices), dim)
        (values,), _ = make_gradients(rng, [shape], dtype, 1, 1.0, specials)
        index_dtype = rng.choice([np.int32, np.int64])
        grads.append(SparseRows(np.array(indices, dtype=index_dtype), values[0]))
    return table, grads


def state_arrays(opt):
    return {k: v for k, v in opt.state.get(0, {}).items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("name", SPARSE_NAMES)
@scaled(12)
@given(data=st.data())
def test_sparse_rows_match_the_lazy_reference(name, data, restore_target):
    dtype, kwargs, rows, dim, index_lists, seed, specials = data.draw(
        sparse_examples(name)
    )
    table, grads = sparse_arrays(dtype, rows, dim, index_lists, seed, specials)
    lazy = LazyReference(name, kwargs, table)
    with np.errstate(all="ignore"):
        for grad in grads:
            lazy.step(grad)
    for isa in ISAS:
        assert _core._select_isa(isa)
        mine = table.copy()
        opt = getattr(optim, name)([mine], **kwargs)
        for grad in grads:
            before = [mine.copy(), *(v.copy() for v in state_arrays(opt).values())]
            opt.step([grad])
            untouched = np.setdiff1d(np.arange(rows), grad.indices)
            after = [mine, *state_arrays(opt).values()]
            if len(before) == len(after):  # rows no index names: not read, not written
                for old, new in zip(before, after):
                    assert same_bits(new[untouched], old[untouched]), isa
        assert_close(mine, lazy.table, sign_based=name == "Lion", what=f"table ({isa})")
        for key, value in lazy.ref.state[0].items():
            if isinstance(value, np.ndarray) and value.ndim:
                assert_close(opt.state[0][key], value, sign_based=name == "Lion",
                             what=f"{key} ({isa})")  # fmt: skip


@pytest.mark.parametrize("name", SPARSE_NAMES)
@scaled(4)
@given(data=st.data())
def test_sparse_rows_give_the_same_bits_for_1_and_2_threads(name, data, restore_target):
    dtype, kwargs, rows, dim, index_lists, seed, specials = data.draw(
        sparse_examples(name, big=True)
    )
    table, grads = sparse_arrays(dtype, rows, dim, index_lists, seed, specials)
    for isa in ISAS:
        assert _core._select_isa(isa)
        results = []
        for threads in (1, 2):
            pyfastopt.set_num_threads(threads)
            mine = table.copy()
            opt = getattr(optim, name)([mine], **kwargs)
            for grad in grads:
                opt.step([grad])
            results.append([mine, *state_arrays(opt).values()])
        for a, b in zip(*results):
            assert same_bits(a, b), isa


# -- schedules --------------------------------------------------------------------------------

VALUE = st.one_of(st.sampled_from([0.0, 1e-3, 0.1, 1.0]), st.floats(1e-4, 10.0))
RATE = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))
LENGTH = st.one_of(st.sampled_from([1, 2, 7]), st.integers(1, 500))


def torch_peer(make, lr, steps=120):
    """torch's scheduler and base lr, compared over the first `steps` steps."""
    return None if lr <= 0 else (make, lr, steps)


# name -> strategy of (schedule, closed form, torch_peer(...) or None, magnitude)
SCHEDULES = {
    "constant": st.builds(lambda v: (S.constant_schedule(v), lambda t: v, None, v), VALUE),
    "time_based": st.builds(
        lambda v, k: (S.time_based_decay_schedule(v, k), lambda t: v / (1 + k * t), None, v),
        VALUE, st.floats(0.0, 10.0)),
    "step_decay": st.builds(
        lambda v, d, r: (S.step_decay_schedule(v, d, r),
                         lambda t: v * d ** math.floor((1 + t) / r), None, v),
        VALUE, RATE, LENGTH),
    "exponential": st.builds(
        lambda v, k: (S.exponential_decay_schedule(v, k), lambda t: v * math.exp(-k * t),
                      torch_peer(lambda o: torch.optim.lr_scheduler.ExponentialLR(
                          o, math.exp(-k)), v), v),
        VALUE, st.floats(0.0, 0.1)),
    "inverse_sqrt": st.builds(
        lambda v: (S.inverse_sqrt_schedule(v), lambda t: v / math.sqrt(t + 1), None, v), VALUE),
    "polynomial": st.builds(
        lambda i, e, p, n, b: (S.polynomial_schedule(i, e, p, n, b), TS.polynomial(i, e, p, n, b),
                               torch_peer(lambda o: torch.optim.lr_scheduler
                                          .PolynomialLR(o, n, p), i) if e == 0 == b else None,
                               max(i, e)),
        VALUE, st.one_of(st.just(0.0), VALUE), st.floats(0.1, 4.0), LENGTH,
        st.sampled_from([0, 3])),
    "cosine_decay": st.builds(
        lambda i, n, a, x: (S.cosine_decay_schedule(i, n, a, x), TS.cosine_decay(i, n, a, x),
                            torch_peer(lambda o: torch.optim.lr_scheduler
                                       .CosineAnnealingLR(o, n, a * i), i, n + 1)
                            if x == 1 else None,  # torch's cosine turns back up after n
                            i * max(1, a)),
        VALUE, LENGTH, RATE, st.sampled_from([1.0, 0.5, 2.0])),
    "warmup_cosine": st.builds(
        lambda i, p, w, extra, e: (S.warmup_cosine_decay_schedule(i, p, w, w + extra, e),
                                   TS.warmup_cosine(i, p, w, w + extra, e), None, max(i, p, e)),
        VALUE, VALUE, st.integers(0, 50), LENGTH, VALUE),
    "sgdr": st.builds(
        lambda hi, t0, mult, lo: (S.cosine_warm_restarts_schedule(hi, t0, mult, lo),
                                  TS.sgdr(hi, t0, mult, lo),
                                  torch_peer(lambda o: torch.optim.lr_scheduler
                                             .CosineAnnealingWarmRestarts(o, t0, mult, lo), hi),
                                  max(hi, lo)),
        VALUE, st.integers(1, 40), st.integers(1, 3), st.sampled_from([0.0, 1e-4])),
    "onecycle": st.builds(
        lambda n, p, pct, div, fdiv: (S.cosine_onecycle_schedule(n, p, pct, div, fdiv),
                                      TS.onecycle(n, p, pct, div, fdiv), None, p),
        st.integers(2, 500), VALUE, RATE, st.floats(1.0, 100.0), st.floats(1.0, 1e4)),
    "piecewise": st.builds(
        lambda v, bounds: (S.piecewise_constant_schedule(v, bounds), TS.piecewise(v, bounds),
                           None, v * max([1.0, *bounds.values()]) ** len(bounds)),
        VALUE, st.dictionaries(st.integers(0, 1000), st.floats(0.0, 2.0), max_size=4)),
}  # fmt: skip
STEPS = st.lists(
    st.one_of(st.integers(0, 600), st.integers(0, 10**9)), min_size=1, max_size=30
)


@pytest.mark.parametrize("kind", SCHEDULES)
@scaled(20)
@given(data=st.data())
def test_schedule_matches_closed_form_and_torch(kind, data):
    schedule, formula, peer, scale = data.draw(SCHEDULES[kind])
    steps = data.draw(STEPS)
    scalar = np.array([schedule(t) for t in steps])
    np.testing.assert_allclose(scalar, [formula(t) for t in steps], rtol=1e-12,
                               atol=1e-14 * max(scale, 1e-300))  # fmt: skip
    vector = schedule(np.array(steps, dtype=np.int64))
    assert vector.dtype == np.float64
    assert vector.tobytes() == scalar.tobytes()
    if peer is not None:  # torch multiplies step by step: not bitwise
        make, lr, steps = peer
        n = data.draw(st.integers(1, min(steps, 120)))
        np.testing.assert_allclose(schedule(np.arange(n)), TS.torch_lrs(make, lr, n),
                                   rtol=1e-9, atol=1e-14 * scale)  # fmt: skip


# -- clipping ---------------------------------------------------------------------------------


@st.composite
def gradient_lists(draw, specials=("zero", "subnormal", "huge", "inf", "nan")):
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    sizes = draw(st.lists(st.one_of(st.sampled_from(EDGE_SIZES), st.integers(0, 100)),
                          min_size=1, max_size=4))  # fmt: skip
    if draw(st.booleans()):  # over the threading grain
        sizes.append(draw(st.integers(GRAIN, GRAIN + 2 * BLOCK)))
    chosen = draw(st.frozensets(st.sampled_from(specials)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    (grads,), _ = make_gradients(rng, [(n,) for n in sizes], dtype, 1, 3.0, chosen)
    return grads


def on_every_target(fn, grads):
    """fn on copies of grads for every target and 1 and 2 threads: (results, arrays)."""
    out = []
    for isa in ISAS:
        assert _core._select_isa(isa)
        for threads in (1, 2):
            pyfastopt.set_num_threads(threads)
            copies = [g.copy() for g in grads]
            out.append((isa, threads, fn(copies), copies))
    return out


@scaled(50)
@given(
    grads=gradient_lists(),
    clip=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1e3)),
)
def test_clip_grad_value_is_numpy_clip(grads, clip, restore_target):
    expected = [np.clip(g, -clip, clip) for g in grads]
    for isa, threads, _, clipped in on_every_target(
            lambda gs: pyfastopt.clip_grad_value_(gs, clip), grads):  # fmt: skip
        for a, e in zip(clipped, expected):
            assert np.array_equal(a, e, equal_nan=True), (isa, threads)


@scaled(50)
@given(grads=gradient_lists(specials=("zero", "subnormal", "huge", "inf")),
       max_norm=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1e6)))  # fmt: skip
def test_clip_grad_norm_scales_by_the_numpy_norm(grads, max_norm, restore_target):
    """No NaN here: pyfastopt leaves the gradients alone when the norm is NaN, torch turns
    them all to NaN (reported, not settled)."""
    wide = [g.astype(np.float64) for g in grads]
    with np.errstate(all="ignore"):
        total = math.sqrt(sum(float(np.sum(w * w)) for w in wide))
        coef = max_norm / (total + 1e-6)
        expected = [w * coef if coef < 1.0 else w for w in wide]
    runs = on_every_target(lambda gs: pyfastopt.clip_grad_norm_(gs, max_norm), grads)
    for isa, threads, norm, clipped in runs:
        assert (
            norm == pytest.approx(total, rel=1e-12, abs=0) or norm == total == math.inf
        )
        for a, e in zip(clipped, expected):
            assert_close(a, e, what=f"clipped ({isa}, {threads} threads)")
    for isa in ISAS:  # the norm: the same bits for any thread count
        norms = [run[2] for run in runs if run[0] == isa]
        assert norms[0] == norms[1] or (math.isnan(norms[0]) and math.isnan(norms[1]))


# -- Hogwild! with one thread -----------------------------------------------------------------


@scaled(25)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    loss=st.sampled_from(H.LOSSES),
    n=st.integers(6, 40),
    d=st.integers(3, 12),
    alpha=st.one_of(st.just(0.0), st.floats(1e-5, 0.1)),
    lr=st.floats(1e-3, 0.3),
    adagrad=st.booleans(),
    epochs=st.integers(1, 3),
    shuffle=st.booleans(),
    fit_intercept=st.booleans(),
    intercept_lr_scale=st.sampled_from([0.01, 1.0]),
    seed=st.integers(0, 2**40),
    problem_seed=st.integers(0, 1000),
)
def test_hogwild_one_thread_matches_reference(dtype, loss, n, d, alpha, lr, adagrad, epochs,
                                              shuffle, fit_intercept, intercept_lr_scale,
                                              seed, problem_seed):  # fmt: skip
    X, y, d = H.tiny(dtype, n=n, d=d, seed=problem_seed, loss=loss)
    assume(len(X[0]) > 0 and (loss == "squared" or len(set(y)) == 2))
    kw = {"loss": loss, "alpha": alpha, "epochs": epochs, "adagrad": adagrad,
          "shuffle": shuffle, "fit_intercept": fit_intercept,
          "intercept_lr_scale": intercept_lr_scale, "seed": seed}  # fmt: skip
    r = hogwild.train(X, y, lr=lr, n_threads=1, n_features=d, **kw)
    w, b, hist = H.reference_train(X, y, d, rate=lambda e, p: lr, **kw)
    rtol = RTOL[np.dtype(dtype)]
    scale = max(float(np.max(np.abs(w))), abs(b), 1.0)
    np.testing.assert_allclose(r.coef, w, rtol=rtol, atol=rtol * 1e-3 * scale)
    assert r.intercept == pytest.approx(b, rel=rtol, abs=rtol * 1e-3 * scale)
    np.testing.assert_allclose(r.loss_history, hist, rtol=rtol)
    assert r.coef[d - 2] == r.coef[d - 1] == 0  # features no row stores never move
