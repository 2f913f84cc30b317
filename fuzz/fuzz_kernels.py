#!/usr/bin/env python3
"""Fuzzes the dense kernels from bytes: pyfastopt.functional's steps, the _core kernels and
their plans called directly, with odd buffer descriptors (dtypes incl. non-native byte
order, shapes, strides, unaligned and overlapping views, read-only flags, lists) and
hyperparameters (inf, nan, huge, negative, huge ints, non-numbers).

Run: python fuzz/fuzz_kernels.py [libFuzzer flags] [corpus dir]  (see fuzz/README.md)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

h.setup()

import numpy as np

from pyfastopt import _core
from pyfastopt import functional as F

LR = [1e-3, 0.1, 0.0, 1.0]
DECAY = [0.9, 0.99, 0.0, 0.5]
EPS = [1e-8, 0.0, 1e-3]
WD = [0.0, 1e-2, 0.5]
FLAG = [False, True]

#: functional step -> (its state arguments, its keyword hyperparameters with typical values)
RULES = {
    "sgd_": (["momentum_buffer"], dict(lr=LR, momentum=[0.0, 0.9, 0.5], dampening=[0.0, 0.1],
                                        weight_decay=WD, nesterov=FLAG, maximize=FLAG)),
    "adagrad_": (["sum"], dict(lr=LR, lr_decay=[0.0, 0.1], weight_decay=WD, eps=EPS,
                               maximize=FLAG, eps_inside_sqrt=FLAG)),
    "adadelta_": (["square_avg", "acc_delta"], dict(lr=LR, rho=DECAY, eps=EPS, weight_decay=WD,
                                                    maximize=FLAG)),
    "rmsprop_": (["square_avg", "momentum_buffer", "grad_avg"],
                 dict(lr=LR, alpha=DECAY, eps=EPS, weight_decay=WD, momentum=[0.0, 0.9],
                      centered=FLAG, maximize=FLAG, eps_inside_sqrt=FLAG)),
    "adam_": (["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
              dict(lr=LR, beta1=DECAY, beta2=[0.999, 0.9], eps=EPS, weight_decay=WD,
                   amsgrad=FLAG, maximize=FLAG, decoupled_weight_decay=FLAG,
                   bias_correction=FLAG)),
    "adamw_": (["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
               dict(lr=LR, beta1=DECAY, beta2=[0.999], eps=EPS, weight_decay=WD, amsgrad=FLAG,
                    maximize=FLAG, bias_correction=FLAG)),
    "adamax_": (["exp_avg", "exp_inf"], dict(lr=LR, beta1=DECAY, beta2=[0.999], eps=EPS,
                                             weight_decay=WD, maximize=FLAG)),
    "nadam_": (["exp_avg", "exp_avg_sq"],
               dict(mu_product=[1.0, 0.5, 0.9], lr=LR, beta1=DECAY, beta2=[0.999], eps=EPS,
                    weight_decay=WD, momentum_decay=[4e-3, 0.0], decoupled_weight_decay=FLAG,
                    maximize=FLAG, simplified=FLAG)),
    "radam_": (["exp_avg", "exp_avg_sq"], dict(lr=LR, beta1=DECAY, beta2=[0.999, 0.5], eps=EPS,
                                               weight_decay=WD, decoupled_weight_decay=FLAG,
                                               maximize=FLAG)),
    "rprop_": (["prev", "step_size"], dict(etas=[(0.5, 1.2), (0.9, 1.1)],
                                           step_sizes=[(1e-6, 50.0), (0.0, 1.0)],
                                           maximize=FLAG)),
    "adabound_": (["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
                  dict(lr=LR, beta1=DECAY, beta2=[0.999], final_lr=[0.1, 0.0], gamma=[1e-3, 1.0],
                       eps=EPS, weight_decay=WD, amsbound=FLAG, maximize=FLAG,
                       initial_lr=[None, 1e-3, 0.0])),
    "lion_": (["exp_avg"], dict(lr=LR, beta1=DECAY, beta2=[0.99], weight_decay=WD,
                                maximize=FLAG)),
    "swats_": (["exp_avg", "exp_avg_sq", "momentum_buffer"],
               dict(lr=LR, beta1=DECAY, beta2=[0.999], eps=[1e-9, 0.0], weight_decay=WD,
                    maximize=FLAG)),
}
RULE_NAMES = sorted(RULES)

ARG_NAMES = ["param", "grad", "params", "grads", "states", "state", "step", "coeffs", "arrays",
             "etas", "step_sizes", "nesterov", "master", "grad_scale", "seed", "first_tensor",
             *{n for states, kw in RULES.values() for n in (*states, *kw)},
             *{n for names in _core.state_names.values() for n in names}]  # every rule's


def _probe():
    """Each _core kernel's state count K and coefficient count, from its own error messages
    (so the harness follows the extension without a table to keep in sync)."""
    out = {}
    p, g = np.zeros(2, np.float32), np.zeros(2, np.float32)
    for name in dir(_core):
        plan = getattr(_core, name + "_plan", None)
        if plan is None or name.startswith("_"):
            continue
        kernel = getattr(_core, name)
        try:
            kernel([p], [g], [], ())
            k = 0
        except ValueError as e:
            k = int(str(e).split("expected ")[1].split()[0]) if "states:" in str(e) else 0
        try:
            kernel([p], [g], [[np.zeros(2, np.float32)] for _ in range(k)], ())
        except ValueError as e:
            out[name] = (k, int(str(e).split("expected ")[1].split()[0]))
    return out


KERNELS = _probe()
KERNEL_NAMES = sorted(KERNELS)
assert len(KERNEL_NAMES) >= 15, KERNELS


def writable(*groups):
    """The writable arrays of these argument lists (what a call may write)."""
    return [a for a in h.as_arrays(x for g in groups for x in g) if a.flags.writeable]


def arrays(inp: h.Inputs, shapes, dtype, odd=10):
    return [inp.array(inp.like(s), dtype, odd=odd) for s in shapes]


def fuzz_functional(inp: h.Inputs, data: bytes) -> None:
    name = inp.pick(RULE_NAMES)
    state_names, hyper = RULES[name]
    dtype = inp.pick([np.float32, np.float64])
    listed = inp.bool()
    shapes = [inp.shape() for _ in range(inp.int(0, 3) if listed else 1)]
    params = arrays(inp, shapes, dtype)
    grads = arrays(inp, shapes, dtype)
    states = [None if inp.chance(6) else arrays(inp, shapes, dtype) for _ in state_names]
    unwrap = (lambda x: x) if listed else (lambda x: x if x is None else x[0])
    kwargs = {k: (inp.pick(v) if not inp.chance(6) else inp.real(v)) for k, v in hyper.items()
              if not inp.chance(8)}  # fmt: skip
    kwargs["step"] = inp.step()
    if name == "swats_" and inp.bool():
        n = len(shapes)
        one = F.SwatsState(inp.pick(["sgd", "adam", "x"]), inp.real([0.0, 0.1]), inp.real([0.1]))
        kwargs["state"] = one if not listed else [one] * n
    fn = getattr(F, name)
    args = [unwrap(params), unwrap(grads), *(unwrap(s) for s in states)]

    def written():
        return writable(params, *[s for s in states if s is not None])

    ok, _ = h.call(f"functional.{name}", lambda: fn(*args, **kwargs), inp, data,
                   names=ARG_NAMES, written=written, args=(*args, kwargs))
    if ok:
        check_no_aliasing(f"functional.{name}", params, grads, data)


def check_no_aliasing(where, params, grads, data):
    """A call that succeeded must have refused parameters sharing memory with each other or
    with a gradient (each buffer must be distinct); bytes alone may not show it."""
    ps = [p for p in params if isinstance(p, np.ndarray)]
    gs = [g for g in grads if isinstance(g, np.ndarray)]
    for i, p in enumerate(ps):
        for other in ps[i + 1:] + gs:
            if h.overlap(p, other):
                h.report(h.Finding("accepted overlapping buffers", where,
                                   f"param shape {p.shape} overlaps another buffer"), data)
                return


def core_args(inp: h.Inputs, name: str):
    k, ncoeffs = KERNELS[name]
    dtype = inp.pick([np.float32, np.float64])
    shapes = [inp.shape() for _ in range(inp.int(0, 3))]
    params = arrays(inp, shapes, dtype, odd=6)
    grads = arrays(inp, shapes, dtype, odd=6)
    nstates = k if not inp.chance(10) else inp.int(0, 4)
    states = [arrays(inp, shapes, dtype, odd=6) for _ in range(nstates)]
    n = ncoeffs if not inp.chance(10) else inp.int(0, ncoeffs + 2)
    coeffs = [inp.real([0.9, 0.1, 1.0, -1e-3, 1e-8, 0.0]) if inp.chance(10)
              else inp.pick([0.9, 0.1, 1.0, -1e-3, 1e-8, 0.0]) for _ in range(n)]  # fmt: skip
    coeffs = inp.pick([tuple(coeffs), coeffs, np.array(coeffs if all(isinstance(c, float)
                       for c in coeffs) else [], dtype=np.float64), iter(coeffs), "abc", None]) \
        if inp.chance(8) else tuple(coeffs)  # fmt: skip
    wrap = inp.pick([list, list, list, tuple, lambda x: x[0] if x else None, iter])
    return wrap(params), wrap(grads), [wrap(s) for s in states], coeffs, params, grads, states


def fuzz_core(inp: h.Inputs, data: bytes) -> None:
    name = inp.pick(KERNEL_NAMES)
    p, g, s, coeffs, params, grads, states = core_args(inp, name)

    def written():
        return writable(params, *states)

    ok, _ = h.call(f"_core.{name}", lambda: getattr(_core, name)(p, g, s, coeffs), inp, data,
                   names=ARG_NAMES, written=written, args=(p, g, s, coeffs))
    if ok:
        check_no_aliasing(f"_core.{name}", [*params, *(a for st in states for a in st)], grads,
                          data)


def fuzz_plan(inp: h.Inputs, data: bytes) -> None:
    """A plan built on checked params and states, then stepped with fuzzed gradients, after
    the caller may have made a buffer read-only."""
    name = inp.pick(KERNEL_NAMES)
    p, g, s, coeffs, params, grads, states = core_args(inp, name)
    ok, plan = h.call(f"_core.{name}_plan()", lambda: getattr(_core, name + "_plan")(p, s), inp,
                      data, names=ARG_NAMES, written=list, args=(p, s))
    if not ok:
        return
    if inp.chance(4):
        victims = [a for a in [*params, *(a for st in states for a in st)]
                   if isinstance(a, np.ndarray)]
        if victims:
            inp.pick(victims).flags.writeable = False

    def written():
        return writable(params, *states)

    ok, done = h.call(f"_core.{name}_plan.step", lambda: plan.step(g, coeffs), inp, data,
                      names=ARG_NAMES, written=written, args=(p, s, g, coeffs))
    if ok and done:
        check_no_aliasing(f"_core.{name}_plan.step",
                          [*params, *(a for st in states for a in st)], grads, data)


try:  # bfloat16 arrays (the [bf16] extra); without it the mixed fuzzer uses float16 only
    from ml_dtypes import bfloat16 as BF16
except ImportError:  # pragma: no cover
    BF16 = np.float16
#: Storages of the mixed-precision path, and the odd ones it must refuse.
STORAGES = [np.float32, np.float16, BF16, BF16, np.float64, np.uint8, np.int16]
QUANTIZABLE = sorted(set(KERNEL_NAMES) & set(_core.signed_states))


def mixed_state(inp: h.Inputs, shape, storage):
    """A state of the mixed path: an array, or (codes, absmax) with the odd wrong absmax."""
    if not inp.chance(3):
        return inp.array(inp.like(shape), storage if not inp.chance(4) else inp.pick(STORAGES),
                         odd=8)  # fmt: skip
    size = int(np.prod(shape))
    blocks = -(-size // 256) if not inp.chance(6) else inp.int(0, 3)
    codes = inp.array(inp.like(shape), np.uint8 if not inp.chance(8) else np.float32, odd=8)
    absmax = inp.array((blocks,), np.float32 if not inp.chance(8) else np.float64, odd=8)
    return (codes, absmax) if not inp.chance(12) else (codes,)


def fuzz_mixed(inp: h.Inputs, data: bytes) -> None:
    """The reduced-precision path: 16-bit params/grads, 16/8-bit states, masters, the
    grad_scale/seed/step/first_tensor options, and the storages it must refuse."""
    name = inp.pick(QUANTIZABLE if inp.bool() else KERNEL_NAMES)
    k, ncoeffs = KERNELS[name]
    pd = inp.pick(STORAGES[:5])
    shapes = [inp.shape() for _ in range(inp.int(0, 3))]
    params = arrays(inp, shapes, pd, odd=8)
    gd = pd if inp.chance(2) else inp.pick(STORAGES)
    grads = arrays(inp, shapes, gd, odd=8)
    sd = inp.pick(STORAGES)
    states = [[mixed_state(inp, sh, sd) for sh in shapes] for _ in range(k)]
    masters = None
    if inp.chance(3):
        masters = arrays(inp, shapes, np.float32 if not inp.chance(6) else inp.pick(STORAGES),
                         odd=8)  # fmt: skip
    options = {}
    if inp.chance(3):
        options["grad_scale"] = inp.real([1.0, 1024.0, 0.5, 1e-40, 0.0, -1.0])
    if inp.chance(3):
        options["seed"] = inp.pick([0, 7, -1, 2**64, 2**64 - 1, 1.5])
        options["step"] = inp.pick([1, 0, -3, 2**70])
        options["first_tensor"] = inp.pick([0, 3, -1, 2**64])
    coeffs = tuple(inp.pick([0.9, 0.1, 1.0, -1e-3, 1e-8, 0.0]) for _ in range(ncoeffs))
    arrays_in_states = [x for st in states for item in st
                        for x in (item if isinstance(item, tuple) else (item,))]  # fmt: skip

    def written():
        return writable(params, masters or [], arrays_in_states)

    call = (lambda: getattr(_core, name)(params, grads, states, coeffs, masters=masters,
                                         **options))  # fmt: skip
    ok, _ = h.call(f"_core.{name}(mixed)", call, inp, data, names=ARG_NAMES, written=written,
                   args=(params, grads, states, coeffs, masters, options))
    if ok:
        check_no_aliasing(f"_core.{name}(mixed)", [*params, *(masters or []), *arrays_in_states],
                          grads, data)


TARGETS = [fuzz_functional, fuzz_functional, fuzz_core, fuzz_plan, fuzz_mixed, fuzz_mixed]


def test_one_input(data: bytes) -> None:
    inp = h.Inputs(data)
    inp.pick(TARGETS)(inp, data)


if __name__ == "__main__":
    h.main(test_one_input)
