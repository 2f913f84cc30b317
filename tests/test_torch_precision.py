"""pyfastopt.torch with bfloat16/float16 parameters, and under torch.amp.GradScaler.

Each 16-bit step is checked from the same rounded inputs (our stored parameters and state
of the step before, loaded into the peer) against two peers:

- torch's single-tensor optimizer (``foreach=False``) run in float64 on those inputs: our
  stored values may differ from it by float32 arithmetic (rtol 1e-5 of the largest
  magnitude, as tests/test_precision.py) plus one ulp of the storage (bfloat16 2^-7
  relative, float16 2^-10; 2^-24 absolute among float16's subnormals). torch's own 16-bit
  single-tensor path is no peer here: it rounds every intermediate to the 16-bit dtype (it
  then misses the float64 result by tens of ulps where an update cancels most of a
  parameter, and float16 Adam turns a gradient below about 0.008 into inf or NaN: eps=1e-8
  and the squared gradient underflow to 0), where the kernels compute in float32 and round
  once per stored value.
- torch's fused CPU kernels in the same dtype, which compute mostly in float32: within one
  storage ulp (plus float32 arithmetic) wherever torch's result is itself that close to the
  float64 one, which must be 99% of the elements. (Where an update cancels most of a
  parameter, torch 2.13.0's fused Adam misses the float64 result by up to some 25 ulps, as
  if it rounded the update to 16 bits first; ours stays within half an ulp.) Adam and AdamW
  without coupled weight decay only: in torch 2.13.0 the fused CPU SGD leaves every full
  SIMD block of a bfloat16/float16 parameter unchanged (pytorch/pytorch#191763), the fused
  Adagrad rounds its update to the 16-bit dtype before subtracting it (both fixed in
  pytorch/pytorch#192545), and the fused Adam's exp_avg with coupled ``weight_decay`` misses
  the float64 result by several 16-bit ulps.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pyfastopt  # noqa: E402  (after the torch skip)
import pyfastopt.torch as pt  # noqa: E402
from pyfastopt.precision import bfloat16  # noqa: E402

if bfloat16 is None:  # the test extra installs ml_dtypes
    pytest.fail("ml_dtypes is needed for the bfloat16 tests", pytrace=False)

from test_torch_adapter import assert_same, batches, mlp  # noqa: E402

DTYPES = [torch.bfloat16, torch.float16]
DTYPE_IDS = ["bfloat16", "float16"]
ULP = {torch.bfloat16: 2.0**-7, torch.float16: 2.0**-10}
# below the smallest normal the spacing is absolute (float16's subnormal step is 2^-24)
STEP = {torch.bfloat16: 2.0**-133, torch.float16: 2.0**-24}
RTOL = 1e-5  # float32 arithmetic
STEPS = 4
# every class of pyfastopt.torch with the options that change the update; initial states
# exact in 16 bits (Rprop's lr is its first step size, Adagrad's accumulator value), so the
# float64 peer's first step starts where a 16-bit one does
CASES = [
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 1e-2, "initial_accumulator_value": 0.125}),
    ("RMSprop", {"lr": 1e-3}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 1e-3}),
    ("Adadelta", {}),
    ("Adamax", {"lr": 1e-2}),
    ("NAdam", {"lr": 1e-2}),
    ("RAdam", {"lr": 1e-2, "weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ("Rprop", {"lr": 2.0**-10}),
]
IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for n, kw in CASES]
FUSED = [
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
]
FUSED_IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for n, kw in FUSED]
SHAPES = [(37,), (5, 7), (), (4096,)]  # odd sizes: SIMD tails; a 0-dim parameter


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def params16(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen).to(dtype).requires_grad_() for s in SHAPES]


def within(ours, expected, dtype):
    """How far (<= 0: within) ``ours`` (16-bit) is from ``expected`` beyond one storage ulp
    plus float32 arithmetic, element by element."""
    ours, expected = ours.detach().double(), expected.detach().double()
    tol = (ULP[dtype] * expected.abs()).clamp_min(STEP[dtype])
    return (ours - expected).abs() - tol - RTOL * expected.abs().max()


def assert_close_16(ours, expected, dtype, what, exact=None):
    """``ours`` within one storage ulp plus float32 arithmetic of ``expected``; given the
    ``exact`` (float64) result, only where ``expected`` is itself within that of it (a
    16-bit peer's own misses are not ours to match), which must be 99% of the elements."""
    excess = within(ours, expected, dtype)
    if exact is not None:
        trusted = within(expected, exact, dtype) <= 0
        assert trusted.double().mean() >= 0.99, f"{what}: the peer misses float64 too often"
        excess = torch.where(trusted, excess, -1.0)
    i = int(excess.argmax())
    ours, expected = ours.detach().double(), expected.detach().double()
    assert excess.max() <= 0, (f"{what}: element {i} is {ours.flatten()[i].item()}, expected "
                               f"{expected.flatten()[i].item()}")  # fmt: skip


def step_from_ours(ours, ps, grads, name, kwargs, dtype, peer_kwargs):
    """torch's optimizer of ``dtype`` over copies of our parameters, with our state dict
    (torch's load_state_dict casts it to ``dtype``), stepped once on ``grads``."""
    qs = [p.detach().to(dtype).clone().requires_grad_() for p in ps]
    theirs = getattr(torch.optim, name)(qs, **kwargs, **peer_kwargs)
    if ours.state:
        theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    for q, g in zip(qs, grads):
        q.grad = g.to(dtype)
    theirs.step()
    return qs, theirs


def assert_like(ours, ps, theirs, qs, dtype, exact=None):
    """Parameters and state of ours against the peer's, key by key; our state in torch's
    dtypes (16-bit buffers, float32 step). ``exact``: (parameters, optimizer) in float64,
    for a 16-bit peer (:func:`assert_close_16`)."""
    for i, (p, q) in enumerate(zip(ps, qs)):
        exact_p = None if exact is None else exact[0][i]
        exact_state = {} if exact is None else exact[1].state[exact_p]
        assert_close_16(p, q, dtype, f"params[{i}]", exact_p)
        mine, peer = ours.state.get(p, {}), theirs.state.get(q, {})
        assert mine.keys() == peer.keys()
        for key, value in mine.items():
            if key in ("step", "mu_product"):
                assert value.dtype == torch.float32, key
                assert float(value) == pytest.approx(float(peer[key]), rel=1e-6), key
            else:
                assert value.dtype == dtype, key
                assert_close_16(value, peer[key], dtype, f"state {key!r} of params[{i}]",
                                exact_state.get(key))  # fmt: skip


def run_against(name, kwargs, dtype, peer_dtype, peer_kwargs):
    ps = params16(dtype)
    ours = getattr(pt, name)(ps, **kwargs)
    gen = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        grads = [torch.randn(p.shape, generator=gen).to(dtype) for p in ps]
        qs, theirs = step_from_ours(ours, ps, grads, name, kwargs, peer_dtype, peer_kwargs)
        exact = None
        if peer_dtype != torch.float64:
            exact = step_from_ours(ours, ps, grads, name, kwargs, torch.float64,
                                   {"foreach": False})  # fmt: skip
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        ours.step()
        assert_like(ours, ps, theirs, qs, dtype, exact)
    assert id(ours.param_groups[0]) in ours._plans()  # the later steps took the native plan


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_steps_like_torch_in_float64(name, kwargs, dtype):
    run_against(name, kwargs, dtype, torch.float64, {"foreach": False})


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("name", "kwargs"), FUSED, ids=FUSED_IDS)
def test_steps_like_torch_fused(name, kwargs, dtype):
    run_against(name, kwargs, dtype, dtype, {"fused": True})


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_updates_in_place(dtype):
    """The kernels write the tensors' own memory: a bfloat16 tensor is viewed as
    ml_dtypes.bfloat16 over its bits, a float16 one as numpy.float16."""
    p = torch.randn(100).to(dtype)
    view = pt._view(p)
    assert view.dtype == (bfloat16 if dtype == torch.bfloat16 else np.float16)
    assert view.__array_interface__["data"][0] == p.data_ptr()
    view[3] = 2.5
    assert p[3] == 2.5
    p.requires_grad_()
    ptr = p.data_ptr()
    opt = pt.Adam([p], lr=0.1)
    for _ in range(2):  # the general path, then the plan
        before = p.detach().clone()
        p.grad = torch.ones_like(p)
        opt.step()
        assert p.data_ptr() == ptr
        assert (p.detach() < before).all()


