"""Muon: pyfastopt.optim.Muon, functional.muon_ and pyfastopt.torch.Muon against the float64
transcription of torch's algorithm (pyfastopt.reference.Muon) and against torch.optim.Muon
itself, which runs the Newton-Schulz iteration in bfloat16."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import TRAJECTORY_RTOL, assert_near, grads_at, unchanged
from helpers import problem as noisy_quadratic

from pyfastopt import functional as F
from pyfastopt import optim, reference

torch = pytest.importorskip("torch")
import pyfastopt.torch as pt  # noqa: E402  (after the torch skip)

#: tall, wide, square, a row: the iteration runs on the transpose of a tall matrix
SHAPES = [(12, 5), (5, 12), (7, 7), (1, 9)]
OPTIONS = [
    {},
    {"nesterov": False},
    {"weight_decay": 0.0, "adjust_lr_fn": "original"},
    {"adjust_lr_fn": "match_rms_adamw", "momentum": 0.3},  # torch's other lerp formula
    {"nesterov": False, "adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.5},
    {"ns_steps": 3, "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-3},
]
OPTION_IDS = ["-".join(f"{k}={v}" for k, v in kw.items()) or "defaults" for kw in OPTIONS]
#: float32 runs everything in float32 (the products too): a few ulps per step, in params
RTOL = TRAJECTORY_RTOL


def problem(seed=3, shapes=SHAPES):
    """helpers.problem on this file's shapes."""
    return noisy_quadratic(seed, shapes)


# -- against the float64 transcription ---------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", OPTIONS, ids=OPTION_IDS)
def test_matches_the_float64_transcription_over_60_steps(kwargs, dtype):
    rng, init, targets = problem()
    params = [p.astype(dtype) for p in init]
    originals = list(params)
    ref_params = [p.copy() for p in init]
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.01}]
    opt = optim.Muon(groups, lr=0.02, **kwargs)
    refs = [reference.Muon(ref_params[:2], lr=0.02, **kwargs),
            reference.Muon(ref_params[2:], lr=0.01, **kwargs)]  # fmt: skip
    for _ in range(60):
        grads = grads_at(rng, params, targets, dtype)  # both follow the same gradients
        opt.step(grads)
        refs[0].step(grads[:2])
        refs[1].step(grads[2:])
    for i, (p, q) in enumerate(zip(params, ref_params)):
        assert p is originals[i]
        assert p.dtype == dtype
        assert_near(p, q, RTOL[dtype], f"params[{i}]")
        state = opt.state[i]
        ref_state = refs[i // 2].state[i % 2]
        assert set(state) == {"step", "momentum_buffer"}
        assert state["step"] == 60
        assert_near(state["momentum_buffer"], ref_state["momentum_buffer"], RTOL[dtype],
                    f"momentum_buffer[{i}]")  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_functional_matches_the_transcription_one_array_and_a_list(dtype):
    rng, init, targets = problem(seed=5)
    params = [p.astype(dtype) for p in init]
    buffers = [np.zeros_like(p) for p in params]
    ref_params = [p.copy() for p in init]
    ref = reference.Muon(ref_params, lr=0.05, weight_decay=0.01)
    workspace: dict = {}
    for t in range(20):
        grads = grads_at(rng, params, targets, dtype)
        if t % 2:
            F.muon_(params, grads, buffers, lr=0.05, weight_decay=0.01, workspace=workspace)
        else:  # one array per call, and the call's own scratch
            for p, g, b in zip(params, grads, buffers):
                F.muon_(p, g, b, lr=0.05, weight_decay=0.01)
        ref.step(grads)
    for p, q in zip(params, ref_params):
        assert_near(p, q, RTOL[dtype], "params")
    assert len(workspace) == len(SHAPES)  # one scratch per (shape, dtype), reused


def test_one_step_orthogonalises_the_gradient():
    """Independent of the transcription: from p = 0 with no momentum the update is the
    Newton-Schulz image of g, whose singular values lie near 1 (Jordan et al.: in about
    [0.7, 1.2] for these coefficients) and whose singular vectors are g's."""
    rng = np.random.default_rng(0)
    for shape in [(40, 16), (16, 40), (24, 24)]:
        g = rng.standard_normal(shape)
        p = np.zeros(shape)
        F.muon_(p, g, np.zeros(shape), lr=1.0, weight_decay=0.0, momentum=0.0,
                nesterov=False, adjust_lr_fn="match_rms_adamw")  # fmt: skip
        o = -p / (0.2 * np.sqrt(max(shape)))
        s = np.linalg.svd(o, compute_uv=False)
        assert s.min() > 0.6, s
        assert s.max() < 1.25, s
        u, _, vt = np.linalg.svd(g, full_matrices=False)
        # the same singular vectors: u^T o v is diagonal
        core = u.T @ o @ vt.T
        np.testing.assert_allclose(core - np.diag(np.diag(core)), 0.0, atol=1e-9)


def test_adjusted_learning_rates():
    assert F.muon_adjusted_lr(0.1, None, (12, 3)) == pytest.approx(0.2)
    assert F.muon_adjusted_lr(0.1, "original", (3, 12)) == pytest.approx(0.1)
    assert F.muon_adjusted_lr(0.1, "match_rms_adamw", (3, 100)) == pytest.approx(0.2)


# -- against torch.optim.Muon (bfloat16 Newton-Schulz) -----------------------------------

#: torch rounds the iteration's input and every product to bfloat16 (unit roundoff 2^-8);
#: five iterations amplify that: over 50 random matrices of the shapes here, one step's
#: orthogonalised update differed from the float64 one by at most 3.7% of its Frobenius
#: norm (2 to 2.3% for 16 rows or more). The bound allows 6% (~16 bf16 ulps) of each
#: step's update, summed over the steps; an update without the iteration, or one
#: iteration fewer, is off by several times that.
BF16_STEP = 0.06


def torch_twins(init, dtype):
    return [torch.tensor(p, dtype=torch.float64 if dtype == np.float64 else torch.float32)
            for p in init]  # fmt: skip


def run_pair(ours, theirs, tensors_a, tensors_b, grads_per_step):
    """Steps two torch optimizers on the same gradients; returns the sum of each step's
    update norms (of ``ours``, per parameter)."""
    sizes = np.zeros(len(tensors_a))
    for grads in grads_per_step:
        before = [t.detach().clone() for t in tensors_a]
        for a, b, g in zip(tensors_a, tensors_b, grads):
            a.grad, b.grad = torch.tensor(g), torch.tensor(g)
        ours.step()
        theirs.step()
        group = ours.param_groups[0]
        decay = 1 - group["lr"] * group["weight_decay"]
        sizes += [float((a - decay * p0).norm()) for a, p0 in zip(tensors_a, before)]
    return sizes


def assert_within_bf16(actual, expected, sizes, what):
    for i, (a, e, size) in enumerate(zip(actual, expected, sizes)):
        diff = float((a.double() - e.double()).norm())
        assert diff <= BF16_STEP * size, f"{what}[{i}]: {diff} > {BF16_STEP} * {size}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kwargs", OPTIONS[:5], ids=OPTION_IDS[:5])
