"""LAMB and LARS: pyfastopt.optim.LAMB/LARS and functional.lamb_/lars_ against the float64
transcriptions of optax's chains (pyfastopt.reference.LAMB/LARS), against closed forms of
the trust ratio, and against the optimizers they reduce to without it (AdamW, SGD)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import TRAJECTORY_RTOL, assert_near, grads_at, unchanged
from helpers import problem as noisy_quadratic

from pyfastopt import functional as F
from pyfastopt import optim, reference

#: matrices tall, wide and of one column, a 3-D array, a vector, a scalar
SHAPES = [(12, 5), (5, 12), (9, 1), (3, 4, 6), (7,), ()]
#: the first three arrays in a group with the options under test, the rest in a group
#: without trust ratio or decay (optax's masks for biases and norms) at its own rate
LAMB_OPTIONS = [
    {},
    {"weight_decay": 0.1},
    {"maximize": True, "weight_decay": 0.01},
    {"betas": (0.5, 0.9), "eps": 1e-3, "eps_root": 1e-4},
    {"weight_decay": 0.05, "trust_ratio": False},
]
LARS_OPTIONS = [
    {},
    {"weight_decay": 0.01},
    {"nesterov": True, "momentum": 0.5},
    {"maximize": True, "eps": 1e-3, "weight_decay": 1e-3},
    {"trust_coefficient": 0.02, "weight_decay": 1e-3, "nesterov": True},
]
CASES = [("LAMB", {"lr": 0.02, **kw}) for kw in LAMB_OPTIONS] + \
        [("LARS", {"lr": 5.0, **kw}) for kw in LARS_OPTIONS]  # fmt: skip
CASE_IDS = [f"{name}-" + ("-".join(f"{k}={v}" for k, v in kw.items() if k != "lr") or "defaults")
            for name, kw in CASES]  # fmt: skip
UNMASKED = {"LAMB": {"weight_decay": 0.0, "trust_ratio": False, "lr": 2e-3},
            "LARS": {"weight_decay": 0.0, "trust_ratio": False, "lr": 0.01}}  # fmt: skip
STATE_KEYS = {"LAMB": ("exp_avg", "exp_avg_sq"), "LARS": ("momentum_buffer",)}
#: float32 runs in float32 (norms in float64): a few ulps per step, in params and states
RTOL = TRAJECTORY_RTOL


def problem(seed=3, shapes=SHAPES):
    """helpers.problem on this file's shapes."""
    return noisy_quadratic(seed, shapes)
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


# -- against the float64 transcriptions ----------------------------------------------------


