"""ADOPT (Taniguchi et al. 2024)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class ADOPT(Optimizer):
    """ADOPT (Taniguchi et al. 2024), as ``optax.contrib.adopt`` with the paper's ``lr``;
    the update is :func:`pyfastopt.functional.adopt_`. ``weight_decay`` is decoupled."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.9999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        clipping: bool = True,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, clipping=clipping,
            nesterov=nesterov, maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.adopt_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            clipping=group["clipping"], nesterov=group["nesterov"],
            weight_decay=group["weight_decay"], maximize=group["maximize"],
        )  # fmt: skip