def test_adapter_trajectory_matches_torch_within_bf16(kwargs, dtype):
    rng = np.random.default_rng(7)
    shapes = [(32, 16), (16, 48), (24, 24)]
    init = [rng.standard_normal(s) for s in shapes]
    mine, theirs = torch_twins(init, dtype), torch_twins(init, dtype)
    ours = pt.Muon(mine, lr=0.02, **kwargs)
    ref = torch.optim.Muon(theirs, lr=0.02, **kwargs)
    steps = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(8)]
    sizes = run_pair(ours, ref, mine, theirs, steps)
    assert_within_bf16(mine, theirs, sizes, "params")
    for a, b in zip(mine, theirs):  # the buffers see only the gradients: float rounding
        np.testing.assert_allclose(ours.state[a]["momentum_buffer"].numpy(),
                                   ref.state[b]["momentum_buffer"].numpy(), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip


def test_the_bf16_bound_discriminates():
    """An iteration fewer than torch's moves the trajectory outside BF16_STEP."""
    rng = np.random.default_rng(7)
    shapes = [(32, 16), (16, 48), (24, 24)]
    init = [rng.standard_normal(s) for s in shapes]
    mine, theirs = torch_twins(init, np.float32), torch_twins(init, np.float32)
    ours = pt.Muon(mine, lr=0.02, ns_steps=4)
    ref = torch.optim.Muon(theirs, lr=0.02)
    steps = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(8)]
    sizes = run_pair(ours, ref, mine, theirs, steps)
    with pytest.raises(AssertionError):
        assert_within_bf16(mine, theirs, sizes, "params")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_optim_trajectory_matches_torch_within_bf16(dtype):
    rng = np.random.default_rng(8)
    shapes = [(32, 16), (16, 48)]
    init = [rng.standard_normal(s) for s in shapes]
    params = [p.astype(dtype) for p in init]
    theirs = torch_twins(init, dtype)
    ours = optim.Muon(params, lr=0.02, adjust_lr_fn="match_rms_adamw")
    ref = torch.optim.Muon(theirs, lr=0.02, adjust_lr_fn="match_rms_adamw")
    sizes = np.zeros(len(shapes))
    for _ in range(8):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        before = [p.copy() for p in params]
        ours.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g)
        ref.step()
        sizes += [np.linalg.norm(p - (1 - 0.02 * 0.1) * b) for p, b in zip(params, before)]
    assert_within_bf16([torch.tensor(p) for p in params], theirs, sizes, "params")