@DTYPES
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=CASE_IDS)
def test_optim_matches_the_float64_transcription_over_60_steps(name, kwargs, dtype):
    rng, init, targets = problem()
    params = [np.array(p, dtype) for p in init]
    originals = list(params)
    ref_params = [np.array(p) for p in init]
    groups = [{"params": params[:3]}, {"params": params[3:], **UNMASKED[name]}]
    opt = getattr(optim, name)(groups, **kwargs)
    ref_cls = getattr(reference, name)
    refs = [ref_cls(ref_params[:3], **kwargs),
            ref_cls(ref_params[3:], **{**kwargs, **UNMASKED[name]})]  # fmt: skip
    for _ in range(60):
        grads = grads_at(rng, params, targets, dtype)  # both follow the same gradients
        opt.step(grads)
        refs[0].step(grads[:3])
        refs[1].step(grads[3:])
    for i, (p, q) in enumerate(zip(params, ref_params)):
        assert p is originals[i]
        assert p.dtype == dtype
        assert_near(p, q, RTOL[dtype], f"params[{i}]")
        assert np.abs(q - init[i]).max() > 0.05  # the trajectory went somewhere
        state = opt.state[i]
        ref_state = refs[i // 3].state[i % 3]
        assert set(state) == {"step", *STATE_KEYS[name]}
        assert state["step"] == 60
        for key in STATE_KEYS[name]:
            assert state[key].dtype == dtype
            assert_near(state[key], ref_state[key], RTOL[dtype], f"state[{i}][{key!r}]")


def test_the_transcription_comparison_discriminates():
    """One trust ratio over all arrays at once (a global norm) instead of one per array
    moves the parameters by far more than the float32 tolerance above in 10 steps: the
    comparison sees whether the ratio is taken per array."""
    rng, init, targets = problem(seed=4)
    a, b = [p.copy() for p in init], [p.copy() for p in init]
    ref_a = reference.LAMB(a, lr=0.02)
    ref_b = reference.LAMB([np.concatenate([p.reshape(-1) for p in b])], lr=0.02)
    for _ in range(10):
        grads = grads_at(rng, a, targets, np.float64)
        ref_a.step(grads)
        ref_b.step([np.concatenate([g.reshape(-1) for g in grads])])
    flat_a, flat_b = np.concatenate([p.reshape(-1) for p in a]), ref_b.params[0]
    diff = np.abs(flat_a - flat_b).max() / np.abs(flat_a).max()
    assert diff > 10 * RTOL[np.float32]


@DTYPES
@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_functional_one_array_and_lists(name, dtype):
    rng, init, targets = problem(seed=5)
    params = [np.array(p, dtype) for p in init]
    states = {k: [np.zeros_like(p) for p in params] for k in STATE_KEYS[name]}
    ref_params = [np.array(p) for p in init]
    if name == "LAMB":
        kwargs = {"lr": 0.05, "weight_decay": 0.01}
        ref = reference.LAMB(ref_params, **kwargs)
    else:
        kwargs = {"lr": 3.0, "weight_decay": 0.01, "nesterov": True}
        ref = reference.LARS(ref_params, **kwargs)
    step = F.lamb_ if name == "LAMB" else F.lars_
    base_lr = kwargs["lr"]
    for t in range(1, 21):
        grads = grads_at(rng, params, targets, dtype)
        steps = {"step": t} if name == "LAMB" else {}
        # a rate that changes every step (a schedule): LARS's rate is inside its buffer
        kwargs["lr"] = ref.defaults["lr"] = base_lr * (1.0 + 0.5 * math.sin(t))
        if t % 2:
            step(params, grads, *states.values(), **steps, **kwargs)
        else:  # one array per call: the same per-array trust ratios
            for i, (p, g) in enumerate(zip(params, grads)):
                step(p, g, *(s[i] for s in states.values()), **steps, **kwargs)
        ref.step(grads)
    for i, (p, q) in enumerate(zip(params, ref_params)):
        assert_near(p, q, RTOL[dtype], f"params[{i}]")
        for key, values in states.items():
            assert_near(values[i], ref.state[i][key], RTOL[dtype], f"{key}[{i}]")


# -- closed forms (not the transcription) ------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_first_step_is_the_gradient_at_the_trust_ratio(nesterov, dtype):
    """From a zero buffer, the first step is lr * tc * ||p|| / ||g|| * g, times (1 + mu)
    with Nesterov momentum; the buffer holds lr * tc * ||p|| / ||g|| * g."""
    rng = np.random.default_rng(1)
    for shape in [(6, 4), (10,), (2, 3, 5)]:
        p0, g = rng.standard_normal(shape), rng.standard_normal(shape)
        p, buf = p0.astype(dtype), np.zeros(shape, dtype)
        F.lars_(p, g.astype(dtype), buf, lr=2.0, momentum=0.8, nesterov=nesterov)
        step = 2.0 * 0.001 * np.linalg.norm(p0) / np.linalg.norm(g) * g
        assert_near(buf, step, RTOL[dtype], "buffer")
        assert_near(p, p0 - (1.8 if nesterov else 1.0) * step, RTOL[dtype], f"shape {shape}")


@DTYPES
def test_lamb_first_step_is_the_sign_at_the_parameter_norm(dtype):
    """At t = 1, m_hat = g and v_hat = g^2: u = g / (|g| + eps) (about sign(g), plus the
    decay term), and the step is lr * ||p|| / ||u|| * u: of norm lr * ||p||."""
    rng = np.random.default_rng(2)
    for shape, wd in [((6, 4), 0.0), ((10,), 0.1), ((2, 3, 5), 0.01), ((), 0.0)]:
        p0 = rng.standard_normal(shape)
        g = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        p = p0.astype(dtype)
        m, v = np.zeros(shape, dtype), np.zeros(shape, dtype)
        F.lamb_(p, g.astype(dtype), m, v, step=1, lr=0.01, weight_decay=wd)
        u = g / (np.abs(g) + 1e-6) + wd * p0
        expected = p0 - 0.01 * np.linalg.norm(p0) / np.linalg.norm(u) * u
        assert_near(p, expected, RTOL[dtype], f"shape {shape}")
        assert math.isclose(np.linalg.norm(p - p0), 0.01 * np.linalg.norm(p0), rel_tol=1e-4)


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_every_step_is_a_fixed_fraction_of_the_parameter_norm(name):
    """The point of the trust ratio: whatever the gradient's scale, LAMB moves each array by
    lr * ||p|| per step, and LARS without momentum by lr * tc * ||p||."""
    rng, init, _ = problem(seed=7, shapes=[(8, 3), (5,), (2, 2, 2)])
    params = [p.copy() for p in init]
    if name == "LAMB":
        opt: optim.Optimizer = optim.LAMB(params, lr=0.03, weight_decay=0.1)
        fraction = 0.03
    else:
        opt = optim.LARS(params, lr=4.0, momentum=0.0, weight_decay=0.1)
        fraction = 4.0 * 0.001
    for k in range(8):
        before = [p.copy() for p in params]
        opt.step([10.0 ** (3 * k - 9) * rng.standard_normal(p.shape) for p in params])
        for p, q in zip(params, before):
            assert math.isclose(np.linalg.norm(p - q), fraction * np.linalg.norm(q),
                                rel_tol=1e-12)  # fmt: skip


@DTYPES
def test_zero_norms_give_a_trust_ratio_of_one(dtype):
    """optax's rule: a parameter of norm 0 takes the plain step (LARS: lr * g, not
    tc-scaled; LAMB: lr * u); a zero update leaves the parameter as it is, without NaN."""
    g = np.array([3.0, -4.0, 0.5], dtype)
    p, buf = np.zeros(3, dtype), np.zeros(3, dtype)
    F.lars_(p, g, buf, lr=0.5, momentum=0.9)
    np.testing.assert_allclose(p, -0.5 * g.astype(np.float64), rtol=1e-7)
    p, m, v = np.zeros(3, dtype), np.zeros(3, dtype), np.zeros(3, dtype)
    F.lamb_(p, g, m, v, step=1, lr=0.5)
    np.testing.assert_allclose(p, -0.5 * g / (np.abs(g) + 1e-6), rtol=1e-6)
    p, buf = np.array([1.0, 2.0], dtype), np.zeros(2, dtype)
    F.lars_(p, np.zeros(2, dtype), buf, lr=0.5)
    np.testing.assert_array_equal(p, [1.0, 2.0])
    np.testing.assert_array_equal(buf, 0.0)
    p, m, v = np.array([1.0, 2.0], dtype), np.zeros(2, dtype), np.zeros(2, dtype)
    F.lamb_(p, np.zeros(2, dtype), m, v, step=1, lr=0.5)
    np.testing.assert_array_equal(p, [1.0, 2.0])


# -- without the trust ratio: AdamW and SGD ----------------------------------------------------


@pytest.mark.parametrize("maximize", [False, True])
def test_lamb_without_trust_ratio_is_adamw(maximize):
    """p - lr (m_hat / (sqrt(v_hat) + eps) + wd p) = (1 - lr wd) p - lr m_hat / (...):
    AdamW (decoupled decay) with LAMB's eps, step for step (the C++ AdamW kernel)."""
    rng, init, targets = problem(seed=8)
    a, b = [p.copy() for p in init], [p.copy() for p in init]
    lamb = optim.LAMB(a, lr=0.01, weight_decay=0.1, trust_ratio=False, maximize=maximize)
    adamw = optim.AdamW(b, lr=0.01, eps=1e-6, weight_decay=0.1, maximize=maximize)
    for _ in range(40):
        grads = grads_at(rng, a, targets, np.float64)
        lamb.step(grads)
        adamw.step(grads)
    for i, (p, q) in enumerate(zip(a, b)):
        assert_near(p, q, 1e-10, f"params[{i}]")
        for key in ("exp_avg", "exp_avg_sq"):
            assert_near(lamb.state[i][key], adamw.state[i][key], 1e-10, key)


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_without_trust_ratio_is_sgd_with_momentum(nesterov):
    """At a constant rate, optax's trace of lr-scaled steps is lr times torch's buffer:
    LARS(trust_ratio=False) is torch's SGD with momentum and coupled weight decay."""
    rng, init, targets = problem(seed=9)
    a, b = [p.copy() for p in init], [p.copy() for p in init]
    lars = optim.LARS(a, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=nesterov,
                      trust_ratio=False)  # fmt: skip
    sgd = optim.SGD(b, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
    for _ in range(40):
        grads = grads_at(rng, a, targets, np.float64)
        lars.step(grads)
        sgd.step(grads)
    for i, (p, q) in enumerate(zip(a, b)):
        assert_near(p, q, 1e-10, f"params[{i}]")
        assert_near(lars.state[i]["momentum_buffer"], 0.05 * sgd.state[i]["momentum_buffer"],
                    1e-10, "momentum_buffer")  # fmt: skip


# -- optim: maximize, grad_scale, found_inf, state dicts, registration ------------------------


def make(name, params, **kwargs):
    return getattr(optim, name)(params, **({"lr": 0.02} if name == "LAMB" else {"lr": 5.0}),
                                **kwargs)  # fmt: skip


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_maximize_is_minimizing_the_negated_gradients(name):
    rng, init, targets = problem(seed=10)
    a, b = [p.copy() for p in init], [p.copy() for p in init]
    up, down = make(name, a, maximize=True, weight_decay=0.01), make(name, b, weight_decay=0.01)
    for _ in range(10):
        grads = grads_at(rng, a, targets, np.float64)
        up.step([-g for g in grads])
        down.step(grads)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_grad_scale_found_inf_and_skipped_parameters(name, dtype):
    rng, init, targets = problem(seed=6)
    plain, scaled = [p.astype(dtype) for p in init], [p.astype(dtype) for p in init]
    a = make(name, plain, weight_decay=0.01)
    b = make(name, scaled, weight_decay=0.01)
    for _ in range(5):
        grads = grads_at(rng, plain, targets, dtype)
        a.step(grads)
        b.step([g * dtype(1024.0) for g in grads], grad_scale=1024.0)
    for p, q in zip(plain, scaled):
        np.testing.assert_array_equal(p, q)  # a power of two divides exactly
    assert np.abs(plain[0] - init[0]).max() > 1e-3
    before = [p.copy() for p in scaled]
    states = [{k: v.copy() for k, v in s.items() if k != "step"} for s in b.state.values()]
    b.step([np.full(p.shape, np.inf, dtype) for p in scaled], found_inf=True)  # skipped whole
    b.step([None] * len(scaled))
    for p, q in zip(scaled, before):
        np.testing.assert_array_equal(p, q)
    for i, state in enumerate(states):
        for key, value in state.items():
            np.testing.assert_array_equal(b.state[i][key], value)
    assert all(s["step"] == 5 for s in b.state.values())
    grads = grads_at(rng, scaled, targets, dtype)
    b.step([grads[0]] + [None] * (len(scaled) - 1))  # only the first parameter moves
    assert b.state[0]["step"] == 6
    assert all(b.state[i]["step"] == 5 for i in range(1, len(scaled)))
    for p, q in zip(scaled[1:], before[1:]):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_optim_state_dict_resumes_exactly(name):
    rng, init, targets = problem(seed=4)
    a = [p.copy() for p in init]
    opt_a = make(name, a, weight_decay=0.01)
    for _ in range(5):
        opt_a.step(grads_at(rng, a, targets, np.float64))
    saved = opt_a.state_dict()
    b = [p.copy() for p in a]
    opt_b = getattr(optim, name)(b, lr=0.5, weight_decay=0.3)
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["weight_decay"] == 0.01
    for _ in range(5):
        grads = grads_at(rng, a, targets, np.float64)
        opt_a.step(grads)
        opt_b.step(grads)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert opt_b.state[0]["step"] == 10


def test_registered_everywhere_but_among_the_element_wise_rules():
    for name in ("LAMB", "LARS"):
        assert name in optim.__all__
        assert name in reference.__all__
        assert name not in optim.element_wise()  # no single element-wise rule
        assert issubclass(getattr(optim, name), optim.Optimizer)
    assert "lamb_" in F.__all__
    assert "lars_" in F.__all__
    assert optim.default_lr(optim.LAMB) == 1e-3
    assert optim.default_lr(optim.LARS) == 1.0


def test_defaults_are_optax():
    lamb = optim.LAMB([np.zeros(2)]).defaults
    assert (lamb["betas"], lamb["eps"], lamb["eps_root"], lamb["weight_decay"]) == \
        ((0.9, 0.999), 1e-6, 0.0, 0.0)  # fmt: skip
    lars = optim.LARS([np.zeros(2)]).defaults
    assert (lars["momentum"], lars["weight_decay"], lars["trust_coefficient"], lars["eps"],
            lars["nesterov"]) == (0.9, 0.0, 0.001, 0.0, False)  # fmt: skip
    assert lamb["trust_ratio"] is lars["trust_ratio"] is True


def test_empty_arrays_are_left_alone():
    F.lamb_(np.zeros((5, 0)), np.zeros((5, 0)), np.zeros((5, 0)), np.zeros((5, 0)), step=1)
    F.lars_(np.zeros(0), np.zeros(0), np.zeros(0))
    for cls in (optim.LAMB, optim.LARS):
        opt = cls([np.ones(0), np.ones((2, 3))])
        opt.step([np.ones(0), np.ones((2, 3))])
        assert opt.state[1]["step"] == 1
        assert np.all(np.isfinite(opt.param_groups[0]["params"][1]))


# -- bad input -------------------------------------------------------------------------------


def arrays(n=4):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((4, 3)) for _ in range(n)]


COMMON_BAD = [
    ({"lr": -1.0}, ValueError, "lr"),
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"lr": "0.1"}, TypeError, "lr"),
    ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ({"eps": -1e-7}, ValueError, "eps"),
    ({"trust_ratio": "yes"}, TypeError, "trust_ratio"),
]
LAMB_BAD = [*COMMON_BAD, ({"eps_root": -1.0}, ValueError, "eps_root")]
LARS_BAD = [
    *COMMON_BAD,
    ({"momentum": 1.0}, ValueError, "momentum"),
    ({"momentum": -0.5}, ValueError, "momentum"),
    ({"trust_coefficient": -0.001}, ValueError, "trust_coefficient"),
    ({"trust_coefficient": float("inf")}, ValueError, "trust_coefficient"),
    ({"nesterov": 1}, TypeError, "nesterov"),
]


