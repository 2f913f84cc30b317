"""Parameter groups, mutable hyperparameters and state dicts behave as in torch.optim."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from cases import CASES, IDS

from pyfastopt import optim, reference
from pyfastopt.precision import Precision


def grads_for(params, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(p.shape) for p in params]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_resuming_from_state_dict_continues_exactly(case):
    name, kwargs = case
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(50), rng.standard_normal((4, 4))]
    opt = getattr(optim, name)(params, **kwargs)
    for t in range(20):
        opt.step(grads_for(params, t))
    saved_params = [p.copy() for p in params]
    saved = opt.state_dict()
    frozen = copy.deepcopy(saved)
    for t in range(20, 40):
        opt.step(grads_for(params, t))
    # the saved dict is a copy: later steps did not touch it
    for i, entry in frozen["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(saved["state"][i][key], value)
    resumed_params = [p.copy() for p in saved_params]
    resumed = getattr(optim, name)(resumed_params, **kwargs)
    resumed.load_state_dict(saved)
    for t in range(20, 40):
        resumed.step(grads_for(resumed_params, t))
    for a, b in zip(params, resumed_params):
        assert a.tobytes() == b.tobytes()


def test_state_dict_structure_follows_torch():
    p1, p2, p3 = np.ones(3), np.ones(2), np.ones(4)
    opt = optim.Adam([{"params": [p1, p2]}, {"params": [p3], "lr": 0.1}], amsgrad=True)
    opt.step([np.ones(3), None, np.ones(4)])
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.1
    assert sd["param_groups"][0]["lr"] == 1e-3
    assert set(sd["state"]) == {0, 2}  # a None gradient creates no state
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["step"] == 1


def test_changed_lr_takes_effect_at_the_next_step():
    p = np.zeros(3)
    ref_p = np.zeros(3)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    ref = reference.SGD([ref_p], lr=0.1, momentum=0.9)
    for t in range(10):
        if t == 5:
            opt.param_groups[0]["lr"] = 0.01
            ref.defaults["lr"] = 0.01
        g = np.full(3, 1.0 + t)
        opt.step([g])
        ref.step([g])
    np.testing.assert_allclose(p, ref_p, rtol=1e-14)


def test_param_groups_use_their_own_hyperparameters():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(10), rng.standard_normal(10)
    a2, b2 = a.copy(), b.copy()
    grouped = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1, "betas": (0.5, 0.9)}])
    solo_a = optim.Adam([a2])
    solo_b = optim.Adam([b2], lr=0.1, betas=(0.5, 0.9))
    for t in range(10):
        ga, gb = grads_for([a, b], t)
        grouped.step([ga, gb])
        solo_a.step([ga])
        solo_b.step([gb])
    assert a.tobytes() == a2.tobytes()
    assert b.tobytes() == b2.tobytes()


def test_mixed_dtypes_in_one_group():
    a, b = np.ones(5, np.float32), np.ones(5, np.float64)
    opt = optim.SGD([a, b], lr=0.5)
    opt.step([np.ones(5, np.float32), np.ones(5)])
    np.testing.assert_array_equal(a, 0.5)
    np.testing.assert_array_equal(b, 0.5)


def test_none_gradient_skips_a_parameter():
    a, b = np.ones(3), np.ones(3)
    opt = optim.Adam([a, b], lr=0.1)
    opt.step([None, np.ones(3)])
    np.testing.assert_array_equal(a, 1.0)
    assert 0 not in opt.state
    assert opt.state[1]["step"] == 1


def test_load_state_dict_checks_structure():
    opt = optim.Adam([np.ones(3)])
    other = optim.Adam([np.ones(3), np.ones(2)])
    with pytest.raises(ValueError, match="different number of parameters"):
        opt.load_state_dict(other.state_dict())


@pytest.mark.parametrize("states", [None, "8bit"], ids=["float32 states", "8-bit states"])
def test_a_state_beyond_the_storage_range_is_refused_and_changes_nothing(states):
    """torch casts loaded states to the parameter's dtype; a finite float64 value that
    float32 would turn into inf is refused instead, naming the state, and the optimizer keeps
    what it had (found by fuzz/fuzz_state_dict.py: the cast's overflow warning)."""
    p = np.ones(300, np.float32)
    opt = optim.Adam([p], amsgrad=True)
    opt.precision = Precision(state_dtype=states, min_8bit_size=0)
    opt.step([np.full(300, 0.5, np.float32)])
    before = copy.deepcopy(opt.state_dict())
    assert before["state"][0]["max_exp_avg_sq"].dtype == (np.uint8 if states else np.float32)
    saved = copy.deepcopy(before)
    saved["state"][0]["max_exp_avg_sq"] = np.full(300, 1e300)  # float64, finite
    saved["state"][0].pop("max_exp_avg_sq_absmax", None)
    with pytest.raises(ValueError, match=r"state 'max_exp_avg_sq' of parameter 0 holds values"):
        opt.load_state_dict(saved)
    after = opt.state_dict()
    for key, value in before["state"][0].items():
        if isinstance(value, np.ndarray):
            assert after["state"][0][key].tobytes() == value.tobytes(), key
        else:
            assert after["state"][0][key] == value, key
    np.testing.assert_array_equal(saved["state"][0]["max_exp_avg_sq"], 1e300)  # not written


def test_steady_state_path_equals_general_path():
    """After the first step an optimizer with one group runs one native call on a plan
    checked once; skipping a parameter (None) sends a step through the general path. Both
    must give the trajectory of the reference."""
    rng = np.random.default_rng(9)
    params = [rng.standard_normal(40), rng.standard_normal((3, 4))]
    ref_params = [p.copy() for p in params]
    opt = optim.Adam(params, lr=0.01, amsgrad=True)
    ref = reference.Adam(ref_params, lr=0.01, amsgrad=True)
    for t in range(30):
        grads = grads_for(params, t)
        if t in (7, 8, 20):
            grads[1] = None
        if t == 15:
            opt.param_groups[0]["lr"] = ref.defaults["lr"] = 0.002
        opt.step(grads)
        ref.step(grads)
    for p, q in zip(params, ref_params):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    assert [opt.state[i]["step"] for i in range(2)] == [30, 27]


def test_plan_follows_a_replaced_parameter():
    """The plan holds the parameter objects it was built on: an array swapped into the
    group's list (in place, same shape) is the one the next step updates."""
    params = [np.ones(8), np.ones(8)]
    opt = optim.SGD(params, lr=0.5)
    grads = [np.ones(8), np.ones(8)]
    opt.step(grads)
    opt.step(grads)  # the plan is in use
    old, new = params[1], np.full(8, 10.0)
    opt.param_groups[0]["params"][1] = new
    opt.step(grads)
    np.testing.assert_array_equal(old, 0.0)  # 1 - 2 * 0.5: untouched by the third step
    np.testing.assert_array_equal(new, 9.5)
    np.testing.assert_array_equal(params[0], -0.5)


def test_steady_state_path_rejects_bad_input_and_changes_nothing():
    rng = np.random.default_rng(10)
    p = rng.standard_normal(16)
    opt = optim.Adam([p])
    opt.step([rng.standard_normal(16)])
    opt.step([rng.standard_normal(16)])  # the plan now exists
    before = [p.copy(), opt.state[0]["exp_avg"].copy(), opt.state[0]["exp_avg_sq"].copy()]
    bad = [
        ([rng.standard_normal(16).astype(np.float32)], TypeError, r"grads\[0\] has dtype"),
        ([rng.standard_normal(15)], ValueError, r"grads\[0\] has shape"),
        ([rng.standard_normal(32)[::2]], ValueError, r"grads\[0\] must be C-contiguous"),
        ([p], ValueError, "shares memory"),
        ([opt.state[0]["exp_avg"]], ValueError, "shares memory"),
    ]
    for grads, error, match in bad:
        with pytest.raises(error, match=match):
            opt.step(grads)
    opt.param_groups[0]["betas"] = (0.9, 1.5)
    with pytest.raises(ValueError, match=r"Invalid betas\[1\]"):
        opt.step([rng.standard_normal(16)])
    opt.param_groups[0]["betas"] = (0.9, 0.999)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        opt.step([rng.standard_normal(16)])
    p.flags.writeable = True
    for a, b in zip([p, opt.state[0]["exp_avg"], opt.state[0]["exp_avg_sq"]], before):
        np.testing.assert_array_equal(a, b)
    assert opt.state[0]["step"] == 2


def test_arenas_over_a_mebibyte_start_spread_modulo_64_kib():
    """Streams a few pages apart contend for DRAM banks (bench/bench_placement.py): the
    state arenas (and float32 masters) of a parameter over 1 MiB start (slot + 1) * SPREAD
    bytes after it, modulo 64 KiB, so at least 8 KiB from it and from each other."""
    from pyfastopt.optim._common import SPREAD, SPREAD_SPAN

    assert SPREAD >= 8192
    assert 4 * SPREAD < SPREAD_SPAN
    p = np.zeros(1 << 19, np.float16)  # states 1 MiB each, masters 2 MiB
    opt = optim.Adam([p], amsgrad=True)
    opt.precision = Precision(master_weights=True)
    opt.step([np.ones_like(p)])
    keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "master")
    distance = [(opt.state[0][k].ctypes.data - p.ctypes.data) % SPREAD_SPAN for k in keys]
    assert distance == [SPREAD * (slot + 1) for slot in range(4)]


def test_large_state_buffers_start_at_staggered_page_offsets():
    """Streams whose addresses share the low 12 bits slow each other down (4K aliasing):
    a large parameter's state buffers start at distinct offsets within their pages."""
    p = np.zeros(1 << 16, np.float32)
    opt = optim.Adam([p], amsgrad=True)
    opt.step([np.ones_like(p)])
    offsets = {a.ctypes.data % 4096 for a in [p, *(opt.state[0][k] for k in
                                                  ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"))]}
    assert len(offsets) == 4
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        assert opt.state[0][key].flags.c_contiguous
