"""Bad input raises TypeError/ValueError naming the argument, and changes no array."""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt import functional as F
from pyfastopt import optim


def buffers(n=64, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(4)]


def adam_call(p, g, m, v, **kw):
    return lambda: F.adam_(p, g, m, v, **{"step": 1, "lr": 1e-3, **kw})


def unchanged(*arrays):
    """A check that the arrays still hold what they hold now."""
    snapshot = [a.copy() for a in arrays]

    def check():
        for before, after in zip(snapshot, arrays):
            np.testing.assert_array_equal(after, before)

    return check


def expect(error, match, call, *arrays):
    check = unchanged(*arrays)
    with pytest.raises(error, match=match):
        call()
    check()


@pytest.mark.parametrize(
    ("arg", "make", "error", "match"),
    [
        ("grad", lambda a: a.astype(np.float64), TypeError, "grad has dtype float64"),
        ("exp_avg", lambda a: a.astype(np.float64), TypeError, "exp_avg has dtype"),
        ("grad", lambda a: a.astype(np.int32), TypeError, "grad has dtype int32"),
        ("grad", lambda a: a.astype(np.uint16), TypeError, "grad has dtype uint16"),
        ("grad", lambda a: a[:-1].copy(), ValueError, "grad has shape"),
        ("exp_avg_sq", lambda a: a.reshape(8, 8).copy(), ValueError, "exp_avg_sq has shape"),
        ("grad", lambda a: a.tolist(), TypeError, "grad must be a numpy.ndarray"),
        ("exp_avg", lambda a: None, TypeError, "exp_avg must be a numpy.ndarray"),
        ("grad", lambda a: np.repeat(a, 2)[::2], ValueError, "grad must be C-contiguous"),
        ("exp_avg", lambda a: np.repeat(a, 2)[::2], ValueError, "exp_avg must be C-contiguous"),
        ("grad", lambda a: a.astype(">f4"), TypeError, "grad has dtype"),
    ],
)  # fmt: skip
def test_bad_buffer(arg, make, error, match):
    p, g, m, v = buffers()
    args = {"p": p, "g": g, "m": m, "v": v}
    key = {"grad": "g", "exp_avg": "m", "exp_avg_sq": "v"}[arg]
    args[key] = make(args[key])
    expect(error, match, adam_call(**args), p, g, m, v)


def test_bad_param_dtype_and_layout():
    p, g, m, v = buffers()
    ints = np.arange(64, dtype=np.int64)
    expect(TypeError, "param has dtype int64", adam_call(ints, g, m, v), ints, g, m, v)
    strided = np.repeat(p, 2)[::2]
    expect(ValueError, "param must be C-contiguous", adam_call(strided, g, m, v), p, g, m, v)


def test_fortran_order_state_is_refused():
    p, g, m, v = (a.reshape(8, 8) for a in buffers())
    fortran = np.asfortranarray(v)
    expect(ValueError, "exp_avg_sq must be C-contiguous", adam_call(p, g, m, fortran),
           p, m, fortran)  # fmt: skip


def test_read_only_buffers():
    p, g, m, v = buffers()
    p.flags.writeable = False
    expect(ValueError, "param is read-only", adam_call(p, g, m, v), p, g, m, v)
    p.flags.writeable = True
    v.flags.writeable = False
    expect(ValueError, "exp_avg_sq is read-only", adam_call(p, g, m, v), p, g, m, v)
    v.flags.writeable = True
    g.flags.writeable = False  # a read-only gradient is fine: it is only read
    F.adam_(p, g, m, v, step=1)


def test_aliasing_is_refused():
    p, g, m, v = buffers()
    expect(ValueError, "shares memory", adam_call(p, p, m, v), p, m, v)
    expect(ValueError, "shares memory", adam_call(p, g, p, v), p, g, v)
    expect(ValueError, "shares memory", adam_call(p, g, m, m), p, g, m)
    big = np.zeros(100, np.float32)
    expect(ValueError, "shares memory", adam_call(big[:50], g[:50], big[40:90], v[:50]), big)
    # gradients may share memory with each other: they are only read
    a, b = np.zeros(8, np.float32), np.zeros(8, np.float32)
    shared = np.ones(8, np.float32)
    F.sgd_([a, b], [shared, shared], step=1, lr=0.5)
    np.testing.assert_array_equal(a, -0.5)


def test_mixed_dtypes_in_one_call():
    p32, g32, m32, v32 = buffers()
    p64, g64, m64, v64 = buffers(dtype=np.float64)
    call = lambda: F.adam_([p32, p64], [g32, g64], [m32, m64], [v32, v64], step=1)
    expect(TypeError, r"param\[1\] has dtype float64", call, p32, p64, m32, m64, v32, v64)