@pytest.mark.parametrize(("kwargs", "error", "name"), LAMB_BAD)
def test_lamb_invalid_hyperparameters_raise_naming_them_and_change_nothing(kwargs, error, name):
    p, g, m, v = arrays()
    same = unchanged(p, g, m, v)
    with pytest.raises(error, match=name):
        F.lamb_(p, g, m, v, step=1, **kwargs)
    same()
    with pytest.raises(error, match=name):
        optim.LAMB([p], **kwargs)
    opt = optim.LAMB([p])
    opt.param_groups[0].update(kwargs)  # changed between steps: checked by the step
    with pytest.raises(error, match=name):
        opt.step([g])
    assert not opt.state
    same()


@pytest.mark.parametrize(("kwargs", "error", "name"), LARS_BAD)
def test_lars_invalid_hyperparameters_raise_naming_them_and_change_nothing(kwargs, error, name):
    p, g, b = arrays(3)
    same = unchanged(p, g, b)
    with pytest.raises(error, match=name):
        F.lars_(p, g, b, **kwargs)
    same()
    with pytest.raises(error, match=name):
        optim.LARS([p], **kwargs)
    opt = optim.LARS([p])
    opt.param_groups[0].update(kwargs)
    with pytest.raises(error, match=name):
        opt.step([g])
    assert not opt.state
    same()


