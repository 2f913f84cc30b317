"""pyfastopt.optim.LBFGS against torch.optim.LBFGS (trajectories, state dicts both ways) and
against scipy.optimize.minimize(method="L-BFGS-B") (minimum, evaluations); bad input."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import rosen_and_der

import pyfastopt
from pyfastopt import _core, optim

torch = pytest.importorskip("torch")

TORCH_DTYPE = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}
#: float64 follows torch to rounding (FMA and BLAS summation order differ); float32 carries
#: float32 rounding through 60 steps.
RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 3e-5}
STEPS = 60


@pytest.fixture
def float64_default():
    """torch's default dtype float64 for the test (Python floats become float64 tensors)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def logistic_loss(w1, w2, b, x, labels):
    """Softmax regression on two feature blocks with an L2 penalty: smooth and strongly
    convex, three parameter arrays (2-D, 2-D, 1-D)."""
    logits = x[:, :5] @ w1 + x[:, 5:] @ w2 + b
    nll = torch.nn.functional.cross_entropy(logits, labels)
    return nll + 0.05 * (w1.square().sum() + w2.square().sum() + b.square().sum())


def logistic_problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 9))
    labels = rng.integers(0, 3, size=40)
    params = [rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=3)]
    return [p.astype(dtype) for p in params], x.astype(dtype), labels


def logistic_data():
    _, x, labels = logistic_problem(np.float64)
    return torch.tensor(x), torch.tensor(labels)


def torch_closure(opt, tensors, x, labels):
    def closure():
        opt.zero_grad()
        loss = logistic_loss(*tensors, x, labels)
        loss.backward()
        return loss.detach()  # (torch takes float() of it)

    return closure


def numpy_closure(arrays, x, labels):
    """The same loss through torch's autograd at our arrays: both optimizers see the same
    values and gradients for the same parameters."""

    def closure():
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        loss = logistic_loss(*tensors, x, labels)
        loss.backward()
        return loss.item(), [t.grad.numpy() for t in tensors]

    return closure


def deviation(ours, theirs):
    """The largest |ours - theirs| over all parameters, relative to the largest |theirs|
    (atol = rtol * scale: elements near zero have no meaningful relative error)."""
    refs = [t.detach().numpy().astype(np.float64) for t in theirs]
    scale = max(float(np.max(np.abs(r))) for r in refs)
    return max(float(np.max(np.abs(a.astype(np.float64) - r))) for a, r in zip(ours, refs)) / scale


def pair(dtype, kwargs):
    if np.dtype(dtype) == np.float32:
        # Near the minimum float32 gradient differences y are rounding noise, which both
        # implementations follow (their BLAS sums differ in order): stop where the gradient
        # is still well resolved (float64 runs into its noise floor undisturbed)
        kwargs = {"tolerance_grad": 1e-4, **kwargs}
    params, x, labels = logistic_problem(dtype)
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    theirs = torch.optim.LBFGS(tensors, **kwargs)
    arrays = [p.copy() for p in params]
    ours = optim.LBFGS(arrays, **kwargs)
    tx = torch.tensor(x)
    tl = torch.tensor(labels)
    return (ours, arrays, numpy_closure(arrays, tx, tl)), \
        (theirs, tensors, torch_closure(theirs, tensors, tx, tl))  # fmt: skip


