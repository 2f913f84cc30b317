"""RMSprop."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop; the update is :func:`pyfastopt.functional.rmsprop_`.

    ``eps_inside_sqrt=True`` selects the lecture form g / sqrt(E[g^2] + eps).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        eps_inside_sqrt: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, maximize=maximize, eps_inside_sqrt=eps_inside_sqrt,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _rule(self, group):
        return F.rmsprop_rule(
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=group["momentum"],
            centered=group["centered"], maximize=group["maximize"],
            eps_inside_sqrt=group.get("eps_inside_sqrt", False),
        )  # fmt: skip