def test_lamb_step_betas_and_grad_scale_are_checked():
    p, g, m, v = arrays()
    same = unchanged(p, g, m, v)
    for kwargs, error, name in [
        ({"step": 0}, ValueError, "step"),
        ({"step": 1.5}, TypeError, "step"),
        ({"step": 1, "beta1": 1.0}, ValueError, "beta1"),
        ({"step": 1, "beta2": -0.1}, ValueError, "beta2"),
        ({"step": 1, "grad_scale": 0.0}, ValueError, "grad_scale"),
    ]:
        with pytest.raises(error, match=name):
            F.lamb_(p, g, m, v, **kwargs)
        same()
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        optim.LAMB([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="grad_scale"):
        F.lars_(p, g, m, grad_scale=-2.0)
    same()


def test_bad_arrays_raise_naming_them_and_change_nothing():
    p, g, m, v = arrays()
    same = unchanged(p, g, m, v)
    lamb_cases = [
        ((p, g.astype(np.float32), m, v), TypeError, "grads"),
        ((p, g[:3], m, v), ValueError, "grads"),
        ((p, g, m.astype(np.float32), v), TypeError, "exp_avgs"),
        ((p, g, m, np.zeros((3, 4))), ValueError, "exp_avg_sqs"),
        ((p.astype(np.int64), g, m, v), TypeError, "params"),
        ((p.astype(np.float16), g, m, v), TypeError, "params"),
        ((p, g, m, m), ValueError, "shares memory"),
        ((p, p, m, v), ValueError, "shares memory"),
        ((p, g, m, p), ValueError, "shares memory"),
        ((p, g, m[:2], v), ValueError, "exp_avgs"),
        ((p.T, g.T, m.T, v.T), ValueError, "contiguous"),
        (([p], [g], [m, m], [v]), ValueError, "exp_avgs"),
        (([p], g, [m], [v]), TypeError, "grads"),
        (([p, np.ones(5)], [g, np.ones(5)], [m, np.zeros(5)], [v, np.zeros(4)]),
         ValueError, r"exp_avg_sqs\[1\]"),
        (([p, m], [g, g], [np.zeros((4, 3)), m], [np.zeros((4, 3)), np.zeros((4, 3))]),
         ValueError, "shares memory"),  # a parameter that is another's state
    ]
    for args, error, name in lamb_cases:
        with pytest.raises(error, match=name):
            F.lamb_(*args, step=1)
        same()
    lars_cases = [
        ((p, g.astype(np.float32), m), TypeError, "grads"),
        ((p, g, np.zeros(12)), ValueError, "momentum_buffers"),
        ((p, g, p), ValueError, "shares memory"),
        (([p, v], [g, g], [m, np.zeros(3)]), ValueError, r"momentum_buffers\[1\]"),
    ]
    for args, error, name in lars_cases:
        with pytest.raises(error, match=name):
            F.lars_(*args)
        same()
    frozen = m.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="exp_avgs is read-only"):
        F.lamb_(p, g, frozen, v, step=1)
    with pytest.raises(ValueError, match="momentum_buffers is read-only"):
        F.lars_(p, g, frozen)
    same()


