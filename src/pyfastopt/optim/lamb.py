"""LAMB (You et al. 2020)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import betas as check_betas
from ._common import column
from ._full_precision import FullPrecisionOptimizer


class LAMB(FullPrecisionOptimizer):
    r"""LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes"), with optax.lamb's update and defaults; the update is
    :func:`pyfastopt.functional.lamb_`:

    .. math::
        u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}
              + \lambda p_{t-1}, \quad
        p_t = p_{t-1} - \eta \frac{\lVert p_{t-1} \rVert}{\lVert u_t \rVert} u_t

    with Adam's bias-corrected moments :math:`\hat m_t, \hat v_t` and the L2 norms of each
    whole array (the trust ratio is 1 where either norm is 0). ``lr`` 1e-3 (optax has no
    default): each array moves by about ``lr`` times its norm per step.

    The group option ``trust_ratio=False`` leaves the ratio out for the group's parameters
    (optax's masks; LAMB's authors exclude biases and LayerNorm weights), whose update is
    then AdamW's with decay ``weight_decay``; give them ``weight_decay=0`` too, as usual::

        LAMB([{"params": weights, "weight_decay": 0.01},
              {"params": biases_and_norms, "weight_decay": 0.0, "trust_ratio": False}])

    State per parameter: ``step``, ``exp_avg`` and ``exp_avg_sq`` (torch's Adam names for
    optax's ``mu`` and ``nu``). float32/float64 parameters; ``grad_scale``, ``found_inf``
    and ``skip_nonfinite`` as for every optimizer; no reduced-precision storage and no
    SparseRows gradients (the ratio needs the whole array).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        eps_root: float = 0.0,
        trust_ratio: bool = True,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        eps_root=eps_root, trust_ratio=trust_ratio, maximize=maximize)  # fmt: skip
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, group, params, grads, states, step):
        # one call per (group, dtype, step): the arrays were checked by the base class
        beta1, beta2 = check_betas(group["betas"])
        F.lamb_(params, grads, column(states, "exp_avg"), column(states, "exp_avg_sq"),
                step=step, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                eps_root=group["eps_root"], weight_decay=group["weight_decay"],
                trust_ratio=group["trust_ratio"], maximize=group["maximize"],
                grad_scale=self._grad_scale)  # fmt: skip
