"""pyfastopt.optim against torch.optim (the peer library), for every optimizer torch has:
same names, same defaults, same trajectory."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from cases import CASES, IDS
from helpers import assert_close

from pyfastopt import optim

TORCH_NAMES = {"SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam",
               "RAdam", "Rprop", "ASGD"}  # fmt: skip
# Options pyfastopt adds to torch's classes (textbook variants); torch cannot run them.
EXTRA_OPTIONS = {"eps_inside_sqrt", "bias_correction", "simplified"}
TORCH_CASES = [(n, kw) for n, kw in CASES if n in TORCH_NAMES and not EXTRA_OPTIONS & set(kw)]
TORCH_IDS = [i for i, (n, kw) in zip(IDS, CASES) if (n, kw) in TORCH_CASES]


@pytest.mark.parametrize("name", sorted(TORCH_NAMES))
def test_defaults_mirror_torch(name):
    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for arg, param in ours.items():
        if arg == "params" or arg in EXTRA_OPTIONS:
            continue
        assert arg in theirs, f"{name}({arg}=...) is not a torch argument"
        default = theirs[arg].default
        default = tuple(default) if isinstance(default, tuple) else default
        assert param.default == default, f"{name}({arg}=...) default"


@pytest.fixture
def torch_float64_scalars():
    """torch keeps scalar state (step, NAdam's mu_product) in the default dtype, float32,
    which rounds mu_product to 1e-7; pyfastopt keeps it in double. Compare at float64."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=TORCH_IDS)
@pytest.mark.usefixtures("torch_float64_scalars")
def test_trajectory_matches_torch(case, dtype):
    name, kwargs = case
    rng = np.random.default_rng(11)
    shapes = [(1000,), (7, 9), (33,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tparams = [torch.tensor(p.astype(np.float64)) for p in params]  # torch in float64
    groups = [{"params": params[:2]}, {"params": params[2:], "weight_decay": 0.05}]
    tgroups = [{"params": tparams[:2]}, {"params": tparams[2:], "weight_decay": 0.05}]
    if name == "Rprop":  # torch's Rprop has no weight decay
        groups[1].pop("weight_decay"), tgroups[1].pop("weight_decay")
    ours = getattr(optim, name)(groups, **kwargs)
    theirs = getattr(torch.optim, name)(tgroups, **kwargs, foreach=False)
    for t in range(100):
        grads = [(rng.standard_normal(s) * (1 + t % 3)).astype(dtype) for s in shapes]
        if t == 50:  # a changed learning rate takes effect at the next step in both
            ours.param_groups[0]["lr"] *= 0.5
            theirs.param_groups[0]["lr"] *= 0.5
        ours.step(grads)
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g.astype(np.float64))
        theirs.step()
    for i, (p, tp) in enumerate(zip(params, tparams)):
        assert_close(p, tp.numpy(), what=f"param {i}")
        for key, value in theirs.state[tp].items():
            if key == "step":
                assert ours.state[i]["step"] == int(value)
            elif key in ours._scalar_state:  # NAdam's mu_product, ASGD's eta and mu
                assert ours.state[i][key] == pytest.approx(float(value), rel=1e-12)
            elif isinstance(value, torch.Tensor):
                assert_close(ours.state[i][key], value.numpy(), what=key)
