"""SGD with optional classical or Nesterov momentum."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD; the update is
    :func:`pyfastopt.functional.sgd_`.

    Args:
        params: arrays or parameter groups.
        lr: learning rate.
        momentum: momentum factor (0 = vanilla SGD).
        dampening: dampening of the gradient in the momentum buffer.
        weight_decay: coupled L2 penalty.
        nesterov: Nesterov momentum.
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _rule(self, group):
        return F.sgd_rule(
            lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
            maximize=group["maximize"],
        )  # fmt: skip
