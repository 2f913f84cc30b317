"""Schedule-free SGD and AdamW beyond the shared test matrix (tests/cases.py): the switch
between train and eval parameters, the modes, closed forms, and the authors' package
schedulefree itself where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TRAJECTORY_RTOL, assert_near

from pyfastopt import functional as F
from pyfastopt import optim, reference

CLASSES = ["SGDScheduleFree", "AdamWScheduleFree"]
KWARGS = {
    "SGDScheduleFree": {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.01, "warmup_steps": 5},
    "AdamWScheduleFree": {"lr": 0.02, "betas": (0.85, 0.99), "weight_decay": 0.01,
                          "warmup_steps": 5, "r": 0.5},
}  # fmt: skip
RTOL = TRAJECTORY_RTOL


def trajectory(seed, shapes, steps, dtype):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in shapes]
    targets = [rng.standard_normal(s) for s in shapes]
    noise = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    return init, targets, noise


def grads(params, targets, noise, dtype):
    return [np.asarray(np.asarray(p) - q + 0.3 * e, dtype)
            for p, q, e in zip(params, targets, noise)]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", CLASSES)
def test_eval_and_train_move_between_y_and_the_average(name, dtype):
    """eval() gives the paper's x (the reference's, from its averaging form), train() gives
    y back; training resumes on the same trajectory."""
    init, targets, noise = trajectory(1, [(30,), (4, 5)], 25, dtype)
    params = [p.astype(dtype) for p in init]
    ref_params = [p.copy() for p in init]
    opt = getattr(optim, name)(params, **KWARGS[name])
    ref = getattr(reference, name)(ref_params, **KWARGS[name])
    for t, e in enumerate(noise):
        g = grads(params, targets, e, dtype)
        opt.step(g)
        ref.step(g)
        if t in (9, 24):
            opt.eval()
            ref.eval()
            for p, q in zip(params, ref_params):
                assert_near(p, q, RTOL[dtype], f"x after step {t + 1}")
            opt.eval()  # a no-op in eval mode
            with pytest.raises(ValueError, match=r"eval mode: call \.train\(\)"):
                opt.step(g)
            opt.train()
            ref.train()
            opt.train()  # a no-op in train mode
            for p, q in zip(params, ref_params):
                assert_near(p, q, RTOL[dtype], f"y after step {t + 1}")


def test_the_average_is_the_weighted_average_of_z():
    """Independent of the reference: with a constant rate, no warm-up and r = 0, c_t = 1/t,
    so x_T is the plain mean of z_1..z_T. SGD's z follows z_t = z_{t-1} - lr g_t exactly."""
    rng = np.random.default_rng(2)
    p = rng.standard_normal(50)
    z = p.copy()
    zs = []
    opt = optim.SGDScheduleFree([p], lr=0.05, momentum=0.9)
    for _ in range(12):
        g = rng.standard_normal(50)
        opt.step([g])
        z = z - 0.05 * g
        zs.append(z)
    np.testing.assert_allclose(opt.state[0]["z"], z, rtol=1e-12)
    opt.eval()
    np.testing.assert_allclose(p, np.mean(zs, axis=0), rtol=1e-10, atol=1e-12)


def test_weights_follow_warmup_and_the_largest_rate():
    """The scalar state: lr_max is the largest warmed-up rate, weight_sum sums t^r lr_max^p."""
    p = np.zeros(3)
    opt = optim.AdamWScheduleFree([p], lr=0.4, warmup_steps=4, r=1.0, weight_lr_power=2.0)
    expected = 0.0
    for t in range(1, 7):
        opt.step([np.ones(3)])
        lr_max = 0.4 * min(1.0, t / 4)
        expected += t * lr_max**2
        assert opt.state[0]["lr_max"] == pytest.approx(lr_max, rel=1e-15)
        assert opt.state[0]["weight_sum"] == pytest.approx(expected, rel=1e-15)


def test_state_dict_keeps_the_mode():
    p = np.ones(4)
    opt = optim.SGDScheduleFree([p], lr=0.1)
    opt.step([np.ones(4)])
    opt.eval()
    saved = opt.state_dict()
    assert saved["param_groups"][0]["train_mode"] is False
    q = p.copy()
    other = optim.SGDScheduleFree([q], lr=0.1)
    other.load_state_dict(saved)
    with pytest.raises(ValueError, match="eval mode"):
        other.step([np.ones(4)])
    other.train()
    opt.train()
    np.testing.assert_array_equal(p, q)