@pytest.mark.parametrize("name", ["LAMB", "LARS"])
def test_optim_bad_input_changes_nothing(name):
    p, q, g = arrays(3)
    same = unchanged(p, q)
    opt = getattr(optim, name)([{"params": [p]}, {"params": [q], "trust_ratio": False}])
    bad_grads = [
        ([g, g.astype(np.float32)], TypeError, r"grads\[1\]"),
        ([g, g[:2]], ValueError, r"grads\[1\]"),
        ([g], ValueError, "grads"),
        (g, TypeError, "grads"),
        ([g, p], ValueError, "shares memory"),
    ]
    for grads, error, match in bad_grads:
        with pytest.raises(error, match=match):
            opt.step(grads)
        same()
        assert not opt.state
    opt.step([g, g])
    stepped = unchanged(p, q, *(opt.state[i][k] for i in (0, 1) for k in STATE_KEYS[name]))
    opt.state[1][STATE_KEYS[name][0]] = np.zeros((3, 4))  # a state of the wrong shape
    with pytest.raises(ValueError, match=r"state\[1\]"):
        opt.step([g, g])
    stepped()
    assert opt.state[0]["step"] == 1  # the valid group was not stepped either
    with pytest.raises(TypeError, match="float32 and float64"):
        getattr(optim, name)([np.zeros((2, 2), np.float16)])
    opt.precision = optim.optimizer.Precision(state_dtype="float32")
    with pytest.raises(TypeError, match="precision"):
        opt.step([g, g])
