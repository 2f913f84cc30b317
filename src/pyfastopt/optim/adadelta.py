"""Adadelta."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta, as torch.optim.Adadelta; the update is
    :func:`pyfastopt.functional.adadelta_`."""

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _rule(self, group):
        return F.adadelta_rule(
            lr=group["lr"], rho=group["rho"], eps=group["eps"],
            weight_decay=group["weight_decay"], maximize=group["maximize"],
        )  # fmt: skip
