"""SWATS (Keskar & Socher 2017)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from ._common import column
from .optimizer import Optimizer


class SWATS(Optimizer):
    """SWATS (Keskar & Socher 2017, "Improving Generalization Performance by Switching from
    Adam to SGD"): Adam until the projected SGD rate converges, then SGD with momentum at
    that rate; the update is :func:`pyfastopt.functional.swats_`.

    Each parameter array switches on its own (the per-layer variant the paper describes);
    its state holds "phase" ("adam"/"sgd"), "lambda" and "sgd_lr". As in the paper, one
    ``eps`` (1e-9) serves Adam's denominator and the switch test.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-9,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize)  # fmt: skip
        super().__init__(params, defaults)

    def _init_state(self, param, group):
        return {"step": 0, "phase": "adam", "lambda": 0.0, "sgd_lr": 0.0}

    def _cohort(self, state):
        return state["step"], state["phase"], state["sgd_lr"]

    def _check_state(self, state, name):
        super()._check_state(state, name)
        F.check_swats_state(self._swats_state(state), name)

    @staticmethod
    def _swats_state(state):
        return F.SwatsState(state.get("phase"), state.get("lambda"), state.get("sgd_lr"))

    def _buffer_names(self, group):
        return ("exp_avg", "exp_avg_sq", "momentum_buffer")

    def _update(self, group, params, grads, states, step):
        beta1, beta2 = check_betas(group["betas"])
        scalars = [self._swats_state(s) for s in states]
        new = F.swats_(
            params, grads, column(states, "exp_avg"), column(states, "exp_avg_sq"),
            column(states, "momentum_buffer"), step=step, state=scalars, lr=group["lr"],
            beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            maximize=group["maximize"], **self._options(states, step),
        )  # fmt: skip
        assert isinstance(new, list)  # (a list of states gives a list back)
        for s, n in zip(states, new):
            s["phase"], s["lambda"], s["sgd_lr"] = n.phase, n.lambda_, n.sgd_lr