KWARGS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"history_size": 3, "max_iter": 4},  # the history wraps within a step
    {"history_size": 3, "max_iter": 4, "line_search_fn": "strong_wolfe"},
    {"lr": 0.5, "max_iter": 1, "history_size": 5},
]
IDS = ["none", "strong_wolfe", "none-h3", "strong_wolfe-h3", "lr0.5-iter1"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", KWARGS, ids=IDS)
def test_trajectory_matches_torch(kwargs, dtype, float64_default):
    (ours, arrays, closure), (theirs, tensors, torch_step) = pair(dtype, kwargs)
    rtol = RTOL[np.dtype(dtype)]
    for k in range(STEPS):
        loss_t = float(theirs.step(torch_step))
        loss = ours.step(closure)
        assert loss == pytest.approx(loss_t, rel=rtol, abs=rtol), f"step {k}"
        assert deviation(arrays, tensors) <= rtol, f"step {k}"
        assert all(a.dtype == dtype for a in arrays)
    state, state_t = ours.state[0], theirs.state[tensors[0]]
    assert state["func_evals"] == state_t["func_evals"]
    assert state["n_iter"] == state_t["n_iter"]
    assert len(state["old_dirs"]) == len(state_t["old_dirs"])


def test_parameters_are_updated_in_place():
    params, x, labels = logistic_problem(np.float64)
    arrays = [p.copy() for p in params]
    ids = [id(a) for a in arrays]
    ours = optim.LBFGS(arrays, line_search_fn="strong_wolfe")
    ours.step(numpy_closure(arrays, torch.tensor(x), torch.tensor(labels)))
    assert [id(p) for p in ours.param_groups[0]["params"]] == ids
    assert not all(np.array_equal(a, p) for a, p in zip(arrays, params))


# --- state dicts, both ways ---------------------------------------------------------------


def to_numpy(value):
    """A torch state value as ours: tensors as arrays (0-d ones as NumPy scalars)."""
    if isinstance(value, torch.Tensor):
        array = value.detach().numpy().copy()
        return array[()] if array.ndim == 0 else array
    if isinstance(value, list):
        return [to_numpy(v) for v in value]
    return value


def to_torch(value):
    """Our state value as torch's: arrays and NumPy scalars as tensors."""
    if isinstance(value, (np.ndarray, np.generic)):
        return torch.from_numpy(np.array(value))
    if isinstance(value, list):
        return [to_torch(v) for v in value]
    return value


def convert(state_dict, how):
    return {
        "state": {i: {k: how(v) for k, v in s.items()} for i, s in state_dict["state"].items()},
        "param_groups": [dict(g) for g in state_dict["param_groups"]],
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", KWARGS[1:4], ids=IDS[1:4])
def test_state_dict_from_torch_and_back(kwargs, dtype, float64_default):
    rtol = RTOL[np.dtype(dtype)]
    # torch for 5 steps, then ours from torch's state (and torch's parameters)
    (ours, arrays, closure), (theirs, tensors, torch_step) = pair(dtype, kwargs)
    for _ in range(5):
        theirs.step(torch_step)
    for a, t in zip(arrays, tensors):
        a[...] = t.detach().numpy()
    ours.load_state_dict(convert(theirs.state_dict(), to_numpy))
    for k in range(10):
        theirs.step(torch_step)
        ours.step(closure)
        assert deviation(arrays, tensors) <= rtol, f"step {k}"
    # then torch from our state
    (_, _, _), (fresh, fresh_tensors, fresh_step) = pair(dtype, kwargs)
    with torch.no_grad():
        for a, t in zip(arrays, fresh_tensors):
            t.copy_(torch.from_numpy(a))
    fresh.load_state_dict(convert(ours.state_dict(), to_torch))
    for k in range(10):
        fresh.step(fresh_step)
        ours.step(closure)
        assert deviation(arrays, fresh_tensors) <= rtol, f"step {k}"


def test_state_has_torchs_keys_and_a_deep_copied_state_dict():
    (ours, arrays, closure), (theirs, tensors, torch_step) = pair(np.float64, KWARGS[2])
    for _ in range(3):
        ours.step(closure)
        theirs.step(torch_step)
    assert set(ours.state) == {0}
    assert set(ours.state[0]) == set(theirs.state[tensors[0]])
    saved = ours.state_dict()
    assert saved["param_groups"][0]["params"] == [0, 1, 2]
    before = [a.copy() for a in saved["state"][0]["old_dirs"]]
    ours.step(closure)
    assert all(np.array_equal(a, b) for a, b in zip(saved["state"][0]["old_dirs"], before))
    # our own state dict restores our own trajectory, to the bit
    copies = [a.copy() for a in arrays]
    again = optim.LBFGS(copies, **KWARGS[2])
    again.load_state_dict(ours.state_dict())
    again_closure = numpy_closure(copies, *logistic_data())
    for _ in range(3):
        ours.step(closure)
        again.step(again_closure)
    assert all(np.array_equal(a, b) for a, b in zip(arrays, copies))


# --- against SciPy -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 100])
def test_rosenbrock_reaches_scipys_minimum_in_as_few_evaluations(n):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    x0 = np.array([-1.2, 1.0]) if n == 2 else np.random.default_rng(0).uniform(-2.0, 2.0, n)
    # SciPy to its best accuracy: the reference minimum
    theirs = scipy_optimize.minimize(rosen_and_der, x0, jac=True, method="L-BFGS-B",
                                     options={"gtol": 1e-10, "ftol": 1e-15})  # fmt: skip
    assert theirs.success
    x = x0.copy()
    calls = []

    def closure():
        calls.append(1)
        value, grad = rosen_and_der(x)
        return value, [grad]

    # torch's defaults but the tolerances: 1e-7 and 1e-9 stop ~1e-5 short of the minimum
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=10_000, max_eval=10_000,
                      tolerance_grad=1e-10, tolerance_change=0.0)  # fmt: skip
    opt.step(closure)
    assert np.max(np.abs(x - theirs.x)) <= 1e-6
    assert len(calls) == opt.state[0]["func_evals"]
    assert len(calls) <= 1.2 * theirs.nfev, (len(calls), theirs.nfev)


# --- bad input --------------------------------------------------------------------------


def stepped(line_search_fn="strong_wolfe"):
    x = np.array([-1.2, 1.0, 0.5])
    w = np.array([[0.3, -0.2]])

    def closure():
        value, grad = rosen_and_der(x)
        return value + float(np.sum(w**2)), [grad, 2 * w]

    opt = optim.LBFGS([x, w], line_search_fn=line_search_fn, history_size=2, max_iter=3)
    for _ in range(3):
        opt.step(closure)
    return opt, [x, w], closure


def snapshot(opt, params):
    return [p.copy() for p in params], opt.state_dict()


def assert_unchanged(opt, params, saved):
    arrays, state_dict = saved
    assert all(np.array_equal(a, p) for a, p in zip(arrays, params))
    now = opt.state_dict()
    assert now["param_groups"] == state_dict["param_groups"]
    assert set(now["state"][0]) == set(state_dict["state"][0])
    for key, value in state_dict["state"][0].items():
        got = now["state"][0][key]
        if isinstance(value, list):
            assert len(got) == len(value), key
            assert all(np.array_equal(a, b) for a, b in zip(got, value)
                       if a is not None and b is not None), key  # fmt: skip
        else:
            assert np.array_equal(got, value), key


def bad_closures(good):
    yield "closure", 3
    yield "grads", lambda: (good()[0], [good()[1][0]])
    yield "grads", lambda: (good()[0], good()[1][0])
    yield "grads[1]", lambda: (good()[0], [good()[1][0], np.zeros((2, 1))])
    yield "grads[0]", lambda: (good()[0], [good()[1][0].astype(np.float32), good()[1][1]])
    yield "loss", lambda: ("a", good()[1])
    yield "pair", lambda: good()[0]


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_bad_closure_changes_nothing(line_search_fn):
    opt, params, closure = stepped(line_search_fn)
    for name, bad in bad_closures(closure):
        saved = snapshot(opt, params)
        with pytest.raises((TypeError, ValueError)) as info:
            opt.step(bad)
        assert name in str(info.value) or name in ("loss", "pair"), str(info.value)
        assert_unchanged(opt, params, saved)
    # still steps as before
    opt.step(closure)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_closure_failing_within_a_step_changes_nothing(line_search_fn):
    opt, params, closure = stepped(line_search_fn)
    saved = snapshot(opt, params)
    for fail_at in (2, 3):
        calls = []

        def failing(fail_at=fail_at, calls=calls):
            calls.append(1)
            loss, grads = closure()
            return (loss, grads[:1]) if len(calls) == fail_at else (loss, grads)

        with pytest.raises(ValueError, match="grads"):
            opt.step(failing)
        assert_unchanged(opt, params, saved)
    # and the next steps are the ones the optimizer would have taken
    twin, twin_params, twin_closure = stepped(line_search_fn)
    for _ in range(3):
        opt.step(closure)
        twin.step(twin_closure)
    assert all(np.array_equal(a, b) for a, b in zip(params, twin_params))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1.0}, "lr"),
        ({"lr": "1"}, "lr"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"max_eval": 0}, "max_eval"),
        ({"tolerance_grad": -1.0}, "tolerance_grad"),
        ({"tolerance_change": float("nan")}, "tolerance_change"),
        ({"history_size": 0}, "history_size"),
        ({"line_search_fn": "wolfe"}, "line_search_fn"),
        ({"line_search_fn": 1}, "line_search_fn"),
    ],
)
def test_bad_hyperparameters(kwargs, name):
    x = np.zeros(3)
    with pytest.raises((TypeError, ValueError), match=name):
        optim.LBFGS([x], **kwargs)
    opt, params, closure = stepped()
    saved = snapshot(opt, params)
    opt.param_groups[0].update(kwargs)
    with pytest.raises((TypeError, ValueError), match=name):
        opt.step(closure)
    opt.param_groups[0].update(saved[1]["param_groups"][0] | {"params": params})
    assert_unchanged(opt, params, saved)


