"""ASGD."""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .. import functional as F
from .optimizer import Optimizer


class ASGD(Optimizer):
    """Averaged SGD, as torch.optim.ASGD; the update is :func:`pyfastopt.functional.asgd_`.

    The state holds the average ``ax`` (evaluate the model with it) and the scalars ``eta``
    and ``mu`` of the next step, as torch's does: a learning rate set by a schedule enters
    ``eta`` one step later, as in torch.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        maximize=maximize)  # fmt: skip
        super().__init__(params, defaults)

    _scalar_state = ("eta", "mu")

    def _rule(self, group):
        return F.asgd_rule(
            lr=group["lr"], lambd=group["lambd"], alpha=group["alpha"], t0=group["t0"],
            weight_decay=group["weight_decay"], maximize=group["maximize"],
        )  # fmt: skip

    def _init_state(self, param, group):
        return {"step": 0, "eta": check.nonneg("lr", group["lr"]), "mu": 1.0}

    def _check_scalar(self, key, value, name):
        if key == "eta":
            check.nonneg(name, value)
        else:
            check.closed_unit(name, value)
