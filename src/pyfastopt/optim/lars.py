"""LARS (You, Gitman & Ginsburg 2017)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import column
from ._full_precision import FullPrecisionOptimizer


class LARS(FullPrecisionOptimizer):
    r"""LARS (You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional
    Networks"), with optax.lars's update and defaults; the update is
    :func:`pyfastopt.functional.lars_`:

    .. math::
        u_t = g_t + \lambda p_{t-1}, \quad
        B_t = \mu B_{t-1} + \eta \frac{\tau \lVert p_{t-1} \rVert}{\lVert u_t \rVert
              + \epsilon} u_t, \quad
        p_t = p_{t-1} - B_t

    (Nesterov: :math:`p_t = p_{t-1} - \eta r_t u_t - \mu B_t`), with the L2 norms of each
    whole array and :math:`\tau` the ``trust_coefficient``. As in optax, the rate is inside
    the buffer and the ratio is 1 (not :math:`\tau`) where either norm is 0. ``lr`` 1.0
    (optax has no default): each array moves by :math:`\tau` = 0.1% of its norm per step
    before momentum.

    The group option ``trust_ratio=False`` leaves the ratio out for the group's parameters
    (optax's ``trust_ratio_mask``; the group's ``weight_decay`` is its
    ``weight_decay_mask``): their update is then SGD's with momentum, at the group's
    ``lr``, which must suit plain SGD::

        LARS([{"params": weights, "weight_decay": 1e-4},
              {"params": biases_and_norms, "weight_decay": 0.0, "trust_ratio": False,
               "lr": 0.01}], lr=1.0)

    State per parameter: ``step`` and ``momentum_buffer`` (optax's ``trace``, negated:
    steps are subtracted). float32/float64 parameters; ``grad_scale``, ``found_inf`` and
    ``skip_nonfinite`` as for every optimizer; no reduced-precision storage and no
    SparseRows gradients (the ratio needs the whole array).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        trust_coefficient: float = 0.001,
        eps: float = 0.0,
        *,
        trust_ratio: bool = True,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                        trust_coefficient=trust_coefficient, eps=eps, trust_ratio=trust_ratio,
                        maximize=maximize)  # fmt: skip
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        return ("momentum_buffer",)

    def _update(self, group, params, grads, states, step):
        # one call per (group, dtype, step): the arrays were checked by the base class
        F.lars_(params, grads, column(states, "momentum_buffer"), lr=group["lr"],
                momentum=group["momentum"], nesterov=group["nesterov"],
                weight_decay=group["weight_decay"],
                trust_coefficient=group["trust_coefficient"], eps=group["eps"],
                trust_ratio=group["trust_ratio"], maximize=group["maximize"],
                grad_scale=self._grad_scale)  # fmt: skip
