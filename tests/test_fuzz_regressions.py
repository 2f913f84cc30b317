"""Regression tests of the atheris fuzzing findings (fuzz/README.md): each failed before its
fix. Grouped by kind: partial updates before an error, writes where a call may not write,
wrong exception types and unclear messages, invalid state accepted by load_state_dict."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from pyfastopt import _core, hogwild, optim
from pyfastopt import functional as F
from pyfastopt.sparse import SparseRows


def snapshot(*arrays):
    return [a.copy() for a in arrays]


def assert_unchanged(before, *arrays):
    for b, a in zip(before, arrays):
        np.testing.assert_array_equal(a, b)


# -- partial update before an error ---------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [F.SwatsState("adam", None, 0.0), F.SwatsState("adam", "x", 0.0),
     F.SwatsState("adam", [0.1], 0.0), F.SwatsState("adam", 0.0, math.nan),
     F.SwatsState("sgd", 0.0, 1j), F.SwatsState("sgd", 0.0, [0.1])],
)  # fmt: skip
def test_swats_bad_scalar_state_changes_nothing(state):
    # Adam phase: the native step ran, then lambda_ failed ("unsupported operand type(s)");
    # SGD phase: sgd_lr=1j reaches the kernel's coeffs (RuntimeError "Unable to cast"),
    # a list is unhashable
    p, g = np.ones(4, np.float32), np.full(4, 0.5, np.float32)
    m, v, b = (np.zeros(4, np.float32) for _ in range(3))
    before = snapshot(p, g, m, v, b)
    with pytest.raises((TypeError, ValueError), match="state"):
        F.swats_(p, g, m, v, b, step=2, state=state)
    assert_unchanged(before, p, g, m, v, b)


def _strided_indices(b):
    return SparseRows(np.arange(4)[::2], np.ones((2, 2)))


def _unaligned_values(b):
    raw = np.zeros(8 * 2 + 1, np.uint8)
    values = np.ndarray((1, 2), np.float64, buffer=raw, offset=1)
    return SparseRows(np.array([1]), values)


def _values_in_param(b):
    return SparseRows(np.array([1]), b[2:3])


@pytest.mark.parametrize("second", [_strided_indices, _unaligned_values, _values_in_param])
def test_optimizer_sparse_step_checks_every_table_first(second):
    # sparse.check_rows (run on every gradient before any write) accepts strided indices,
    # unaligned values and values inside a written buffer; the kernel refuses them: the
    # first table was updated, then the step raised
    a, b = np.zeros((4, 2)), np.ones((4, 2))
    opt = optim.SGD([a, b], lr=0.1)
    g2 = second(b)
    g1 = SparseRows(np.array([0]), np.ones((1, 2)))
    b0 = b.copy()
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        opt.step([g1, g2])
    assert not a.any()
    np.testing.assert_array_equal(b, b0)


# -- wrote where it may not ---------------------------------------------------------------


def test_fast_step_refuses_a_read_only_state():
    # the optimizer's native plan checks params' writeable flag at each step, not states'
    # (the general path refuses: "exp_avg is read-only")
    p = np.ones(4, np.float32)
    opt = optim.Adam([p], lr=0.1)
    for _ in range(2):
        opt.step([np.ones(4, np.float32)])
    exp_avg = opt.state[0]["exp_avg"]
    exp_avg.flags.writeable = False
    before = snapshot(p, exp_avg)
    with pytest.raises(ValueError, match="read-only"):
        opt.step([np.ones(4, np.float32)])
    assert_unchanged(before, p, exp_avg)


def test_sparse_indices_sharing_memory_with_param_are_refused():
    # values are checked against the written buffers, indices are not
    buf = np.zeros(16, np.uint8)
    indices = np.ndarray((1,), np.int64, buffer=buf, offset=0)  # [0]
    param = np.ndarray((2,), np.float32, buffer=buf, offset=0)  # the same bytes
    before = snapshot(buf)
    with pytest.raises(ValueError, match="shares memory"):
        F.sgd_(param, SparseRows(indices, np.ones(1, np.float32)), step=1, lr=0.5)
    assert_unchanged(before, buf)


# -- wrong exception type / unclear message -------------------------------------------------


def test_swats_state_count_must_match_the_arrays():
    p = [np.ones(3), np.ones(3)]
    args = [[np.zeros(3), np.zeros(3)] for _ in range(4)]
    with pytest.raises(ValueError, match="state"):  # one state for two arrays: one returned
        F.swats_(p, *args, step=1, state=F.SwatsState())
    with pytest.raises(ValueError, match="state"):  # IndexError
        F.swats_([], [], [], [], [], step=1)


def test_list_call_with_a_non_list_grad_names_grad():
    p = np.ones(4, np.float32)
    with pytest.raises(TypeError, match="grad"):  # "'numpy.float32' object is not iterable"
        F.sgd_([p], np.float32(1.0), step=1)


@pytest.mark.parametrize("coeffs", [(1.0, None, -0.1), (1.0, "x", -0.1), (1.0, (0.0,), -0.1)])
def test_core_coeffs_that_are_not_numbers(coeffs):
    # RuntimeError "Unable to cast Python instance of type <class 'tuple'> to C++ type '?'"
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    with pytest.raises(TypeError, match="coeffs"):
        _core.sgd([p], [g], [], coeffs)
    plan = _core.sgd_plan([p], [])
    with pytest.raises(TypeError, match="coeffs"):
        plan.step([g], coeffs)


X = (np.ones(2), np.array([0, 1]), np.array([0, 1, 2]))


@pytest.mark.parametrize(
    ("intercept", "error"),
    [("1.5", TypeError), ("abc", TypeError), ([1.0], TypeError), (math.nan, ValueError),
     (math.inf, ValueError), (10**400, ValueError)],
)  # fmt: skip
def test_hogwild_intercept_is_checked(intercept, error):
    # float(intercept): "1.5" accepted, NaN accepted, OverflowError, messages without a name
    with pytest.raises(error, match="intercept"):
        hogwild.decision_function(X, np.ones(2), intercept)
    with pytest.raises(error, match="intercept"):
        hogwild.objective(X, np.array([0, 1]), np.ones(2), intercept)


def test_hogwild_schedule_returning_non_numbers_names_lr():
    # "could not convert string to float: 'x'"
    with pytest.raises((TypeError, ValueError), match="lr"):
        hogwild.train(X, np.array([0.0, 1.0]), lr=lambda t: "x")


def test_hogwild_impossible_epochs_name_epochs():
    # lr_unit="epoch": np.empty(epochs) -> "Maximum allowed dimension exceeded"
    with pytest.raises(ValueError, match="epochs"):
        hogwild.train(X, np.array([0.0, 1.0]), lr=lambda t: 0.1 + 0 * t, lr_unit="epoch",
                      epochs=2**62)


# -- load_state_dict validates nothing ------------------------------------------------------


def _set(key, value):
    return lambda sd: sd["state"][0].__setitem__(key, value)


STATE_MUTATIONS = {
    "step is a str": _set("step", "3"),  # load OK; step: "can only concatenate str"
    "step is None": _set("step", None),  # load OK; step: "unsupported operand type(s)"
    "step is nan": _set("step", math.nan),  # load OK; step OK: parameters become NaN
    "step is negative": _set("step", -5),  # load OK; step: "math domain error"
    "step is a float": _set("step", 1.5),  # load OK; the native plan steps at t=2.5
    "step is huge": _set("step", 10**400),  # load OK; step: OverflowError
    "exp_avg is a list": _set("exp_avg", [0.0, 0.0, 0.0]),  # load OK; step: TypeError
    "exp_avg is complex": _set("exp_avg", np.ones(3, complex)),  # ComplexWarning, imag. dropped
    "exp_avg_sq missing": lambda sd: sd["state"][0].pop("exp_avg_sq"),  # silently re-zeroed
    "step missing": lambda sd: sd["state"][0].pop("step"),  # load OK; step: KeyError
    "state of a parameter that is not there": lambda sd: sd["state"].__setitem__(5, {"step": 1}),
    "state entry is None": lambda sd: sd["state"].__setitem__(0, None),  # AttributeError
    "state is a list": lambda sd: sd.__setitem__("state", []),  # AttributeError
    "param_groups missing": lambda sd: sd.pop("param_groups"),  # KeyError
    "group params is None": lambda sd: sd["param_groups"][0].__setitem__("params", None),
    "group lr missing": lambda sd: sd["param_groups"][0].pop("lr"),  # KeyError
}  # fmt: skip


@pytest.mark.parametrize("mutation", sorted(STATE_MUTATIONS))
def test_load_state_dict_refuses_an_invalid_state(mutation):
    p = np.ones(3, np.float32)
    opt = optim.Adam([p], lr=0.1)
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    STATE_MUTATIONS[mutation](sd)
    good = copy.deepcopy(opt.state_dict())
    with pytest.raises((TypeError, ValueError), match="state_dict"):
        opt.load_state_dict(sd)
    after = opt.state_dict()  # a failed load changes nothing
    assert after["state"][0]["step"] == good["state"][0]["step"]
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], good["state"][0]["exp_avg"])


def test_load_state_dict_refuses_nan_mu_product():
    p = np.ones(3, np.float32)
    opt = optim.NAdam([p])
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    sd["state"][0]["mu_product"] = math.nan  # accepted; the next step makes p NaN
    with pytest.raises(ValueError, match="mu_product"):
        opt.load_state_dict(sd)


def test_load_state_dict_refuses_an_unknown_swats_phase():
    p = np.ones(3, np.float32)
    opt = optim.SWATS([p])
    opt.step([np.ones(3, np.float32)])
    sd = opt.state_dict()
    sd["state"][0]["phase"] = "bogus"  # accepted; the next step raises
    with pytest.raises(ValueError, match="phase"):
        opt.load_state_dict(sd)


# -- private entry points: numbers pybind11 cannot convert ---------------------------------


@pytest.mark.parametrize(
    ("n_threads", "intercept", "error", "match"),
    [(2**31, 0.0, ValueError, "n_threads"), (2**63, 0.0, ValueError, "n_threads"),
     (1.5, 0.0, TypeError, "n_threads"), (1, "0.1", TypeError, "intercept"),
     (1, None, TypeError, "intercept"), (1, 10**400, ValueError, "intercept")],
)  # fmt: skip
def test_core_hogwild_numbers_are_named(n_threads, intercept, error, match):
    # pybind11's int and float casters answered these with a dump of the signatures
    with pytest.raises(error, match=match):
        _core.hogwild_decision_function(np.array([0, 1]), np.array([0], np.int32),
                                        np.ones(1, np.float32), np.ones(1, np.float32),
                                        intercept, n_threads)  # fmt: skip


@pytest.mark.parametrize("seed", [2**64, -1])
def test_core_noise_seed_out_of_range_is_named(seed):
    g = np.zeros(4)
    with pytest.raises(ValueError, match="seed"):
        _core.gradient_noise([g], seed, 1, 1.0)
    assert not g.any()


def test_load_state_dict_keeps_per_group_keys():
    """AdaBound's groups carry initial_lr, which is not among the defaults."""
    opt = optim.AdaBound([np.ones(3)])
    opt.step([np.ones(3)])
    sd = opt.state_dict()
    del sd["param_groups"][0]["initial_lr"]
    with pytest.raises(ValueError, match="initial_lr"):
        opt.load_state_dict(sd)


