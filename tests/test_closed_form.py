"""Closed-form properties of the update rules, independent of any implementation."""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt import functional as F
from pyfastopt import optim

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_first_step_is_minus_lr_sign_g(dtype, isa):
    """m1/(1-b1) = g and sqrt(v1/(1-b2)) = |g|: with eps = 0 the first step is -lr sign(g)."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(1001).astype(dtype)
    p = np.zeros_like(g)
    F.adam_(p, g, np.zeros_like(g), np.zeros_like(g), step=1, lr=0.01, eps=0.0)
    np.testing.assert_allclose(p, -0.01 * np.sign(g), rtol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad", "RMSprop", "Adamax", "NAdam",
                                  "RAdam", "AdaBound", "Lion"])  # fmt: skip
def test_zero_learning_rate_changes_no_parameter(name, isa):
    rng = np.random.default_rng(1)
    p = rng.standard_normal(999)
    before = p.copy()
    opt = getattr(optim, name)([p], lr=0.0)
    for _ in range(5):
        opt.step([rng.standard_normal(999)])
    assert p.tobytes() == before.tobytes()


def test_gradient_descent_on_the_quadratic_of_the_notes(isa):
    """f(x) = 0.1 x1^2 + 2 x2^2 (grad = (0.2 x1, 4 x2)): GD multiplies each coordinate by
    (1 - eta c) per step. With eta = 0.4, x2 shrinks by -0.6 each step; eta = 0.6 diverges."""
    c = np.array([0.2, 4.0])
    for eta in (0.4, 0.6):
        x = np.array([-5.0, -2.0])
        opt = optim.SGD([x], lr=eta)
        for _ in range(20):
            opt.step([c * x])
        np.testing.assert_allclose(x, np.array([-5.0, -2.0]) * (1 - eta * c) ** 20, rtol=1e-12)


@pytest.mark.parametrize(("eta", "beta"), [(0.6, 0.5), (0.6, 0.25)])
def test_momentum_on_the_quadratic_is_a_linear_recurrence(eta, beta, isa):
    """v <- beta v + c x; x <- x - eta v is linear: [x, v]_t = A^t [x, v]_0 per coordinate,
    A = [[1 - eta c, -eta beta], [c, beta]] (the notes' eta = 0.6, beta = 0.5 / 0.25)."""
    c = np.array([0.2, 4.0])
    x = np.array([-5.0, -2.0])
    x0 = x.copy()
    opt = optim.SGD([x], lr=eta, momentum=beta)
    steps = 25
    for _ in range(steps):
        opt.step([c * x])
    for i in range(2):
        a = np.array([[1 - eta * c[i], -eta * beta], [c[i], beta]])
        expected = np.linalg.matrix_power(a, steps) @ np.array([x0[i], 0.0])
        np.testing.assert_allclose(x[i], expected[0], rtol=1e-10)


def test_adagrad_with_a_constant_gradient():
    """sum_t = t g^2, so p_t = p_0 - lr sign(g) sum_k 1/sqrt(k) when eps -> 0."""
    g = np.array([3.0, -0.5, 2e-3])
    p = np.zeros(3)
    opt = optim.Adagrad([p], lr=0.1, eps=0.0)
    for _ in range(50):
        opt.step([g])
    harmonic = sum(1 / np.sqrt(k) for k in range(1, 51))
    np.testing.assert_allclose(p, -0.1 * np.sign(g) * harmonic, rtol=1e-13)


def test_rprop_step_grows_geometrically_then_saturates():
    g = np.array([1.0, -2.0])
    p = np.zeros(2)
    opt = optim.Rprop([p], lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 0.05))
    total = 0.0
    for t in range(1, 21):
        opt.step([g])
        total += min(0.01 * 1.2 ** (t - 1), 0.05)
    np.testing.assert_allclose(p, -np.sign(g) * total, rtol=1e-12)


def test_lion_moves_by_lr_times_sign():
    g = np.array([5.0, -1e-3, 0.0])
    p = np.zeros(3)
    opt = optim.Lion([p], lr=0.1)
    for _ in range(7):
        opt.step([g])
    np.testing.assert_allclose(p, -0.7 * np.sign(g), rtol=1e-14)


def test_radam_warmup_steps_are_sgd_with_momentum():
    """rho_t <= 5 for the first steps: p_1 = p_0 - lr m_1/(1-b1) = p_0 - lr g_1."""
    g = np.array([0.3, -7.0])
    p = np.ones(2)
    optim.RAdam([p], lr=0.1).step([g])
    np.testing.assert_allclose(p, 1 - 0.1 * g, rtol=1e-15)


def test_swats_switches_to_sgd_on_a_constant_gradient():
    """With a constant gradient the bias-corrected Adam step is constant, so gamma_t is
    constant and lambda_t/(1-b2^t) equals it from t = 2: SWATS switches at step 2 to
    Lambda = q.q / -q.g with q = -lr g / (|g| + eps)."""
    g = np.array([1.0, -2.0, 0.5])
    p = np.zeros(3)
    opt = optim.SWATS([p], lr=0.01)
    opt.step([g])
    assert opt.state[0]["phase"] == "adam"
    opt.step([g])
    assert opt.state[0]["phase"] == "sgd"
    q = -0.01 * g / np.abs(g)
    assert opt.state[0]["sgd_lr"] == pytest.approx(q @ q / -(q @ g), rel=1e-6)
    before = p.copy()
    opt.step([g])  # SGD phase, momentum buffer starts at zero: b = g
    np.testing.assert_allclose(p, before - 0.1 * opt.state[0]["sgd_lr"] * g, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_asgd_average_is_a_copy_of_p_before_t0(dtype, isa):
    """torch.optim.ASGD copies p into ax while mu = 1: bitwise p, whatever ax held (an infinite
    or NaN ax would poison ax + (p - ax)), a negative zero included; mu < 1 blends."""
    p = np.array([-0.0, 1.5, -2.0, 3.0, 1e30, 0.25] * 50, dtype=dtype)
    g = np.zeros_like(p)
    ax = np.array([np.inf, -np.inf, np.nan, 1e30, -1e30, 0.0] * 50, dtype=dtype)
    F.asgd_(p, g, ax, step=1, eta=0.0, mu=1.0, lambd=0.0)
    assert ax.tobytes() == p.tobytes()
    ax[:] = 1.0
    F.asgd_(p, g, ax, step=2, eta=0.0, mu=0.5, lambd=0.0)
    np.testing.assert_array_equal(ax, (dtype(1.0) + dtype(0.5) * (p - dtype(1.0))).astype(dtype))
