"""The base of the optimizers whose update is no element-wise rule (Muon, Adafactor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class FullPrecisionOptimizer(Optimizer):
    """An optimizer that updates float32/float64 parameters from gradients of their dtype,
    its state in their dtype: the reduced-precision options of ``precision`` (state_dtype,
    master_weights, stochastic_rounding) and SparseRows gradients are refused; grad_scale,
    found_inf and skip_nonfinite work as for every optimizer."""

    def _check_param(self, p: np.ndarray, name: str) -> Exception | None:
        """The error a parameter added to a group raises, or None."""
        if p.dtype not in _DTYPES:
            return TypeError(f"{name} has dtype {p.dtype}: {type(self).__name__} updates "
                             "float32 and float64 parameters")  # fmt: skip
        return None

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group (as the base class), whose parameters must pass _check_param; a
        failed add leaves the optimizer as it was."""
        first = sum(len(g["params"]) for g in self.param_groups)
        super().add_param_group(param_group)
        for i, p in enumerate(self.param_groups[-1]["params"]):
            error = self._check_param(p, f"params[{first + i}]")
            if error is not None:
                self.param_groups.pop()
                raise error

    def _step(self, grads):
        p = self.precision
        if p.state_dtype is not None or p.master_weights or p.stochastic_rounding:
            msg = (f"precision: {type(self).__name__} keeps its state in the parameter's dtype "
                   "(no state_dtype, master_weights or stochastic_rounding)")  # fmt: skip
            raise TypeError(msg)
        super()._step(grads)

    def _check_grads(self, grads):
        checked = super()._check_grads(grads)
        params = [p for group in self.param_groups for p in group["params"]]
        for i, (p, g) in enumerate(zip(params, checked)):
            if g is not None and not isinstance(g, np.ndarray):
                msg = f"grads[{i}]: {type(self).__name__} takes no SparseRows gradients"
                raise TypeError(msg)
            if g is not None and g.dtype != p.dtype:  # no 16-bit gradients
                msg = f"grads[{i}] has dtype {g.dtype}, expected {p.dtype} (its parameter's)"
                raise TypeError(msg)
        return checked
