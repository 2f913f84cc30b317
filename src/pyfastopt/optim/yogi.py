"""Yogi (Zaheer et al. 2018)."""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class Yogi(Optimizer):
    """Yogi (Zaheer et al. 2018), as ``optax.yogi`` with the paper's ``lr``; the update is
    :func:`pyfastopt.functional.yogi_`. Both states start at ``initial_accumulator_value``;
    ``weight_decay`` is decoupled (AdamW's)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-3,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 1e-6,
        *,
        eps_root: float = 0.0,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps_root=eps_root,
            maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _state_fill(self, name, group):
        return group["initial_accumulator_value"]

    def _rule(self, group):
        check.nonneg("initial_accumulator_value", group["initial_accumulator_value"])
        beta1, beta2 = check_betas(group["betas"])
        return F.yogi_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            eps_root=group["eps_root"], weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )  # fmt: skip
