"""pyfastopt.torch against torch.optim: the same model trained by both reaches the same
weights and state, and their state dicts load into each other."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import pyfastopt.torch as pt  # noqa: E402  (after the torch skip)

# (class name, constructor arguments): every class of pyfastopt.torch, with the options
# that change the update
CASES = [
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-2, "maximize": False}),
    ("Adam", {"lr": 1e-2, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "amsgrad": True, "betas": (0.8, 0.99)}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3}),
    ("SGD", {"lr": 0.05}),
    ("Adagrad", {"lr": 0.05}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 1e-2, "weight_decay": 1e-3,
                 "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 1e-3}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 1e-3}),
    ("Adadelta", {}),
    ("Adamax", {"lr": 1e-2}),
    ("NAdam", {"lr": 1e-2}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 1e-2}),
    ("RAdam", {"lr": 1e-2, "weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ("Rprop", {"lr": 1e-3}),
    ("ASGD", {"lr": 0.05}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 3, "weight_decay": 1e-2}),
]
IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for n, kw in CASES]
# the state dict tests: the last case of each class (the one with the most state)
INTERCHANGE = list({n: (n, kw) for n, kw in CASES}.values())
STEPS = 50
RTOL = 1e-6


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The models are tiny: torch's thread pool only costs time (and on a busy machine a
    lot of it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mlp(dtype=torch.float32) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(20, 64), torch.nn.Tanh(), torch.nn.Linear(64, 3)
    ).to(dtype)


def batches(steps, dtype=torch.float32):
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(32, 20, generator=gen, dtype=dtype)
        yield x, torch.randn(32, 3, generator=gen, dtype=dtype)


def train(model, opt, steps=STEPS, *, dtype=torch.float32, each=None):
    for t, (x, y) in enumerate(batches(steps, dtype)):
        def closure(x=x, y=y):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        if each is not None:
            closure()
            each(t)
            opt.step()
        else:
            opt.step(closure)


def assert_same(ours, theirs, what):
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=RTOL * theirs.abs().max().item(),
                               msg=lambda m: f"{what}: {m}")  # fmt: skip


def assert_same_state(ours_opt, torch_opt, params_ours, params_torch):
    """Same keys, types, dtypes and (close) values, parameter by parameter."""
    for p, q in zip(params_ours, params_torch):
        mine, theirs = ours_opt.state.get(p, {}), torch_opt.state.get(q, {})
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert type(mine[key]) is type(value), key
            if isinstance(value, torch.Tensor):
                assert mine[key].dtype == value.dtype, key
                assert mine[key].shape == value.shape, key
                assert_same(mine[key], value, key)


def pair(name, kwargs, groups=None, dtype=torch.float32):
    """(model, ours, torch model, torch's) from one initial model."""
    model = mlp(dtype)
    peer = copy.deepcopy(model)

    def params(m):
        if groups is None:
            return m.parameters()
        return [{"params": list(m[i].parameters()), **g} for i, g in zip((0, 2), groups)]

    return (model, getattr(pt, name)(params(model), **kwargs),
            peer, getattr(torch.optim, name)(params(peer), **kwargs))  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_trains_like_torch(name, kwargs):
    model, ours, peer, theirs = pair(name, kwargs)
    train(model, ours)
    train(peer, theirs)
    for (n, p), q in zip(model.named_parameters(), peer.parameters()):
        assert_same(p.detach(), q.detach(), n)
    assert_same_state(ours, theirs, list(model.parameters()), list(peer.parameters()))
    assert isinstance(ours, getattr(torch.optim, name))
    assert id(ours.param_groups[0]) in ours._plans()  # the steps took the cached native plan


@pytest.mark.parametrize("name", ["Adam", "SGD", "NAdam"])
def test_float64(name):
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    model, ours, peer, theirs = pair(name, kwargs, dtype=torch.float64)
    train(model, ours, dtype=torch.float64)
    train(peer, theirs, dtype=torch.float64)
    for p, q in zip(model.parameters(), peer.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["Adam", "SGD", "Adagrad", "NAdam"])
def test_param_groups_and_scheduler(name):
    """Two groups with their own lr and weight decay; a scheduler changes lr mid-run."""
    kwargs = {"momentum": 0.9, "nesterov": True} if name == "SGD" else {}
    groups = [{"lr": 0.02}, {"lr": 0.005, "weight_decay": 0.01}]
    model, ours, peer, theirs = pair(name, kwargs, groups)
    scheds = [torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5) for o in (ours, theirs)]
    train(model, ours, each=lambda t: t and scheds[0].step())
    train(peer, theirs, each=lambda t: t and scheds[1].step())
    for p, q in zip(model.parameters(), peer.parameters()):
        assert_same(p.detach(), q.detach(), "param")
    assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"] < 0.02


