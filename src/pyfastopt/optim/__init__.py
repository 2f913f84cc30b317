"""Optimizer classes over NumPy arrays, with torch.optim's names, arguments and defaults.

The classes listed here are pyfastopt's one list of optimizers: ``pyfastopt bench``, the
demo and the plot pick up every element-wise one (:func:`element_wise`) from it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from .. import functional as F
from .adabelief import AdaBelief
from .adabound import AdaBound, AMSBound
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .ademamix import AdEMAMix
from .adopt import ADOPT
from .asgd import ASGD
from .lamb import LAMB
from .lars import LARS
from .lbfgs import LBFGS
from .lion import Lion
from .muon import Muon
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedule_free import AdamWScheduleFree, SGDScheduleFree
from .sgd import SGD
from .swats import SWATS
from .yogi import Yogi

__all__ = [
    "ADOPT",
    "ASGD",
    "LAMB",
    "LARS",
    "LBFGS",
    "SGD",
    "SWATS",
    "AMSBound",
    "AdEMAMix",
    "AdaBelief",
    "AdaBound",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdamWScheduleFree",
    "Adamax",
    "Lion",
    "Muon",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SGDScheduleFree",
    "Yogi",
]


def default_rule(cls: type[Optimizer]) -> F.Rule | None:
    """The rule a class steps with its default hyperparameters (None: no single rule)."""
    make: Any = cls  # (the base class's signature is not its subclasses')
    opt = make([np.zeros((1, 1))])  # (a matrix: Muon takes no other)
    return opt._rule(opt.param_groups[0])


@functools.cache
def element_wise() -> dict[str, type[Optimizer]]:
    """Every class above whose step is one element-wise rule (:func:`default_rule` gives a
    :class:`pyfastopt.functional.Rule`), by name, in ``__all__`` order."""
    return {
        name: globals()[name] for name in __all__
        if name != "Optimizer" and default_rule(globals()[name]) is not None
    }  # fmt: skip


def functional_step(cls: type[Optimizer]) -> Callable[..., Any] | None:
    """The :mod:`pyfastopt.functional` step of an element-wise class: ``<class name in lower
    case>_``, else ``<its rule's kernel>_`` (schedule-free's), else None (AMSBound, an
    option of ``adabound_``)."""
    rule = default_rule(cls)
    kernel = rule.kernel.__name__ if rule is not None else ""
    return getattr(F, cls.__name__.lower() + "_", None) or getattr(F, kernel + "_", None)


def default_lr(cls: type[Optimizer]) -> float:
    """The learning rate a class takes when given none (torch's default, or the authors')."""
    return float(inspect.signature(cls).parameters["lr"].default)
