"""Adafactor: pyfastopt.optim.Adafactor, functional.adafactor_ and pyfastopt.torch.Adafactor
against the float64 transcription of torch's algorithm (pyfastopt.reference.Adafactor),
against closed forms, and against torch.optim.Adafactor itself."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import TRAJECTORY_RTOL, assert_near, grads_at, unchanged
from helpers import problem as noisy_quadratic

import pyfastopt
from pyfastopt import functional as F
from pyfastopt import optim, reference

#: matrices tall, wide and of one row or column, a batch of matrices, vectors, a scalar
SHAPES = [(12, 5), (5, 12), (1, 9), (9, 1), (3, 4, 6), (7,), ()]
OPTIONS = [
    {},
    {"weight_decay": 0.1},
    {"maximize": True},
    {"lr": 0.3, "d": 1.5, "beta2_decay": -0.5},  # rho = 1/sqrt(t) after a few steps
    {"eps": (1e-2, 1e-2), "lr": 0.05},  # both floors bind
    {"d": 1.0e3, "beta2_decay": 0.0},  # no clipping; beta2t = 1: this step's statistics
]
OPTION_IDS = ["-".join(f"{k}={v}" for k, v in kw.items()) or "defaults" for kw in OPTIONS]
#: float32 runs in float32 (sums in float64): a few ulps per step, in params and states
RTOL = TRAJECTORY_RTOL


def problem(seed=3, shapes=SHAPES):
    """helpers.problem on this file's shapes."""
    return noisy_quadratic(seed, shapes)


def reference_options(kwargs, dtype):
    """The transcription's eps1 is float32's epsilon when None; torch takes the dtype's."""
    eps = kwargs.get("eps", (None, 1e-3))
    if eps[0] is None:
        eps = (float(np.finfo(dtype).eps), eps[1])
    return {**kwargs, "eps": eps}


# -- against the float64 transcription ---------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", OPTIONS, ids=OPTION_IDS)
def test_optim_matches_the_float64_transcription_over_60_steps(kwargs, dtype):
    rng, init, targets = problem()
    params = [np.array(p, dtype) for p in init]
    originals = list(params)
    ref_params = [np.array(p) for p in init]
    groups = [{"params": params[:4]}, {"params": params[4:], "lr": 0.002}]
    opt = optim.Adafactor(groups, **kwargs)
    ref_kw = reference_options(kwargs, dtype)
    refs = [reference.Adafactor(ref_params[:4], **ref_kw),
            reference.Adafactor(ref_params[4:], **{**ref_kw, "lr": 0.002})]  # fmt: skip
    for _ in range(60):
        grads = grads_at(rng, params, targets, dtype)  # both follow the same gradients
        opt.step(grads)
        refs[0].step(grads[:4])
        refs[1].step(grads[4:])
    for i, (p, q) in enumerate(zip(params, ref_params)):
        assert p is originals[i]
        assert p.dtype == dtype
        assert_near(p, q, RTOL[dtype], f"params[{i}]")
        state = opt.state[i]
        ref_state = refs[i // 4].state[i % 4]
        assert set(state) == {"step", *ref_state} - {"step"} | {"step"}
        assert state["step"] == 60
        for key in set(ref_state) - {"step"}:
            assert state[key].dtype == dtype
            assert_near(state[key], ref_state[key], RTOL[dtype], f"state[{i}][{key!r}]")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_functional_one_array_and_lists(dtype):
    rng, init, targets = problem(seed=5)
    params = [np.array(p, dtype) for p in init]
    shapes = [F.adafactor_state_shapes(p.shape) for p in params]
    states = {k: [np.zeros(s[k], dtype) if k in s else None for s in shapes]
              for k in ("row_var", "col_var", "variance")}  # fmt: skip
    ref_params = [np.array(p) for p in init]
    ref = reference.Adafactor(ref_params, lr=0.05, weight_decay=0.01,
                              eps=(float(np.finfo(dtype).eps), 1e-3))  # fmt: skip
    for t in range(1, 21):
        grads = grads_at(rng, params, targets, dtype)
        if t % 2:
            F.adafactor_(params, grads, states["row_var"], states["col_var"],
                         states["variance"], step=t, lr=0.05, weight_decay=0.01)  # fmt: skip
        else:
            for i, (p, g) in enumerate(zip(params, grads)):
                F.adafactor_(p, g, *(states[k][i] for k in states), step=t, lr=0.05,
                             weight_decay=0.01)  # fmt: skip
        ref.step(grads)
    for p, q in zip(params, ref_params):
        assert_near(p, q, RTOL[dtype], "params")


# -- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_first_step_of_a_rank_one_gradient_is_its_sign_times_the_relative_rate(dtype):
    """At t = 1 the statistics are this step's alone. For g = x y^T, the row means of g^2
    are x^2 mean(y^2), the column means mean(x^2) y^2, their mean mean(x^2) mean(y^2): the
    factored estimate is g^2 exactly, so U = sign(g), RMS(U) = 1 (no clipping at d = 1),
    and p1 = p0 - max(eps2, RMS(p0)) min(lr, 1) sign(g); a vector's full estimate gives the
    same. An independent closed form, not the transcription."""
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0.5, 2, 6) * rng.choice([-1, 1], 6), rng.uniform(0.5, 2, 4)
    for g in (np.outer(x, y), x, np.stack([np.outer(x, y), 3 * np.outer(x, y)])):
        p0 = rng.standard_normal(g.shape)
        p = p0.astype(dtype)
        states = F.adafactor_state_shapes(p.shape)
        row = np.zeros(states["row_var"], dtype) if "row_var" in states else None
        col = np.zeros(states["col_var"], dtype) if "col_var" in states else None
        var = np.zeros(states["variance"], dtype) if "variance" in states else None
        F.adafactor_(p, g.astype(dtype), row, col, var, step=1, lr=0.1)
        expected = p0 - max(1e-3, np.sqrt(np.mean(p0 * p0))) * 0.1 * np.sign(g)
        assert_near(p, expected, RTOL[dtype], f"shape {g.shape}")


