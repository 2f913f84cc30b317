"""Regressions of issue 12's adversarial review: every check of a call runs before its
first write, across parameter groups, cohorts and list entries; out-of-range integers,
hyperparameters and scalar state raise ValueError/TypeError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import pyfastopt
from pyfastopt import functional as F
from pyfastopt import optim
from pyfastopt import transforms as T


def snapshot(opt, *arrays):
    """Every array of the optimizer (params and state buffers) and ``arrays``, as bytes."""
    params = [p for g in opt.param_groups for p in g["params"]]
    buffers = [v for s in opt._state.values() for v in s.values() if isinstance(v, np.ndarray)]
    scalars = {i: {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
               for i, s in opt._state.items()}  # fmt: skip
    return [a.tobytes() for a in (*params, *buffers, *arrays)], repr(scalars)


def two_group_adam(cls=optim.Adam, dtype=np.float32, **kw):
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(33).astype(dtype) for _ in range(2))
    opt = cls([{"params": [a]}, {"params": [b]}], **kw)
    grads = [rng.standard_normal(33).astype(dtype) for _ in range(2)]
    opt.step(grads)
    return opt, a, b, grads


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (-5, ValueError, r"state\[1\]\['step'\]: -5 \(must be >= 0\)"),
        ("3", TypeError, r"state\[1\]\['step'\] must be an int, got str"),
        (2.0, TypeError, r"state\[1\]\['step'\] must be an int, got float"),
        (2**63, ValueError, r"state\[1\]\['step'\]"),
        (None, TypeError, r"state\[1\]\['step'\] must be an int, got NoneType"),
    ],
)  # fmt: skip
def test_bad_step_state_of_a_later_group_changes_nothing(bad, error, match):
    opt, _, _, grads = two_group_adam()
    if bad is None:
        del opt.state[1]["step"]
    else:
        opt.state[1]["step"] = bad
    before = snapshot(opt, *grads)
    with pytest.raises(error, match=match):
        opt.step(grads)
    assert snapshot(opt, *grads) == before


def test_bad_step_state_of_a_later_cohort_changes_nothing():
    rng = np.random.default_rng(1)
    params = [rng.standard_normal(8) for _ in range(3)]
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    grads = [rng.standard_normal(8) for _ in range(3)]
    opt.step([grads[0], None, None])  # param 0 is a step ahead: two cohorts below
    opt.step(grads)
    opt.state[2]["step"] = -1
    before = snapshot(opt, *grads)
    with pytest.raises(ValueError, match=r"state\[2\]\['step'\]"):
        opt.step(grads)
    assert snapshot(opt, *grads) == before


def test_grad_that_is_another_groups_param_is_refused():
    opt, _, b, grads = two_group_adam()
    before = snapshot(opt, *grads)
    with pytest.raises(ValueError, match=r"grads\[0\] shares memory with params\[1\]"):
        opt.step([b, grads[1]])
    assert snapshot(opt, *grads) == before


def test_state_buffer_shared_across_groups_is_refused():
    opt, _, _, grads = two_group_adam()
    opt.state[1]["exp_avg"] = opt.state[0]["exp_avg_sq"]
    before = snapshot(opt, *grads)
    with pytest.raises(ValueError, match="shares memory with"):
        opt.step(grads)
    assert snapshot(opt, *grads) == before


@pytest.mark.parametrize("where", ["param", "state"])
def test_read_only_buffer_of_a_later_group_changes_nothing(where):
    opt, _, b, grads = two_group_adam()
    (b if where == "param" else opt.state[1]["exp_avg"]).flags.writeable = False
    before = snapshot(opt, *grads)
    with pytest.raises(ValueError, match="read-only"):
        opt.step(grads)
    assert snapshot(opt, *grads) == before


def test_state_made_read_only_after_the_plan_was_built_is_not_written():
    rng = np.random.default_rng(2)
    p, g = rng.standard_normal(100).astype(np.float32), rng.standard_normal(100).astype(np.float32)
    opt = optim.Adam([p])
    opt.step([g])
    opt.step([g])  # the second step builds the plan
    opt.state[0]["exp_avg_sq"].flags.writeable = False
    before = snapshot(opt, g)
    with pytest.raises(ValueError, match=r"exp_avg_sq\[0\] is read-only"):
        opt.step([g])
    assert snapshot(opt, g) == before


def test_coefficient_beyond_float32_in_a_later_group_changes_nothing():
    """lr is within float32's range but lr / (1 - beta1) is not: group 1 would overflow."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 3e38, "betas": (0.99, 0.999)}])
    grads = [np.ones(8, np.float32), np.ones(8, np.float32)]
    before = snapshot(opt, *grads)
    with pytest.raises(ValueError, match="beyond float32's range"):
        opt.step(grads)
    assert snapshot(opt, *grads) == before