def test_a_group_of_every_dtype():
    """One group of float32, float64, bfloat16 and float16 parameters: one native call per
    dtype, each as its dtype alone."""
    dtypes = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
    together = [torch.randn(9, dtype=torch.float64).to(d).requires_grad_() for d in dtypes]
    alone = [p.detach().clone().requires_grad_() for p in together]
    opt = pt.Adam(together, lr=1e-2)
    opts = [pt.Adam([p], lr=1e-2) for p in alone]
    for t in range(3):
        for p, q, o in zip(together, alone, opts):
            p.grad = torch.full_like(p, t - 0.5)
            q.grad = p.grad.clone()
            o.step()
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(together, alone))
    assert len(opt._plans()[id(opt.param_groups[0])].calls) == 4


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_thread_count_does_not_change_the_result(dtype):
    results = []
    for threads in (1, 2):
        before = pyfastopt.get_num_threads()
        pyfastopt.set_num_threads(threads)
        try:
            torch.manual_seed(0)
            p = torch.randn(1 << 17).to(dtype).requires_grad_()
            opt = pt.Adam([p], lr=1e-2)
            for _ in range(3):
                p.grad = torch.randn(1 << 17).to(dtype)
                opt.step()
        finally:
            pyfastopt.set_num_threads(before)
        results.append(p.detach())
    assert torch.equal(*results)