def test_one_group_and_one_float_dtype_like_torch():
    with pytest.raises(ValueError, match="parameter groups") as ours:
        optim.LBFGS([{"params": [np.zeros(2)]}, {"params": [np.zeros(2)]}])
    with pytest.raises(ValueError, match="parameter groups") as theirs:
        torch.optim.LBFGS([{"params": [torch.zeros(2)]}, {"params": [torch.zeros(2)]}])
    assert type(ours.value) is type(theirs.value)
    with pytest.raises(TypeError, match="params"):
        optim.LBFGS([np.zeros(2), np.zeros(2, np.float32)])


def test_bad_state_dict_changes_nothing():
    opt, params, _ = stepped()
    saved = snapshot(opt, params)
    good = opt.state_dict()
    bad_entries = [
        ("d", np.zeros(2)),
        ("old_dirs", [np.zeros(5)]),
        ("ro", "x"),
        ("n_iter", -1),
        ("H_diag", np.zeros(2)),
        ("bogus", 1),
    ]
    for key, value in bad_entries:
        broken = opt.state_dict()
        broken["state"][0][key] = value
        with pytest.raises((TypeError, ValueError), match=key):
            opt.load_state_dict(broken)
        assert_unchanged(opt, params, saved)
    opt.load_state_dict(good)
    assert_unchanged(opt, params, saved)