@pytest.mark.parametrize("name", ["Adam", "SGD", "Rprop"])
def test_none_grads_are_skipped(name):
    """A parameter without a gradient keeps its value and state, as in torch; the step
    counts then differ between parameters of one group."""
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    model, ours, peer, theirs = pair(name, kwargs)

    def drop(m):
        def each(t):
            for i, p in enumerate(m.parameters()):
                if (t + i) % 3 == 0:
                    p.grad = None
        return each

    train(model, ours, each=drop(model))
    train(peer, theirs, each=drop(peer))
    for p, q in zip(model.parameters(), peer.parameters()):
        assert_same(p.detach(), q.detach(), "param")
    assert_same_state(ours, theirs, list(model.parameters()), list(peer.parameters()))


@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_mixed_dtypes_in_one_group(name):
    """float32 and float64 parameters of one group: one native call per dtype."""
    kwargs = {"momentum": 0.9} if name == "SGD" else {}

    def setup():
        torch.manual_seed(0)
        return [torch.randn(5, 3, requires_grad=True),
                torch.randn(7, dtype=torch.float64, requires_grad=True)]  # fmt: skip

    ours_p, theirs_p = setup(), setup()
    ours = getattr(pt, name)(ours_p, **kwargs)
    theirs = getattr(torch.optim, name)(theirs_p, **kwargs)
    for t in range(10):
        for ps, opt in ((ours_p, ours), (theirs_p, theirs)):
            torch.manual_seed(t)
            for p in ps:
                p.grad = torch.randn_like(p)
            opt.step()
    for p, q in zip(ours_p, theirs_p):
        assert_same(p.detach(), q.detach(), str(p.dtype))
    assert len(ours._plans()[id(ours.param_groups[0])].calls) == 2


def test_zero_grad():
    model, ours, _, _ = pair("Adam", {})
    train(model, ours, steps=2)
    ours.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    ours.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    ours.step()  # no gradients: nothing moves
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize(("name", "kwargs"), INTERCHANGE, ids=[n for n, _ in INTERCHANGE])
@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
def test_state_dict_interchange(name, kwargs, direction):
    """Train 20 steps with one, load its state dict (deep-copied, as torch advises) into
    the other, continue both 20 steps: the continuations agree."""
    model, ours, peer, theirs = pair(name, kwargs)
    first, second = (theirs, ours) if direction == "torch-to-ours" else (ours, theirs)
    first_model, second_model = (peer, model) if direction == "torch-to-ours" else (model, peer)
    train(first_model, first, steps=20)
    second_model.load_state_dict(first_model.state_dict())
    saved = copy.deepcopy(first.state_dict())
    second.load_state_dict(saved)
    assert_same_state(ours, theirs, list(model.parameters()), list(peer.parameters()))
    train(first_model, first, steps=20)
    train(second_model, second, steps=20)
    for p, q in zip(model.parameters(), peer.parameters()):
        assert_same(p.detach(), q.detach(), "param")
    assert_same_state(ours, theirs, list(model.parameters()), list(peer.parameters()))
    ours_dict, torch_dict = ours.state_dict(), theirs.state_dict()
    assert [sorted(g) for g in ours_dict["param_groups"]] == [
        sorted(g) for g in torch_dict["param_groups"]
    ]


def test_fused_state_dict_loads():
    """A state saved by torch's fused Adam loads; the fused flag does not carry over."""
    model, ours, peer, _ = pair("Adam", {})
    fused = torch.optim.Adam(peer.parameters(), fused=True)
    train(peer, fused, steps=5)
    ours.load_state_dict(copy.deepcopy(fused.state_dict()))
    assert not ours.param_groups[0]["fused"]
    model.load_state_dict(peer.state_dict())
    train(peer, fused, steps=5)
    train(model, ours, steps=5)
    for p, q in zip(model.parameters(), peer.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)  # fused rounds differently


