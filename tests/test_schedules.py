"""pyfastopt.schedules: every schedule against its closed form (written here independently,
with the math module), vectorised calls against scalar ones, argument checks, and the
schedulers against torch.optim.lr_scheduler and against the update they must cause."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from pyfastopt import optim
from pyfastopt import schedules as S

# many steps: every step up to 400, then sparse ones up to 10^9
STEPS = [*range(400), 499, 500, 501, 999, 1000, 1001, 4095, 12345, 10**6, 10**9]


# -- closed forms ----------------------------------------------------------------------------


def polynomial(i, e, p, n, b):
    def f(t):
        if t < b:
            return i
        if t >= b + n:
            return e
        return (i - e) * (1 - (t - b) / n) ** p + e

    return f


def cosine_decay(i, n, alpha=0.0, exponent=1.0):
    def f(t):
        if t >= n:
            return alpha * i
        return i * (alpha + (1 - alpha) * ((1 + math.cos(math.pi * t / n)) / 2) ** exponent)

    return f


def warmup_cosine(i, peak, w, d, e):
    def f(t):
        if t < w:
            return i + (peak - i) * t / w
        if t > d:
            return e
        return e + (peak - e) * (1 + math.cos(math.pi * (t - w) / (d - w))) / 2

    return f


def sgdr(eta_max, t0, t_mult, eta_min):
    """Loshchilov & Hutter: restart after runs of T_0, T_0 T_mult, T_0 T_mult^2, ... steps."""

    def f(t):
        t_cur, t_i = t, t0
        while t_cur >= t_i:
            t_cur -= t_i
            t_i *= t_mult
        return eta_min + (eta_max - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    return f


def onecycle(n, peak, pct, div, final_div):
    """optax's cosine one-cycle: cosine from peak/div up to peak over [0, int(pct n)), then
    down to peak/(div final_div) over [int(pct n), n), then constant."""
    s = int(pct * n)
    low, final = peak / div, peak / (div * final_div)

    def cos_from_to(a, b, x):
        return b + (a - b) * (1 + math.cos(math.pi * x)) / 2

    def f(t):
        if t < s:
            return cos_from_to(low, peak, t / s)
        if t < n:
            return cos_from_to(peak, final, (t - s) / (n - s))
        return final

    return f


def piecewise(v0, bounds):
    def f(t):
        v = v0
        for b, x in sorted(bounds.items()):
            if t >= b:
                v *= x
        return v

    return f


def joined(t):
    """linear warm-up 0 -> 0.1 over 5 steps, then 0.1 exp(-0.01 (t - 5)) until 205, then
    0.05 / sqrt(t - 205 + 1)."""
    if t < 5:
        return 0.1 * t / 5
    if t < 205:
        return 0.1 * math.exp(-0.01 * (t - 5))
    return 0.05 / math.sqrt(t - 205 + 1)


CASES = {
    "constant": (S.constant_schedule(0.3), lambda t: 0.3),
    "time_based": (S.time_based_decay_schedule(0.1, 0.05), lambda t: 0.1 / (1 + 0.05 * t)),
    "step_decay": (S.step_decay_schedule(0.1, 0.5, 10),
                   lambda t: 0.1 * 0.5 ** math.floor((1 + t) / 10)),
    "step_decay_r1": (S.step_decay_schedule(2.0, 0.9, 1), lambda t: 2.0 * 0.9 ** (1 + t)),
    "exponential": (S.exponential_decay_schedule(0.1, 0.01), lambda t: 0.1 * math.exp(-0.01 * t)),
    "inverse_sqrt": (S.inverse_sqrt_schedule(0.5), lambda t: 0.5 / math.sqrt(t + 1)),
    "polynomial": (S.polynomial_schedule(1.0, 0.01, 2.0, 100, 5),
                   polynomial(1.0, 0.01, 2, 100, 5)),
    "polynomial_sqrt": (S.polynomial_schedule(0.2, 0.0, 0.5, 333),
                        polynomial(0.2, 0.0, 0.5, 333, 0)),
    "linear_warmup": (S.linear_schedule(0.0, 0.1, 50), lambda t: 0.1 * min(t, 50) / 50),
    "linear_decay_late": (S.linear_schedule(1.0, 0.5, 200, transition_begin=100),
                          lambda t: 1.0 - 0.5 * min(max(t - 100, 0), 200) / 200),
    "cosine_decay": (S.cosine_decay_schedule(0.1, 300), cosine_decay(0.1, 300)),
    "cosine_decay_alpha": (S.cosine_decay_schedule(0.1, 77, alpha=0.1, exponent=2.0),
                           cosine_decay(0.1, 77, 0.1, 2.0)),
    "cosine_rise": (S.cosine_decay_schedule(0.85, 70, alpha=0.95 / 0.85),
                    lambda t: 0.95 - 0.1 * (1 + math.cos(math.pi * min(t, 70) / 70)) / 2),
    "warmup_cosine": (S.warmup_cosine_decay_schedule(0.0, 0.1, 20, 320, 0.001),
                      warmup_cosine(0.0, 0.1, 20, 320, 0.001)),
    "warmup_cosine_no_warmup": (S.warmup_cosine_decay_schedule(0.0, 0.1, 0, 100),
                                warmup_cosine(0.0, 0.1, 0, 100, 0.0)),
    "sgdr": (S.cosine_warm_restarts_schedule(0.1, 10), sgdr(0.1, 10, 1, 0.0)),
    "sgdr_mult2": (S.cosine_warm_restarts_schedule(0.1, 3, 2, 0.001), sgdr(0.1, 3, 2, 0.001)),
    "sgdr_mult3_t1": (S.cosine_warm_restarts_schedule(1.0, 1, 3, 0.5), sgdr(1.0, 1, 3, 0.5)),
    "onecycle": (S.cosine_onecycle_schedule(300, 0.1), onecycle(300, 0.1, 0.3, 25.0, 1e4)),
    "onecycle_short": (S.cosine_onecycle_schedule(7, 1.0, 0.25, 10.0, 100.0),
                       onecycle(7, 1.0, 0.25, 10.0, 100.0)),
    "onecycle_no_rise": (S.cosine_onecycle_schedule(50, 1.0, 0.0), onecycle(50, 1.0, 0.0, 25, 1e4)),
    "onecycle_no_fall": (S.cosine_onecycle_schedule(50, 1.0, 1.0), onecycle(50, 1.0, 1.0, 25, 1e4)),
    "piecewise": (S.piecewise_constant_schedule(0.1, {100: 0.1, 30: 0.5, 250: 0.0}),
                  piecewise(0.1, {30: 0.5, 100: 0.1, 250: 0.0})),
    "piecewise_at_0": (S.piecewise_constant_schedule(1.0, {0: 0.5, 1: 3.0}),
                       piecewise(1.0, {0: 0.5, 1: 3.0})),
    "piecewise_none": (S.piecewise_constant_schedule(0.7), lambda t: 0.7),
    "join": (S.join_schedules([S.linear_schedule(0.0, 0.1, 5),
                               S.exponential_decay_schedule(0.1, 0.01),
                               S.inverse_sqrt_schedule(0.05)], [5, 205]), joined),
    "join_single": (S.join_schedules([S.constant_schedule(2.0)], []), lambda t: 2.0),
}  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_schedule_equals_its_closed_form(name):
    schedule, formula = CASES[name]
    actual = [schedule(t) for t in STEPS]
    assert all(type(v) is float for v in actual)
    np.testing.assert_allclose(actual, [formula(t) for t in STEPS], rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("name", CASES)
def test_vectorised_equals_scalar(name):
    schedule, _ = CASES[name]
    steps = np.array(STEPS, dtype=np.int64)
    scalar = np.array([schedule(int(t)) for t in steps])
    for array in (steps, steps.astype(np.int32)[steps < 2**31], steps.astype(np.uint64)):
        out = schedule(array)
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, scalar[: len(array)])
    grid = schedule(steps[:400].reshape(20, 20))
    assert grid.shape == (20, 20)
    np.testing.assert_array_equal(grid.ravel(), scalar[:400])
    np.testing.assert_array_equal(schedule([3, 1, 4]), scalar[[3, 1, 4]])
    assert schedule(np.array([], np.int64)).shape == (0,)
    assert schedule(np.int64(17)) == scalar[17]


def test_landmarks():
    """Points of the curves stated in the docstrings, by hand."""
    step = S.step_decay_schedule(1.0, 0.5, 4)
    assert [step(t) for t in range(9)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    sgdr_ = S.cosine_warm_restarts_schedule(1.0, 3, 2, 0.0)
    restarts = [t for t in range(1, 100) if sgdr_(t) == 1.0]
    assert restarts == [3, 9, 21, 45, 93]  # runs of 3, 6, 12, 24, 48 steps
    cycle = S.cosine_onecycle_schedule(100, 0.5)
    values = cycle(np.arange(200))
    assert values.argmax() == 30
    assert values[30] == 0.5
    assert values[0] == 0.5 / 25
    assert values[100] == values[199] == pytest.approx(0.5 / 25 / 1e4, rel=1e-15)
    assert S.polynomial_schedule(1.0, 0.0, 3.0, 10)(10) == 0.0
    assert S.piecewise_constant_schedule(1.0, {5: 0.1})(4) == 1.0
    assert S.piecewise_constant_schedule(1.0, {5: 0.1})(5) == 0.1
    assert "cosine_decay_schedule(init_value=0.1" in repr(S.cosine_decay_schedule(0.1, 5))
    assert repr(S.linear_schedule(0, 1, 5)).startswith("linear_schedule(init_value=0.0")


def test_join_calls_plain_callables_once_per_step_with_an_int():
    seen = []

    def user(t):
        seen.append(t)
        assert type(t) is int
        return 0.5 * t

    joined_ = S.join_schedules([S.constant_schedule(9.0), user], [10])
    assert joined_(4) == 9.0
    assert joined_(14) == 2.0
    np.testing.assert_array_equal(joined_(np.array([[9, 10], [11, 3]])), [[9.0, 0.0], [0.5, 9.0]])
    assert seen == [4, 0, 1]


# -- checks ----------------------------------------------------------------------------------

nan, inf = float("nan"), float("inf")
s0 = S.constant_schedule(1.0)

BAD = [
    (S.constant_schedule, ("0.1",), TypeError, "value"),
    (S.constant_schedule, (nan,), ValueError, "value"),
    (S.constant_schedule, (None,), TypeError, "value"),
    (S.time_based_decay_schedule, (0.1, -0.1), ValueError, "decay"),
    (S.time_based_decay_schedule, (inf, 0.1), ValueError, "init_value"),
    (S.step_decay_schedule, (0.1, 0.5, 0), ValueError, "drop_every"),
    (S.step_decay_schedule, (0.1, 0.5, 2.0), TypeError, "drop_every"),
    (S.step_decay_schedule, (0.1, -0.5, 2), ValueError, "drop_rate"),
    (S.exponential_decay_schedule, (0.1, inf), ValueError, "decay"),
    (S.exponential_decay_schedule, (0.1, True), TypeError, "decay"),
    (S.inverse_sqrt_schedule, ([0.1],), TypeError, "init_value"),
    (S.polynomial_schedule, (1.0, 0.0, 0.0, 10), ValueError, "power"),
    (S.polynomial_schedule, (1.0, 0.0, 1.0, 0), ValueError, "transition_steps"),
    (S.polynomial_schedule, (1.0, 0.0, 1.0, 10, -1), ValueError, "transition_begin"),
    (S.polynomial_schedule, (1.0, nan, 1.0, 10), ValueError, "end_value"),
    (S.linear_schedule, (0.0, 1.0, True), TypeError, "transition_steps"),
    (S.cosine_decay_schedule, (0.1, 0), ValueError, "decay_steps"),
    (S.cosine_decay_schedule, (0.1, 10, 0.0, 0.0), ValueError, "exponent"),
    (S.cosine_decay_schedule, (0.1, 10, "0"), TypeError, "alpha"),
    (S.warmup_cosine_decay_schedule, (0.0, 0.1, 10, 10), ValueError, "decay_steps"),
    (S.warmup_cosine_decay_schedule, (0.0, 0.1, -1, 10), ValueError, "warmup_steps"),
    (S.cosine_warm_restarts_schedule, (0.1, 0), ValueError, "period"),
    (S.cosine_warm_restarts_schedule, (0.1, 10, 0), ValueError, "period_mult"),
    (S.cosine_warm_restarts_schedule, (0.1, 10, 1.5), TypeError, "period_mult"),
    (S.cosine_warm_restarts_schedule, (0.1, 10, 1, nan), ValueError, "min_value"),
    (S.cosine_onecycle_schedule, (0, 0.1), ValueError, "transition_steps"),
    (S.cosine_onecycle_schedule, (10, 0.1, 1.5), ValueError, "pct_start"),
    (S.cosine_onecycle_schedule, (10, 0.1, 0.3, 0.0), ValueError, "div_factor"),
    (S.cosine_onecycle_schedule, (10, 0.1, 0.3, 25.0, -1.0), ValueError, "final_div_factor"),
    (S.piecewise_constant_schedule, (0.1, {10: -0.1}), ValueError, "boundaries_and_scales"),
    (S.piecewise_constant_schedule, (0.1, {1.5: 0.1}), TypeError, "boundaries_and_scales"),
    (S.piecewise_constant_schedule, (0.1, {-1: 0.1}), ValueError, "boundaries_and_scales"),
    (S.piecewise_constant_schedule, (0.1, [(10, 0.1)]), TypeError, "boundaries_and_scales"),
    (S.join_schedules, ([], []), ValueError, "schedules"),
    (S.join_schedules, (s0, []), TypeError, "schedules"),
    (S.join_schedules, ([s0, 3], [1]), TypeError, r"schedules\[1\]"),
    (S.join_schedules, ([s0, s0], []), ValueError, "boundaries"),
    (S.join_schedules, ([s0, s0, s0], [5, 5]), ValueError, "boundaries"),
    (S.join_schedules, ([s0, s0], [-1]), ValueError, r"boundaries\[0\]"),
    (S.join_schedules, ([s0, s0], 5), TypeError, "boundaries"),
]


@pytest.mark.parametrize(("fn", "args", "error", "name"), BAD,
                         ids=[f"{b[0].__name__}-{b[3]}-{i}"
                              for i, b in enumerate(BAD)])  # fmt: skip
def test_bad_arguments_raise_naming_the_argument(fn, args, error, name):
    with pytest.raises(error, match=name):
        fn(*args)


@pytest.mark.parametrize(("step", "error"), [
    (-1, ValueError), (1.5, TypeError), (True, TypeError), ("3", TypeError),
    (np.array([0.0, 1.0]), TypeError), (np.array([3, -2]), ValueError), (2**70, ValueError),
    (np.array([2**64 - 1], np.uint64), ValueError),
])  # fmt: skip
def test_bad_steps_raise_naming_step(step, error):
    with pytest.raises(error, match="step"):
        S.cosine_decay_schedule(0.1, 10)(step)


# -- torch peers ------------------------------------------------------------------------------


def torch_lrs(make, lr, n):
    """The lr torch's scheduler gives the first n optimizer steps."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
        sched.step()
    return lrs


