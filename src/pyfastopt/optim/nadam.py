"""NAdam."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class NAdam(Optimizer):
    """NAdam, as torch.optim.NAdam; the update is :func:`pyfastopt.functional.nadam_`.

    ``simplified=True`` selects the simplified Nadam of Ruder's overview.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        simplified: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize, simplified=simplified,
        )  # fmt: skip
        super().__init__(params, defaults)

    _scalar_state = ("mu_product",)

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.nadam_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"], simplified=group["simplified"],
        )  # fmt: skip

    def _init_state(self, param, group):
        return {"step": 0, "mu_product": 1.0}

    def _check_scalar(self, key, value, name):
        F.check_mu_product(value, name)