# -- state dicts ------------------------------------------------------------------------


def test_torch_state_dict_continues_in_the_adapter_and_back():
    rng = np.random.default_rng(9)
    shapes = [(20, 8), (8, 20)]
    init = [rng.standard_normal(s) for s in shapes]
    steps = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(10)]

    # torch -> pyfastopt.torch: both continue from torch's state
    first = torch_twins(init, np.float32)
    torch_opt = torch.optim.Muon(first, lr=0.03, weight_decay=0.05)
    for grads in steps[:4]:
        for t, g in zip(first, grads):
            t.grad = torch.tensor(g)
        torch_opt.step()
    saved = copy.deepcopy(torch_opt.state_dict())  # (torch's holds its live tensors)
    assert set(saved["state"][0]) == {"momentum_buffer"}  # torch's layout
    mine = [t.detach().clone() for t in first]
    ours = pt.Muon(mine, lr=0.5)  # the group's values come from the state dict
    ours.load_state_dict(saved)
    assert ours.param_groups[0]["lr"] == 0.03
    np.testing.assert_array_equal(ours.state[mine[0]]["momentum_buffer"].numpy(),
                                  saved["state"][0]["momentum_buffer"].numpy())  # fmt: skip
    sizes = run_pair(ours, torch_opt, mine, first, steps[4:7])
    assert_within_bf16(mine, first, sizes, "params")
    for a, b in zip(mine, first):
        np.testing.assert_allclose(ours.state[a]["momentum_buffer"].numpy(),
                                   torch_opt.state[b]["momentum_buffer"].numpy(),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip

    # pyfastopt.torch -> torch: both continue from the adapter's state
    back_saved = copy.deepcopy(ours.state_dict())
    assert set(back_saved["state"][1]) == {"momentum_buffer"}
    back = [t.detach().clone() for t in mine]
    back_opt = torch.optim.Muon(back)
    back_opt.load_state_dict(back_saved)
    sizes = run_pair(ours, back_opt, mine, back, steps[7:])
    assert_within_bf16(mine, back, sizes, "params")


def test_optim_state_dict_resumes_exactly():
    rng, init, targets = problem(seed=4)
    params = [p.copy() for p in init]
    opt = optim.Muon(params, lr=0.02)
    for _ in range(3):
        opt.step(grads_at(rng, params, targets, np.float64))
    saved = opt.state_dict()
    resumed_params = [p.copy() for p in params]
    resumed = optim.Muon(resumed_params, lr=0.9)
    resumed.load_state_dict(saved)
    for _ in range(3):
        grads = grads_at(rng, params, targets, np.float64)
        opt.step(grads)
        resumed.step(grads)
    for a, b in zip(params, resumed_params):
        np.testing.assert_array_equal(a, b)


# -- non-matrix parameters and bad input -------------------------------------------------


@pytest.mark.parametrize("shape", [(), (6,), (2, 3, 4)])
def test_non_matrix_parameters_raise_as_in_torch(shape):
    with pytest.raises(ValueError, match="Muon only supports 2D"):
        torch.optim.Muon([torch.zeros(shape)])
    with pytest.raises(ValueError, match=r"params\[1\]: Muon only supports 2-D"):
        optim.Muon([np.zeros((2, 2)), np.zeros(shape)])
    with pytest.raises(ValueError, match="Muon only supports 2D"):  # torch's own check
        pt.Muon([torch.zeros((2, 2)), torch.zeros(shape)])
    with pytest.raises(ValueError, match=r"params: Muon only supports 2-D"):
        F.muon_(np.zeros(shape), np.zeros(shape), np.zeros(shape))
    opt = optim.Muon([np.zeros((2, 2))])
    with pytest.raises(ValueError, match=r"params\[1\]"):
        opt.add_param_group({"params": [np.zeros(shape)]})
    assert len(opt.param_groups) == 1  # a failed add leaves the optimizer as it was


def arrays(dtype=np.float64):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((4, 3)).astype(dtype) for _ in range(3)]


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr"),
        ({"momentum": -0.5}, ValueError, "momentum"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
        ({"eps": -1e-7}, ValueError, "eps"),
        ({"ns_steps": 100}, ValueError, "ns_steps"),
        ({"ns_steps": -1}, ValueError, "ns_steps"),
        ({"ns_steps": 2.5}, TypeError, "ns_steps"),
        ({"ns_coefficients": (1.0, 2.0)}, ValueError, "ns_coefficients"),
        ({"ns_coefficients": 3.0}, TypeError, "ns_coefficients"),
        ({"ns_coefficients": (1.0, float("inf"), 2.0)}, ValueError, r"ns_coefficients\[1\]"),
        ({"adjust_lr_fn": "rms"}, ValueError, "adjust_lr_fn"),
        ({"nesterov": "yes"}, TypeError, "nesterov"),
    ],
)
def test_invalid_hyperparameters_raise_naming_them_and_change_nothing(kwargs, error, name):
    p, g, b = arrays()
    same = unchanged(p, g, b)
    with pytest.raises(error, match=name):
        F.muon_(p, g, b, **kwargs)
    same()
    with pytest.raises(error, match=name):
        optim.Muon([p], **kwargs)
    opt = optim.Muon([p])
    opt.param_groups[0].update(kwargs)  # changed between steps: checked by the step
    with pytest.raises(error, match=name):
        opt.step([g])
    assert not opt.state
    same()


