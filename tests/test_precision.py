"""Reduced-precision storage (pyfastopt.precision) against the float64 NumPy reference, on
every SIMD target (the fused loops, the staged loop and the 8-bit codec have per-ISA code).

Each step starts the reference from the kernel's own stored values (decoded to float64), so
every step is checked on the same rounded inputs. A stored value may differ from the
reference by float32 arithmetic (rtol 1e-5 of the largest magnitude, as the float32 tests)
plus the storage's rounding: one ulp of bfloat16 (2^-7 relative) or float16 (2^-10; 2^-24
absolute among its subnormals), one gap
of the dynamic map around the value times its block's absmax for 8-bit states. (One ulp or
gap, not half: float32 arithmetic may land on the other side of a rounding boundary.)
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, IDS
from test_functional_reference import FunctionalRun, initial_state

from pyfastopt import _core, optim, reference
from pyfastopt import functional as F
from pyfastopt.precision import QUANT_BLOCK, bfloat16, dequantize_8bit, dynamic_map, quantize_8bit

if bfloat16 is None:  # the test extra installs ml_dtypes
    pytest.fail("ml_dtypes is needed for the bfloat16 tests", pytrace=False)

F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
DTYPES = {"float32": F32, "bfloat16": bfloat16, "float16": F16}
# (param, grad, states): every supported combination of README's dtype table (float64 is the
# plain path, tested elsewhere)
COMBOS = [
    ("float32", "float32", "bfloat16"),
    ("float32", "float32", "8bit"),
    ("float32", "bfloat16", "float32"),
    ("float32", "float16", "bfloat16"),
    ("bfloat16", "bfloat16", "bfloat16"),
    ("bfloat16", "bfloat16", "float32"),
    ("bfloat16", "bfloat16", "8bit"),
    ("float16", "float16", "float16"),
    ("float16", "float16", "float32"),
    ("float16", "float16", "bfloat16"),
]
COMBO_IDS = ["-".join(c) for c in COMBOS]
# the states each optimizer may keep in 8 bits (rules with kSignedStates), and their maps


def _kernel_of(name: str, kwargs: dict) -> str | None:
    """The kernel an element-wise class steps with these arguments (None: not one rule)."""
    if name not in optim.element_wise():
        return None
    opt = getattr(optim, name)([np.zeros(1)], **kwargs)
    return opt._rule(opt.param_groups[0]).kernel.__name__


# the optimizers that take 8-bit states (their rules' kSignedStates, in _core.signed_states)
UNSIGNED = {state for rule, flags in _core.signed_states.items()
            for state, signed in zip(_core.state_names[rule], flags) if not signed}  # fmt: skip
QUANTIZABLE = {name for name, kwargs in CASES
               if _kernel_of(name, kwargs) in _core.signed_states}  # fmt: skip
ULP = {"bfloat16": 2.0**-7, "float16": 2.0**-10, "float32": 0.0}
# below the smallest normal the spacing is absolute (float16's subnormal step is 2^-24)
STEP = {"bfloat16": 2.0**-133, "float16": 2.0**-24, "float32": 0.0}


def rounding_of(storage: str, expected: np.ndarray) -> np.ndarray:
    """One unit in the last place of `storage` at each expected value."""
    return np.maximum(ULP[storage] * np.abs(expected), STEP[storage])
RTOL = 1e-5


class Stored:
    """A state buffer in one storage, and its float64 value."""

    def __init__(self, values: np.ndarray, storage: str, signed: bool):
        self.storage, self.signed = storage, signed
        if storage == "8bit":
            self.array = quantize_8bit(values.astype(np.float32), signed)
        else:
            self.array = values.astype(DTYPES[storage])

    def value(self) -> np.ndarray:
        if self.storage == "8bit":
            return dequantize_8bit(*self.array, self.signed).astype(np.float64)
        return self.array.astype(np.float64)

    def tolerance(self, expected: np.ndarray) -> np.ndarray:
        """The rounding this storage may add to a value near `expected`."""
        if self.storage != "8bit":
            return rounding_of(self.storage, expected)
        codes = dynamic_map(self.signed).astype(np.float64)
        _, absmax = self.array
        scale = np.repeat(absmax.astype(np.float64), QUANT_BLOCK)[: expected.size]
        y = np.clip(expected.ravel() / np.where(scale > 0, scale, 1.0), codes[0], codes[-1])
        hi = np.clip(np.searchsorted(codes, y), 1, 255)
        return ((codes[hi] - codes[hi - 1]) * scale).reshape(expected.shape)


def check(actual: np.ndarray, expected: np.ndarray, rounding: np.ndarray, what: str, lion: bool):
    scale = float(np.max(np.abs(expected), initial=0.0))
    tol = RTOL * scale + RTOL * np.abs(expected) + rounding + 1e-30
    bad = ~(np.abs(actual - expected) <= tol)
    if lion:  # sign(b1 m + (1-b1) g) may flip where the mix is within rounding of zero
        assert np.count_nonzero(bad) <= max(1, actual.size // 1000), what
        return
    if bad.any():
        i = int(np.argmax(bad.ravel()))
        msg = (f"{what}: {np.count_nonzero(bad)} of {actual.size} differ; first at {i}: "
               f"{actual.ravel()[i]!r} vs {expected.ravel()[i]!r} (tol {tol.ravel()[i]:.3g})")
        raise AssertionError(msg)


# every case x every combination it supports (Rprop and SWATS keep no moments: no 8 bits)
STORAGE_CASES = [
    pytest.param(case, combo, id=f"{case_id}-{combo_id}")
    for case, case_id in zip(CASES, IDS)
    for combo, combo_id in zip(COMBOS, COMBO_IDS)
    if combo[2] != "8bit" or case[0] in QUANTIZABLE
]


@pytest.mark.parametrize(("case", "combo"), STORAGE_CASES)
def test_storage_matches_reference(case, combo, isa, rng):
    name, kwargs = case
    param_storage, grad_storage, state_storage = combo
    shapes = [(1003,), (4, 7)]
    params = [rng.standard_normal(s).astype(DTYPES[param_storage]) for s in shapes]
    ref = getattr(reference, name)([p.astype(np.float64) for p in params], **kwargs)
    for i, p in enumerate(ref.params):  # the reference's state before its first step
        ref.state[i] = {"step": 0, **ref._init_state(p)}
    probe = getattr(reference, name)([p.astype(np.float64) for p in params], **kwargs)
    probe.step([np.ones(s) for s in shapes])
    keys = [k for k, v in probe.state[0].items() if isinstance(v, np.ndarray)]
    run = FunctionalRun(name, kwargs, params, keys)
    stored = {k: [Stored(initial_state(name, kwargs, k, p.astype(np.float32)), state_storage,
                         k not in UNSIGNED) for p in params] for k in keys}  # fmt: skip
    run.states = {k: [s.array for s in v] for k, v in stored.items()}
    for t in range(1, 4):
        grads = [(rng.standard_normal(s) * (1 + t)).astype(DTYPES[grad_storage]) for s in shapes]
        for i, p in enumerate(params):  # the reference starts from the stored values
            ref.params[i][...] = p.astype(np.float64)
            for k in keys:  # (SGD creates its momentum buffer at the first step)
                if isinstance(ref.state[i].get(k), np.ndarray):
                    ref.state[i][k][...] = stored[k][i].value()
        ref.step([g.astype(np.float64) for g in grads])
        run.step(grads, t)
        for i, p in enumerate(params):
            expected = ref.params[i]
            check(p.astype(np.float64), expected, rounding_of(param_storage, expected),
                  f"step {t} param {i}", name == "Lion")
            for k in keys:
                s = stored[k][i]
                s.array = run.states[k][i]
                check(s.value(), ref.state[i][k], s.tolerance(ref.state[i][k]),
                      f"step {t} {k}[{i}]", name == "Lion")


def test_master_weights_step_the_float32_master_and_copy_it_out(rng):
    """bfloat16 params with float32 masters: the master follows the float32 step exactly
    (same float32 arithmetic) and the param is the master rounded to nearest even."""
    n = 5000
    master = rng.standard_normal(n).astype(np.float32)
    param = master.astype(bfloat16)
    grad = rng.standard_normal(n).astype(bfloat16)
    m, v = np.zeros(n, bfloat16), np.zeros(n, bfloat16)
    rule = F.adam_rule(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                       amsgrad=False, maximize=False, decoupled_weight_decay=False,
                       bias_correction=True)  # fmt: skip
    expected = master.copy()
    m32, v32 = np.zeros(n, np.float32), np.zeros(n, np.float32)
    rule.kernel([expected], [grad.astype(np.float32)], [[m32], [v32]], rule.coeffs(1))
    rule.kernel([param], [grad], [[m], [v]], rule.coeffs(1), masters=[master])
    np.testing.assert_array_equal(master, expected)
    np.testing.assert_array_equal(param, expected.astype(bfloat16))
    np.testing.assert_array_equal(m, m32.astype(bfloat16))
    np.testing.assert_array_equal(v, v32.astype(bfloat16))


def test_bfloat16_and_float16_round_to_nearest_even_as_ml_dtypes_and_numpy(rng):
    """The kernels' conversions against ml_dtypes' and NumPy's, on values at every rounding
    case (ties, subnormals, overflow, inf; not -0: the rule's 0 * buf + -0 is +0): SGD
    momentum with buffer decay 0 stores the float32 gradient in its 16-bit momentum buffer."""
    x = np.concatenate([
        rng.standard_normal(4000).astype(np.float32) * 10.0 ** rng.integers(-8, 8, 4000),
        np.array([0.0, np.inf, -np.inf, np.nan, -np.nan, 65504.0, 65520.0, 1e-8, 6e-8, 3e-5,
                  1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 3.4e38], np.float32),
    ]).astype(np.float32)  # fmt: skip
    coeffs = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)  # buf <- 0 buf + 1 g; p unchanged (lr 0)
    for dtype in (bfloat16, F16):
        buf = np.zeros(x.size, dtype)
        with np.errstate(over="ignore"):
            want = x.astype(dtype)
        _core.sgd_momentum([np.zeros(x.size, np.float32)], [x], [[buf]], coeffs)
        np.testing.assert_array_equal(buf.view(np.uint16), want.view(np.uint16))
        back = np.zeros(x.size, np.float32)  # and 16-bit -> float32 loads are exact
        _core.sgd_momentum([np.zeros(x.size, np.float32)], [want], [[back]], coeffs)
        np.testing.assert_array_equal(back, want.astype(np.float32))


def test_stochastic_rounding_is_unbiased_and_thread_invariant(rng):
    """bfloat16 stochastic rounding: the mean of many roundings of one value is within a
    few standard errors of the exact value; and the bits do not depend on the thread count."""
    import pyfastopt

    value = np.float32(1.0 + 2.0**-10 + 2.0**-12)  # between two bfloat16 neighbours
    lo = float(value.astype(bfloat16).astype(np.float32))
    lo = lo if lo <= value else lo - 2.0**-7
    n = 1 << 17
    # through SGD: p <- p - lr * g with lr 1 and g = p_bf16 - value (exact in float32)
    p = np.full(n, np.float32(lo), bfloat16)
    g = np.full(n, np.float32(lo) - value, np.float32).astype(bfloat16)
    assert float(g[0]) == lo - float(value)  # exactly representable
    _core.sgd([p], [g], [], (1.0, 0.0, -1.0), seed=7, step=1)
    got = p.astype(np.float64)
    ulp = 2.0**-7
    assert set(np.unique(got)) <= {lo, lo + ulp}
    frac = (float(value) - lo) / ulp
    se = np.sqrt(frac * (1 - frac) / n)
    assert abs((got.mean() - lo) / ulp - frac) < 5 * se
    bits = {}
    for threads in (1, 2):
        pyfastopt.set_num_threads(threads)
        q = np.full(n, np.float32(lo), bfloat16)
        _core.sgd([q], [g], [], (1.0, 0.0, -1.0), seed=7, step=1)
        bits[threads] = q.view(np.uint16).copy()
    np.testing.assert_array_equal(bits[1], bits[2])
    # another seed or step gives other bits (keyed by seed and step)
    r = np.full(n, np.float32(lo), bfloat16)
    _core.sgd([r], [g], [], (1.0, 0.0, -1.0), seed=7, step=2)
    assert not np.array_equal(r.view(np.uint16), bits[1])


def test_8bit_codec_is_nearest_code_in_the_map(rng):
    x = (rng.standard_normal(10_000) * 10.0 ** rng.integers(-6, 2, 10_000)).astype(np.float32)
    for signed in (True, False):
        values = x if signed else np.abs(x)
        codes, absmax = quantize_8bit(values, signed)
        blocks = np.pad(values, (0, -values.size % QUANT_BLOCK)).reshape(-1, QUANT_BLOCK)
        np.testing.assert_array_equal(absmax, np.abs(blocks).max(axis=1))
        table = dynamic_map(signed).astype(np.float64)
        y = values / np.repeat(absmax, QUANT_BLOCK)[: values.size].astype(np.float64)
        dist = np.abs(table[codes] - y)
        best = np.abs(y[:, None] - table[None, :]).min(axis=1)
        np.testing.assert_array_equal(dist, best)


def nearest_codes(table: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The index of each y's nearest code, ties toward zero (float64, by brute force)."""
    dist = np.abs(table[None, :] - y[:, None])
    tied = dist == dist.min(axis=1, keepdims=True)
    return np.argmin(np.where(tied, np.abs(table)[None, :], np.inf), axis=1)


def test_8bit_states_take_the_nearest_code_at_every_boundary(isa):
    """Adam with beta1 = beta2 = 0 stores m = g (signed map) and v = g * g (unsigned map) in
    8 bits; with absmax 1 (each block holds a 1) the codes are those of the values
    themselves. The values sit on and around every midpoint between neighbouring codes
    (seven ulps each way), where a vectorised encoder (AVX2 bucket table, AVX-512 per-decade
    arithmetic) is most likely to pick the wrong side."""
    signed, unsigned = (dynamic_map(s).astype(np.float64) for s in (True, False))
    mids = (signed[1:] + signed[:-1]) / 2
    g = [np.float32(mids)]
    g_root = [np.sqrt((unsigned[1:] + unsigned[:-1]) / 2).astype(np.float32)]
    for direction in (np.inf, -np.inf):
        for g_list in (g, g_root):
            near = g_list[0]
            for _ in range(7):
                near = np.nextafter(near, np.float32(direction))
                g_list.append(near)
    values = np.clip(np.concatenate(g + g_root), -1, 1).astype(np.float32)
    rows = np.pad(values, (0, -values.size % (QUANT_BLOCK - 1))).reshape(-1, QUANT_BLOCK - 1)
    grad = np.hstack([np.ones((len(rows), 1), np.float32), rows]).ravel()  # absmax 1
    n = grad.size
    m, v = (quantize_8bit(np.zeros(n, np.float32), s) for s in (True, False))
    coeffs = F.adam_rule(lr=1e-3, beta1=0.0, beta2=0.0, eps=1e-8, weight_decay=0.0,
                         amsgrad=False, maximize=False, decoupled_weight_decay=False,
                         bias_correction=False).coeffs(1)  # fmt: skip
    _core.adam([np.zeros(n, np.float32)], [grad], [[m], [v]], coeffs)
    np.testing.assert_array_equal(m[1], 1.0)
    np.testing.assert_array_equal(v[1], 1.0)
    np.testing.assert_array_equal(m[0], nearest_codes(signed, grad.astype(np.float64)))
    squares = (grad * grad).astype(np.float64)  # v as float32 computes it
    np.testing.assert_array_equal(v[0], nearest_codes(unsigned, squares))


def test_dynamic_maps_match_bitsandbytes_to_two_ulps():
    bnb = pytest.importorskip("bitsandbytes.functional", reason="the bitsandbytes peer")
    for signed in (True, False):
        theirs = bnb.create_dynamic_map(signed=signed).numpy()
        ours = dynamic_map(signed)
        np.testing.assert_array_max_ulp(ours, theirs, maxulp=2)


def test_grad_scale_power_of_two_equals_the_unscaled_step(rng):
    n = 3000
    p = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    coeffs = F.adam_rule(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                         amsgrad=False, maximize=False, decoupled_weight_decay=False,
                         bias_correction=True).coeffs(1)  # fmt: skip
    a, b = p.copy(), p.copy()
    ma, va, mb, vb = (np.zeros(n, np.float32) for _ in range(4))
    _core.adam([a], [g], [[ma], [va]], coeffs)
    _core.adam([b], [g * np.float32(1024.0)], [[mb], [vb]], coeffs, grad_scale=1024.0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(va, vb)


@pytest.mark.parametrize(
    ("param", "grad", "state", "match"),
    [
        ("bfloat16", "float16", "bfloat16", "grad has dtype float16, expected bfloat16"),
        ("bfloat16", "float32", "bfloat16", "grad has dtype float32, expected bfloat16"),
        ("float32", "float64", "bfloat16", "grad has dtype float64"),
        ("bfloat16", "bfloat16", "float64", "exp_avg has dtype float64; with bfloat16 params"),
        ("float32", "float32", "int8", "exp_avg has dtype int8"),
    ],
)
def test_unsupported_combinations_raise_and_change_nothing(param, grad, state, match, rng):
    n = 300
    p = rng.standard_normal(n).astype(DTYPES[param])
    g = rng.standard_normal(n).astype(np.dtype(grad) if grad in ("float64",) else DTYPES[grad])
    m = np.ones(n, np.dtype(state) if state in ("int8", "float64") else DTYPES[state])
    v = np.ones(n, np.float32)
    before = [a.copy() for a in (p, g, m, v)]
    coeffs = F.adam_rule(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                         amsgrad=False, maximize=False, decoupled_weight_decay=False,
                         bias_correction=True).coeffs(1)  # fmt: skip
    with pytest.raises(TypeError, match=match):
        _core.adam([p], [g], [[m], [v]], coeffs)
    for a, b in zip((p, g, m, v), before):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def test_bad_master_and_absmax_raise_and_change_nothing(rng):
    n = 600
    coeffs = (1.0, 0.0, 1.0, 0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, -1e-3)
    p = rng.standard_normal(n).astype(bfloat16)
    g = rng.standard_normal(n).astype(bfloat16)
    m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
    snapshot = [a.copy() for a in (p, g, m, v)]
    with pytest.raises(TypeError, match=r"master has dtype float64, expected float32"):
        _core.adam([p], [g], [[m], [v]], coeffs, masters=[np.zeros(n)])
    with pytest.raises(ValueError, match=r"master has shape \(599,\)"):
        _core.adam([p], [g], [[m], [v]], coeffs, masters=[np.zeros(n - 1, np.float32)])
    with pytest.raises(TypeError, match="master weights are for bfloat16 or float16 params"):
        _core.adam([m], [g], [[p], [v]], coeffs, masters=[np.zeros(n, np.float32)])
    codes, absmax = quantize_8bit(np.ones(n, np.float32), True)
    with pytest.raises(ValueError, match=r"exp_avg absmax has shape \(2,\), expected \(3,\)"):
        _core.adam([p], [g], [[(codes, absmax[:2].copy())], [v]], coeffs)
    with pytest.raises(TypeError, match=r"exp_avg absmax has dtype float64"):
        _core.adam([p], [g], [[(codes, absmax.astype(np.float64))], [v]], coeffs)
    with pytest.raises(TypeError, match="takes no 8-bit states"):
        _core.rprop([p], [g], [[(codes, absmax)], [v]], (1.0, 0.5, 1.2, 1e-6, 50.0))
    for a, b in zip((p, g, m, v), snapshot):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
