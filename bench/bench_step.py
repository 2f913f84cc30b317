"""One optimizer step at the embedded size (2^24 float32): pyfastopt vs NumPy.

The NumPy formulations come from pyfastopt._bench (shared with ``pyfastopt bench``), where
they are checked bit for bit against pyfastopt. Each benchmark starts from fresh state
(zero moments, step 1, 2, ...) with a constant gradient and asserts afterwards that every
parameter moved as the closed form of that many steps says.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt import _bench

N = _bench.DEFAULT_SIZE
DTYPE = np.dtype(np.float32)
IMPLS = ("pyfastopt", *_bench.NUMPY_VARIANTS)
OPT = {opt.name: opt for opt in _bench.OPTIMIZERS}
SAMPLE = slice(None, None, 4097)  # the property is checked on ~4k elements


def _stepper(opt: _bench.Optimizer, impl: str, p, g, states):
    """A zero-argument step function that counts its calls (step = 1, 2, ...)."""
    scratch = np.full(N, 0, DTYPE)  # touched now: no page faults inside the first round
    block = _bench.NUMPY_VARIANTS.get(impl)
    calls = [0]

    def step():
        calls[0] += 1
        if impl == "pyfastopt":
            opt.pyfastopt(p, g, states, calls[0], **opt.hparams)
        else:
            opt.numpy(p, g, states, calls[0], scratch, block, **opt.hparams)

    return step, calls


def _fresh(num_states: int):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(N, dtype=np.float32)
    g = rng.standard_normal(N, dtype=np.float32)
    return p, g, [np.full(N, 0, DTYPE) for _ in range(num_states)]  # touched, unlike zeros


@pytest.mark.benchmark(group=f"adam-2^{N.bit_length() - 1}-{DTYPE}")
@pytest.mark.parametrize("impl", IMPLS)
def test_adam(benchmark, impl):
    opt = OPT["adam"]
    p, g, states = _fresh(opt.num_states)
    p0 = p[SAMPLE].copy()
    step, calls = _stepper(opt, impl, p, g, states)
    benchmark(step)
    # Constant g from zero moments: the bias-corrected m/sqrt(v) is g/|g| (up to eps), so
    # every step moves p by lr against the sign of g.
    k, lr, gs = calls[0], opt.hparams["lr"], g[SAMPLE]
    mask = np.abs(gs) > 1e-3
    assert k > 0 and np.isfinite(p[SAMPLE]).all()
    np.testing.assert_allclose((p0 - p[SAMPLE])[mask], k * lr * np.sign(gs[mask]), rtol=1e-3)


@pytest.mark.benchmark(group=f"sgd-momentum-2^{N.bit_length() - 1}-{DTYPE}")
@pytest.mark.parametrize("impl", IMPLS)
def test_sgd_momentum(benchmark, impl):
    opt = OPT["sgd-momentum"]
    p, g, states = _fresh(opt.num_states)
    p0 = p[SAMPLE].copy()
    step, calls = _stepper(opt, impl, p, g, states)
    benchmark(step)
    # Constant g: b_j = g (1 - mu^j) / (1 - mu), and p moves by lr * sum_j b_j.
    k, lr, mu = calls[0], opt.hparams["lr"], opt.hparams["momentum"]
    total = sum((1 - mu**j) / (1 - mu) for j in range(1, k + 1))
    gs = g[SAMPLE].astype(np.float64)
    mask = np.abs(gs) > 0.1
    assert k > 0 and np.isfinite(p[SAMPLE]).all()
    np.testing.assert_allclose((p0 - p[SAMPLE])[mask], lr * total * gs[mask], rtol=1e-2)
