"""Each functional kernel (pyfastopt.functional.*_) against the NumPy reference, called on
a single array and on a list of arrays (one native call), for every case of the table."""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, IDS
from helpers import DTYPES, assert_close, gradients

from pyfastopt import functional as F
from pyfastopt import reference

# Class name -> (functional, extra kwargs): AdamW and AMSBound are options of adam_/adabound_.
FUNCTIONAL = {
    "SGD": (F.sgd_, {}), "Adagrad": (F.adagrad_, {}), "Adadelta": (F.adadelta_, {}),
    "RMSprop": (F.rmsprop_, {}), "Adam": (F.adam_, {}), "AdamW": (F.adamw_, {}),
    "Adamax": (F.adamax_, {}), "NAdam": (F.nadam_, {}), "RAdam": (F.radam_, {}),
    "Rprop": (F.rprop_, {}), "AdaBound": (F.adabound_, {}),
    "AMSBound": (F.adabound_, {"amsbound": True}), "Lion": (F.lion_, {}),
    "SWATS": (F.swats_, {}),
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
    """torch's initial state buffers: Adagrad's sum and Rprop's step size are filled."""
    if key == "sum":
        return np.full_like(param, kwargs.get("initial_accumulator_value", 0.0))
    if key == "step_size":
        return np.full_like(param, kwargs.get("lr", 1e-2))
    return np.zeros_like(param)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("as_list", [False, True], ids=["array", "list"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_functional_matches_reference(case, as_list, dtype, isa, rng):
    name, kwargs = case
    fn, fkwargs = functional_kwargs(name, kwargs)
    shapes = [(1003,), (4, 7)] if as_list else [(1003,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ref_params = [p.astype(np.float64) for p in params]
    ref = getattr(reference, name)(ref_params, **kwargs)
    states = None
    scalar = [None] * len(params)  # NAdam's mu_product / SWATS's state, per array
    for t, grads in enumerate(gradients(rng, shapes, dtype, steps=30), start=1):
        ref.step([g.astype(np.float64) for g in grads])
        if states is None:  # the buffers the reference created, at their initial values
            keys = [k for k, v in ref.state[0].items() if isinstance(v, np.ndarray)]
            states = {k: [initial_state(name, kwargs, k, p) for p in params] for k in keys}
        call = dict(fkwargs, step=t)
        if name == "NAdam":
            call["mu_product"] = scalar[0] if scalar[0] is not None else 1.0
        if name == "SWATS":
            call["state"] = [s or F.SwatsState() for s in scalar]
        if as_list:
            out = fn(params, grads, **states, **call)
        else:
            single = {k: v[0] for k, v in states.items()}
            if name == "SWATS":
                call["state"] = call["state"][0]
            out = fn(params[0], grads[0], **single, **call)
            out = [out] if name == "SWATS" else out
        if name == "NAdam":
            scalar = [out] * len(params)
        elif name == "SWATS":
            scalar = list(out)
    for i, (p, q) in enumerate(zip(params, ref_params)):
        assert_close(p, q, sign_based=name == "Lion", what=f"param {i}")
        for key, buffers in states.items():
            assert_close(buffers[i], ref.state[i][key], sign_based=name == "Lion", what=key)