# -- torch.amp.GradScaler ------------------------------------------------------------------

INF_STEP = 3  # the step whose gradient gets an inf


def train_scaled(model, opt, scaler, steps=8, dtype=torch.float32, skipped=None):
    """Training with ``scaler`` (None: unscaled); at INF_STEP a gradient element is inf.
    Records whether each step left parameters, state and step counts unchanged."""
    for t, (x, y) in enumerate(batches(steps, dtype)):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        (loss if scaler is None else scaler.scale(loss)).backward()
        if t == INF_STEP:
            model[0].weight.grad[0, 0] = float("inf")
        before = snapshot(opt, model)
        if scaler is None:
            opt.step()
        else:
            scaler.step(opt)
            scaler.update()
        if skipped is not None:
            skipped.append(same(before, snapshot(opt, model)))
        assert not hasattr(opt, "grad_scale")  # GradScaler removes what it set


def snapshot(opt, model):
    state = [(k, v.clone()) for s in opt.state.values() for k, v in s.items()]
    return [p.detach().clone() for p in model.parameters()], state


def same(a, b):
    return len(a[1]) == len(b[1]) and all(
        torch.equal(x, y) for x, y in zip(a[0] + [v for _, v in a[1]], b[0] + [v for _, v in b[1]])
    )


def test_grad_scaler_like_torch():
    """float32: our Adam under GradScaler (which hands it grad_scale and found_inf) steps as
    torch's Adam(foreach=False) under GradScaler (which unscales the gradients itself):
    the same steps skipped (the one with an inf gradient: parameters, state and step count
    unchanged), the same scale history, the same weights. And with power-of-two scales
    (the scaler's are) the scaled run is bit for bit the unscaled one, until the inf step."""
    runs = {}
    for who in ("ours", "torch"):
        model = mlp()
        opt = (torch.optim.Adam(model.parameters(), lr=1e-2, foreach=False) if who == "torch"
               else pt.Adam(model.parameters(), lr=1e-2))  # fmt: skip
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=2)
        skipped: list[bool] = []
        train_scaled(model, opt, scaler, skipped=skipped)
        runs[who] = (model, opt, scaler, skipped)
    ours, theirs = runs["ours"], runs["torch"]
    assert ours[3] == theirs[3] == [t == INF_STEP for t in range(8)]
    # grown after steps 1, 5 and 7 (two unskipped in a row), halved at the inf
    assert ours[2].get_scale() == theirs[2].get_scale() == 2.0**14
    for p, q in zip(ours[0].parameters(), theirs[0].parameters()):
        assert_same(p.detach(), q.detach(), "param")
    assert float(ours[1].state[next(ours[0].parameters())]["step"]) == 7
    # the steps before the inf, scaled and unscaled
    models = []
    for scaler in (torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=2), None):
        models.append(mlp())
        train_scaled(models[-1], pt.Adam(models[-1].parameters(), lr=1e-2), scaler,
                     steps=INF_STEP)  # fmt: skip
    for p, q in zip(*(m.parameters() for m in models)):
        assert torch.equal(p, q)


def test_grad_scaler_unscale_then_clip():
    """scaler.unscale_(optimizer) first (to clip the unscaled gradients), then
    scaler.step: the step gets no grad_scale, only found_inf; as torch's Adam."""
    models = []
    for cls in (pt.Adam, torch.optim.Adam):
        model = mlp()
        opt = cls(model.parameters(), lr=1e-2)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
        for t, (x, y) in enumerate(batches(6)):
            opt.zero_grad()
            scaler.scale(torch.nn.functional.mse_loss(model(x), y)).backward()
            if t == INF_STEP:
                model[2].bias.grad[0] = float("nan")
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            scaler.step(opt)
            scaler.update()
        assert float(opt.state[model[0].weight]["step"]) == 5  # the NaN step skipped
        models.append(model)
    for p, q in zip(*(m.parameters() for m in models)):
        assert_same(p.detach(), q.detach(), "param")