def test_replaced_storage_and_state_are_followed():
    """The cached views are rebuilt when a parameter's storage or a state tensor is
    replaced: updates never go to stale memory."""
    model, ours, peer, theirs = pair("Adam", {"lr": 1e-2})
    train(model, ours, steps=3)
    train(peer, theirs, steps=3)
    w, v = model[0].weight, peer[0].weight
    w.data = w.data.clone()
    v.data = v.data.clone()
    ours.state[w]["exp_avg"] = ours.state[w]["exp_avg"].clone()
    train(model, ours, steps=3)
    train(peer, theirs, steps=3)
    for p, q in zip(model.parameters(), peer.parameters()):
        assert_same(p.detach(), q.detach(), "param")


def test_version_counter_bumped():
    model, ours, _, _ = pair("SGD", {"lr": 0.1})
    w = model[0].weight
    before = w._version
    train(model, ours, steps=2)
    assert w._version > before


def test_bad_input():
    p = torch.zeros(4, 4, requires_grad=True)
    with pytest.raises(ValueError, match="contiguous"):
        pt.Adam([torch.zeros(4, 4).t().requires_grad_()])
    with pytest.raises(TypeError, match="complex64"):
        pt.Adam([torch.zeros(4, dtype=torch.complex64, requires_grad=True)])
    with pytest.raises(TypeError, match="int"):
        pt.SGD([torch.zeros(4, dtype=torch.int32)])
    for option in ("fused", "capturable", "differentiable"):
        with pytest.raises(ValueError, match=option):
            pt.Adam([p], **{option: True})
    with pytest.raises(ValueError, match="Invalid learning rate"):  # torch's own check
        pt.Adam([p], lr=-1.0)
    pt.Adam([p], foreach=True)  # accepted: one of torch's implementations, ignored
    opt = pt.Adam([p])
    with pytest.raises(ValueError, match="fused"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "fused": True})
    assert len(opt.param_groups) == 1
    p.grad = torch.zeros(4, 4).t()  # a non-contiguous gradient: never copied
    with pytest.raises(ValueError, match="contiguous"):
        opt.step()
    p.grad = torch.zeros(4, 4).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()
    assert not opt.state[p] or float(opt.state[p]["step"]) == 0
    p.grad = torch.ones(4, 4)
    opt.step()
    opt.step()
    p.grad = torch.zeros(4, 4).t()  # the cached plan checks the gradient too
    with pytest.raises(ValueError, match="contiguous"):
        opt.step()
    assert float(opt.state[p]["step"]) == 2


def test_import_without_torch_side_effects():
    """Importing pyfastopt does not import torch; pyfastopt.torch names the extra when
    torch is missing."""
    code = (
        "import sys, pyfastopt; assert 'torch' not in sys.modules; "
        "sys.modules['torch'] = None\n"
        "try:\n    import pyfastopt.torch\nexcept ImportError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert "pyfastopt[torch]" in out.stdout


def _two_groups(lr1=1e-3, steps=1):
    torch.manual_seed(0)
    a, b = torch.randn(16, requires_grad=True), torch.randn(16, requires_grad=True)
    opt = pt.Adam([{"params": [a]}, {"params": [b], "lr": lr1, "betas": (0.99, 0.999)}])
    for _ in range(steps):
        a.grad, b.grad = torch.randn(16), torch.randn(16)
        opt.step()
    return opt, a, b


def _snapshot(opt, *tensors):
    state = [t.clone() for s in opt.state.values() for t in s.values()]
    return [t.detach().clone() for t in tensors], state


def _assert_same(before, after):
    for x, y in zip(before[0] + before[1], after[0] + after[1]):
        assert torch.equal(x, y)


@pytest.mark.parametrize("steps", [0, 2])  # the general path, then the plans
def test_a_later_groups_bad_grad_changes_nothing(steps):
    """A gradient that is an earlier group's parameter: every group is checked first."""
    opt, a, b = _two_groups(steps=steps)
    a.grad = torch.randn(16)
    b.grad = a.data  # aliases group 0's parameter
    before = _snapshot(opt, a, b)
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[0\]\.grad shares memory"):
        opt.step()
    _assert_same(before, _snapshot(opt, a, b))


@pytest.mark.parametrize("steps", [0, 2])
def test_a_later_groups_coefficient_beyond_float32_changes_nothing(steps):
    opt, a, b = _two_groups(steps=steps)
    opt.param_groups[1]["lr"] = 3e38  # lr / (1 - 0.99) overflows float32
    a.grad, b.grad = torch.randn(16), torch.randn(16)
    before = _snapshot(opt, a, b)
    with pytest.raises(ValueError, match="beyond float32's range"):
        opt.step()
    _assert_same(before, _snapshot(opt, a, b))
