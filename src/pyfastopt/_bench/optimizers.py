"""What ``pyfastopt bench`` times: the optimizers, their hyperparameters and memory traffic.

One :class:`Spec` per optimizer names the same step four ways: the :mod:`pyfastopt.optim`
class (what users call; its keyword arguments are torch.optim's, so the same dict builds the
``torch.optim`` peer), the :mod:`pyfastopt.functional` call, the NumPy formulation of
:mod:`.baselines`, and the ``torch.optim`` class with the execution modes torch has on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import functional as F
from .. import optim

#: Arrays each step streams through memory, per element: (arrays read, arrays written).
#: Every step reads p, g and each state buffer and writes p and each state buffer, once each
#: (counted as STREAM counts: no write-allocate read): the optimizers' entries follow from
#: their state buffers (added below :data:`OPTIMIZERS`). GB/s and % of the roofline use this.
TRAFFIC: dict[str, tuple[int, int]] = {
    "triad": (2, 1),  # a = b + s c
    "adam-pattern": (4, 3),  # the roofline kernel: Adam's pattern, trivial arithmetic
    "adam-pattern-aliased": (4, 3),  # the same, arrays at one page offset (NumPy's default)
}

def bytes_per_element(kernel: str, itemsize: int) -> int:
    """Bytes one step moves per element (reads + writes, from :data:`TRAFFIC`)."""
    reads, writes = TRAFFIC[kernel]
    return (reads + writes) * itemsize


#: torch.optim classes with a fused CPU kernel (torch 2.x: ``fused=True`` accepted on CPU).
TORCH_FUSED = frozenset({"SGD", "Adagrad", "Adam", "AdamW"})

#: torch.optim 2.13's optimizer classes (the peer of a pyfastopt class of the same name).
TORCH_OPTIM = frozenset({
    "ASGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "Muon",
    "NAdam", "RAdam", "RMSprop", "Rprop", "SGD", "SparseAdam",
})  # fmt: skip

#: The step number of every timed functional/NumPy call (RAdam is rectified from t = 6):
#: the per-step scalars stay the same across calls. The class counts its own steps.
TIMED_STEP = 10


@dataclass(frozen=True)
class Spec:
    """One optimizer under test."""

    name: str  #: command-line name
    cls: str  #: class in pyfastopt.optim
    kwargs: dict[str, Any]  #: the class's (and torch.optim's) keyword arguments
    states: tuple[str, ...]  #: state buffers, torch's names, in functional order
    functional: Callable[..., Any]  #: (params, grads, states, step, memo): one functional call
    torch: str | None = None  #: torch.optim class, None if torch has none

    @property
    def torch_modes(self) -> tuple[str, ...]:
        """torch.optim execution modes on CPU: for-loop, foreach, and fused where it exists."""
        if self.torch is None:
            return ()
        if self.torch in TORCH_FUSED:
            return ("forloop", "foreach", "fused")
        return ("forloop", "foreach")

    def bytes_per_element(self, itemsize: int) -> int:
        return bytes_per_element(self.name, itemsize)


def _betas(kw: dict[str, Any]) -> dict[str, float]:
    b1, b2 = kw.get("betas", (0.9, 0.999))
    return {"beta1": b1, "beta2": b2}


def _call(fn: Callable[..., Any], kw: dict[str, Any],
          scalar_state: tuple[str, ...] = ()) -> Callable[..., None]:  # fmt: skip
    """functional(p, g, states, step, memo) for a function of pyfastopt.functional taking
    the class's keyword arguments (``betas`` spelled as beta1, beta2). The scalar state the
    function returns (NAdam's mu_product, ASGD's eta and mu) is carried in memo."""
    hp = {k: v for k, v in kw.items() if k != "betas"}
    if "betas" in kw:
        hp.update(_betas(kw))

    def call(p, g, s, t, memo):
        new = fn(p, g, *s, step=t, **hp, **memo)
        if scalar_state:
            memo.update(zip(scalar_state, new if isinstance(new, tuple) else (new,)))

    return call


SGD_KW = {"lr": 1e-3, "momentum": 0.9}
NESTEROV_KW = {"lr": 1e-3, "momentum": 0.9, "nesterov": True}
ADAGRAD_KW = {"lr": 1e-2}
ADADELTA_KW = {"lr": 1.0, "rho": 0.9, "eps": 1e-6}
RMSPROP_KW = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8}
ADAM_KW = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
ADAMW_KW = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}
ADAMAX_KW = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8}
NADAM_KW = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "momentum_decay": 4e-3}
RADAM_KW = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
RPROP_KW = {"lr": 1e-2, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50.0)}
ADABOUND_KW = {"lr": 1e-3, "betas": (0.9, 0.999), "final_lr": 0.1, "gamma": 1e-3, "eps": 1e-8}
LION_KW = {"lr": 1e-4, "betas": (0.9, 0.99)}

OPTIMIZERS: tuple[Spec, ...] = (
    Spec("sgd", "SGD", SGD_KW, ("momentum_buffer",), _call(F.sgd_, SGD_KW), "SGD"),
    Spec("nesterov", "SGD", NESTEROV_KW, ("momentum_buffer",), _call(F.sgd_, NESTEROV_KW),
         "SGD"),
    Spec("adagrad", "Adagrad", ADAGRAD_KW, ("sum",), _call(F.adagrad_, ADAGRAD_KW), "Adagrad"),
    Spec("adadelta", "Adadelta", ADADELTA_KW, ("square_avg", "acc_delta"),
         _call(F.adadelta_, ADADELTA_KW), "Adadelta"),
    Spec("rmsprop", "RMSprop", RMSPROP_KW, ("square_avg",), _call(F.rmsprop_, RMSPROP_KW),
         "RMSprop"),
    Spec("adam", "Adam", ADAM_KW, ("exp_avg", "exp_avg_sq"), _call(F.adam_, ADAM_KW), "Adam"),
    Spec("adamw", "AdamW", ADAMW_KW, ("exp_avg", "exp_avg_sq"), _call(F.adamw_, ADAMW_KW),
         "AdamW"),
    Spec("adamax", "Adamax", ADAMAX_KW, ("exp_avg", "exp_inf"), _call(F.adamax_, ADAMAX_KW),
         "Adamax"),
    Spec("nadam", "NAdam", NADAM_KW, ("exp_avg", "exp_avg_sq"),
         _call(F.nadam_, NADAM_KW, ("mu_product",)), "NAdam"),
    Spec("radam", "RAdam", RADAM_KW, ("exp_avg", "exp_avg_sq"), _call(F.radam_, RADAM_KW),
         "RAdam"),
    Spec("rprop", "Rprop", RPROP_KW, ("prev", "step_size"),
         _call(F.rprop_, {k: v for k, v in RPROP_KW.items() if k != "lr"}), "Rprop"),
    Spec("adabound", "AdaBound", ADABOUND_KW, ("exp_avg", "exp_avg_sq"),
         _call(F.adabound_, ADABOUND_KW)),
    Spec("lion", "Lion", LION_KW, ("exp_avg",), _call(F.lion_, LION_KW)),
)  # fmt: skip



def _class_spec(name: str, cls: type[optim.Optimizer]) -> Spec:
    """An element-wise class with its default hyperparameters, timed through its functional
    step (:func:`pyfastopt.optim.functional_step`), or, for a variant that has none of its
    own (AMSBound), through the rule the class builds."""
    rule = optim.default_rule(cls)
    assert rule is not None  # (element-wise classes have one)
    step = optim.functional_step(cls)
    if step is not None:
        call = _call(step, {}, cls._scalar_state)
    else:
        def call(p, g, s, t, _memo):
            rule.apply(p, g, dict(zip(rule.state_names, s)), t)
    return Spec(name.lower(), name, {}, rule.state_names, call,
                name if name in TORCH_OPTIM else None)  # fmt: skip


# Every other element-wise class of pyfastopt.optim (its list is the one list of optimizers):
# timed with its defaults against the roofline and torch.optim's class where torch has one.
OPTIMIZERS += tuple(
    _class_spec(name, cls) for name, cls in optim.element_wise().items()
    if name not in {s.cls for s in OPTIMIZERS}
)  # fmt: skip
TRAFFIC.update({s.name: (2 + len(s.states), 1 + len(s.states)) for s in OPTIMIZERS})

BY_NAME: dict[str, Spec] = {s.name: s for s in OPTIMIZERS}