def test_coefficient_beyond_float32_is_refused_by_the_kernel():
    p, g, m, v = (np.ones(8, np.float32) for _ in range(4))
    with pytest.raises(ValueError, match="beyond float32's range"):
        F.adam_(p, g, m, v, step=1, lr=3e38, beta1=0.99)
    np.testing.assert_array_equal(p, 1.0)
    # the same hyperparameters are representable for float64 arrays
    p64, g64, m64, v64 = (np.ones(8) for _ in range(4))
    F.adam_(p64, g64, m64, v64, step=1, lr=3e38, beta1=0.99)
    assert np.isfinite(p64).all()


@pytest.mark.parametrize("value", [1e39, -1e39, 10**400])
def test_hyperparameter_beyond_float32_range(value):
    p, g = np.ones(8, np.float32), np.ones(8, np.float32)
    with pytest.raises(ValueError, match=r"lr.*float32's range"):
        F.sgd_(p, g, step=1, lr=value)
    np.testing.assert_array_equal(p, 1.0)


@pytest.mark.parametrize("step", [0, -1, 2**63, 10**400])
def test_step_out_of_range(step):
    p, g, m, v = (np.ones(8) for _ in range(4))
    with pytest.raises(ValueError, match="Invalid step"):
        F.adam_(p, g, m, v, step=step)
    np.testing.assert_array_equal(p, 1.0)


def test_largest_step_is_accepted():
    """beta ** t underflows to 0 at t = 2**63 - 1: the bias corrections are 1."""
    p, g, m, v = np.ones(8), np.ones(8), np.zeros(8), np.zeros(8)
    F.adam_(p, g, m, v, step=2**63 - 1, lr=0.1)
    np.testing.assert_allclose(p, 1.0 - 0.1 * 0.1 / (np.sqrt(0.001) + 1e-8), rtol=1e-12)


@pytest.mark.parametrize("n", [0, 1025, 2**31, 2**70])
def test_thread_count_out_of_range(n):
    before = pyfastopt.get_num_threads()
    with pytest.raises(ValueError, match="Invalid n"):
        pyfastopt.set_num_threads(n)
    assert pyfastopt.get_num_threads() == before


def test_thread_count_type():
    with pytest.raises(TypeError, match="n must be an int"):
        pyfastopt.set_num_threads(2.0)


@pytest.mark.parametrize(("seed", "error"),
                         [(-1, ValueError), (2**64, ValueError), (1.5, TypeError)])  # fmt: skip
def test_noise_seed_out_of_range(seed, error):
    with pytest.raises(error, match="seed"):
        T.GradientNoise(eta=0.1, seed=seed)


def test_largest_noise_seed_is_accepted():
    g = np.zeros(16)
    T.add_gradient_noise_(g, step=1, eta=1.0, seed=2**64 - 1)
    assert np.count_nonzero(g) == 16


@pytest.mark.parametrize("bad", ["read_only", "int", "aliased"])
def test_noise_checks_the_whole_list_before_writing(bad):
    """A mixed-dtype list takes one call per array: all are checked before the first."""
    a, b, c = np.zeros(8, np.float32), np.zeros(8, np.float64), np.zeros(8, np.float32)
    if bad == "read_only":
        c.flags.writeable = False
    elif bad == "int":
        c = np.zeros(8, np.int32)
    else:
        c = a[2:6]
    with pytest.raises((ValueError, TypeError), match=r"grad\[2\]"):
        T.add_gradient_noise_([a, b, c], step=1, eta=1.0)
    assert not a.any()
    assert not b.any()


def test_noise_sigma_at_huge_steps_and_gamma():
    noise = T.GradientNoise(eta=1.0, gamma=1e30)
    assert noise.sigma(2**63 - 1) == 0.0


@pytest.mark.parametrize("bad", [float("nan"), -0.5, 1.5, "1", None])
def test_nadam_mu_product_from_a_state_dict(bad):
    p = np.ones(8)
    opt = optim.NAdam([p])
    opt.step([np.ones(8)])
    sd = opt.state_dict()
    sd["state"][0]["mu_product"] = bad
    before = snapshot(opt)
    with pytest.raises((ValueError, TypeError), match="mu_product"):
        opt.load_state_dict(sd)
    assert snapshot(opt) == before


