"""Hyperparameter checks shared by pyfastopt.functional and pyfastopt.optim.

Each check returns the value as a Python float (or int) and raises a ValueError (bad value)
or TypeError (not a number) that names the argument, before anything is written.
"""

from __future__ import annotations

import math
import numbers


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a real number, got {type(value).__name__}"
        raise TypeError(msg)
    x = float(value)
    if not math.isfinite(x):
        msg = f"Invalid {name}: {value!r} (must be finite)"
        raise ValueError(msg)
    return x


def nonneg(name: str, value: object) -> float:
    """A finite value >= 0 (learning rates, eps, weight decay, ...)."""
    x = _real(name, value)
    if x < 0:
        msg = f"Invalid {name}: {value!r} (must be >= 0)"
        raise ValueError(msg)
    return x


def positive(name: str, value: object) -> float:
    """A finite value > 0."""
    x = _real(name, value)
    if x <= 0:
        msg = f"Invalid {name}: {value!r} (must be > 0)"
        raise ValueError(msg)
    return x


def unit(name: str, value: object) -> float:
    """A decay rate in [0, 1)."""
    x = _real(name, value)
    if not 0.0 <= x < 1.0:
        msg = f"Invalid {name}: {value!r} (must be in [0, 1))"
        raise ValueError(msg)
    return x


def closed_unit(name: str, value: object) -> float:
    """A value in [0, 1]."""
    x = _real(name, value)
    if not 0.0 <= x <= 1.0:
        msg = f"Invalid {name}: {value!r} (must be in [0, 1])"
        raise ValueError(msg)
    return x


def integer(name: str, value: object, minimum: int) -> int:
    """An int (not a bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an int, got {type(value).__name__}"
        raise TypeError(msg)
    if value < minimum:
        msg = f"Invalid {name}: {value!r} (must be >= {minimum})"
        raise ValueError(msg)
    return int(value)


def step(value: object) -> int:
    """The 1-based step count t of the update being made."""
    return integer("step", value, 1)


def pair(name: str, value: object) -> tuple[object, object]:
    """A 2-tuple such as betas=(beta1, beta2)."""
    try:
        first, second = value  # type: ignore[misc]
    except (TypeError, ValueError):
        msg = f"{name} must be a pair of numbers, got {value!r}"
        raise TypeError(msg) from None
    return first, second


def like_param(name: str, dtype: object, shape: tuple, param_dtype: object,
               param_shape: tuple) -> None:  # fmt: skip
    """A gradient's dtype and shape against its parameter's (TypeError, ValueError)."""
    if dtype != param_dtype:
        msg = f"{name} has dtype {dtype}, expected {param_dtype} (its parameter's)"
        raise TypeError(msg)
    if shape != param_shape:
        msg = f"{name} has shape {shape}, expected {param_shape} (its parameter's)"
        raise ValueError(msg)
