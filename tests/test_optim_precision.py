"""pyfastopt.optim with reduced precision (opt.precision): master weights, 16-bit and 8-bit
states, stochastic rounding, AMP's grad_scale/found_inf, non-finite skip, state dicts.

The independent references: the float32 optimizer (itself tested against the float64
reference), closed forms (the first Adam step's moments), and bitwise identities (a skipped
step changes nothing; a power-of-two scale divides exactly)."""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, IDS
from test_precision import QUANTIZABLE, Stored

import pyfastopt
from pyfastopt import optim
from pyfastopt.precision import Precision, bfloat16, dequantize_8bit

SHAPES = [(5000,), (30, 7)]  # one above min_8bit_size (4096), one below


def params_like(rng, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def grads_for(rng, dtype, steps=5):
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def snapshot(opt):
    """Every array of the optimizer (params and state) and every scalar state, as bytes."""
    arrays = [p.tobytes() for g in opt.param_groups for p in g["params"]]
    for i, st in sorted(opt.state.items()):
        for k, v in sorted(st.items()):
            arrays.append((i, k, v.tobytes() if isinstance(v, np.ndarray) else v))
    return arrays


@pytest.mark.parametrize("groups", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_master_weights_follow_the_float32_optimizer_bit_for_bit(case, groups, rng):
    """bfloat16 params with float32 masters and float32 states, every optimizer (one group:
    the plan; two: the general path): the masters are exactly the params of the float32
    optimizer fed the same (bfloat16) gradients, and each param is its master rounded to
    nearest even."""
    name, kwargs = case
    params = params_like(rng, bfloat16)
    ref_params = [p.astype(np.float32) for p in params]
    spec = (lambda ps: [{"params": [p]} for p in ps]) if groups else (lambda ps: ps)
    opt = getattr(optim, name)(spec(params), **kwargs)
    opt.precision = Precision(state_dtype="float32", master_weights=True)
    ref = getattr(optim, name)(spec(ref_params), **kwargs)
    for grads in grads_for(rng, bfloat16):
        opt.step(grads)
        ref.step([g.astype(np.float32) for g in grads])
    for i, (p, q) in enumerate(zip(params, ref_params)):
        np.testing.assert_array_equal(opt.state[i]["master"], q)
        np.testing.assert_array_equal(p, q.astype(bfloat16))
        assert opt.state[i]["step"] == 5


def test_8bit_states_are_quantized_moments(rng):
    """state_dtype="8bit": tensors of min_8bit_size elements or more keep (codes, absmax);
    smaller ones float32. After Adam's first step m = (1 - b1) g and v = (1 - b2) g^2: the
    decoded states are those within one gap of the map (the float32 ones exactly)."""
    params = params_like(rng, np.float32)
    opt = optim.Adam(params, lr=1e-3)
    opt.precision = Precision(state_dtype="8bit")
    grads = grads_for(rng, np.float32, steps=1)[0]
    opt.step(grads)
    big, small = opt.state[0], opt.state[1]
    assert big["exp_avg"].dtype == np.uint8
    assert big["exp_avg_absmax"].shape == (-(-5000 // 256),)
    assert small["exp_avg"].dtype == np.float32
    assert "exp_avg_absmax" not in small
    g = grads[0].astype(np.float64)
    for key, signed, expected in (("exp_avg", True, 0.1 * g), ("exp_avg_sq", False, 0.001 * g * g)):
        stored = Stored(np.zeros(1), "float32", signed)  # a decoder for this key's map
        stored.storage, stored.array = "8bit", (big[key], big[key + "_absmax"])
        error = np.abs(stored.value() - expected)
        assert (error <= stored.tolerance(expected) + 1e-7 * np.abs(expected).max()).all(), key
    np.testing.assert_array_equal(small["exp_avg"], (np.float32(0.1) * grads[1]))


def test_found_inf_skips_the_whole_step(rng):
    params = params_like(rng, bfloat16)
    opt = optim.AdamW(params, lr=1e-2)
    opt.precision = Precision(state_dtype="8bit", master_weights=True)
    steps = grads_for(rng, bfloat16, steps=3)
    opt.step(steps[0])
    before = snapshot(opt)
    opt.step(steps[1], found_inf=np.array([1.0], np.float32))
    assert snapshot(opt) == before
    opt.step(steps[1], found_inf=0.0)  # a finite step moves on
    assert snapshot(opt) != before
    assert opt.state[0]["step"] == 2


def test_skip_nonfinite_checks_the_gradients(rng):
    params = params_like(rng, np.float32)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    opt.precision = Precision(skip_nonfinite=True, state_dtype="bfloat16")
    steps = grads_for(rng, np.float32, steps=2)
    opt.step(steps[0])
    before = snapshot(opt)
    bad = [g.copy() for g in steps[1]]
    bad[1][3, 4] = np.inf
    opt.step(bad)
    assert snapshot(opt) == before
    bad[1][3, 4] = np.nan
    opt.step(bad)
    assert snapshot(opt) == before
    opt.step(steps[1])
    assert opt.state[0]["step"] == 2


@pytest.mark.parametrize("dtype", [np.float32, bfloat16, np.float16], ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_power_of_two_grad_scale_equals_the_unscaled_step(case, dtype, rng):
    name, kwargs = case
    params = params_like(rng, dtype)
    twins = [p.copy() for p in params]
    opt, twin = (getattr(optim, name)(ps, **kwargs) for ps in (params, twins))
    for grads in grads_for(rng, dtype, steps=3):
        opt.step(grads)
        twin.step([(g.astype(np.float32) * 256).astype(dtype) for g in grads], grad_scale=256.0)
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(p.view(np.uint8), q.view(np.uint8))


def test_stochastic_rounding_is_reproducible_and_thread_invariant(rng):
    start = params_like(rng, bfloat16)
    steps = grads_for(rng, bfloat16, steps=3)

    def run(threads, seed, groups):
        pyfastopt.set_num_threads(threads)
        params = [p.copy() for p in start]
        spec = [{"params": [p]} for p in params] if groups else params
        opt = optim.Adam(spec, lr=1e-3)
        opt.precision = Precision(stochastic_rounding=True, seed=seed)
        for grads in steps:
            opt.step(grads)
        return [p.view(np.uint16).copy() for p in params] + [
            opt.state[i]["exp_avg"].view(np.uint16).copy() for i in range(len(params))]

    one = run(1, 7, groups=False)
    for other in (run(2, 7, groups=False), run(2, 7, groups=True)):  # threads; general path
        for a, b in zip(one, other):
            np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(one, run(1, 8, groups=False)))


def test_state_dict_keeps_8bit_states_and_converts_on_load(rng):
    params = params_like(rng, np.float32)
    opt = optim.Adam(params, lr=1e-3)
    opt.precision = Precision(state_dtype="8bit")
    for grads in grads_for(rng, np.float32, steps=2):
        opt.step(grads)
    saved = opt.state_dict()
    assert saved["state"][0]["exp_avg"].dtype == np.uint8
    assert saved["state"][0]["exp_avg_absmax"].dtype == np.float32
    same = optim.Adam([p.copy() for p in params], lr=1e-3)
    same.precision = Precision(state_dtype="8bit")
    same.load_state_dict(saved)
    for key in ("exp_avg", "exp_avg_absmax", "exp_avg_sq", "exp_avg_sq_absmax"):
        np.testing.assert_array_equal(same.state[0][key], saved["state"][0][key])
    plain = optim.Adam([p.copy() for p in params], lr=1e-3)  # float32 states: dequantized
    plain.load_state_dict(saved)
    decoded = dequantize_8bit(saved["state"][0]["exp_avg"], saved["state"][0]["exp_avg_absmax"],
                              True)  # fmt: skip
    np.testing.assert_array_equal(plain.state[0]["exp_avg"], decoded)
    assert "exp_avg_absmax" not in plain.state[0]


def test_bad_8bit_state_dicts_raise_and_change_nothing(rng):
    params = params_like(rng, np.float32)
    opt = optim.Adam(params, lr=1e-3)
    opt.precision = Precision(state_dtype="8bit")
    opt.step(grads_for(rng, np.float32, steps=1)[0])
    good = opt.state_dict()
    before = snapshot(opt)
    wrong_shape = opt.state_dict()
    wrong_shape["state"][0]["exp_avg_absmax"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"exp_avg_absmax.*expected float32 of shape \(20,\)"):
        opt.load_state_dict(wrong_shape)
    no_absmax = opt.state_dict()
    del no_absmax["state"][0]["exp_avg_absmax"]
    with pytest.raises(ValueError, match="8-bit codes without 'exp_avg_absmax'"):
        opt.load_state_dict(no_absmax)
    assert snapshot(opt) == before
    opt.load_state_dict(good)


def test_bad_precision_raises(rng):
    with pytest.raises(ValueError, match="state_dtype"):
        Precision(state_dtype="int8")
    with pytest.raises(ValueError, match="seed"):
        Precision(seed=-1)
    opt = optim.Adam([rng.standard_normal(10)], lr=1e-3)  # float64
    opt.precision = Precision(state_dtype="bfloat16")
    before = snapshot(opt)
    with pytest.raises(TypeError, match="float64 parameters take float64 states"):
        opt.step([np.ones(10)])
    assert snapshot(opt) == before
    plain = optim.Adam([rng.standard_normal(10).astype(np.float32)], lr=1e-3)
    with pytest.raises(ValueError, match="grad_scale"):
        plain.step([np.ones(10, np.float32)], grad_scale=0.0)


# the cases with states to keep in 8 bits (plain SGD has none)
EIGHT_BIT = [(c, i) for c, i in zip(CASES, IDS)
             if c[0] in QUANTIZABLE and (c[0] != "SGD" or c[1].get("momentum"))]  # fmt: skip


@pytest.mark.parametrize("case", [c for c, _ in EIGHT_BIT], ids=[i for _, i in EIGHT_BIT])
def test_every_8bit_optimizer_steps_with_8bit_states(case, rng):
    """Each optimizer that takes 8-bit states keeps them (codes and absmax) through steps on
    both paths and moves its parameters as the float32 optimizer does, within the states'
    precision (a loose, scale-relative bound: the states are exact to one 8-bit gap)."""
    name, kwargs = case
    params = params_like(rng, np.float32)
    ref_params = [p.copy() for p in params]
    opt = getattr(optim, name)([{"params": [p]} for p in params], **kwargs)
    opt.precision = Precision(state_dtype="8bit")
    ref = getattr(optim, name)([{"params": [p]} for p in ref_params], **kwargs)
    start = [p.copy() for p in params]
    for grads in grads_for(rng, np.float32, steps=3):
        opt.step(grads)
        ref.step(grads)
    assert any(k.endswith("_absmax") for k in opt.state[0])
    moved, ref_moved = params[0] - start[0], ref_params[0] - start[0]
    scale = float(np.abs(ref_moved).max())
    off = np.abs(moved - ref_moved) > 0.25 * scale + 1e-7
    # Lion steps by a sign: where its mix of moments is within 8-bit error of zero the sign
    # may flip (a few elements). ADOPT without its clip divides by the second moment of the
    # earlier steps: where a tiny first gradient left v below the block's smallest 8-bit code,
    # v decodes as 0 and the step is g / eps (3 to 10 elements of 5000 here). Elsewhere no
    # element may be off.
    unclipped_adopt = name == "ADOPT" and not kwargs.get("clipping", True)
    assert np.mean(off) <= (0.01 if name == "Lion" or unclipped_adopt else 0.0), name
