"""NAdam."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer, state_arg


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

    def _step_coeffs(self, rule, step, scalars):
        coeffs, mu_product = rule.coeffs(step, *scalars)
        return coeffs, (mu_product,)

    def _init_state(self, param, group):
        return {"step": 0, "mu_product": 1.0}

    def _cohort(self, state):
        return state["step"], state["mu_product"]

    def _check_scalar(self, key, value, name):
        F.check_mu_product(value, name)

    def _update(self, group, params, grads, states, step):
        rule = self._checked_rule(group)
        assert rule is not None  # (only SWATS has none)
        coeffs, (mu_product,) = self._step_coeffs(
            rule, step, (states[0]["mu_product"] if states else 1.0,))
        buffers = [[state_arg(s, n) for s in states] for n in rule.state_names]
        F._run(rule.kernel, params, grads, buffers, coeffs, **self._options(states, step))
        for s in states:
            s["mu_product"] = mu_product
