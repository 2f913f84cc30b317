"""Property-based tests (hypothesis) of every optimizer against pyfastopt.reference.

Each example draws an optimizer's hyperparameters across their valid ranges (edge values
included), a list of arrays whose sizes straddle the vector widths and the kernels' block,
a dtype, and a few steps of gradients sprinkled with zeros, subnormals, huge values, inf and
NaN. Then, on every SIMD target this CPU supports:

* the functional kernel (one call on the list) and the optimizer class both agree with the
  float64 reference (NaN and inf exactly where the reference has them), and with each
  other bit for bit;
* every target gives the same values, bit for bit except for the sign and payload of NaN
  (not promised between targets; see cpu/loop-inl.hpp), and not for SWATS, whose
  reductions follow the vector width;
* 1 and 2 threads give the same bits, NaN bit patterns included, on a list big enough to
  be split between threads.

"Agree" is the suite's tolerance (helpers.RTOL, assert_close), plus, per element, 16 times
how far the reference itself moves when its inputs move by one ulp of the kernel dtype: an
ill-conditioned element (a weight decay cancelling the gradient down to eps) cannot be
closer in float32. Inputs whose float32 rounding answers another question than the float64
reference are not drawn (see comparable_specials, mixed, hyperparameters).

Profiles (tests/conftest.py): HYPOTHESIS_PROFILE=ci (default), dev, long.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
import pytest
from cases import NAMES
from helpers import RTOL, assert_close
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_functional_reference import FunctionalRun, state_keys

import pyfastopt
from pyfastopt import _core, optim, reference
from pyfastopt import functional as F

ISAS = pyfastopt.build_info()["supported_isas"]
BLOCK, GRAIN = 1 << 13, 1 << 16  # kBlock and kParallelGrain of cpu/loop-inl.hpp
# around 1, 4, 8 and 16 lanes (and two or four vectors: unrolled loops), and the block
EDGE_SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65,
              BLOCK - 1, BLOCK, BLOCK + 1]  # fmt: skip
SPECIALS = ("zero", "subnormal", "huge", "inf", "nan")
# Large enough to stress, small enough that no float32 intermediate overflows (g^2 summed over
# the steps stays below float32's max), so the float64 reference is comparable.
HUGE = {np.dtype(np.float32): 1e15, np.dtype(np.float64): 1e150}
STEPS = 4


def scaled(n):
    """n examples per test under the "ci" profile (max_examples 20), scaled with the loaded
    profile (dev: 4n, long: 50n). The restore_target fixture runs once per test, not per
    example, on purpose."""
    return settings(
        max_examples=max(1, n * settings.default.max_examples // 20),
        suppress_health_check=[*settings.default.suppress_health_check,
                               HealthCheck.function_scoped_fixture],
    )  # fmt: skip


# -- hyperparameters ----------------------------------------------------------------------


def mixed(edges, low, high):
    """Edge values, or any float in [low, high] but not in (0, 1e-6): a tiny nonzero value
    (hypothesis likes 1e-311) rounds to 0 in the float32 coefficients, and the float64
    reference then answers another question. 0 is always among the edges."""
    return st.one_of(
        st.sampled_from(edges), st.floats(max(low, 1e-6) if low == 0 else low, high)
    )


BETA = mixed([0.0, 0.5, 0.9, 0.999, 0.9999], 0.0, 0.9999)
# RMSprop's alpha and Adadelta's rho (for centered RMSprop see hyperparameters())
DECAY_RATE = mixed([0.0, 0.05, 0.5, 0.9, 0.99, 1.0], 0.05, 1.0)
HYPER = {
    "lr": mixed([0.0, 1e-3, 0.01, 0.1, 1.0], 1e-6, 2.0),
    "momentum": mixed([0.0, 0.5, 0.9], 0.0, 0.99),
    "dampening": mixed([0.0, 1.0], 0.0, 1.0),
    "weight_decay": mixed([0.0, 1e-4, 0.1], 0.0, 0.5),
    "eps": mixed([0.0, 1e-10, 1e-8, 1e-6, 1e-3, 1.0], 1e-12, 1.0),
    "betas": st.tuples(BETA, BETA),
    "rho": DECAY_RATE,
    "alpha": DECAY_RATE,
    "lr_decay": mixed([0.0, 0.01], 0.0, 1.0),
    "initial_accumulator_value": mixed([0.0, 0.1], 0.0, 1.0),
    "momentum_decay": mixed([0.0, 4e-3], 0.0, 0.1),
    "etas": st.tuples(mixed([0.5], 0.01, 0.99), mixed([1.2], 1.01, 3.0)),
    "step_sizes": st.tuples(
        mixed([0.0, 1e-6], 0.0, 1e-3), mixed([1e-3, 50.0], 1e-3, 50.0)
    ),
    "final_lr": mixed([0.0, 0.1], 0.0, 1.0),
    "gamma": mixed([1e-3, 1.0], 1e-4, 1.0),
}


def constructor_arguments(name):
    """The reference constructor's keyword arguments and defaults: every option."""
    parameters = inspect.signature(getattr(reference, name)).parameters
    return {k: p.default for k, p in parameters.items() if k != "params"}