def test_bad_input_raises_naming_it_and_changes_nothing():
    p, z = np.ones(4), np.zeros(4)
    before = p.copy()
    for kwargs, error, name in [
        ({"momentum": 0.0}, ValueError, "momentum"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"warmup_steps": -1}, ValueError, "warmup_steps"),
        ({"lr_max": float("nan")}, ValueError, "lr_max"),
        ({"weight_sum": -1.0}, ValueError, "weight_sum"),
        ({"lr": -0.1}, ValueError, "lr"),
    ]:
        with pytest.raises(error, match=name):
            F.schedule_free_sgd_(p, np.ones(4), z, step=1, **kwargs)
        np.testing.assert_array_equal(p, before)
    with pytest.raises(ValueError, match="beta1"):
        optim.AdamWScheduleFree([p], betas=(0.0, 0.9))
    with pytest.raises(ValueError, match=r"z\[0\] has shape"):
        F.schedule_free_eval_([p], [np.zeros(3)], beta=0.9)
    with pytest.raises(ValueError, match="shares memory"):
        F.schedule_free_eval_([p], [p], beta=0.9)
    with pytest.raises(ValueError, match="beta"):
        F.schedule_free_train_([p], [z], beta=1.0)
    np.testing.assert_array_equal(p, before)


# -- the authors' package (schedulefree, on torch) ----------------------------------------

torch = pytest.importorskip("torch")
schedulefree = pytest.importorskip("schedulefree")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", CLASSES)
def test_matches_the_authors_package_over_60_steps(name, dtype):
    """schedulefree's classes (foreach=False) and pyfastopt's on the same gradients: y while
    training, then x after eval()."""
    shapes = [(12, 5), (7,), (2, 3, 4)]
    init, targets, noise = trajectory(3, shapes, 60, dtype)
    tensors = [torch.tensor(p.astype(dtype)) for p in init]
    theirs = getattr(schedulefree, name)(tensors, foreach=False, **KWARGS[name])
    theirs.train()
    params = [p.astype(dtype) for p in init]
    mine = getattr(optim, name)(params, **KWARGS[name])
    for e in noise:
        g = grads(params, targets, e, dtype)
        for t, gi in zip(tensors, g):
            t.grad = torch.tensor(gi.copy())  # (theirs divides .grad in place)
        theirs.step()
        mine.step(g)
    for i, (p, t) in enumerate(zip(params, tensors)):
        assert_near(p, t.numpy(), RTOL[dtype], f"y of params[{i}]")
        assert_near(mine.state[i]["z"], theirs.state[t]["z"].numpy(), RTOL[dtype], "z")
    theirs.eval()
    mine.eval()
    for i, (p, t) in enumerate(zip(params, tensors)):
        assert_near(p, t.numpy(), RTOL[dtype], f"x of params[{i}]")


def test_z_is_kept_in_the_precision_of_the_updates():
    """z is a sequence of parameters: 16-bit storage would round its steps away, so it must
    be as wide as the updates (float32 with a master copy); nothing changes on refusal."""
    from pyfastopt.optim.optimizer import Precision
    from pyfastopt.precision import bfloat16

    if bfloat16 is None:
        pytest.skip("ml_dtypes is not installed")
    p32 = np.ones(8, np.float32)
    for params, precision in [
        ([p32], Precision(state_dtype="bfloat16")),
        ([p32], Precision(state_dtype="float16")),
        ([np.ones(8, bfloat16)], Precision(master_weights=True)),  # states: the param's
    ]:
        opt = optim.SGDScheduleFree(params, lr=0.1)
        opt.precision = precision
        before = params[0].copy()
        with pytest.raises(TypeError, match="precision of the updates"):
            opt.step([np.ones(8, params[0].dtype)])
        np.testing.assert_array_equal(params[0], before)
        assert not opt.state
    p16 = np.ones(8, bfloat16)
    opt = optim.AdamWScheduleFree([p16], lr=0.1)
    opt.precision = Precision(master_weights=True, state_dtype="float32")
    opt.step([np.ones(8, bfloat16)])
    assert opt.state[0]["z"].dtype == np.float32
