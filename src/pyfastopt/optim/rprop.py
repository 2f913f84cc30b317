"""Rprop."""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .. import functional as F
from .optimizer import Optimizer


class Rprop(Optimizer):
    """Rprop, as torch.optim.Rprop; the update is :func:`pyfastopt.functional.rprop_`.
    Each element's step size starts at ``lr``."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
        super().__init__(params, defaults)

    def _state_fill(self, name, group):
        return group["lr"] if name == "step_size" else 0.0

    def _rule(self, group):
        check.nonneg("lr", group["lr"])  # only the initial step size
        return F.rprop_rule(
            etas=group["etas"], step_sizes=group["step_sizes"], maximize=group["maximize"]
        )