def comparable_specials(name, dtype, specials):
    """The special values whose float32 rounding the float64 reference can follow. Rprop's
    g * prev and Lion's (1 - b1) g of subnormals underflow to +-0 in float32 (in torch's
    float32 too), which flips their sign tests against the reference."""
    if name in ("Rprop", "Lion") and dtype == np.float32:
        return specials - {"subnormal"}
    if name.endswith("ScheduleFree"):
        # the reference's averaging form recovers x = (y - (1 - beta) z) / beta, whose
        # inf - inf is NaN where the kernel's (and the authors') interpolation keeps inf
        return specials - {"inf", "huge"}
    return specials


@st.composite
def hyperparameters(draw, name, specials):
    kwargs = {}
    for key, default in constructor_arguments(name).items():
        if isinstance(default, bool):
            kwargs[key] = draw(st.booleans())
        elif key in HYPER:
            kwargs[key] = draw(HYPER[key])
        elif default is None:  # an optional setting (a warm-up length): left out
            kwargs[key] = None
        elif type(default) is int:  # a count (a warm-up length): its default, 0 or half
            kwargs[key] = draw(st.sampled_from([default, 0, default // 2]))
        else:  # an option only newer optimizers have: its default, 0 or half of it
            kwargs[key] = draw(st.sampled_from([default, 0.0, 0.5 * default]))
    if kwargs.get("nesterov") and "momentum" in kwargs:  # torch's condition for SGD's
        kwargs.update(momentum=max(kwargs["momentum"], 0.1), dampening=0.0)
    if name.endswith("ScheduleFree"):  # the interpolation weight is in (0, 1)
        if "momentum" in kwargs:
            kwargs["momentum"] = max(kwargs["momentum"], 0.1)
        if "betas" in kwargs:
            kwargs["betas"] = (max(kwargs["betas"][0], 0.1), kwargs["betas"][1])
    if kwargs.get("centered") and 0 < kwargs["alpha"] < 0.5:
        # Centered RMSprop's sq - ga^2 cancels: for a near-constant gradient over k steps
        # sq / (sq - ga^2) ~ alpha^-k, which multiplies the rounding error (float32's or
        # float64's) past any fixed tolerance. alpha = 0 cancels exactly, so stays.
        kwargs["alpha"] = 0.5
    if "subnormal" in specials and kwargs.get("eps") == 0.0:
        # eps = 0 divides by the square of a subnormal gradient, which float32 flushes to
        # 0 and float64 does not: no common answer to compare.
        kwargs["eps"] = 1e-8
    return kwargs


# -- arrays -------------------------------------------------------------------------------

SHAPE = st.one_of(
    st.sampled_from(EDGE_SIZES).map(lambda n: (n,)),
    st.integers(0, 100).map(lambda n: (n,)),
    st.tuples(st.integers(0, 9), st.integers(1, 40)),
)


class Example(NamedTuple):
    """What hypothesis draws (small, so a failure prints it whole); arrays() makes the
    arrays from it."""

    dtype: np.dtype
    kwargs: dict
    shapes: list
    steps: int
    seed: int
    scale: float
    specials: frozenset

    def arrays(self):
        """(params, grads per step, masks of the elements that saw a huge value)."""
        rng = np.random.default_rng(self.seed)
        params = [rng.standard_normal(s).astype(self.dtype) for s in self.shapes]
        grads, huge = make_gradients(rng, self.shapes, self.dtype, self.steps, self.scale,
                                     self.specials)  # fmt: skip
        return params, grads, huge


@st.composite
def examples(draw, name, big=False):
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    specials = comparable_specials(
        name, dtype, draw(st.frozensets(st.sampled_from(SPECIALS)))
    )
    kwargs = draw(hyperparameters(name, specials))
    shapes = draw(st.lists(SHAPE, min_size=1, max_size=3))
    if big:  # over the threading grain, ending anywhere in a block
        shapes.insert(draw(st.integers(0, len(shapes))),
                      (draw(st.integers(GRAIN, GRAIN + 3 * BLOCK)),))  # fmt: skip
    steps = draw(st.integers(1, STEPS))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    return Example(dtype, kwargs, shapes, steps, seed, scale, specials)


def make_gradients(rng, shapes, dtype, steps, scale, specials):
    """Normal gradients with about 1 in 8 elements replaced by each special kind. Huge values
    keep one sign per element, so that steps never cancel them down to rounding noise."""
    tiny = float(np.finfo(dtype).smallest_subnormal)
    huge = [np.zeros(s, bool) for s in shapes]
    out = []
    for _ in range(steps):
        grads = []
        for i, shape in enumerate(shapes):
            g = rng.standard_normal(shape) * scale
            for kind in (k for k in SPECIALS if k in specials):  # a fixed order
                at = rng.random(shape) < 1 / 8
                n = int(at.sum())
                sign = rng.choice([-1.0, 1.0], n)
                if kind == "zero":
                    g[at] = sign * 0.0
                elif kind == "subnormal":
                    g[at] = sign * tiny * rng.integers(1, 1 << 20, n)
                elif kind == "huge":
                    index = np.flatnonzero(at.ravel()) % 2
                    g[at] = (1 - 2 * index) * HUGE[dtype] * rng.uniform(1, 10, n)
                    huge[i] |= at
                elif kind == "inf":
                    g[at] = sign * np.inf
                else:  # both NaN signs: the kernels must not depend on it
                    g[at] = sign * np.nan
            grads.append(g.astype(dtype))
        out.append(grads)
    return out, huge


# -- running ------------------------------------------------------------------------------


def run_reference(name, kwargs, params, grads):
    ref_params = [p.astype(np.float64) for p in params]
    ref = getattr(reference, name)(ref_params, **kwargs)
    with np.errstate(all="ignore"):
        for step in grads:
            ref.step([g.astype(np.float64) for g in step])
    return ref


def run_functional(name, kwargs, params, grads, keys):
    """The functional kernel, one call per step on the whole list (SWATS: per array, as each
    array switches phase on its own). Returns params, states (lists per key), scalars."""
    params = [p.copy() for p in params]
    groups = (
        [[i] for i in range(len(params))] if name == "SWATS" else [range(len(params))]
    )
    runs = [FunctionalRun(name, kwargs, [params[i] for i in g], keys) for g in groups]
    for t, step in enumerate(grads, start=1):
        for run, group in zip(runs, groups):
            run.step([step[i] for i in group], t)
    states = {k: [b for run in runs for b in run.states[k]] for k in keys}
    return params, states, [x for run in runs for x in run.scalar]


def run_class(name, kwargs, params, grads):
    params = [p.copy() for p in params]
    opt = getattr(optim, name)(params, **kwargs)
    for step in grads:
        opt.step([g.copy() for g in step])
    return params, opt


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def same_values(a, b):
    """Bitwise equal except for the bits of NaN (NaN where the other has NaN)."""
    nan = np.isnan(a)
    return same_bits(nan, np.isnan(b)) and a[~nan].tobytes() == b[~nan].tobytes()


def same_scalar(a, b, rel):
    """Scalar state (SWATS's lambda, NAdam's mu_product): NaN matches NaN."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return a == pytest.approx(b, rel=rel)


def outputs(ref):
    """The reference's params and state buffers: {(key, i): array}."""
    out = {("param", i): p for i, p in enumerate(ref.params)}
    for i, state in enumerate(ref.state):
        out.update({(k, i): v for k, v in state.items() if isinstance(v, np.ndarray)})
    return out


def sensitivity(name, kwargs, params, grads, dtype, ref, tries=2):
    """How far rounding at the kernel's precision can move each reference output: the largest
    change when every input and hyperparameter is moved by up to one ulp of the kernel dtype
    (the kernel rounds its per-step coefficients to that dtype). Where the update is
    ill-conditioned (a coupled weight decay cancelling the gradient to about eps, or, as
    hypothesis found, beta1 = lr * weight_decay cancelling a huge gradient's momentum) no
    implementation in that dtype can match the float64 reference more closely."""
    rng = np.random.default_rng(0)
    ulp = float(np.finfo(dtype).eps)

    def nudge(a):
        return a.astype(np.float64) * (1 + ulp * rng.uniform(-1, 1, a.shape))

    def nudge_hyper(v):  # downwards: a rate in [0, 1] stays in it
        if isinstance(v, tuple):
            return tuple(nudge_hyper(x) for x in v)
        # (flags, counts such as warm-up steps, and unset options stay)
        return v * (1 - ulp * rng.uniform(0, 1)) if isinstance(v, float) else v

    expected = outputs(ref)
    spread = {k: np.zeros(v.shape) for k, v in expected.items()}
    for _ in range(tries):
        nudged = {k: nudge_hyper(v) for k, v in kwargs.items()}
        other = outputs(run_reference(name, nudged, [nudge(p) for p in params],
                                      [[nudge(g) for g in step] for step in grads]))  # fmt: skip
        with np.errstate(invalid="ignore"):
            for k, v in expected.items():
                change = np.abs(other[k] - v)
                spread[k] = np.fmax(spread[k], np.where(np.isfinite(change), change, 0))
    return spread


def check_against_reference(name, ref, params, states, huge, spread):
    """params and state buffers (dicts of lists) against the reference's."""
    sign_based = name == "Lion"
    expected = outputs(ref)
    actual = {("param", i): p for i, p in enumerate(params)}
    actual.update({(k, i): v[i] for k, v in states.items() for i in range(len(params))})
    for (key, i), value in actual.items():
        ref_value = expected[key, i]
        finite = np.abs(np.where(np.isfinite(ref_value), ref_value, 0)).ravel()
        scale = float(np.max(finite[~huge[i].ravel()], initial=0.0))  # huge: relative only
        assert_close(value, ref_value, sign_based=sign_based, what=f"{key} {i}", scale=scale,
                     slack=16 * spread[key, i])  # fmt: skip


# -- the properties -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@scaled(25)
@given(data=st.data())
def test_matches_reference_on_every_target(name, data, restore_target):
    ex = data.draw(examples(name))
    dtype, kwargs = ex.dtype, ex.kwargs
    params, grads, huge = ex.arrays()
    ref = run_reference(name, kwargs, params, grads)
    # The kernel's dtype follows the reference only while a parameter's square stays finite:
    # centered RMSprop with alpha = 0 and eps = 1e-12 throws a huge gradient's parameter to
    # lr g / eps = 1e24, whose weight decay squared overflows float32 the next step.
    assume(max(float(np.max(np.abs(p[np.isfinite(p)]), initial=0.0)) for p in ref.params)
           <= 100 * HUGE[dtype])  # fmt: skip
    spread = sensitivity(name, kwargs, params, grads, dtype, ref)
    keys = state_keys(ref)
    pyfastopt.set_num_threads(1)
    results = {}
    for isa in ISAS:
        assert _core._select_isa(isa)
        f_params, f_states, _ = run_functional(name, kwargs, params, grads, keys)
        check_against_reference(name, ref, f_params, f_states, huge, spread)
        c_params, opt = run_class(name, kwargs, params, grads)
        for i in range(len(params)):  # the class is the functional kernel, bit for bit
            assert same_bits(c_params[i], f_params[i]), f"class param {i} ({isa})"
            for key, buffers in f_states.items():
                assert same_bits(opt.state[i][key], buffers[i]), (
                    f"class {key} {i} ({isa})"
                )
            for key, value in ref.state[i].items():
                if not isinstance(value, np.ndarray) and key != "step":
                    rel = (
                        1e-3 if dtype == np.float32 else RTOL[dtype]
                    )  # see test_optim_reference
                    assert same_scalar(opt.state[i][key], value, rel), (
                        f"{key} {i} ({isa})"
                    )
        results[isa] = [*f_params, *(b for v in f_states.values() for b in v)]
    if name != "SWATS":  # SWATS's double sums are added in the vector width's order
        first, *others = results.values()
        for isa, arrays in zip(ISAS[1:], others):
            for a, b in zip(first, arrays):
                assert same_values(a, b), f"{ISAS[0]} and {isa} differ"


@pytest.mark.parametrize("name", NAMES)
@scaled(8)
@given(data=st.data())
def test_one_and_two_threads_give_the_same_bits(name, data, restore_target):
    ex = data.draw(examples(name, big=True))
    kwargs = ex.kwargs
    params, grads, _ = ex.arrays()
    keys = state_keys(run_reference(name, kwargs, params, grads[:1]))
    for isa in ISAS:
        assert _core._select_isa(isa)
        runs = []
        for threads in (1, 2):
            pyfastopt.set_num_threads(threads)
            runs.append(run_functional(name, kwargs, params, grads, keys))
        (p1, s1, x1), (p2, s2, x2) = runs
        for i in range(len(params)):
            assert same_bits(p1[i], p2[i]), f"param {i} ({isa})"
            for key in s1:
                assert same_bits(s1[key][i], s2[key][i]), f"{key} {i} ({isa})"
        assert repr(x1) == repr(x2)  # scalar state: same floats (repr keeps nan)


# -- regressions the properties found -----------------------------------------------------


def test_adadelta_takes_the_quotient_of_two_roots():
    """sqrt((acc + eps) / (sq + eps)) underflowed to 0 in float32 for a huge gradient (the
    step vanished); torch's sqrt(acc + eps) / sqrt(sq + eps) does not."""
    torch = pytest.importorskip("torch")
    g = np.array([1e19, -1e19, 3.0], np.float32)
    p, sq, acc = (np.zeros(3, np.float32) for _ in range(3))
    F.adadelta_(p, g, sq, acc, step=1, lr=1.0, rho=0.9, eps=1e-9)
    tp = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adadelta([tp], lr=1.0, rho=0.9, eps=1e-9)
    tp.grad = torch.tensor(g)
    opt.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-6)
    assert p[0] < 0 < p[1]


@pytest.mark.parametrize("name", ["Adamax", "Adam-amsgrad", "AMSBound"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_nan_in_a_running_maximum_stays(name, dtype, restore_target):
    """max(nan, x) returned x, so AdaMax's exp_inf (and AMSGrad's, AMSBound's
    max_exp_avg_sq) forgot a NaN gradient on the next step; torch.maximum keeps NaN."""
    torch = pytest.importorskip("torch")
    kwargs = {"amsgrad": True} if name == "Adam-amsgrad" else {}
    name = name.split("-")[0]
    key = "exp_inf" if name == "Adamax" else "max_exp_avg_sq"
    grads = [np.array([np.nan, 1.0, -np.nan], dtype), np.array([1.0, 1.0, 2.0], dtype)]
    for isa in ISAS:
        assert _core._select_isa(isa)
        params = [np.zeros(3, dtype)]
        opt = getattr(optim, name)(params, **kwargs)
        for g in grads:
            opt.step([g])
        assert np.isnan(opt.state[0][key][[0, 2]]).all(), isa
        assert np.isnan(params[0][[0, 2]]).all(), isa
        assert np.isfinite(params[0][1]), isa
        ref = run_reference(name, kwargs, [np.zeros(3, dtype)], [[g] for g in grads])
        np.testing.assert_array_equal(
            np.isnan(opt.state[0][key]), np.isnan(ref.state[0][key])
        )
    if name != "AMSBound":  # torch has no AdaBound
        tp = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        topt = getattr(torch.optim, name)([tp], **kwargs)
        for g in grads:
            tp.grad = torch.tensor(g, dtype=torch.float64)
            topt.step()
        assert torch.isnan(topt.state[tp][key][[0, 2]]).all()


@pytest.mark.parametrize("name", ["AdaBound", "AMSBound"])
def test_adabound_with_lr_zero_moves_nothing(name):
    """The reference divided by initial_lr = 0; the kernel takes both bounds as 0."""
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(10)]
    before = params[0].copy()
    grads = [[rng.standard_normal(10)] for _ in range(3)]
    ref = run_reference(name, {"lr": 0.0}, params, grads)
    np.testing.assert_array_equal(ref.params[0], before)
    opt = getattr(optim, name)(params, lr=0.0)
    for g in grads:
        opt.step(g)
    np.testing.assert_array_equal(params[0], before)


@pytest.mark.parametrize("name", ["Adagrad", "NAdam", "Adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_bits_do_not_depend_on_the_thread_count(name, dtype, restore_target):
    """The sign bit of NaN results differed between 1 and 2 threads on the baseline target
    (Adagrad, NAdam): the block loop was compiled twice, once for the serial path and once
    inside the OpenMP region, with commuted operands (see cpu/loop-inl.hpp). Targets may
    differ in NaN bits, not in values."""
    n = GRAIN + 2 * BLOCK + 5
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    for (
        g
    ) in grads:  # both NaN signs, and inf (inf - inf gives the negative default NaN)
        for value in (np.nan, -np.nan, np.inf, -np.inf):
            g[rng.random(n) < 0.1] = value
    kwargs = {"lr": 0.1, "weight_decay": 0.1}
    results = {}
    for isa in ISAS:
        assert _core._select_isa(isa)
        runs = []
        for threads in (1, 2):
            pyfastopt.set_num_threads(threads)
            params = [np.ones(n, dtype)]
            opt = getattr(optim, name)(params, **kwargs)
            for g in grads:
                opt.step([g])
            runs.append([params[0], *state_arrays(opt)])
        for a, b in zip(*runs):
            assert same_bits(a, b), isa
        signs = np.signbit(runs[0][0][np.isnan(runs[0][0])])
        assert signs.any()  # NaN of both signs: the test can fail
        assert not signs.all()
        results[isa] = runs[0]
    for isa in ISAS[1:]:
        for a, b in zip(results[ISAS[0]], results[isa]):
            assert same_values(a, b), isa


def state_arrays(opt):
    return [v for v in opt.state[0].values() if isinstance(v, np.ndarray)]