def test_relative_step_size_clipping_and_floors():
    """The parts of the step size, each alone: an update of RMS r > d is scaled to RMS d;
    lr caps rho_t = 1/sqrt(t); a parameter of RMS below eps2 steps by eps2 * rho."""
    g = np.array([1.0, 1.0, 1.0, 1.0])
    # t = 4 with zero history: beta2t = 4^-0.8, v = beta2t g^2, u = g / sqrt(v): RMS > 1
    p = np.full(4, 2.0)
    v = np.zeros(4)
    F.adafactor_(p, g, None, None, v, step=4, lr=1.0, d=1.0)
    # clipped to RMS 1: u / RMS(u) = 1 per element; rho = min(1, 1/2); alpha = 2 * 0.5
    np.testing.assert_allclose(p, 2.0 - 1.0, rtol=1e-15)
    np.testing.assert_allclose(v, 4.0**-0.8, rtol=1e-15)
    # the eps2 floor: p = 0 steps by eps2 * lr
    p = np.zeros(4)
    F.adafactor_(p, g, None, None, np.zeros(4), step=1, lr=0.5, eps=(None, 0.25))
    np.testing.assert_allclose(p, -0.125, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("eps1", [None, 1e-2], ids=["eps1-default", "eps1-binds"])
def test_clipped_matrix_step_with_and_without_the_floor(dtype, eps1):
    """t = 4 with zero history: the estimate is 4^-0.8 times this step's, so RMS(U) > d = 1
    and the update's norm sets the step. One column's gradient is 1e-4 of the others': with
    eps1 = 1e-2 its estimate is below the floor eps1^2 (U there is g / eps1). Two blocks of
    rows; the expectation is written out with NumPy in float64."""
    rng = np.random.default_rng(5)
    g = rng.standard_normal((300, 200))
    g[:, 7] *= 1e-4
    p0 = rng.standard_normal(g.shape)
    e1 = float(np.finfo(dtype).eps) if eps1 is None else eps1
    w = 4.0**-0.8
    row, col = w * np.mean(g * g, axis=1, keepdims=True), w * np.mean(g * g, axis=0, keepdims=True)
    v = np.maximum(row * col / max(row.mean(), e1), e1 * e1)
    u = g / np.sqrt(v)
    assert np.sqrt(np.mean(u * u)) > 1.2  # the clip binds
    assert np.any(v == e1 * e1) == (eps1 is not None)  # the floor binds only with eps1
    expected = p0 - max(1e-3, np.sqrt(np.mean(p0 * p0))) * 0.5 / np.sqrt(np.mean(u * u)) * u
    p = p0.astype(dtype)
    F.adafactor_(p, g.astype(dtype), np.zeros((300, 1), dtype), np.zeros((1, 200), dtype), None,
                 step=4, lr=1.0, eps=(eps1, 1e-3))  # fmt: skip
    assert_near(p, expected, RTOL[dtype], "params")


def test_state_is_sublinear_in_the_matrix_size():
    p = np.zeros((300, 200), np.float32)
    opt = optim.Adafactor([p, np.zeros(10, np.float32)])
    opt.step([np.ones_like(p), np.ones(10, np.float32)])
    assert opt.state[0]["row_var"].shape == (300, 1)
    assert opt.state[0]["col_var"].shape == (1, 200)
    assert "variance" not in opt.state[0]
    assert opt.state[1]["variance"].shape == (10,)


# -- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_bitwise_the_same_for_any_thread_count(dtype, threads):
    """Blocks of whole rows, reduced in order: 1 and 2 threads agree bit for bit on arrays
    large enough to be split (a matrix of many blocks, a batch, a long vector)."""
    rng = np.random.default_rng(8)
    shapes = [(700, 300), (3, 200, 130), (300000,), (5, 40000)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(3)]
    results = []
    for n in (1, 2):
        pyfastopt.set_num_threads(n)
        params = [p.copy() for p in init]
        opt = optim.Adafactor(params, weight_decay=0.01)
        for gs in grads:
            opt.step(gs)
        results.append((params, opt.state_dict()["state"]))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    for i, state in results[0][1].items():
        for key, value in state.items():
            np.testing.assert_array_equal(value, results[1][1][i][key])


# -- optim: state dicts, options, registration ------------------------------------------------


def test_optim_state_dict_resumes_exactly():
    rng, init, targets = problem(seed=4)
    a = [p.copy() for p in init]
    opt_a = optim.Adafactor(a, lr=0.05)
    for _ in range(5):
        opt_a.step(grads_at(rng, a, targets, np.float64))
    saved = opt_a.state_dict()
    b = [p.copy() for p in a]
    opt_b = optim.Adafactor(b, lr=0.5)
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["lr"] == 0.05
    for _ in range(5):
        grads = grads_at(rng, a, targets, np.float64)
        opt_a.step(grads)
        opt_b.step(grads)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def test_optim_loads_a_float64_state_into_float32_parameters():
    p64 = np.ones((3, 4))
    opt64 = optim.Adafactor([p64])
    opt64.step([np.full((3, 4), 0.5)])
    p32 = np.ones((3, 4), np.float32)
    opt32 = optim.Adafactor([p32])
    opt32.load_state_dict(opt64.state_dict())
    assert opt32.state[0]["row_var"].dtype == np.float32
    np.testing.assert_array_equal(opt32.state[0]["col_var"], np.full((1, 4), 0.25, np.float32))


def test_grad_scale_found_inf_and_skipped_parameters():
    rng, init, targets = problem(seed=6)
    plain, scaled = [p.copy() for p in init], [p.copy() for p in init]
    a, b = optim.Adafactor(plain), optim.Adafactor(scaled)
    for _ in range(4):
        grads = grads_at(rng, plain, targets, np.float64)
        a.step(grads)
        b.step([g * 1024.0 for g in grads], grad_scale=1024.0)
    for p, q in zip(plain, scaled):
        np.testing.assert_array_equal(p, q)  # a power of two divides exactly
    before = [p.copy() for p in scaled]
    b.step([np.full(p.shape, np.inf) for p in scaled], found_inf=True)  # skipped whole
    b.step([None] * len(scaled))
    for p, q in zip(scaled, before):
        np.testing.assert_array_equal(p, q)
    assert all(s["step"] == 4 for s in b.state.values())


def test_registered_everywhere_but_among_the_element_wise_rules():
    assert "Adafactor" in optim.__all__
    assert "adafactor_" in F.__all__
    assert "Adafactor" in reference.__all__
    assert "Adafactor" not in optim.element_wise()  # no single element-wise rule


# -- bad input ----------------------------------------------------------------------------------


def arrays():
    p, g = np.ones((4, 3)), np.full((4, 3), 0.5)
    return p, g, np.zeros((4, 1)), np.zeros((1, 3))


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"lr": -1.0}, ValueError, "lr"),
        ({"beta2_decay": 0.5}, ValueError, "beta2_decay"),
        ({"eps": (-1.0, 1e-3)}, ValueError, r"eps\[0\]"),
        ({"eps": (None, -1.0)}, ValueError, r"eps\[1\]"),
        ({"eps": 1e-3}, TypeError, "eps"),
        ({"d": 0.5}, ValueError, "d"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"step": 0}, ValueError, "step"),
        ({"step": 1.5}, TypeError, "step"),
        ({"grad_scale": 0.0}, ValueError, "grad_scale"),
    ],
)
def test_invalid_hyperparameters_raise_naming_them_and_change_nothing(kwargs, error, name):
    p, g, row, col = arrays()
    same = unchanged(p, row, col)
    with pytest.raises(error, match=name):
        F.adafactor_(p, g, row, col, None, **{"step": 1, **kwargs})
    same()
    if "step" not in kwargs and "grad_scale" not in kwargs:
        with pytest.raises(error, match=name):
            optim.Adafactor([p], **kwargs)


