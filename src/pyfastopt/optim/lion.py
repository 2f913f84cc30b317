"""Lion (Chen et al. 2023)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class Lion(Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), with
    decoupled weight decay; the update is :func:`pyfastopt.functional.lion_`."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.lion_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )  # fmt: skip
