"""Zero-copy NumPy views of the array arguments every layer accepts.

An argument may be a ``numpy.ndarray``, any object exposing the buffer protocol
(``array.array``, ``bytearray``, ``memoryview``, ...) or DLPack (``__dlpack__``: PyTorch CPU
tensors, JAX and CuPy arrays on the host, ...). Each becomes a view of the same memory;
an object that cannot be viewed without a copy (a list, a tensor that requires grad, device
memory) raises ``TypeError``: updating a copy would silently lose the step. The native
kernels call :func:`as_array` for any argument that is not already an ndarray.
"""

from __future__ import annotations

import bisect

import numpy as np


def as_array(obj: object, name: str) -> np.ndarray:
    """``obj`` as an ndarray sharing its memory, or TypeError naming the argument."""
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__dlpack__"):
        try:
            return np.from_dlpack(obj)
        except (BufferError, TypeError, ValueError, RuntimeError) as error:
            msg = f"{name}: {type(obj).__name__} cannot be viewed as a NumPy array ({error})"
            raise TypeError(msg) from None
    try:
        view = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        msg = (f"{name} must be a numpy.ndarray or expose the buffer protocol or DLPack, "
               f"got {type(obj).__name__}")  # fmt: skip
        raise TypeError(msg) from None
    return np.asarray(view)


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def written_array(
    obj: object, name: str, like: np.ndarray | None = None, dtypes: tuple | None = None
) -> np.ndarray:
    """``obj`` as an ndarray that a kernel may update in place: float32/float64 in native
    byte order (or ``like``'s dtype, or one of ``dtypes``; ``like``'s shape), C-contiguous,
    aligned and writable; else TypeError/ValueError naming it. The checks the native kernels
    make, for callers that must check every array of several calls before the first one
    writes."""
    a = as_array(obj, name)
    if dtypes is None:
        dtypes = _FLOAT_DTYPES if like is None else (like.dtype,)
    if a.dtype not in dtypes:
        want = " or ".join(str(np.dtype(d)) for d in dtypes)
        msg = f"{name} has dtype {a.dtype}, expected {want}"
        raise TypeError(msg)
    if like is not None and a.shape != like.shape:
        msg = f"{name} has shape {a.shape}, expected {like.shape} (its parameter's)"
        raise ValueError(msg)
    check_layout(a, name)
    if not a.flags.writeable:
        msg = f"{name} is read-only"
        raise ValueError(msg)
    return a


def check_layout(a: np.ndarray, name: str) -> None:
    """ValueError naming ``a`` unless it is C-contiguous and aligned, as the kernels read
    and write every buffer."""
    if not a.flags.c_contiguous:
        msg = f"{name} must be C-contiguous"
        raise ValueError(msg)
    if not a.flags.aligned:
        msg = f"{name} must be aligned"
        raise ValueError(msg)


def check_disjoint(written: list[tuple[str, np.ndarray]],
                   read: list[tuple[str, np.ndarray]]) -> None:  # fmt: skip
    """ValueError naming both if two written arrays share memory, or a read array shares
    memory with a written one (read arrays may share memory with each other). Arrays are
    C-contiguous: each owns the bytes [data, data + nbytes)."""

    def span(name: str, a: np.ndarray) -> tuple[int, int, str]:
        start = a.__array_interface__["data"][0]
        return start, start + a.nbytes, name

    spans = sorted(span(n, a) for n, a in written if a.nbytes)
    for before, after in zip(spans, spans[1:]):
        if before[1] > after[0]:
            msg = f"{after[2]} shares memory with {before[2]} (each buffer must be distinct)"
            raise ValueError(msg)
    starts = [s[0] for s in spans]
    for name, a in read:
        if a.nbytes:
            start, end, _ = span(name, a)
            k = bisect.bisect_left(starts, end)  # the last written buffer starting before end
            if k and spans[k - 1][1] > start:
                msg = f"{name} shares memory with {spans[k - 1][2]} (a buffer it updates)"
                raise ValueError(msg)