def test_bad_arrays_raise_naming_them_and_change_nothing():
    p, g, row, col = arrays()
    same = unchanged(p, row, col)
    cases = [
        ((p, g.astype(np.float32), row, col, None), TypeError, "grads"),
        ((p, g[:2], row, col, None), ValueError, "grads"),
        ((p, g, np.zeros((3, 1)), col, None), ValueError, "row_vars"),
        ((p, g, row, np.zeros((1, 4)), None), ValueError, "col_vars"),
        ((p, g, row, col.astype(np.float32), None), TypeError, "col_vars"),
        ((p, g, row, col, np.zeros((4, 3))), ValueError, "variances"),
        ((p, g, None, col, None), ValueError, "row_vars"),
        ((np.ones(3), np.ones(3), None, None, None), ValueError, "variances"),
        ((p, g, row, row, None), ValueError, "col_vars"),
        ((p, p, row, col, None), ValueError, "shares memory"),
        ((p, g, p[:, :1], col, None), ValueError, "row_vars"),
        ((p.T, g.T, np.zeros((3, 1)), np.zeros((1, 4)), None), ValueError, "contiguous"),
        ((p.astype(np.int64), g, row, col, None), TypeError, "params"),
        (([p, np.ones(2)], [g, np.ones(2)], [row, None], [col, None], [None, np.ones(3)]),
         ValueError, r"variances\[1\]"),
        (([p], [g, g], [row], [col], [None]), ValueError, "grads"),
        (([p], g, [row], [col], [None]), TypeError, "grads"),
    ]
    for args, error, name in cases:
        with pytest.raises(error, match=name):
            F.adafactor_(*args, step=1)
        same()
    frozen = row.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="row_vars is read-only"):
        F.adafactor_(p, g, frozen, col, None, step=1)
    same()


