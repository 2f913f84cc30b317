"""Helpers shared by the optimizer classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as check


def column(states: list[dict[str, Any]], key: str) -> list[np.ndarray]:
    """The `key` buffer of every state, in order (the list a functional call takes)."""
    return [s[key] for s in states]


#: State arenas at least this large start at a staggered offset (state_buffers).
STAGGER_BYTES = 1 << 16
#: ... and at least this large, staggered modulo SPREAD_SPAN rather than within a page.
SPREAD_BYTES = 1 << 20
SPREAD_SPAN = 1 << 16
#: How much further each stream starts than the one before it.
SPREAD = 9 * 1024 + 64
#: Each buffer in an arena starts on a cache line.
_LINE = 64


def staggered_bytes(nbytes: int, anchor: int, slot: int) -> np.ndarray:
    """``nbytes`` of fresh uint8 memory starting ``(slot + 1) * SPREAD`` bytes past the
    address ``anchor``, modulo SPREAD_SPAN if nbytes >= SPREAD_BYTES, else modulo a page.

    Why: NumPy starts every large array at the same offset in its page, and the operating
    system maps neighbouring large arrays a page or a few apart, so that an element-wise pass
    walks its streams in lockstep through addresses that agree in their low 12 to 21 bits.
    Loads and stores then wait on each other (4K aliasing) and on the same DRAM banks. On a
    2-core AMD EPYC (Zen 4, huge pages on), Adam on 2^26 elements whose four arrays started
    at one offset modulo 2 MiB took 36.6 ms in bfloat16 and 71.5 ms in float32; 1 KiB apart,
    34.5 and 56.6 ms; 8 KiB apart or more, 20 and 34 ms (``bench/bench_placement.py``).
    """
    span = SPREAD_SPAN if nbytes >= SPREAD_BYTES else 4096
    raw = np.empty(nbytes + span, np.uint8)
    shift = (anchor + (slot + 1) * SPREAD - raw.ctypes.data) % span
    return raw[shift : shift + nbytes]


def state_buffers(
    params: list[np.ndarray], slot: int, fill: float = 0.0, dtype: Any = None
) -> list[np.ndarray]:
    """C-contiguous buffers of ``dtype`` (default: the params' one dtype) shaped like
    ``params``, filled with ``fill``: the state buffer ``slot`` of each, carved from one
    allocation.

    One allocation per state keeps the buffers of many small tensors in one address stream
    that the hardware prefetcher follows from tensor to tensor; many small allocations
    interleaved with other objects make a step over 2000 x 512 tensors twice as slow. A
    large arena starts :func:`staggered_bytes` away from the first parameter.
    """
    if not params:
        return []
    dtype = np.dtype(params[0].dtype if dtype is None else dtype)
    starts = np.cumsum([0] + [-(-p.size * dtype.itemsize // _LINE) * _LINE for p in params])
    total = int(starts[-1])
    if total >= STAGGER_BYTES:
        arena = staggered_bytes(total, params[0].ctypes.data, slot)
    else:
        raw = np.empty(total + _LINE, np.uint8)
        shift = -raw.ctypes.data % _LINE
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