@pytest.mark.parametrize(
    ("key", "bad"),
    [("phase", "bogus"), ("phase", None), ("sgd_lr", float("nan")), ("lambda", "0.1"),
     ("lambda", -(10**400)), ("sgd_lr", "0.1")],
)  # fmt: skip
def test_swats_state_from_a_state_dict(key, bad):
    opt = optim.SWATS([np.ones(8)])
    opt.step([np.ones(8)])
    sd = opt.state_dict()
    sd["state"][0][key] = bad
    with pytest.raises((ValueError, TypeError), match=key if key != "lambda" else "lambda"):
        opt.load_state_dict(sd)


def test_swats_bogus_phase_set_by_hand_changes_nothing():
    opt, _, _, grads = two_group_adam(optim.SWATS, dtype=np.float64)
    opt.state[1]["phase"] = "bogus"
    before = snapshot(opt, *grads)
    with pytest.raises(ValueError, match="phase"):
        opt.step(grads)
    assert snapshot(opt, *grads) == before


def test_swats_functional_state_checked():
    p, g, m, v, b = (np.ones(8) for _ in range(5))
    with pytest.raises(ValueError, match="sgd_lr"):
        F.swats_(p, g, m, v, b, step=2, state=F.SwatsState("sgd", 0.1, float("nan")))
    np.testing.assert_array_equal(p, 1.0)


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda sd: sd["state"].update({7: sd["state"].pop(0)}), ValueError, "names no parameter"),
        (lambda sd: sd["state"].update({0: [1, 2]}), TypeError, "must be a dict"),
        (lambda sd: sd["state"][0].update(exp_avg=np.array(["a"] * 8)), TypeError, "dtype"),
    ],
)  # fmt: skip
def test_malformed_state_dict(mutate, error, match):
    opt = optim.Adam([np.ones(8)])
    opt.step([np.ones(8)])
    sd = opt.state_dict()
    mutate(sd)
    before = snapshot(opt)
    with pytest.raises(error, match=match):
        opt.load_state_dict(sd)
    assert snapshot(opt) == before


def test_ema_copy_to_writes_the_polyak_average():
    rng = np.random.default_rng(4)
    p = rng.standard_normal(10)
    ema = T.EMA([p], decay=None)
    seen = [p.copy()]
    for _ in range(3):
        p += rng.standard_normal(10)
        seen.append(p.copy())
        ema.update()
    target = np.zeros(10)
    ema.copy_to([target])
    np.testing.assert_allclose(target, np.mean(seen, axis=0), rtol=1e-12)


@pytest.mark.parametrize("bad", ["read_only", "shape", "count"])
def test_ema_copy_to_checks_every_target_first(bad):
    a, b = np.ones(4), np.ones(6)
    ema = T.EMA([a, b])
    x, y = np.zeros(4), np.zeros(6)
    targets = [x, y]
    if bad == "read_only":
        y.flags.writeable = False
    elif bad == "shape":
        targets[1] = np.zeros(5)
    else:
        targets = [x]
    with pytest.raises(ValueError, match="params"):
        ema.copy_to(targets)
    assert not x.any()


def test_clip_grad_norm_of_a_nan_norm_matches_torch():
    """torch scales by clamp(max_norm / (nan + eps), max=1) = nan: every gradient is NaN."""
    torch = pytest.importorskip("torch")
    grads = [np.array([1.0, np.nan]), np.array([2.0])]
    tensors = [torch.tensor(g) for g in grads]
    for t in tensors:
        t.grad = t.clone()
    expected = torch.nn.utils.clip_grad_norm_(tensors, 1.0)
    total = T.clip_grad_norm_(grads, 1.0)
    assert np.isnan(total)
    assert torch.isnan(expected)
    for g, t in zip(grads, tensors):
        np.testing.assert_array_equal(g, t.grad.numpy())  # all NaN


def test_adabound_needs_an_initial_lr_when_lr_is_positive():
    p, g, m, v = np.ones(3), np.ones(3), np.zeros(3), np.zeros(3)
    with pytest.raises(ValueError, match="initial_lr"):
        F.adabound_(p, g, m, v, step=1, lr=0.1, initial_lr=0.0)
    np.testing.assert_array_equal(p, 1.0)
    F.adabound_(p, g, m, v, step=1, lr=0.0, initial_lr=0.0)  # no step: bounds 0 are fine
    np.testing.assert_array_equal(p, 1.0)