def test_torch_rejects_what_torch_rejects():
    # torch's constructor checks (lr, momentum, weight_decay, adjust_lr_fn) stay torch's
    for kwargs in ({"lr": -1.0}, {"momentum": -1.0}, {"weight_decay": -1.0},
                   {"adjust_lr_fn": "rms"}):  # fmt: skip
        with pytest.raises(ValueError, match=r"\S"):
            torch.optim.Muon([torch.zeros(2, 2)], **kwargs)
        with pytest.raises(ValueError, match=r"\S"):
            pt.Muon([torch.zeros(2, 2)], **kwargs)
    # those torch finds only at its step are found before ours writes anything
    t = torch.ones(3, 2)
    opt = pt.Muon([t], ns_steps=100)
    t.grad = torch.ones(3, 2)
    with pytest.raises(ValueError, match="ns_steps"):
        opt.step()
    assert torch.equal(t, torch.ones(3, 2))
    assert not opt.state


def test_bad_arrays_raise_naming_them_and_change_nothing():
    p, g, b = arrays()
    same = unchanged(p, g, b)
    cases = [
        ((p, g.astype(np.float32), b), TypeError, "grads"),
        ((p, g[:3], b), ValueError, "grads"),
        ((p, g, b.astype(np.float32)), TypeError, "momentum_buffers"),
        ((p, g, np.zeros((3, 4))), ValueError, "momentum_buffers"),
        ((p.astype(np.int64), g, b), TypeError, "params"),
        ((p.astype(np.float16), g, b), TypeError, "params"),
        ((np.asfortranarray(p.T).T.copy(order="F"), g, b), ValueError, "params"),
        (([p], [g], [b, b]), ValueError, "momentum_buffers"),
        (([p], g, [b]), TypeError, "grads"),
        ((p, g, p), ValueError, "shares memory"),
        ((p, p, b), ValueError, "shares memory"),
        (([p, np.zeros(12)], [g, np.zeros(12)], [b, np.zeros(12)]), ValueError, r"params\[1\]"),
    ]
    for args, error, name in cases:
        with pytest.raises(error, match=name):
            F.muon_(*args)
        same()
    frozen = p.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="params is read-only"):
        F.muon_(frozen, g, b)
    frozen_b = b.copy()
    frozen_b.flags.writeable = False
    with pytest.raises(ValueError, match="momentum_buffers is read-only"):
        F.muon_(p, g, frozen_b)
    with pytest.raises(ValueError, match="grad_scale"):
        F.muon_(p, g, b, grad_scale=0.0)
    with pytest.raises(TypeError, match="workspace"):
        F.muon_(p, g, b, workspace=[])
    same()