# --- the native two-loop recursion -----------------------------------------------------


def two_loop(grad, dirs, stps, ro, rows, h_diag):
    """Nocedal & Wright's algorithm 7.4 in float64, written out: -H grad and the alphas."""
    q = -np.asarray(grad, np.float64)
    alphas = {}
    for i in reversed(range(len(rows))):
        s, y = stps[rows[i]].astype(np.float64), dirs[rows[i]].astype(np.float64)
        alphas[i] = float(ro[rows[i]]) * (s @ q)
        q = q - alphas[i] * y
    r = h_diag * q
    for i in range(len(rows)):
        s, y = stps[rows[i]].astype(np.float64), dirs[rows[i]].astype(np.float64)
        beta = float(ro[rows[i]]) * (y @ r)
        r = r + (alphas[i] - beta) * s
    return r, [alphas[i] for i in range(len(rows))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("k", [0, 1, 4, 7])
def test_native_two_loop_matches_the_textbook_recursion(k, dtype):
    rng = np.random.default_rng(k)
    n, size = 1000, 7
    dirs = rng.standard_normal((size, n)).astype(dtype)
    stps = (dirs + 0.3 * rng.standard_normal((size, n))).astype(dtype)  # y's > 0
    ro = (1.0 / np.einsum("ij,ij->i", dirs.astype(np.float64), stps)).astype(dtype)
    rows = rng.permutation(size)[:k].astype(np.int64)  # a ring: any order of rows
    grad = rng.standard_normal(n).astype(dtype)
    q, al = np.empty(n, dtype), np.empty(size, dtype)
    _core.lbfgs_direction(grad, dirs, stps, ro, rows, 0.7, q, al)
    expected, alphas = two_loop(grad, dirs, stps, ro, rows, 0.7)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    scale = np.abs(expected).max()
    np.testing.assert_allclose(q, expected, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(al[:k], alphas, rtol=rtol, atol=rtol * np.abs(alphas).max(initial=1))


def test_native_two_loop_is_bitwise_the_same_for_any_thread_count(threads):
    rng = np.random.default_rng(1)
    n, size = 300_000, 5
    dirs = rng.standard_normal((size, n)).astype(np.float32)
    stps = (dirs + 0.3 * rng.standard_normal((size, n))).astype(np.float32)
    ro = (1.0 / np.einsum("ij,ij->i", dirs.astype(np.float64), stps)).astype(np.float32)
    rows = np.array([3, 4, 0, 1], np.int64)
    grad = rng.standard_normal(n).astype(np.float32)
    out = []
    for count in (1, 2):
        pyfastopt.set_num_threads(count)
        q, al = np.empty(n, np.float32), np.empty(size, np.float32)
        _core.lbfgs_direction(grad, dirs, stps, ro, rows, 0.5, q, al)
        out.append((q, al))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1][: len(rows)], out[1][1][: len(rows)])


def test_native_two_loop_refuses_what_memory_safety_needs():
    n, size = 10, 3
    args = [np.ones(n), np.ones((size, n)), np.ones((size, n)), np.ones(size),
            np.array([0, 2], np.int64), 1.0, np.empty(n), np.empty(size)]  # fmt: skip
    for i, bad, error, name in [
        (4, np.array([0, 3], np.int64), ValueError, r"rows\[1\]"),
        (4, np.array([0, 1], np.int32), TypeError, "rows"),
        (1, np.ones((size, n - 1)), ValueError, "dirs"),
        (6, np.empty(n - 1), ValueError, "q"),
        (2, np.ones((size, n), np.float32), TypeError, "stps"),
    ]:
        call = list(args)
        call[i] = bad
        with pytest.raises(error, match=name):
            _core.lbfgs_direction(*call)