def test_grad_scaler_float64():
    """float64 parameters: their kernels take no grad_scale, so the gradients are divided
    into temporaries; bit for bit the unscaled run for power-of-two scales."""
    results = []
    for scaler in (torch.amp.GradScaler("cpu", init_scale=2.0**10), None):
        model = mlp(torch.float64)
        opt = pt.Adam(model.parameters(), lr=1e-2)
        train_scaled(model, opt, scaler, steps=INF_STEP, dtype=torch.float64)
        grads = [p.grad.clone() for p in model.parameters()]
        results.append(([p.detach() for p in model.parameters()], grads))
    (scaled, scaled_grads), (unscaled, unscaled_grads) = results
    assert all(torch.equal(p, q) for p, q in zip(scaled, unscaled))
    assert all(torch.equal(g, 2.0**10 * h) for g, h in zip(scaled_grads, unscaled_grads))


def set_grads(ps, grads):
    for p, g in zip(ps, grads):
        p.grad = g.clone()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_grad_scaler_16bit(dtype):
    """16-bit parameters under GradScaler (torch's unscale_ refuses float16 gradients; the
    grad_scale contract takes them): the kernel unscales as it loads, so a step on gradients
    scaled by a power of two is bit for bit the step on the unscaled ones; within one ulp of
    torch's fused Adam under the same scaler; an inf gradient skips the step."""
    gen = torch.Generator().manual_seed(2)
    ps, ref, peer = params16(dtype), params16(dtype), params16(dtype)
    ours, plain = pt.Adam(ps, lr=1e-2), pt.Adam(ref, lr=1e-2)
    theirs = torch.optim.Adam(peer, lr=1e-2, fused=True)
    scalers = [torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=100)
               for _ in range(2)]  # fmt: skip
    for scaler in scalers:
        scaler.scale(torch.ones(()))  # the scale tensor is created lazily
    for t in range(STEPS):
        grads = [torch.randn(p.shape, generator=gen).to(dtype) for p in ps]
        scale = scalers[0].get_scale()  # halved after the inf step
        scaled = [g * scale for g in grads]
        assert all(torch.equal(s / scale, g) for s, g in zip(scaled, grads))  # exact
        if t == 2:
            scaled[0].view(-1)[0] = float("inf")
        before = snapshot(ours, torch.nn.ParameterList(ps))
        set_grads(ps, scaled)
        set_grads(peer, scaled)
        for scaler, opt in zip(scalers, (ours, theirs)):
            scaler.step(opt)
            scaler.update()
        if t == 2:
            assert same(before, snapshot(ours, torch.nn.ParameterList(ps)))
            continue
        set_grads(ref, grads)
        plain.step()
        assert all(torch.equal(p, q) for p, q in zip(ps, ref))
        assert all(torch.equal(plain.state[q][k], ours.state[p][k])
                   for p, q in zip(ps, ref) for k in ours.state[p])  # fmt: skip
        for i, (p, q) in enumerate(zip(ps, peer)):
            assert_close_16(p, q, dtype, f"params[{i}]")
        # the next step starts both from our values (the one-ulp differences would add up)
        with torch.no_grad():
            for p, q in zip(ps, peer):
                q.copy_(p)
                for key, value in ours.state[p].items():
                    theirs.state[q][key].copy_(value)
    assert float(ours.state[ps[0]]["step"]) == STEPS - 1
    assert scalers[0].get_scale() == scalers[1].get_scale() == 2.0**7


# -- state dicts ---------------------------------------------------------------------------


def test_bfloat16_state_dict_round_trip():
    """A bfloat16 model's state dict loads into torch.optim.Adam and back unchanged (16-bit
    buffers, a float32 step), and the next step is torch's (in float64, from the same
    rounded inputs)."""
    dtype = torch.bfloat16
    model, peer = mlp(dtype), mlp(dtype)
    ours = pt.Adam(model.parameters(), lr=1e-2)
    for x, y in batches(3, dtype):
        ours.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        ours.step()
    peer.load_state_dict(model.state_dict())
    theirs = torch.optim.Adam(peer.parameters(), lr=1e-2)
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    back = pt.Adam(model.parameters(), lr=1e-2)
    back.load_state_dict(copy.deepcopy(theirs.state_dict()))
    for opt in (theirs, back):
        for p, q in zip(model.parameters(), opt.param_groups[0]["params"]):
            mine, other = ours.state[p], opt.state[q]
            assert mine.keys() == other.keys()
            for key, value in mine.items():
                assert other[key].dtype == value.dtype == (torch.float32 if key == "step"
                                                           else dtype)  # fmt: skip
                assert torch.equal(other[key], value), key
    (x, y), = batches(1, dtype)  # fmt: skip
    back.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    ps = list(model.parameters())
    qs, ref = step_from_ours(back, ps, [p.grad for p in ps], "Adam", {"lr": 1e-2},
                             torch.float64, {"foreach": False})  # fmt: skip
    back.step()
    assert_like(back, ps, ref, qs, dtype)


