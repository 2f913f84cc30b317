"""Hyperparameter checks shared by pyfastopt.functional and pyfastopt.optim.

Each check returns the value as a Python float (or int) and raises a ValueError (bad value)
or TypeError (not a number) that names the argument, before anything is written.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

#: The largest step count (int64, as torch stores it): beta ** t stays a float below it.
MAX_STEP = 2**63 - 1
#: Threads one call may start: far above any machine's cores, well below the tens of
#: thousands at which the OpenMP runtime fails to create them and aborts the process.
MAX_THREADS = 1024
#: Hyperparameters must be representable in every storage dtype (float32's largest).
MAX_FLOAT32 = 3.4028234663852886e38


def real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a real number, got {type(value).__name__}"
        raise TypeError(msg)
    try:
        x = float(value)
    except OverflowError:  # an int beyond float's range
        x = math.inf
    if not math.isfinite(x) or abs(x) > MAX_FLOAT32:
        msg = f"Invalid {name}: {value!r} (must be finite and within float32's range)"
        raise ValueError(msg)
    return x


def nonneg(name: str, value: object) -> float:
    """A finite value >= 0 (learning rates, eps, weight decay, ...)."""
    x = real(name, value)
    if x < 0:
        msg = f"Invalid {name}: {value!r} (must be >= 0)"
        raise ValueError(msg)
    return x


def positive(name: str, value: object) -> float:
    """A finite value > 0."""
    x = real(name, value)
    if x <= 0:
        msg = f"Invalid {name}: {value!r} (must be > 0)"
        raise ValueError(msg)
    return x


def unit(name: str, value: object) -> float:
    """A decay rate in [0, 1)."""
    x = real(name, value)
    if not 0.0 <= x < 1.0:
        msg = f"Invalid {name}: {value!r} (must be in [0, 1))"
        raise ValueError(msg)
    return x


def closed_unit(name: str, value: object) -> float:
    """A value in [0, 1]."""
    x = real(name, value)
    if not 0.0 <= x <= 1.0:
        msg = f"Invalid {name}: {value!r} (must be in [0, 1])"
        raise ValueError(msg)
    return x


def integer(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """An int (not a bool) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an int, got {type(value).__name__}"
        raise TypeError(msg)
    n = int(value)
    if n < minimum:
        msg = f"Invalid {name}: {value!r} (must be >= {minimum})"
        raise ValueError(msg)
    if maximum is not None and n > maximum:
        msg = f"Invalid {name}: {value!r} (must be <= {maximum})"
        raise ValueError(msg)
    return n


def step(value: object, name: str = "step") -> int:
    """The 1-based step count t of the update being made."""
    return integer(name, value, 1, MAX_STEP)


def steps_taken(name: str, value: object) -> int:
    """A state's count of updates made so far (its "step")."""
    return integer(name, value, 0, MAX_STEP - 1)


def num_threads(name: str, value: object) -> int:
    """A thread count in [1, MAX_THREADS]."""
    return integer(name, value, 1, MAX_THREADS)


def seed(value: object, name: str = "seed") -> int:
    """A random seed: an int in [0, 2**64)."""
    return integer(name, value, 0, 2**64 - 1)


def coeffs_fit(coeffs: tuple[float, ...], dtype: npt.DTypeLike) -> None:
    """ValueError if a finite per-step coefficient is beyond ``dtype``'s range (it would
    become inf): the check the native kernels make, for callers that check first."""
    largest = float(np.finfo(dtype).max)
    for i, c in enumerate(coeffs):
        if math.isfinite(c) and abs(c) > largest:
            msg = (f"coeffs[{i}] = {c}: the hyperparameters give a per-step coefficient beyond "
                   f"{np.dtype(dtype).name}'s range")  # fmt: skip
            raise ValueError(msg)


def pair(name: str, value: Any) -> tuple[object, object]:
    """A 2-tuple such as betas=(beta1, beta2)."""
    try:
        first, second = value
    except (TypeError, ValueError):
        msg = f"{name} must be a pair of numbers, got {value!r}"
        raise TypeError(msg) from None
    return first, second


def like_param(name: str, dtype: object, shape: tuple, param_dtype: object,
               param_shape: tuple) -> None:  # fmt: skip
    """A gradient's dtype and shape against its parameter's (TypeError, ValueError): the
    parameter's dtype, or a 16-bit float for a float32 parameter (pyfastopt.precision)."""
    def dtype_name(d: object) -> str:  # NumPy's and torch's dtypes alike
        return str(d).removeprefix("torch.")

    if dtype != param_dtype and not (  # (names only off the common path: one per gradient)
        dtype_name(dtype) in ("float16", "bfloat16") and dtype_name(param_dtype) == "float32"
    ):
        msg = f"{name} has dtype {dtype}, expected {param_dtype} (its parameter's)"
        raise TypeError(msg)
    if shape != param_shape:
        msg = f"{name} has shape {shape}, expected {param_shape} (its parameter's)"
        raise ValueError(msg)