def test_list_length_mismatch():
    p, g, m, v = buffers()
    call = lambda: F.adam_([p], [g, g], [m], [v], step=1)
    expect(ValueError, "grad: expected 1", call, p, m, v)
    call = lambda: F.adam_([p], [g], [m, v], [v], step=1)
    expect(ValueError, "exp_avg: expected 1", call, p, m, v)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": -1e-3}, ValueError, "Invalid lr"),
        ({"lr": float("nan")}, ValueError, "Invalid lr"),
        ({"lr": float("inf")}, ValueError, "Invalid lr"),
        ({"lr": "0.1"}, TypeError, "lr must be a real number"),
        ({"beta1": 1.0}, ValueError, "Invalid beta1"),
        ({"beta2": -0.1}, ValueError, "Invalid beta2"),
        ({"eps": -1e-8}, ValueError, "Invalid eps"),
        ({"weight_decay": -0.1}, ValueError, "Invalid weight_decay"),
        ({"step": 0}, ValueError, "Invalid step"),
        ({"step": 1.5}, TypeError, "step must be an int"),
    ],
)
def test_bad_hyperparameters_functional(kwargs, error, match):
    p, g, m, v = buffers()
    expect(error, match, adam_call(p, g, m, v, **kwargs), p, g, m, v)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (optim.SGD, {"lr": -0.1}, "Invalid lr"),
        (optim.SGD, {"momentum": -0.5}, "Invalid momentum"),
        (optim.SGD, {"nesterov": True}, "nesterov"),
        (optim.Adam, {"betas": (0.9, 1.0)}, r"Invalid betas\[1\]"),
        (optim.Adam, {"eps": -1.0}, "Invalid eps"),
        (optim.Adagrad, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
        (optim.Adagrad, {"lr_decay": -1.0}, "Invalid lr_decay"),
        (optim.RMSprop, {"alpha": 1.5}, "Invalid alpha"),
        (optim.Rprop, {"etas": (1.5, 1.2)}, "etas"),
        (optim.Rprop, {"step_sizes": (1.0, 0.1)}, "step_sizes"),
        (optim.AdaBound, {"gamma": 0.0}, "Invalid gamma"),
        (optim.Lion, {"betas": (-0.1, 0.99)}, r"Invalid betas\[0\]"),
        (optim.NAdam, {"momentum_decay": -1.0}, "Invalid momentum_decay"),
        (optim.Adadelta, {"rho": 2.0}, "Invalid rho"),
    ],
)
def test_bad_hyperparameters_class(cls, kwargs, match):
    p = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=match):
        cls([p], **kwargs)


def test_bad_params_for_class():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match=r"params\[0\] must be a numpy.ndarray"):
        optim.Adam([[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"params\[0\] has dtype int64"):
        optim.Adam([np.arange(3)])
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        optim.Adam([ro])
    with pytest.raises(ValueError, match=r"params\[0\] must be C-contiguous"):
        optim.Adam([np.ones(6)[::2]])
    p = np.ones(3)
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([p, p])


def test_bad_grads_for_class_step_change_nothing():
    rng = np.random.default_rng(1)
    p1, p2 = rng.standard_normal(5), rng.standard_normal((2, 3))
    opt = optim.Adam([{"params": [p1]}, {"params": [p2], "lr": 0.1}])
    good = [np.ones(5), np.ones((2, 3))]
    opt.step(good)
    state = opt.state_dict()
    check = unchanged(p1, p2, *(v for s in opt.state.values() for v in s.values()
                                if isinstance(v, np.ndarray)))  # fmt: skip
    bad_steps = [
        ([np.ones(5)], ValueError, "expected 2 gradients"),
        ([np.ones(5), np.ones((2, 3)), np.ones(1)], ValueError, "expected 2 gradients"),
        (np.ones(5), TypeError, "grads must be a list"),
        ([np.ones(5), [[1.0] * 3] * 2], TypeError, r"grads\[1\] must be a numpy.ndarray"),
        ([np.ones(5), np.ones((2, 3), np.float32)], TypeError, r"grads\[1\] has dtype float32"),
        ([np.ones(5), np.ones((3, 2))], ValueError, r"grads\[1\] has shape"),
        ([np.ones(10)[::2], np.ones((2, 3))], ValueError, r"grads\[0\] must be C-contiguous"),
    ]
    for grads, error, match in bad_steps:
        with pytest.raises(error, match=match):
            opt.step(grads)
        check()
    # an invalid hyperparameter set later, in the second group, is caught before group 1 moves
    opt.param_groups[1]["lr"] = -1.0
    with pytest.raises(ValueError, match="Invalid lr"):
        opt.step(good)
    check()
    assert opt.state_dict()["state"].keys() == state["state"].keys()
    assert all(s["step"] == 1 for s in opt.state.values())


def test_class_rejects_aliasing_grad():
    p = np.ones(4)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="shares memory"):
        opt.step([p])
    np.testing.assert_array_equal(p, 1.0)


@pytest.mark.parametrize("order", ["allocated", "reversed", "shuffled"])
def test_plan_finds_an_aliasing_grad_among_many(order):
    # The plan's overlap check starts from its previous answer: it must still catch a
    # gradient that is a written buffer, wherever it comes in the list and in memory.
    params = [np.ones(64) for _ in range(60)]
    pool = [np.full(64, 0.5) for _ in range(60)]
    index = {"allocated": np.arange(60), "reversed": np.arange(60)[::-1],
             "shuffled": np.random.default_rng(5).permutation(60)}[order]  # fmt: skip
    grads = [pool[i] for i in index]  # the gradients' addresses in this order
    opt = optim.Adam(params, lr=0.1)
    opt.step(grads)
    opt.step(grads)  # the native plan is in use from here
    for victim in (params[41], opt.state[17]["exp_avg_sq"], params[0], params[59]):
        for k in (0, 30, 59):
            aliasing = list(grads)
            aliasing[k] = victim
            before = [p.copy() for p in params]
            with pytest.raises(ValueError, match="shares memory"):
                opt.step(aliasing)
            for p, b in zip(params, before):
                np.testing.assert_array_equal(p, b)
            opt.step(grads)  # a good step in between moves the check's starting point
