"""AdaBound and AMSBound (Luo et al. 2019)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class AdaBound(Optimizer):
    """AdaBound (Luo et al. 2019, "Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate"); the update is :func:`pyfastopt.functional.adabound_`.

    The bounds converge to ``final_lr`` scaled by ``lr / initial_lr``, where each group's
    ``initial_lr`` is its ``lr`` when added (as the authors' code), so a learning-rate
    schedule scales the bounds too.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsbound: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), final_lr=final_lr, gamma=gamma, eps=eps,
            weight_decay=weight_decay, amsbound=amsbound, maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        """Adds a group, recording its ``lr`` as ``initial_lr``: the bounds scale with
        ``lr / initial_lr``, as in the authors' code."""
        param_group = dict(param_group)
        param_group.setdefault("initial_lr", param_group.get("lr", self.defaults["lr"]))
        super().add_param_group(param_group)

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.adabound_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, final_lr=group["final_lr"],
            gamma=group["gamma"], eps=group["eps"], weight_decay=group["weight_decay"],
            amsbound=group["amsbound"], maximize=group["maximize"],
            initial_lr=group["initial_lr"],
        )  # fmt: skip


class AMSBound(AdaBound):
    """AMSBound: :class:`AdaBound` with ``amsbound=True``."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, final_lr, gamma, eps, weight_decay, True,
                         maximize=maximize)  # fmt: skip
