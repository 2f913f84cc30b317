"""Adam, AdamW (and AMSGrad through ``amsgrad=True``)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam, as torch.optim.Adam; the update is :func:`pyfastopt.functional.adam_`.

    ``amsgrad=True`` is AMSGrad (bias-corrected, as torch; add ``bias_correction=False``
    for the paper's form). ``decoupled_weight_decay=True`` is AdamW.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        bias_correction: bool = True,
    ) -> None:
        check_betas(betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
            bias_correction=bias_correction,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.adam_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
            maximize=group["maximize"],
            decoupled_weight_decay=group.get("decoupled_weight_decay", False),
            bias_correction=group.get("bias_correction", True),
        )  # fmt: skip


class AdamW(Adam):
    """AdamW (decoupled weight decay), as torch.optim.AdamW."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        bias_correction: bool = True,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
            decoupled_weight_decay=True, bias_correction=bias_correction,
        )  # fmt: skip
