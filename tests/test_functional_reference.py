"""Each functional kernel (pyfastopt.functional.*_) against the NumPy reference, called on
a single array and on a list of arrays (one native call), for every case of the table."""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, IDS, NAMES
from helpers import DTYPES, assert_close, gradients

from pyfastopt import functional as F
from pyfastopt import optim, reference

# Class name -> (functional, extra kwargs); AMSBound is an option of adabound_.
FUNCTIONAL = {name: (optim.functional_step(getattr(optim, name)), {})
              for name in NAMES if name != "AMSBound"} | {
    "AMSBound": (F.adabound_, {"amsbound": True})
}  # fmt: skip

def functional_kwargs(name, kwargs):
    """The class's constructor kwargs as the functional's: betas are split; values that only
    set the initial state are dropped (initial_state() applies them)."""
    fn, extra = FUNCTIONAL[name]
    out = dict(extra)
    for key, value in kwargs.items():
        if key == "betas":
            out["beta1"], out["beta2"] = value
        elif key == "initial_accumulator_value" or (name == "Rprop" and key == "lr"):
            continue
        else:
            out[key] = value
    return fn, out


def initial_state(name, kwargs, key, param):
    """The state buffers as the class starts them (Adagrad's sum and Rprop's step size are
    filled, as torch fills them)."""
    opt = getattr(optim, name)([np.zeros(1)], **kwargs)
    return np.full_like(param, opt._state_fill(key, opt.param_groups[0]))

class FunctionalRun:
    """Steps a functional kernel as the optimizer class would: holds the state buffers (at
    the reference's initial values) and the scalar state (the class's ``_scalar_state``,
    e.g. NAdam's mu_product, passed as keywords and returned by the call; SWATS's
    SwatsState per array). Lists of arrays go in one call; as_list=False steps one array."""

    def __init__(self, name, kwargs, params, state_keys, as_list=True):
        self.name, self.as_list = name, as_list
        self.fn, self.fkwargs = functional_kwargs(name, kwargs)
        self.params = params
        self.states = {k: [initial_state(name, kwargs, k, p) for p in params] for k in state_keys}
        self.scalar_keys = getattr(optim, name)._scalar_state
        self.scalar = {}  # the rule's scalar state (the same for every array of a call)
        self.swats = [None] * len(params)  # SWATS's state, per array

    def step(self, grads, t):
        call = dict(self.fkwargs, step=t, **self.scalar)
        if self.name == "SWATS":
            call["state"] = [s or F.SwatsState() for s in self.swats]
        if self.as_list:
            out = self.fn(self.params, grads, **self.states, **call)
        else:
            single = {k: v[0] for k, v in self.states.items()}
            if self.name == "SWATS":
                call["state"] = call["state"][0]
            out = self.fn(self.params[0], grads[0], **single, **call)
            out = [out] if self.name == "SWATS" else out
        if self.scalar_keys:
            self.scalar = dict(zip(self.scalar_keys, out if isinstance(out, tuple) else (out,)))
        elif self.name == "SWATS":
            self.swats = list(out)


def state_keys(ref):
    """The array buffers the reference created on its first step."""
    return [k for k, v in ref.state[0].items() if isinstance(v, np.ndarray)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("as_list", [False, True], ids=["array", "list"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_functional_matches_reference(case, as_list, dtype, isa, rng):
    name, kwargs = case
    shapes = [(1003,), (4, 7)] if as_list else [(1003,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ref_params = [p.astype(np.float64) for p in params]
    ref = getattr(reference, name)(ref_params, **kwargs)
    run = None
    for t, grads in enumerate(gradients(rng, shapes, dtype, steps=30), start=1):
        ref.step([g.astype(np.float64) for g in grads])
        run = run or FunctionalRun(name, kwargs, params, state_keys(ref), as_list)
        run.step(grads, t)
    for i, (p, q) in enumerate(zip(params, ref_params)):
        assert_close(p, q, sign_based=name == "Lion", what=f"param {i}")
        for key, buffers in run.states.items():
            assert_close(buffers[i], ref.state[i][key], sign_based=name == "Lion", what=key)