def test_optim_bad_input_changes_nothing():
    p, q, g = arrays()
    same = unchanged(p, q)
    opt = optim.Muon([{"params": [p]}, {"params": [q], "lr": 0.1}])
    bad_grads = [
        ([g, g.astype(np.float32)], TypeError, r"grads\[1\]"),
        ([g, g[:2]], ValueError, r"grads\[1\]"),
        ([g], ValueError, "grads"),
        (g, TypeError, "grads"),
        ([g, p], ValueError, "shares memory"),
    ]
    for grads, error, name in bad_grads:
        with pytest.raises(error, match=name):
            opt.step(grads)
        same()
        assert not opt.state
    with pytest.raises(TypeError, match="float32 and float64"):
        optim.Muon([np.zeros((2, 2), np.float16)])
    frozen = np.zeros((2, 2))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.Muon([frozen])
    opt.precision = optim.optimizer.Precision(state_dtype="float32")
    with pytest.raises(TypeError, match="precision"):
        opt.step([g, g])
    same()


def test_adapter_bad_input_changes_nothing():
    with pytest.raises(TypeError, match="float32 and float64"):
        pt.Muon([torch.zeros(2, 2, dtype=torch.bfloat16)])
    with pytest.raises(TypeError, match="dtype"):
        pt.Muon([torch.zeros(2, 2, dtype=torch.int32)])
    with pytest.raises(ValueError, match="contiguous"):
        pt.Muon([torch.zeros(4, 3).T])
    a, b = torch.ones(4, 3), torch.ones(3, 5)
    opt = pt.Muon([{"params": [a]}, {"params": [b], "lr": 0.1}])
    a.grad = torch.ones(4, 3)
    # (torch itself refuses a .grad of another dtype or shape)
    for bad, error in [(torch.ones(5, 3).T, ValueError), (torch.ones(3, 5).to_sparse(), TypeError)]:
        b.grad = bad
        with pytest.raises(error, match=r"param_groups\[1\]\['params'\]\[0\]\.grad"):
            opt.step()
        # the first group, checked and valid, was not stepped either
        assert torch.equal(a, torch.ones(4, 3))
        assert torch.equal(b, torch.ones(3, 5))
        assert not opt.state


# -- the adapter's details -----------------------------------------------------------------


def test_adapter_updates_in_place_and_skips_parameters_without_gradients():
    a = torch.nn.Parameter(torch.randn(6, 4))
    b = torch.nn.Parameter(torch.randn(4, 6))
    opt = pt.Muon([a, b], lr=0.1)
    ptr, version = a.data_ptr(), a._version
    b_before = b.detach().clone()
    (a.sum() * 2).backward()  # b gets no gradient
    b.grad = None
    opt.step()
    assert a.data_ptr() == ptr
    assert a._version > version
    assert torch.equal(b.detach(), b_before)
    assert b not in opt.state
    assert set(opt.state[a]) == {"momentum_buffer"}


def test_registered_everywhere_but_among_the_element_wise_rules():
    assert "Muon" in optim.__all__
    assert "Muon" in pt.__all__
    assert "muon_" in F.__all__
    assert "Muon" in reference.__all__
    assert "Muon" not in optim.element_wise()  # no single element-wise rule
    assert issubclass(pt.Muon, torch.optim.Muon)


def test_grad_scale_divides_the_gradients():
    """optim's grad_scale (mixed-precision loss scaling): a power of two divides exactly,
    so scaled gradients give the unscaled trajectory bit for bit."""
    rng, init, targets = problem(seed=6)
    plain, scaled = [p.copy() for p in init], [p.copy() for p in init]
    a, b = optim.Muon(plain, lr=0.02), optim.Muon(scaled, lr=0.02, nesterov=True)
    for _ in range(5):
        grads = grads_at(rng, plain, targets, np.float64)
        a.step(grads)
        b.step([g * 1024.0 for g in grads], grad_scale=1024.0)
    for p, q in zip(plain, scaled):
        np.testing.assert_array_equal(p, q)
    before = [p.copy() for p in scaled]
    b.step([np.full(p.shape, np.inf) for p in scaled], found_inf=True)  # skipped whole
    for p, q in zip(scaled, before):
        np.testing.assert_array_equal(p, q)


def test_empty_matrices_are_left_alone():
    p, g, b = np.zeros((5, 0)), np.zeros((5, 0)), np.zeros((5, 0))
    F.muon_(p, g, b, lr=0.1)
    opt = optim.Muon([np.ones((0, 3)), np.ones((2, 3))], lr=0.1)
    opt.step([np.ones((0, 3)), np.ones((2, 3))])
    assert opt.state[1]["step"] == 1