# -- bad input -----------------------------------------------------------------------------


def test_state_of_another_dtype_is_refused():
    """A bfloat16 parameter whose state was replaced by a float32 tensor: torch's own step
    refuses it too (its load_state_dict casts state to the parameter's dtype)."""
    p = torch.randn(8).to(torch.bfloat16).requires_grad_()
    opt = pt.Adam([p])
    for steps in (0, 2):  # the general path, then a plan being rebuilt
        for _ in range(steps):
            p.grad = torch.ones_like(p)
            opt.step()
        if steps:
            opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].float()
        else:
            opt.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros(8),
                            "exp_avg_sq": torch.zeros(8, dtype=torch.bfloat16)}  # fmt: skip
        p.grad = torch.ones_like(p)
        before = p.detach().clone(), {k: v.clone() for k, v in opt.state[p].items()}
        with pytest.raises(TypeError, match=r"'exp_avg' has dtype torch.float32, expected "
                                            r"torch.bfloat16"):  # fmt: skip
            opt.step()
        assert torch.equal(p, before[0])
        assert all(torch.equal(v, before[1][k]) for k, v in opt.state[p].items())
        opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].to(torch.bfloat16)


def test_int_parameter_is_refused():
    for dtype in (torch.int16, torch.uint8, torch.int64):
        with pytest.raises(TypeError, match=f"params\\[0\\].*{dtype}"):
            pt.SGD([torch.zeros(4, dtype=dtype)], lr=0.1)


def test_bfloat16_without_ml_dtypes(monkeypatch):
    """Without ml_dtypes a bfloat16 parameter is refused, naming it, when it is added;
    float16 needs no ml_dtypes."""
    monkeypatch.setattr(pt, "_BF16", None)
    p = torch.zeros(4, dtype=torch.bfloat16, requires_grad=True)
    with pytest.raises(ImportError, match="ml_dtypes"):
        pt.Adam([p])
    opt = pt.Adam([torch.zeros(4, dtype=torch.float16, requires_grad=True)])
    with pytest.raises(ImportError, match="ml_dtypes"):
        opt.add_param_group({"params": [p]})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("steps", [0, 2])  # the general path, then the plans
@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan"), 1e-300])
def test_bad_grad_scale_changes_nothing(bad, steps):
    ps = [torch.randn(8, requires_grad=True),
          torch.randn(8).to(torch.bfloat16).requires_grad_()]  # fmt: skip
    opt = pt.Adam([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 1e-2}])
    for _ in range(steps):
        set_grads(ps, [torch.ones_like(p) for p in ps])
        opt.step()
    set_grads(ps, [torch.ones_like(p) for p in ps])
    before = snapshot(opt, torch.nn.ParameterList(ps))
    opt.grad_scale, opt.found_inf = torch.tensor(bad), torch.tensor(0.0)
    with pytest.raises(ValueError, match="grad_scale"):
        opt.step()
    assert same(before, snapshot(opt, torch.nn.ParameterList(ps)))


@pytest.mark.parametrize("steps", [0, 2])  # the general path, then the plans
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_bad_16bit_gradient_changes_nothing(dtype, steps):
    p = torch.randn(4, 4).to(dtype).requires_grad_()
    opt = pt.Adam([p])
    for _ in range(steps):
        p.grad = torch.ones_like(p)
        opt.step()
    for grad, error, match in (
        (torch.ones(4, 4).to(dtype).t(), ValueError, r"params\[0\]\.grad must be contiguous"),
        (torch.ones(4, 4).to(dtype).to_sparse(), TypeError, r"params\[0\]\.grad has layout"),
    ):
        p.grad = grad
        before = snapshot(opt, torch.nn.ParameterList([p]))
        with pytest.raises(error, match=match):
            opt.step()
        assert same(before, snapshot(opt, torch.nn.ParameterList([p])))
