"""Helpers shared by the optimizer classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as check


def column(states: list[dict[str, Any]], key: str) -> list[np.ndarray]:
    """The `key` buffer of every state, in order (the list a functional call takes)."""
    return [s[key] for s in states]


#: State arenas at least this large start at a staggered page offset.
STAGGER_BYTES = 1 << 16
#: Each buffer in an arena starts on a cache line.
_LINE = 64


def state_buffers(
    params: list[np.ndarray], slot: int, fill: float = 0.0, dtype: Any = None
) -> list[np.ndarray]:
    """C-contiguous buffers of ``dtype`` (default: the params' one dtype) shaped like
    ``params``, filled with ``fill``: the state buffer ``slot`` of each, carved from one
    allocation.

    One allocation per state keeps the buffers of many small tensors in one address stream
    that the hardware prefetcher follows from tensor to tensor; many small allocations
    interleaved with other objects make a step over 2000 x 512 tensors twice as slow.
    NumPy starts every large array at the same offset in a page, and loads and stores whose
    addresses agree in their low 12 bits slow each other down (4K aliasing); so a large
    arena starts (slot + 1) KiB further into its page than the first parameter does.
    """
    if not params:
        return []
    dtype = np.dtype(params[0].dtype if dtype is None else dtype)
    starts = np.cumsum([0] + [-(-p.size * dtype.itemsize // _LINE) * _LINE for p in params])
    total = int(starts[-1])
    raw = np.empty(total + 4096, np.uint8)
    base = raw.ctypes.data
    if total >= STAGGER_BYTES:
        target = params[0].ctypes.data + (slot + 1) * 1024
    else:
        target = -(-base // _LINE) * _LINE
    shift = (target - base) % 4096
    arena = raw[shift : shift + total]
    buffers = [
        arena[int(start) : int(start) + p.size * dtype.itemsize].view(dtype).reshape(p.shape)
        for start, p in zip(starts, params)
    ]
    for buffer in buffers:
        buffer.fill(fill)
    return buffers


def betas(value: object) -> tuple[float, float]:
    beta1, beta2 = check.pair("betas", value)
    return check.unit("betas[0]", beta1), check.unit("betas[1]", beta2)