TORCH = {
    "CosineAnnealingWarmRestarts": (
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 7, 1, 0.001),
        S.cosine_warm_restarts_schedule(0.1, 7, 1, 0.001)),
    "CosineAnnealingWarmRestarts_mult": (
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 2, 3, 0.0),
        S.cosine_warm_restarts_schedule(0.1, 2, 3)),
    "CosineAnnealingLR": (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 300, 0.001),
                          S.cosine_decay_schedule(0.1, 300, alpha=0.01)),
    "ExponentialLR": (lambda o: torch.optim.lr_scheduler.ExponentialLR(o, math.exp(-0.02)),
                      S.exponential_decay_schedule(0.1, 0.02)),
    "PolynomialLR": (lambda o: torch.optim.lr_scheduler.PolynomialLR(o, 250, 2.0),
                     S.polynomial_schedule(0.1, 0.0, 2.0, 250)),
    "MultiStepLR": (lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [30, 80, 200], 0.1),
                    S.piecewise_constant_schedule(0.1, {30: 0.1, 80: 0.1, 200: 0.1})),
    "LinearLR": (lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.25, 1.0, 40),
                 S.linear_schedule(0.025, 0.1, 40)),
}  # fmt: skip


@pytest.mark.parametrize("name", TORCH)
def test_schedule_matches_torch_lr_scheduler(name):
    make, schedule = TORCH[name]
    n = 300
    np.testing.assert_allclose(schedule(np.arange(n)), torch_lrs(make, 0.1, n),
                               rtol=1e-10, atol=1e-15)  # torch multiplies step by step


