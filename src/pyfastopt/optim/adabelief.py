"""AdaBelief (Zhuang et al. 2020)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class AdaBelief(Optimizer):
    """AdaBelief (Zhuang et al. 2020), as ``optax.adabelief`` with the paper's ``lr``; the
    update is :func:`pyfastopt.functional.adabelief_`. ``weight_decay`` is decoupled
    (AdamW's, the authors' default ``weight_decouple=True``)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
        *,
        eps_root: float = 1e-16,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, eps_root=eps_root,
            maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.adabelief_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            eps_root=group["eps_root"], weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )  # fmt: skip