def test_optim_bad_input_changes_nothing():
    p, q = np.ones((4, 3)), np.ones(5)
    same = unchanged(p, q)
    opt = optim.Adafactor([{"params": [p]}, {"params": [q], "lr": 0.1}])
    g = np.full((4, 3), 0.5)
    bad_grads = [
        ([g, np.ones(5, np.float32)], TypeError, r"grads\[1\]"),
        ([g, np.ones(4)], ValueError, r"grads\[1\]"),
        ([g], ValueError, "grads"),
        ([g, q], ValueError, "shares memory"),
    ]
    for grads, error, name in bad_grads:
        with pytest.raises(error, match=name):
            opt.step(grads)
        same()
        assert not opt.state
    opt.step([g, np.ones(5)])
    stepped = unchanged(p, q, opt.state[0]["row_var"], opt.state[1]["variance"])
    opt.state[0]["col_var"] = np.zeros((1, 4))  # a state of the wrong shape
    with pytest.raises(ValueError, match="col_vars"):
        opt.step([g, np.ones(5)])
    stepped()
    assert opt.state[1]["step"] == 1  # the valid group was not stepped either
    with pytest.raises(TypeError, match="float32 and float64"):
        optim.Adafactor([np.zeros((2, 2), np.float16)])
    opt.precision = optim.optimizer.Precision(state_dtype="float32")
    with pytest.raises(TypeError, match="precision"):
        opt.step([g, np.ones(5)])
    saved = optim.Adafactor([np.ones((4, 3))]).state_dict()
    saved["state"] = {0: {"step": 1, "row_var": np.zeros((3, 1)), "col_var": np.zeros((1, 3))}}
    fresh = optim.Adafactor([np.ones((4, 3))])
    with pytest.raises(ValueError, match="row_var"):
        fresh.load_state_dict(saved)
    assert not fresh.state


