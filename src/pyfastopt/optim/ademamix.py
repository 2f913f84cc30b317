"""AdEMAMix (Pagliardini, Ablin & Grangier 2024)."""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class AdEMAMix(Optimizer):
    """AdEMAMix (Pagliardini et al. 2024), as ``optax.contrib.ademamix``; the update is
    :func:`pyfastopt.functional.ademamix_`. ``betas`` is (b1, b2), as Adam's, and the slow
    momentum's rate is ``beta3`` (optax's ``b3``; the authors' PyTorch code takes the three
    in ``betas``); ``weight_decay`` is decoupled; ``alpha_warmup`` and ``beta3_warmup``
    (steps, None: none) are the paper's warm-up schedules."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        beta3: float = 0.9999,
        alpha: float = 5.0,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        alpha_warmup: int | None = None,
        beta3_warmup: int | None = None,
        eps_root: float = 0.0,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        check.unit("beta3", beta3)
        defaults = dict(
            lr=lr, betas=tuple(betas), beta3=beta3, alpha=alpha, eps=eps, weight_decay=weight_decay,
            alpha_warmup=alpha_warmup, beta3_warmup=beta3_warmup, eps_root=eps_root,
            maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.ademamix_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, beta3=group["beta3"], alpha=group["alpha"],
            eps=group["eps"], eps_root=group["eps_root"], alpha_warmup=group["alpha_warmup"],
            beta3_warmup=group["beta3_warmup"], weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )  # fmt: skip
