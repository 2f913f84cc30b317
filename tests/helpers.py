"""Comparison helpers for the kernel tests."""

from __future__ import annotations

import numpy as np
import pytest

STEPS = 100
SIZES = [0, 1, 7, 1000, 100_003, (1 << 16) + 5]  # the last is above the threading grain
DTYPES = [np.float32, np.float64]
# float64 kernels follow the float64 reference to rounding; float32 kernels carry float32
# rounding through 100 steps. atol is rtol times the largest magnitude: elements that pass
# near zero through cancellation have no meaningful relative error.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_close(actual, expected, *, sign_based=False, what="array", scale=None, slack=None):
    """actual (kernel dtype) against expected (float64 reference).

    NaN and inf must be where the reference has them (inf with its sign); finite elements
    agree to rtol, with atol = rtol * scale (default: the largest finite magnitude of the
    reference), and never below a few subnormal steps of the kernel dtype (a float32
    subnormal carries fewer bits than float32's rtol asks for). slack: a per-element
    absolute tolerance added to that (the property tests' measured sensitivity).

    sign_based: Lion steps by sign(b1 m + (1-b1) g); where that mix is within float32
    rounding of zero the two can take opposite signs. At most one element in 10^4 may
    differ then (a flip moves an element by 2 lr; a systematic error moves them all).
    """
    actual = np.asarray(actual)
    rtol = RTOL[actual.dtype]
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    if actual.size == 0:
        return
    wide = actual.astype(np.float64).ravel()
    expected = expected.ravel()
    finite = np.isfinite(expected)
    same_class = (np.isnan(wide) == np.isnan(expected)) & (
        finite | (wide == expected) | np.isnan(expected))  # inf: same sign
    same_class &= ~finite | np.isfinite(wide)
    if not same_class.all():
        i = int(np.argmin(same_class))
        msg = (f"{what}: {np.count_nonzero(~same_class)} of {actual.size} elements differ in "
               f"NaN/inf; first at {i}: {wide[i]!r} vs reference {expected[i]!r}")  # fmt: skip
        raise AssertionError(msg)
    if scale is None:
        scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    atol = max(rtol * scale, 64 * float(np.finfo(actual.dtype).smallest_subnormal))
    if slack is not None:
        atol = atol + np.asarray(slack, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf
        close = ~finite | (np.abs(wide - expected) <= atol + rtol * np.abs(expected))
    if sign_based and actual.dtype == np.float32:
        assert np.count_nonzero(~close) <= max(1, actual.size // 10_000), what
        return
    if not close.all():
        i = int(np.argmin(close))
        msg = (f"{what}: {np.count_nonzero(~close)} of {actual.size} elements differ; "
               f"first at {i}: {wide[i]!r} vs reference {expected[i]!r} "
               f"(rtol {rtol}, atol {np.max(atol):.3g})")  # fmt: skip
        raise AssertionError(msg)


def gradients(rng, shapes, dtype, steps=STEPS):
    """Random gradients of varying scale, so the adaptive rules see a real spread."""
    for t in range(steps):
        scale = 1.0 + 0.5 * np.sin(t)
        yield [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]


def rosen_and_der(x):
    """SciPy's Rosenbrock function and its gradient (skips the test without SciPy)."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    return scipy_optimize.rosen(x), scipy_optimize.rosen_der(x)


# -- the trajectory tests of the optimizers that are no element-wise rule (Muon, Adafactor,
# LAMB, LARS, schedule-free): 60 steps against a float64 transcription or a peer

#: float64 follows the transcription to rounding; float32 carries a few ulps a step
TRAJECTORY_RTOL = {np.float64: 1e-9, np.float32: 3e-5}


def assert_near(actual, expected, rtol, what):
    """Elementwise within rtol of the reference, atol = rtol * its largest magnitude."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def problem(seed, shapes):
    """A noisy quadratic: its generator, initial parameters and targets (float64)."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in shapes]
    targets = [rng.standard_normal(s) for s in shapes]
    return rng, init, targets


def grads_at(rng, params, targets, dtype):
    """The noisy quadratic's gradients at the caller's own parameters (a real trajectory)."""
    return [np.asarray(np.asarray(p) - q + 0.5 * rng.standard_normal(np.shape(p)), dtype)
            for p, q in zip(params, targets)]  # fmt: skip


def unchanged(*arrays):
    """A check that the arrays still hold what they hold now."""
    snapshot = [a.copy() for a in arrays]

    def same():
        for before, after in zip(snapshot, arrays):
            np.testing.assert_array_equal(after, before)

    return same
