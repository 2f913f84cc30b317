"""Muon (Jordan et al. 2024)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ._common import column
from ._full_precision import FullPrecisionOptimizer


class Muon(FullPrecisionOptimizer):
    r"""Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks"),
    as torch.optim.Muon: the same arguments, defaults, checks and state key
    (``momentum_buffer``); the update is :func:`pyfastopt.functional.muon_`:

    .. math::
        B_t = \mu B_{t-1} + (1-\mu) g_t, \quad
        U_t = g_t + \mu (B_t - g_t) \text{ if nesterov else } B_t, \quad
        O_t = \mathrm{NS}^{(a,b,c)}_{k}(U_t / \max(\lVert U_t \rVert_F, \epsilon)), \\
        p_t = (1 - \eta \lambda) p_{t-1} - \eta' O_t

    where NS is ``ns_steps`` quintic Newton-Schulz iterations
    :math:`X \leftarrow aX + (bA + cA^2)X`, :math:`A = XX^\top` (on the transpose of a tall
    matrix), and :math:`\eta'` is ``lr`` adjusted to the shape (r, c): "original" (Keller
    Jordan's; the default, None) :math:`\eta\sqrt{\max(1, r/c)}`, or "match_rms_adamw"
    (Moonshot's, Liu et al. 2025, "Muon is Scalable for LLM Training")
    :math:`0.2\,\eta\sqrt{\max(r, c)}`, which lets Muon reuse AdamW's lr and weight decay.

    Precision: torch runs the iteration in bfloat16; this runs it in the parameter's
    precision (float32 or float64), the products through NumPy's BLAS, so the two agree to
    bfloat16's rounding, not bit for bit.

    Muon is for the 2-D weights of hidden layers: every parameter must be a float32/float64
    matrix (a ValueError when it is added, as torch's constructor raises); optimize biases,
    embeddings and heads with another optimizer. As every :mod:`pyfastopt.optim` class, the
    state also counts ``step``. Reduced-precision storage (``precision``) and SparseRows
    gradients are not supported; ``grad_scale`` and ``found_inf`` are.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = F.MUON_NS_COEFFICIENTS,
        eps: float = F.MUON_EPS,
        ns_steps: int = F.MUON_NS_STEPS,
        adjust_lr_fn: str | None = None,
    ) -> None:
        #: scratch of functional.muon_, by (shape, dtype), kept between steps
        self._workspace: dict = {}
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                        adjust_lr_fn=adjust_lr_fn)  # fmt: skip
        super().__init__(params, defaults)

    def _check_param(self, p, name):
        error = super()._check_param(p, name)
        if error is None and p.ndim != 2:
            return ValueError(f"{name}: Muon only supports 2-D parameters, got shape {p.shape}")
        return error

    def _hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        keys = ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps",
                "ns_steps", "adjust_lr_fn")  # fmt: skip
        return {k: group[k] for k in keys}

    def _buffer_names(self, group):
        return ("momentum_buffer",)

    def _update(self, group, params, grads, states, step):
        # one call per (group, dtype, step): the arrays were checked by the base class
        F.muon_(params, grads, column(states, "momentum_buffer"), grad_scale=self._grad_scale,
                workspace=self._workspace, **self._hyperparameters(group))  # fmt: skip
