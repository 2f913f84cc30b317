"""Clipping, gradient noise and weight averaging against NumPy and their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyfastopt
from pyfastopt import optim

DTYPES = [np.float32, np.float64]


def grads(rng, dtype, shapes=((1000,), (7, 3), (0,), (65_541,))):
    return [(rng.standard_normal(s) * 3).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_grad_value_matches_numpy(dtype, isa, rng):
    gs = grads(rng, dtype)
    expected = [np.clip(g, -1.5, 1.5) for g in gs]
    pyfastopt.clip_grad_value_(gs, 1.5)
    for g, e in zip(gs, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("max_norm", [1.0, 1e6])
def test_clip_grad_norm_matches_numpy(dtype, max_norm, isa, rng):
    gs = grads(rng, dtype)
    total = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in gs))
    coef = min(1.0, max_norm / (total + 1e-6))
    expected = [g.astype(np.float64) * coef for g in gs]
    returned = pyfastopt.clip_grad_norm_(gs, max_norm)
    assert returned == pytest.approx(total, rel=1e-12)
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    for g, e in zip(gs, expected):
        np.testing.assert_allclose(g, e, rtol=rtol)


def test_clip_grad_norm_matches_torch(rng):
    torch = pytest.importorskip("torch")  # also in the test extra; the NumPy check is above
    gs = grads(rng, np.float64)
    ts = [torch.tensor(g) for g in gs]
    for t in ts:
        t.grad = t.clone()
    torch_norm = torch.nn.utils.clip_grad_norm_(ts, 2.0)
    norm = pyfastopt.clip_grad_norm_(gs, 2.0)
    assert norm == pytest.approx(float(torch_norm), rel=1e-12)
    for g, t in zip(gs, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


def test_global_norm_is_the_same_for_any_thread_count(threads, rng):
    gs = grads(rng, np.float32, shapes=((1 << 20) + 3, (1000,)))
    pyfastopt.set_num_threads(1)
    one = pyfastopt.global_norm(gs)
    pyfastopt.set_num_threads(2)
    assert pyfastopt.global_norm(gs) == one


def test_gradient_noise_statistics_and_reproducibility(threads):
    """sigma_t^2 = eta / (1 + t)^gamma; over 10^6 elements the mean is within 4 standard
    errors of 0 and the variance within 1% of sigma_t^2."""
    n, eta, gamma, t = 1_000_000, 0.3, 0.55, 9
    sigma2 = eta / (1 + t) ** gamma
    noise = pyfastopt.GradientNoise(eta=eta, gamma=gamma, seed=42)
    assert noise.sigma(t) ** 2 == pytest.approx(sigma2, rel=1e-15)
    draws = {}
    for threads_, seed in ((1, 42), (2, 42), (2, 7)):
        pyfastopt.set_num_threads(threads_)
        g = np.zeros(n, np.float32)
        pyfastopt.add_gradient_noise_(g, step=t, eta=eta, gamma=gamma, seed=seed)
        draws[threads_, seed] = g
    g = draws[1, 42].astype(np.float64)
    assert abs(g.mean()) < 4 * math.sqrt(sigma2 / n)
    assert g.var() == pytest.approx(sigma2, rel=0.01)
    assert draws[1, 42].tobytes() == draws[2, 42].tobytes()
    assert not np.array_equal(draws[2, 42], draws[2, 7])
    g2 = np.zeros(n, np.float32)
    pyfastopt.add_gradient_noise_(g2, step=t + 1, eta=eta, gamma=gamma, seed=42)
    assert not np.array_equal(g2, draws[1, 42])  # a new draw each step


def test_philox_known_answers():
    """Random123's known-answer vectors for Philox4x32-10."""
    philox = pyfastopt._core._philox4x32_10
    assert philox([0, 0, 0, 0], 0, 0) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox([0xFFFFFFFF] * 4, 0xFFFFFFFF, 0xFFFFFFFF) == [
        0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]  # fmt: skip
    assert philox([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], 0xA4093822, 0x299F31D0) == [
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]  # fmt: skip


def test_optimizer_with_gradient_noise_leaves_grads_alone_and_is_reproducible():
    def run():
        p = np.zeros(100)
        opt = optim.SGD([p], lr=1.0)
        opt.gradient_noise = pyfastopt.GradientNoise(eta=1.0, seed=3)
        g = np.zeros(100)
        for _ in range(3):
            opt.step([g])
        np.testing.assert_array_equal(g, 0.0)  # the caller's gradient is not modified
        return p

    a, b = run(), run()
    assert a.tobytes() == b.tobytes()
    # SGD with lr 1 on zero gradients: p = -(sum of the three steps' noise)
    assert a.std() == pytest.approx(math.sqrt(sum(1.0 / (1 + t) ** 0.55 for t in (1, 2, 3))),
                                    rel=0.3)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_ema_matches_its_recurrence(dtype, isa, rng):
    p = rng.standard_normal(1001).astype(dtype)
    ema = pyfastopt.EMA([p], decay=0.9)
    expected = p.astype(np.float64)
    for _ in range(20):
        p += rng.standard_normal(1001).astype(dtype)
        ema.update()
        expected = 0.9 * expected + 0.1 * p.astype(np.float64)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(ema.averages[0], expected, rtol=rtol, atol=rtol)


def test_polyak_average_is_the_mean_of_the_iterates(rng):
    p = rng.standard_normal(50)
    ema = pyfastopt.EMA([p], decay=None)
    seen = [p.copy()]
    for _ in range(30):
        p += rng.standard_normal(50)
        ema.update()
        seen.append(p.copy())
    np.testing.assert_allclose(ema.averages[0], np.mean(seen, axis=0), rtol=1e-12, atol=1e-14)


def test_transforms_reject_bad_input():
    g = np.ones(4)
    with pytest.raises(ValueError, match="Invalid clip_value"):
        pyfastopt.clip_grad_value_([g], -1.0)
    with pytest.raises(ValueError, match="Invalid max_norm"):
        pyfastopt.clip_grad_norm_([g], float("nan"))
    ro = np.ones(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        pyfastopt.clip_grad_value_([ro], 0.5)
    with pytest.raises(ValueError, match="shares memory"):
        pyfastopt.ema_([g], [g], 0.9)
    with pytest.raises(ValueError, match="Invalid decay"):
        pyfastopt.EMA([g], decay=1.5)
    np.testing.assert_array_equal(g, 1.0)
