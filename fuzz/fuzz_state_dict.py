#!/usr/bin/env python3
"""Fuzzes optimizer state dicts from bytes: every pyfastopt.optim class is stepped, its
state_dict() mutated (entries of the wrong type, shape, dtype or layout; NaN, negative, huge
or non-integer steps; strings; missing or extra keys and groups) and loaded back with
load_state_dict(), then stepped again.

Oracle, besides the common one: a failed load changes neither the parameters nor the
optimizer's state; a load never writes into the dict it is given, nor does a later step; a
state that load_state_dict accepted either steps or, had it been caught at load time, would
have been refused there ("accepted an invalid state" if the step then fails); and a step from
finite parameters, gradients and state arrays with valid hyperparameters stays finite.

Run: python fuzz/fuzz_state_dict.py [libFuzzer flags] [corpus dir]  (see fuzz/README.md)
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

h.setup()

import numpy as np

from pyfastopt import _core, optim

#: class -> constructor keyword choices (one is drawn per run)
CLASSES = {
    optim.SGD: [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {"weight_decay": 0.1}],
    optim.Adagrad: [{}, {"lr_decay": 0.1}],
    optim.Adadelta: [{}],
    optim.RMSprop: [{}, {"momentum": 0.9}, {"centered": True}, {"centered": True, "momentum": 0.5}],
    optim.Adam: [{}, {"amsgrad": True}, {"decoupled_weight_decay": True, "weight_decay": 0.1}],
    optim.AdamW: [{}, {"amsgrad": True}],
    optim.Adamax: [{}],
    optim.NAdam: [{}, {"simplified": True}],
    optim.RAdam: [{}],
    optim.Rprop: [{}],
    optim.AdaBound: [{}],
    optim.AMSBound: [{}],
    optim.Lion: [{}],
    optim.SWATS: [{}],
}
CLASS_LIST = list(CLASSES)
ARG_NAMES = ["state_dict", "state", "param_groups", "params", "grads", "step", "lr", "betas",
             "eps", "weight_decay", "momentum", "mu_product", "phase", "lambda", "sgd_lr", "etas",
             "step_sizes", "alpha", "rho", "lr_decay", "final_lr", "gamma", "dampening",
             "momentum_decay", "initial_lr", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf",
             "sum", "square_avg", "acc_delta", "grad_avg", "momentum_buffer", "prev",
             "step_size",
             # every class's hyperparameters (group keys), state buffers and scalar state
             *{k for cls in CLASSES for k in inspect.signature(cls).parameters},
             *{n for names in _core.state_names.values() for n in names},
             *{k for cls in CLASSES for k in cls._scalar_state}]  # fmt: skip

BAD_VALUES = [None, "x", "3", b"1", [1.0], {}, (1,), math.nan, math.inf, -1, 0, -1.5, 10**400,
              2**63, 2**64, True, 1.5, np.float32(np.nan), np.int64(-2), 1j, object()]  # fmt: skip
BAD_STEPS = [math.nan, -1, 0, -(10**400), 10**400, 2**63, 2**64, 1.5, "3", None, np.int64(2),
             np.float64(2.0), True, np.nan, 2**31]  # fmt: skip


def bad_array(inp: h.Inputs, like: np.ndarray) -> np.ndarray:
    kind = inp.int(0, 7)
    if kind == 0:
        return np.full(like.shape, inp.pick([np.nan, np.inf, -1.0]), like.dtype)
    if kind == 1:  # another dtype (float16, ints, complex, big-endian, the other float)
        return inp.values(like.size, inp.pick(h.DTYPES)).reshape(like.shape)
    if kind == 2:  # another shape
        return inp.values(like.size + 1, like.dtype)
    if kind == 3:
        return np.asfortranarray(inp.values(like.size, like.dtype).reshape(like.shape)).T
    if kind == 4:
        return inp.values(1, like.dtype).reshape(())
    if kind == 5:
        a = like.copy()
        a.flags.writeable = False
        return a
    if kind == 6:
        return like.tolist()
    return inp.view(like.shape, like.dtype) if like.dtype.kind != "O" else like


def mutate(inp: h.Inputs, sd: dict, n_params: int) -> bool:
    """One mutation of the state dict in place; True if it may make a step legitimately
    non-finite (non-finite arrays or hyperparameters put in)."""
    state, groups = sd["state"], sd["param_groups"]
    what = inp.int(0, 13)
    if what in (8, 9, 10) and not groups:
        return False
    if what <= 5 and state:  # one value of one parameter's state
        entry = state[inp.pick(list(state))]
        if not isinstance(entry, dict) or not entry:
            return False
        key = inp.pick(list(entry))
        value = entry[key]
        if key == "step" and inp.int(0, 2):
            entry[key] = inp.pick(BAD_STEPS)
        elif isinstance(value, np.ndarray):
            entry[key] = inp.keep(bad_array(inp, value))
            return True
        else:
            entry[key] = inp.pick(BAD_VALUES)
        return False
    if what == 6 and state:  # a key missing
        entry = state[inp.pick(list(state))]
        if isinstance(entry, dict) and entry:
            del entry[inp.pick(list(entry))]
        return False
    if what == 7:  # a parameter's state missing, or one for a parameter that is not there
        if state and inp.bool():
            del state[inp.pick(list(state))]
        else:
            state[inp.pick([n_params, -1, "0", 1.5, 10**400])] = {"step": 1}
        return False
    if what == 8:  # a hyperparameter
        group = inp.pick(groups)
        keys = sorted(k for k in group if k != "params")
        if keys:
            group[inp.pick(keys)] = inp.pick(BAD_VALUES)
        return True
    if what == 9:  # a hyperparameter missing
        group = inp.pick(groups)
        keys = sorted(k for k in group if k != "params")
        if keys:
            del group[inp.pick(keys)]
        return False
    if what == 10:  # the params of a group
        group = inp.pick(groups)
        if not isinstance(group.get("params"), list) or not all(
                isinstance(p, int) for p in group["params"]):
            return False
        group["params"] = inp.pick([[], group["params"][::-1], group["params"] * 2,
                                    [str(p) for p in group["params"]],
                                    [p + n_params for p in group["params"]], None, "ab"])
        return False
    if what == 11:  # the containers
        key = inp.pick(["state", "param_groups"])
        if inp.bool():
            del sd[key]
        else:
            sd[key] = inp.pick([None, [], {}, "x", [sd[key]] if key == "state" else {}])
        return False
    if what == 12:  # a group added or removed
        if inp.bool() and groups:
            groups.pop()
        else:
            groups.append(copy.deepcopy(groups[0]) if groups else {"params": []})
        return False
    if state:  # a state entry replaced wholesale
        state[inp.pick(list(state))] = inp.pick([None, [], "x", {"step": 1}, 1.0])
    return False


def grads_for(inp: h.Inputs, params, dtype_ok: bool = True):
    return [None if inp.chance(8) else inp.keep(inp.values(p.size, p.dtype).reshape(p.shape))
            for p in params]


def test_one_input(data: bytes) -> None:
    inp = h.Inputs(data)
    cls = inp.pick(CLASS_LIST)
    kwargs = inp.pick(CLASSES[cls])
    n_groups = inp.pick([1, 1, 2])
    groups = []
    for _ in range(n_groups):
        dtype = inp.pick([np.float32, np.float64])
        ps = [inp.keep(inp.values(n, dtype)) for n in (inp.int(1, 6) for _ in range(inp.int(1, 3)))]
        groups.append({"params": ps, **({"lr": 0.01} if inp.chance(3) else {})})
    params = [p for g in groups for p in g["params"]]
    opt = cls(groups if n_groups > 1 or inp.bool() else groups[0]["params"], **kwargs)
    with np.errstate(all="ignore"):
        for _ in range(inp.int(0, 2)):
            opt.step([inp.values(p.size, p.dtype) for p in params])
    sd = opt.state_dict()
    tainted = False
    for _ in range(inp.int(1, 3)):
        if not isinstance(sd.get("state"), dict) or not isinstance(sd.get("param_groups"), list):
            break
        tainted |= mutate(inp, sd, len(params))
    opt_arrays = [v for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)]
    scalars_before = repr({i: {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
                           for i, s in opt.state.items()})
    sd_arrays = [v for s in (sd.get("state") or {}).values() if isinstance(s, dict)
                 for v in s.values() if isinstance(v, np.ndarray)] if isinstance(
        sd.get("state"), dict) else []  # fmt: skip
    show = lambda: f"{cls.__name__}({kwargs}) state_dict " + h.describe(sd, inp.made)
    where = "optim.Optimizer.load_state_dict"
    ok, err = h.call(where, lambda: opt.load_state_dict(sd), inp, data, names=ARG_NAMES,
                     extra=opt_arrays + sd_arrays, args=sd)
    if not ok:
        scalars_after = repr({i: {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
                              for i, s in opt.state.items()})  # fmt: skip
        if scalars_after != scalars_before:
            h.report(h.Finding("partial update before an error", where,
                               "a failed load changed the optimizer's scalar state"), data, show)
        return
    # a step from the loaded state
    grads = grads_for(inp, params)
    new_arrays = [v for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)]
    # modest values: squares of 1e38 overflow legitimately
    finite_before = all(np.abs(a).max(initial=0) < 1e10 for a in
                        [*params, *new_arrays, *(g for g in grads if g is not None)]
                        if a.dtype.kind == "f")  # fmt: skip
    where = "optim.Optimizer.step after load"
    ok, err = h.call(where, lambda: opt.step(grads), inp, data, names=ARG_NAMES,
                     extra=new_arrays + sd_arrays, args=(sd, grads),
                     written=lambda: [*params, *new_arrays, *(v for s in opt.state.values()
                                      for v in s.values() if isinstance(v, np.ndarray))])
    if not ok:
        if isinstance(err, (TypeError, ValueError)):
            h.report(h.Finding("accepted an invalid state", "optim.Optimizer.load_state_dict",
                               f"the load succeeded, the next step raised "
                               f"{type(err).__name__}: {err}"), data, show)
        return
    stepped = [p for p, g in zip(params, grads) if g is not None]
    if finite_before and not tainted and not all(np.isfinite(p).all() for p in stepped):
        h.report(h.Finding("silent wrong update", where,
                           "non-finite parameters from finite parameters, gradients and state "
                           "arrays"), data, show)


if __name__ == "__main__":
    h.main(test_one_input)
