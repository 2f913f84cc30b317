"""The C++ updates of distributed SGD (rules/distributed.hpp) against the NumPy reference:
delay-tolerant AdaGrad under injected delays, and equal to Adagrad bit for bit without
them; the elastic exchange of EASGD."""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt import functional as F
from pyfastopt import reference

ADAGRAD = {"lr": 0.1, "eps": 1e-10}


def test_delay_tolerant_adagrad_matches_the_reference_under_delays(isa, rng):
    """Three workers read and push in a random order (each push carries the gradient of
    what that worker read, after 0-5 other pushes): the float64 kernel follows the
    float64 transcription of the paper, and float32 follows it to float32 rounding."""
    n = 1001
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 2e-4)):
        p = rng.standard_normal(n).astype(dtype)
        ref_p = p.astype(np.float64)
        state = {k: np.zeros(n, dtype) for k in ("sum", "sum_max", "gbar")}
        ref_state = {k: np.zeros(n) for k in ("sum", "sum_max", "gbar")}
        read = {w: state["gbar"].copy() for w in range(3)}  # gbar at each worker's read
        ref_read = {w: ref_state["gbar"].copy() for w in range(3)}
        delays = 0
        for step in range(1, 41):
            w = int(rng.integers(3))
            g = rng.standard_normal(n).astype(dtype)
            delays += int(np.any(read[w] != state["gbar"]))
            F.delay_tolerant_adagrad_(p, g, state["sum"], state["sum_max"], state["gbar"],
                                      read[w], step=step, **ADAGRAD)  # fmt: skip
            reference.delay_tolerant_adagrad(ref_p, g.astype(np.float64), ref_state,
                                             ref_read[w], **ADAGRAD)  # fmt: skip
            if rng.random() < 0.5:  # the worker reads again (else it pushes stale work)
                read[w][...] = state["gbar"]
                ref_read[w] = ref_state["gbar"].copy()
        assert delays > 10  # the revisions were exercised
        np.testing.assert_allclose(p, ref_p, rtol=rtol, atol=rtol * 1e-2)
        for k, value in state.items():
            np.testing.assert_allclose(value, ref_state[k], rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [{}, {"lr_decay": 0.01, "weight_decay": 0.1}, {"maximize": True, "eps_inside_sqrt": True}],
    ids=["plain", "decay", "maximize"],
)
def test_delay_tolerant_adagrad_without_delay_is_adagrad_bit_for_bit(dtype, options, isa, rng):
    n = 777
    p = rng.standard_normal(n).astype(dtype)
    q = p.copy()
    total, total_max, gbar, sum_ = (np.zeros(n, dtype) for _ in range(4))
    for step in range(1, 21):
        g = rng.standard_normal(n).astype(dtype)
        F.adagrad_(q, g, sum_, step=step, lr=0.05, **options)
        F.delay_tolerant_adagrad_(p, g, total, total_max, gbar, gbar.copy(), step=step,
                                  lr=0.05, **options)  # fmt: skip
        np.testing.assert_array_equal(p.view(np.uint8), q.view(np.uint8))
        np.testing.assert_array_equal(total, sum_)
    np.testing.assert_array_equal(total_max, total)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elastic_exchange_is_the_closed_form(dtype, isa, rng):
    x = rng.standard_normal(1003).astype(dtype)
    center = rng.standard_normal(1003).astype(dtype)
    before = center.copy()
    expected_x = x.copy()
    expected_d = reference.elastic(expected_x, center, dtype(0.3))  # same dtype arithmetic
    diff = np.full_like(x, np.nan)  # not read
    F.elastic_(x, center, diff, alpha=0.3)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(diff, expected_d)
    np.testing.assert_array_equal(center, before)


def test_elastic_rejects_bad_input_and_changes_nothing(rng):
    x = rng.standard_normal(10).astype(np.float32)
    center, diff = np.zeros(10, np.float32), np.zeros(10, np.float32)
    snapshot = x.copy()
    with pytest.raises(ValueError, match="alpha"):
        F.elastic_(x, center, diff, alpha=1.5)
    with pytest.raises(ValueError, match="shape"):
        F.elastic_(x, np.zeros(9, np.float32), diff, alpha=0.5)
    with pytest.raises(TypeError, match="float64"):
        F.elastic_(x, np.zeros(10), diff, alpha=0.5)
    np.testing.assert_array_equal(x, snapshot)