# -- ScheduleLR ----------------------------------------------------------------------------------


def test_schedule_lr_drives_the_sgd_kernel():
    """Constant gradient, lr schedule: each step moves p by exactly -lr_t g."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(70_000)  # above the threaded-kernel threshold
    g = rng.standard_normal(70_000)
    opt = optim.SGD([p], lr=123.0)
    schedule = S.join_schedules([S.linear_schedule(0.0, 0.1, 10),
                                 S.cosine_warm_restarts_schedule(0.1, 7, 2, 0.01)], [10])
    sched = S.ScheduleLR(opt, schedule)
    lrs = []
    for t in range(60):
        lr = 0.1 * min(t, 10) / 10 if t < 10 else sgdr(0.1, 7, 2, 0.01)(t - 10)
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0] == schedule(t)
        assert lr == pytest.approx(schedule(t), rel=1e-14, abs=1e-300)
        before = p.copy()
        opt.step([g])
        np.testing.assert_array_equal(p, before - schedule(t) * g)
        lrs.append(schedule(t))
        sched.step()
    assert sched.last_step == 60
    assert len(set(lrs)) > 30


def test_schedule_lr_per_group_and_momentum_key():
    """Per-group schedules; key="momentum" drives the momentum buffer b = mu_t b + g."""
    rng = np.random.default_rng(1)
    p1, p2 = rng.standard_normal(100), rng.standard_normal(50)
    g1, g2 = rng.standard_normal(100), rng.standard_normal(50)
    opt = optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.5}], lr=0.1, momentum=0.9)
    lr_sched = S.ScheduleLR(opt, [S.exponential_decay_schedule(0.1, 0.1),
                                  S.constant_schedule(0.05)])  # fmt: skip
    mu = S.cosine_decay_schedule(0.95, 20, alpha=0.85 / 0.95)
    mu_sched = S.ScheduleLR(opt, mu, key="momentum")
    e1, b1 = p1.copy(), np.zeros_like(p1)
    for t in range(25):
        lr = 0.1 * math.exp(-0.1 * t)
        momentum = 0.85 + 0.1 * (1 + math.cos(math.pi * min(t, 20) / 20)) / 2
        assert lr_sched.get_last_lr() == [pytest.approx(lr, rel=1e-14), 0.05]
        assert [g["momentum"] for g in opt.param_groups] == [pytest.approx(momentum)] * 2
        b1 = g1.copy() if t == 0 else mu(t) * b1 + g1
        e1 = e1 - lr_sched.get_last_lr()[0] * b1
        opt.step([g1, g2])
        np.testing.assert_allclose(p1, e1, rtol=1e-13, atol=1e-13)
        lr_sched.step()
        mu_sched.step()


def test_schedule_lr_beta1_matches_torch_adam_with_the_same_betas():
    rng = np.random.default_rng(2)
    p = rng.standard_normal(300)
    grads = [rng.standard_normal(300) for _ in range(30)]
    opt = optim.Adam([p], lr=0.01, betas=(0.9, 0.99))
    beta1 = S.linear_schedule(0.5, 0.9, 20)
    sched = S.ScheduleLR(opt, beta1, key=("betas", 0))
    tp = torch.tensor(p.copy(), requires_grad=True)
    topt = torch.optim.Adam([tp], lr=0.01, betas=(0.9, 0.99))
    for t, g in enumerate(grads):
        assert opt.param_groups[0]["betas"] == (beta1(t), 0.99)
        topt.param_groups[0]["betas"] = (beta1(t), 0.99)
        opt.step([g])
        tp.grad = torch.tensor(g)
        topt.step()
        sched.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_schedule_lr_state_dict_round_trip():
    schedule = S.cosine_onecycle_schedule(50, 0.3)
    p = np.zeros(4)
    opt = optim.SGD([p], lr=0.1)
    sched = S.ScheduleLR(opt, schedule)
    for _ in range(17):
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))  # plain values
    assert state == {"last_step": 17, "key": "lr", "last_values": [schedule(17)]}
    q = np.zeros(4)
    opt2 = optim.SGD([q], lr=0.1)
    sched2 = S.ScheduleLR(opt2, schedule)
    assert opt2.param_groups[0]["lr"] == schedule(0)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == schedule(17)
    assert sched2.get_last_lr() == [schedule(17)]
    for _ in range(40):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    betas = S.ScheduleLR(optim.Adam([np.zeros(2)]), S.constant_schedule(0.8), key=("betas", 0))
    betas.load_state_dict(json.loads(json.dumps(betas.state_dict())))  # the key as a list
    with pytest.raises(ValueError, match="key"):
        sched2.load_state_dict(betas.state_dict())


def test_schedule_lr_bad_arguments():
    opt = optim.SGD([np.zeros(3)], lr=0.1)
    s = S.constant_schedule(0.1)
    with pytest.raises(TypeError, match="optimizer"):
        S.ScheduleLR([np.zeros(3)], s)
    with pytest.raises(TypeError, match="schedule"):
        S.ScheduleLR(opt, 0.1)
    with pytest.raises(ValueError, match="schedule"):
        S.ScheduleLR(opt, [s, s])
    with pytest.raises(ValueError, match="key"):
        S.ScheduleLR(opt, s, key="betas")
    with pytest.raises(ValueError, match="key"):
        S.ScheduleLR(opt, s, key=("lr", 0))
    with pytest.raises(TypeError, match="key"):
        S.ScheduleLR(opt, s, key=3)
    with pytest.raises(ValueError, match="schedule"):
        S.ScheduleLR(opt, lambda t: float("nan"))
    assert opt.param_groups[0]["lr"] == 0.1  # nothing written


# -- ReduceLROnPlateau ------------------------------------------------------------------------

PLATEAU = [
    {},
    {"patience": 2, "factor": 0.5},
    {"mode": "max", "factor": 0.5, "patience": 2, "threshold": 0.01, "threshold_mode": "abs",
     "cooldown": 1},
    {"patience": 0, "factor": 0.5, "min_lr": 0.003, "cooldown": 2},
    {"patience": 1, "threshold": 0.05, "eps": 0.02, "factor": 0.7},
    {"mode": "max", "threshold": 0.0, "patience": 3, "min_lr": [0.01, 0.0]},
    {"threshold_mode": "abs", "threshold": 0.0, "patience": 1, "factor": 0.0},
]  # fmt: skip


def metrics_sequence(n=120):
    """Falls, stalls, falls again, with noise; values repeat (ties are not improvements)."""
    rng = np.random.default_rng(3)
    trend = np.concatenate([np.linspace(1, 0.5, 30), np.full(40, 0.5), np.linspace(0.5, 0.2, 50)])
    values = np.round(trend[:n] + 0.02 * rng.standard_normal(n), 2)
    return [float(v) for v in values]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(k) for k in PLATEAU])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(4)
    p1, p2 = rng.standard_normal(8), rng.standard_normal(3)
    opt = optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.05}], lr=0.1)
    sched = S.ReduceLROnPlateau(opt, **kwargs)
    t1 = torch.tensor(p1.copy(), requires_grad=True)
    t2 = torch.tensor(p2.copy(), requires_grad=True)
    topt = torch.optim.SGD([{"params": [t1]}, {"params": [t2], "lr": 0.05}], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    seen = set()
    for metric in metrics_sequence():
        g1, g2 = rng.standard_normal(8), rng.standard_normal(3)
        opt.step([g1, g2])
        t1.grad, t2.grad = torch.tensor(g1), torch.tensor(g2)
        topt.step()
        sched.step(metric)
        tsched.step(metric)
        lrs = [g["lr"] for g in opt.param_groups]
        assert lrs == [g["lr"] for g in topt.param_groups]
        assert sched.get_last_lr() == tsched.get_last_lr() == lrs
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == (
            tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch)
        seen.add(tuple(lrs))
    np.testing.assert_allclose(p1, t1.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert len(seen) >= 2  # the sequence does reduce the rates


def test_reduce_lr_on_plateau_state_dict_round_trip():
    metrics = metrics_sequence()

    def run(metric_values, opt_state=None, sched_state=None):
        opt = optim.SGD([np.zeros(5)], lr=0.1)
        sched = S.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1, min_lr=1e-3)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
            sched.load_state_dict(sched_state)
        lrs = []
        for m in metric_values:
            opt.step([np.ones(5)])
            sched.step(np.float64(m))
            lrs.append(sched.get_last_lr()[0])
        return opt, sched, lrs

    _, _, straight = run(metrics)
    opt, sched, first = run(metrics[:50])
    state = json.loads(json.dumps(sched.state_dict()))  # plain values (inf included)
    assert state["last_epoch"] == 50
    assert state["last_lr"] == [first[-1]]
    _, resumed, second = run(metrics[50:], opt.state_dict(), state)
    assert first + second == straight
    assert resumed.last_epoch == len(metrics)
    with pytest.raises(ValueError, match="mode"):
        resumed.load_state_dict({**state, "mode": "avg"})


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"mode": "avg"}, ValueError, "mode"),
    ({"threshold_mode": "pct"}, ValueError, "threshold_mode"),
    ({"factor": 1.0}, ValueError, "factor"),
    ({"factor": -0.1}, ValueError, "factor"),
    ({"patience": -1}, ValueError, "patience"),
    ({"patience": 1.5}, TypeError, "patience"),
    ({"threshold": -1e-4}, ValueError, "threshold"),
    ({"cooldown": -1}, ValueError, "cooldown"),
    ({"min_lr": [0.0, 0.0]}, ValueError, "min_lr"),
    ({"min_lr": -1.0}, ValueError, "min_lr"),
    ({"eps": nan}, ValueError, "eps"),
])  # fmt: skip
def test_reduce_lr_on_plateau_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        S.ReduceLROnPlateau(optim.SGD([np.zeros(3)], lr=0.1), **kwargs)


def test_reduce_lr_on_plateau_bad_metric():
    sched = S.ReduceLROnPlateau(optim.SGD([np.zeros(3)], lr=0.1))
    with pytest.raises(TypeError, match="metrics"):
        sched.step("0.5")
    with pytest.raises(TypeError, match="metrics"):
        sched.step(None)
    assert sched.last_epoch == 0
