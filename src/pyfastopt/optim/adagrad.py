"""Adagrad."""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .. import functional as F
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad; the update is :func:`pyfastopt.functional.adagrad_`.

    ``eps_inside_sqrt=True`` selects the textbook form g / sqrt(sum + eps).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        eps_inside_sqrt: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
            eps_inside_sqrt=eps_inside_sqrt,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _state_fill(self, name, group):
        return group["initial_accumulator_value"]

    def _rule(self, group):
        check.nonneg("initial_accumulator_value", group["initial_accumulator_value"])
        return F.adagrad_rule(
            lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
            eps=group["eps"], maximize=group["maximize"],
            eps_inside_sqrt=group.get("eps_inside_sqrt", False),
        )  # fmt: skip