@pytest.mark.parametrize("n_features", [2**63, 2**64])
def test_hogwild_n_features_beyond_int64_is_named(n_features):
    # numpy's "Maximum allowed dimension exceeded" named nothing
    with pytest.raises(ValueError, match="n_features"):
        hogwild.train(X, np.array([0.0, 1.0]), n_features=n_features)


def test_load_state_dict_refuses_a_buffer_that_is_not_an_array_before_any_step():
    opt = optim.Adam([np.ones(3)])
    sd = opt.state_dict()
    sd["state"][0] = {"step": 0, "exp_avg_sq": [0.0, 0.0, 0.0]}  # accepted; step raised
    with pytest.raises(ValueError, match="exp_avg_sq"):
        opt.load_state_dict(sd)


def test_hogwild_negative_index_with_inferred_n_features_is_named():
    # numpy's "negative dimensions are not allowed" named nothing
    with pytest.raises(ValueError, match="indices"):
        hogwild.train((np.ones(1), np.array([-3]), np.array([0, 1])), np.array([1.0]))


@pytest.mark.parametrize("cls", [optim.Adagrad, optim.Yogi])
def test_load_state_dict_checks_the_initial_accumulator_value(cls):
    # a loaded group's initial_accumulator_value=[1.0] passed the load and failed at the
    # first step, when the states were filled ("setting an array element with a sequence")
    p = np.ones(2)
    saved = cls([np.ones(2)]).state_dict()
    saved["param_groups"][0]["initial_accumulator_value"] = [1.0]
    opt = cls([p])
    with pytest.raises(TypeError, match="initial_accumulator_value"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["initial_accumulator_value"] != [1.0]
    opt.step([np.ones(2)])  # the optimizer is as it was
    assert opt.state[0]["step"] == 1


def test_elastic_plan_names_the_unaligned_state():
    # the fuzzer's argument list lacked the distributed rules' state names ("diff")
    p = np.ones(4)
    raw = np.zeros(4 * 8 + 1, np.uint8)[1:].view(np.float64)  # unaligned
    with pytest.raises(ValueError, match=r"diff\[0\] must be aligned"):
        _core.elastic_plan([p], [[raw]])
