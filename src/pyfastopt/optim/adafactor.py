"""Adafactor (Shazeer & Stern 2018)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ._full_precision import FullPrecisionOptimizer

_STATE_KEYS = ("row_var", "col_var", "variance")


class Adafactor(FullPrecisionOptimizer):
    r"""Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost"), as torch.optim.Adafactor: the same arguments, defaults, checks and state
    keys; the update is :func:`pyfastopt.functional.adafactor_`:

    .. math::
        \hat V_t = R_t C_t / \max(\mathrm{mean}(R_t), \epsilon_1), \quad
        U_t = g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}, \\
        p_t = (1 - \eta\lambda)\,p_{t-1}
              - \frac{\max(\epsilon_2, \mathrm{RMS}(p_{t-1})) \min(\eta, 1/\sqrt t)}
                     {\max(1, \mathrm{RMS}(U_t)/d)} U_t

    with the row and column means :math:`R_t, C_t` of :math:`g_t^2` averaged with weight
    :math:`t^{\beta_{2,\text{decay}}}` (a tensor of more than two dimensions: over its last
    two; a vector keeps its full second moment :math:`\hat V_t`). State per parameter:
    ``step`` and ``row_var`` (shape ``(..., r, 1)``) and ``col_var`` (``(..., 1, c)``), or
    ``variance``: r + c numbers for an r x c matrix instead of Adam's 2rc.

    Each array is one native call of two passes over memory (a third over the gradient
    only where the variance floor ``eps[0]**2`` binds), reduced in fixed blocks: bitwise
    the same for any thread count. float32/float64
    parameters; ``grad_scale``, ``found_inf`` and ``skip_nonfinite`` as for every optimizer.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                        maximize=maximize)  # fmt: skip
        super().__init__(params, defaults)

    def _init_state(self, param, group):
        shapes = F.adafactor_state_shapes(param.shape)
        return {"step": 0, **{k: np.zeros(s, param.dtype) for k, s in shapes.items()}}

    def _buffer_names(self, group):
        return ()  # (its states are not shaped like the parameter: made by _init_state)

    @staticmethod
    def _factors(states: list[dict[str, Any]]) -> list[list[np.ndarray | None]]:
        return [[s.get(k) for s in states] for k in _STATE_KEYS]

    def _check_buffers(self, calls):
        # every call's arrays, checked together: the first call writes after all passed
        F._adafactor_arrays(
            [p for _, ps, *_ in calls for p in ps], [g for _, _, gs, *_ in calls for g in gs],
            *self._factors([s for *_, states, _ in calls for _, s in states]),
        )  # fmt: skip

    def _update(self, group, params, grads, states, step):
        F.adafactor_(params, grads, *self._factors(states), step=step, lr=group["lr"],
                     beta2_decay=group["beta2_decay"], eps=group["eps"], d=group["d"],
                     weight_decay=group["weight_decay"], maximize=group["maximize"],
                     grad_scale=self._grad_scale)  # fmt: skip

    @staticmethod
    def _check_saved_array(where, key, value, entry, param):  # noqa: ARG004
        shapes = F.adafactor_state_shapes(param.shape)
        if key not in shapes:
            msg = f"{where}: a parameter of shape {param.shape} has no state {key!r}"
            raise ValueError(msg)
        if value.dtype not in (np.float32, np.float64):
            msg = f"{where} has dtype {value.dtype}, expected float32 or float64"
            raise TypeError(msg)
        if value.shape != shapes[key]:
            msg = f"{where} has shape {value.shape}, expected {shapes[key]}"
            raise ValueError(msg)

    def _load_arrays(self, slot, key, saved, params, state, group_at):
        for i, value, _ in saved:  # (in the parameter's dtype, as torch casts)
            state[i][key] = np.array(value, dtype=params[i].dtype, order="C")
