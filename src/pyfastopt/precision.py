"""Reduced-precision storage: bfloat16/float16 parameters and gradients, float32 master
weights, bfloat16 and blockwise 8-bit optimizer states, stochastic rounding.

Every kernel of :mod:`pyfastopt.functional` (and ``pyfastopt._core``) takes arrays in these
storages directly: the native loop converts each buffer when it loads and stores it, and
computes in float32 (float64 for float64 parameters). Nothing is converted silently: an
unsupported combination raises ``TypeError`` naming the argument and both dtypes.

==============================  ==========================  =================================
parameter                       gradient                    each state
==============================  ==========================  =================================
float64                         float64                     float64
float32                         float32, bfloat16, float16  float32, bfloat16, float16, 8-bit
bfloat16 (opt. float32 master)  bfloat16                    float32, bfloat16, float16, 8-bit
float16 (opt. float32 master)   float16                     float32, bfloat16, float16, 8-bit
==============================  ==========================  =================================

8-bit states are for the optimizers whose states are moments (SGD with momentum, Adagrad,
Adadelta, RMSprop, Adam/AdamW/AMSGrad, AdaMax, NAdam, RAdam, AdaBound/AMSBound, Lion); Rprop
and SWATS take the 16- and 32-bit storages. With a master, the kernel updates the float32
master and writes the 16-bit parameter from it in the same pass (rounded to nearest even).
A ``seed`` rounds every float32 -> bfloat16 store stochastically (but a master's copy), with
random bits keyed by (seed, step, tensor, buffer, element): reproducible, and the same bits
for any thread count. ``grad_scale`` divides the gradients as they are loaded (the AMP loss
scale).

bfloat16 arrays are ``ml_dtypes.bfloat16`` (``pip install pyfastopt[bf16]``), the NumPy
dtype JAX uses. An 8-bit state is a tuple ``(codes, absmax)``: ``codes`` uint8 with the
parameter's shape, indices into the 256-entry dynamic map (:func:`dynamic_map`; signed for
first moments, unsigned for non-negative accumulators), and ``absmax`` float32 with one scale
per block of :data:`QUANT_BLOCK` consecutive elements (C order): element ``i`` is
``dynamic_map(signed)[codes[i]] * absmax[i // 256]``. This is bitsandbytes' blockwise
scheme; codes here are the nearest in the map (bitsandbytes' CPU quantizer picks another code
for about 3% of values, and its maps differ from ours by at most two float32 ulps in a few
entries). A non-finite value makes its whole block NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from . import _validate as check

__all__ = [
    "QUANT_BLOCK",
    "STATE_DTYPES",
    "Precision",
    "bfloat16",
    "dequantize_8bit",
    "dynamic_map",
    "quantize_8bit",
]

#: Elements per absmax of an 8-bit state.
QUANT_BLOCK = 256

try:  # an optional dependency: the [bf16] extra
    from ml_dtypes import bfloat16 as _bfloat16
except ImportError:  # pragma: no cover - exercised where ml_dtypes is absent
    _bfloat16 = None

#: ``numpy.dtype(ml_dtypes.bfloat16)``, or None without ml_dtypes.
bfloat16: Any = None if _bfloat16 is None else np.dtype(_bfloat16)


def quantize_8bit(x: np.ndarray, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, absmax)`` of a float32 array: each element's nearest code in the signed or
    unsigned dynamic map, scaled by its block's largest magnitude."""
    return _core.quantize_8bit(x, signed)


def dequantize_8bit(codes: np.ndarray, absmax: np.ndarray, signed: bool) -> np.ndarray:
    """The float32 values of ``(codes, absmax)``."""
    return _core.dequantize_8bit(codes, absmax, signed)


def dynamic_map(signed: bool) -> np.ndarray:
    """The 256 float32 codes of a dynamic map, increasing: seven decades 1e-6..1 split into
    linear steps (1, 2, ..., 64 per decade signed, twice as many unsigned), plus 0 and 1."""
    return _core.dynamic_map(signed)


#: The storages a state may have, by name (None: the parameter's dtype, torch's default).
STATE_DTYPES = ("float32", "bfloat16", "float16", "8bit")


@dataclass(frozen=True)
class Precision:
    """How an optimizer of :mod:`pyfastopt.optim` stores what it updates (assign it to
    ``opt.precision`` before the first step; the default is torch's: states in the
    parameter's dtype, no master copy).

    Args:
        state_dtype: None (the parameter's dtype), "float32", "bfloat16", "float16" or
            "8bit" (blockwise; for the optimizers whose states are moments, see the module
            docstring; tensors under ``min_8bit_size`` elements keep float32 states, as
            bitsandbytes does).
        master_weights: keep a float32 master copy of each 16-bit parameter
            (``state[i]["master"]``): the step updates the master and writes the parameter
            from it in the same pass.
        stochastic_rounding: round every float32 -> bfloat16 store stochastically (bfloat16
            parameters without a master copy, bfloat16 states), with bits keyed by
            (seed, step, parameter index, buffer, element).
        seed: of the stochastic rounding.
        skip_nonfinite: check the gradients before each step and skip the whole step (no
            parameter, state or step count changes) when one is not finite; one read of the
            gradients (pass ``found_inf`` to :meth:`~pyfastopt.optim.Optimizer.step` instead
            to reuse a check you already make, e.g. clipping's norm).
        min_8bit_size: the smallest tensor given 8-bit states.
    """

    state_dtype: str | None = None
    master_weights: bool = False
    stochastic_rounding: bool = False
    seed: int = 0
    skip_nonfinite: bool = False
    min_8bit_size: int = 4096

    def __post_init__(self) -> None:
        if self.state_dtype is not None and self.state_dtype not in STATE_DTYPES:
            msg = f"state_dtype: expected None or one of {STATE_DTYPES}, got {self.state_dtype!r}"
            raise ValueError(msg)
        if self.state_dtype == "bfloat16" and bfloat16 is None:
            msg = "state_dtype='bfloat16' needs ml_dtypes: pip install 'pyfastopt[bf16]'"
            raise ImportError(msg)
        check.integer("seed", self.seed, 0, 2**64 - 1)
        check.integer("min_8bit_size", self.min_8bit_size, 0, 2**63 - 1)

    def state_dtype_for(self, param: np.ndarray, quantizable: bool) -> np.dtype | str:
        """The storage of a new state of ``param``: a dtype, or "8bit"."""
        if self.state_dtype is None:
            return param.dtype
        if param.dtype == np.float64:
            msg = (f"precision: float64 parameters take float64 states, not "
                   f"state_dtype={self.state_dtype!r}")  # fmt: skip
            raise TypeError(msg)
        if self.state_dtype == "8bit":
            return "8bit" if quantizable and param.size >= self.min_8bit_size else np.dtype("f4")
        return bfloat16 if self.state_dtype == "bfloat16" else np.dtype(self.state_dtype)