def test_empty_tensors_are_left_alone():
    p, g = np.zeros((5, 0)), np.zeros((5, 0))
    row, col = np.zeros((5, 1)), np.zeros((1, 0))
    F.adafactor_(p, g, row, col, None, step=1)
    np.testing.assert_array_equal(row, 0.0)  # (torch divides 0 by 0 here)
    opt = optim.Adafactor([np.ones(0), np.ones((2, 3))])
    opt.step([np.ones(0), np.ones((2, 3))])
    assert opt.state[1]["step"] == 1


# -- against torch.optim.Adafactor ------------------------------------------------------------

torch = pytest.importorskip("torch")
import pyfastopt.torch as pt  # noqa: E402  (after the torch skip)

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def torch_twins(init, dtype):
    return [torch.tensor(np.asarray(p, dtype)) for p in init]


def run_pair(ours, theirs, a, b, steps):
    for grads in steps:
        for x, y, g in zip(a, b, grads):
            x.grad, y.grad = torch.tensor(g), torch.tensor(g)
        ours.step()
        theirs.step()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", OPTIONS, ids=OPTION_IDS)
def test_adapter_and_optim_match_torch_over_60_steps(kwargs, dtype):
    """torch.optim.Adafactor, pyfastopt.torch.Adafactor and optim.Adafactor, side by side
    on the same trajectory of gradients. (Under float64, torch's scalar state is float64,
    as it is under a float64 default dtype.)"""
    rng, init, targets = problem(seed=11)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(TORCH_DTYPE[dtype])
    try:
        theirs_p, ours_p = torch_twins(init, dtype), torch_twins(init, dtype)
        np_p = [np.array(p, dtype) for p in init]
        theirs = torch.optim.Adafactor(theirs_p, **kwargs)
        ours = pt.Adafactor(ours_p, **kwargs)
        mine = optim.Adafactor(np_p, **kwargs)
        for _ in range(60):
            grads = grads_at(rng, [p.numpy() for p in theirs_p], targets, dtype)
            run_pair(ours, theirs, ours_p, theirs_p, [grads])
            mine.step(grads)
    finally:
        torch.set_default_dtype(previous)
    for i, (t, o, m) in enumerate(zip(theirs_p, ours_p, np_p)):
        assert_near(o.numpy(), t.numpy(), RTOL[dtype], f"adapter params[{i}]")
        assert_near(m, t.numpy(), RTOL[dtype], f"optim params[{i}]")
        state = theirs.state[t]
        assert set(ours.state[o]) == set(state)
        for key in set(state) - {"step"}:
            assert_near(ours.state[o][key].numpy(), state[key].numpy(), RTOL[dtype], key)
        assert float(ours.state[o]["step"]) == float(state["step"]) == 60


