"""Helpers shared by the optimizer classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as check


def column(states: list[dict[str, Any]], key: str) -> list[np.ndarray]:
    """The `key` buffer of every state, in order (the list a functional call takes)."""
    return [s[key] for s in states]


#: State buffers of parameters at least this large start at staggered page offsets.
STAGGER_BYTES = 1 << 16


def state_buffer(param: np.ndarray, slot: int, fill: float = 0.0) -> np.ndarray:
    """A C-contiguous array like ``param`` filled with ``fill``, for state buffer ``slot``.

    NumPy starts every large array at the same offset in a page, and loads and stores whose
    addresses agree in their low 12 bits slow each other down (4K aliasing); so a large
    buffer starts (slot + 1) KiB further into its page than its parameter does.
    """
    if param.nbytes < STAGGER_BYTES:
        return np.full_like(param, fill, order="C")
    raw = np.empty(param.size + 4096 // param.itemsize, param.dtype)
    shift = ((slot + 1) * 1024 + param.ctypes.data - raw.ctypes.data) % 4096
    buffer = raw[shift // param.itemsize :][: param.size].reshape(param.shape)
    buffer.fill(fill)
    return buffer


def zeros(param: np.ndarray, slot: int = 0) -> np.ndarray:
    return state_buffer(param, slot)


def betas(value: object) -> tuple[float, float]:
    beta1, beta2 = check.pair("betas", value)
    return check.unit("betas[0]", beta1), check.unit("betas[1]", beta2)
