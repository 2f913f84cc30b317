"""The training modes of pyfastopt.distributed: what the server does with a push and what a
worker does between pushes. Each mode is a small frozen dataclass of hyperparameters (cheap
to send to a Ray actor; a restarted actor gets the same one)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Union

from .. import _validate as check
from .. import optim

#: optimizer factory: (list of parameter arrays) -> pyfastopt.optim optimizer
OptimizerFactory = Callable[[list], Any]


@dataclass(frozen=True)
class Sync:
    """Synchronous data-parallel SGD: every round each worker computes a gradient on the
    parameters of the round; each shard averages them (in worker order) and takes one step
    of ``optimizer`` (default: ``pyfastopt.optim.SGD(lr=0.1)``)."""

    optimizer: OptimizerFactory | None = None
    synchronous = True

    def server_optimizer(self) -> OptimizerFactory:
        """The factory of each shard's optimizer: ``optimizer``, or SGD with ``lr=0.1``."""
        return self.optimizer or partial(optim.SGD, lr=0.1)


@dataclass(frozen=True)
class Downpour:
    """Downpour SGD (Dean et al. 2012): each replica fetches the parameters every ``n_fetch``
    steps, takes local SGD steps of rate ``lr`` on its copy (0: none) and pushes the gradients
    accumulated since its last push every ``n_push`` steps; each shard applies them with
    ``optimizer`` (default: ``pyfastopt.optim.Adagrad(lr=0.1)``, the paper's choice)."""

    n_fetch: int = 1
    n_push: int = 1
    lr: float = 0.0
    optimizer: OptimizerFactory | None = None
    synchronous = False

    def __post_init__(self) -> None:
        check.integer("n_fetch", self.n_fetch, 1)
        check.integer("n_push", self.n_push, 1)
        check.nonneg("lr", self.lr)

    def server_optimizer(self) -> OptimizerFactory:
        """The factory of each shard's optimizer: ``optimizer``, or Adagrad with ``lr=0.1``."""
        return self.optimizer or partial(optim.Adagrad, lr=0.1)


@dataclass(frozen=True)
class EASGD:
    """Elastic averaging SGD (Zhang, Choromanska & LeCun 2015). Workers take local SGD steps
    of rate ``lr`` on parameters of their own; every ``tau`` steps a worker reads the center
    c, moves toward it by d = alpha (x - c) and the server adds d to c, alpha = lr * rho.
    ``synchronous=True``: all workers exchange in the same round (the server adds their
    differences in worker order), else each on its own (asynchronous EASGD). The run's
    result is the center. Stability needs workers * alpha < 1 (checked at the start)."""

    lr: float = 0.05
    rho: float = 1.0
    tau: int = 1
    synchronous: bool = False
    momentum = 0.0  # EAMSGD's

    def __post_init__(self) -> None:
        check.positive("lr", self.lr)
        check.positive("rho", self.rho)
        check.integer("tau", self.tau, 1)
        check.closed_unit("alpha (lr * rho)", self.alpha)

    @property
    def alpha(self) -> float:
        """The elastic step ``lr * rho``: the fraction of ``x - c`` exchanged."""
        return self.lr * self.rho


@dataclass(frozen=True)
class EAMSGD(EASGD):
    """EASGD with Nesterov momentum ``momentum`` in the workers' local steps (asynchronous)."""

    momentum: float = 0.9
    synchronous: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check.unit("momentum", self.momentum)
        if self.synchronous:
            msg = "synchronous: EAMSGD is asynchronous (use EASGD(synchronous=True))"
            raise ValueError(msg)


@dataclass(frozen=True)
class DelayTolerantAdagrad:
    """Delay-tolerant AdaGrad (McMahan & Streeter 2014): workers read the parameters and push
    the gradient there every step; each shard applies
    :func:`pyfastopt.functional.delay_tolerant_adagrad_`, revising for the gradients other
    workers pushed since that worker's read. ``lr`` and ``eps`` are Adagrad's."""

    lr: float = 0.1
    eps: float = 1e-10
    synchronous = False

    def __post_init__(self) -> None:
        check.positive("lr", self.lr)
        check.nonneg("eps", self.eps)


Mode = Union[Sync, Downpour, EASGD, DelayTolerantAdagrad]