def test_the_torch_comparison_discriminates():
    """A slightly different beta2 schedule (1 - t^-0.7 for torch's 1 - t^-0.8) moves the
    parameters by more than ten times the tolerance of the comparison above in 10 steps
    (about 30 times, seen)."""
    rng, init, targets = problem(seed=11, shapes=[(12, 5)])
    a, b = torch_twins(init, np.float32), torch_twins(init, np.float32)
    theirs, ours = torch.optim.Adafactor(a), pt.Adafactor(b, beta2_decay=-0.7)
    steps = [grads_at(rng, [p.numpy() for p in a], targets, np.float32) for _ in range(10)]
    run_pair(ours, theirs, b, a, steps)
    diff = np.abs(a[0].numpy() - b[0].numpy()).max() / np.abs(a[0].numpy()).max()
    assert diff > 10 * RTOL[np.float32]


def test_torch_state_dict_continues_in_the_adapter_and_back():
    rng, init, targets = problem(seed=9, shapes=[(20, 8), (2, 3, 4), (6,)])
    steps = [grads_at(rng, init, targets, np.float32) for _ in range(10)]

    first = torch_twins(init, np.float32)
    torch_opt = torch.optim.Adafactor(first, lr=0.03, weight_decay=0.05)
    for grads in steps[:4]:
        for t, g in zip(first, grads):
            t.grad = torch.tensor(g)
        torch_opt.step()
    saved = copy.deepcopy(torch_opt.state_dict())
    mine = [t.detach().clone() for t in first]
    ours = pt.Adafactor(mine, lr=0.5)  # the group's values come from the state dict
    ours.load_state_dict(saved)
    assert ours.param_groups[0]["lr"] == 0.03
    run_pair(ours, torch_opt, mine, first, steps[4:7])
    for a, b in zip(mine, first):
        assert_near(a.numpy(), b.numpy(), RTOL[np.float32], "params after torch's state")

    back_saved = copy.deepcopy(ours.state_dict())
    assert set(back_saved["state"][0]) == {"step", "row_var", "col_var"}
    assert set(back_saved["state"][2]) == {"step", "variance"}
    back = [t.detach().clone() for t in mine]
    back_opt = torch.optim.Adafactor(back)
    back_opt.load_state_dict(back_saved)
    run_pair(ours, back_opt, mine, back, steps[7:])
    for a, b in zip(mine, back):
        assert_near(a.numpy(), b.numpy(), RTOL[np.float32], "params after the adapter's state")


def test_adapter_bad_input_changes_nothing():
    with pytest.raises(TypeError, match="float32 and float64"):
        pt.Adafactor([torch.zeros(2, 2, dtype=torch.float16)])
    with pytest.raises(ValueError, match="contiguous"):
        pt.Adafactor([torch.zeros(4, 3).T])
    with pytest.raises(ValueError, match="beta2_decay"):
        pt.Adafactor([torch.zeros(2)], beta2_decay=1.0)  # (torch's own check)
    a, b = torch.ones(4, 3), torch.ones(5)
    opt = pt.Adafactor([{"params": [a]}, {"params": [b], "lr": 0.1}])
    a.grad = torch.ones(4, 3)
    b.grad = torch.ones(5, 3)[:, 0]  # not contiguous
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[0\]\.grad"):
        opt.step()
    assert torch.equal(a, torch.ones(4, 3))  # the first group was not stepped either
    assert not opt.state
    b.grad = torch.ones(5)
    opt.step()
    assert float(opt.state[a]["step"]) == 1
    opt.state[b]["variance"] = torch.zeros(6)
    with pytest.raises(ValueError, match="variances"):
        opt.step()
    assert float(opt.state[a]["step"]) == 1
