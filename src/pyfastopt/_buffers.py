"""Zero-copy NumPy views of the array arguments every layer accepts.

An argument may be a ``numpy.ndarray``, any object exposing the buffer protocol
(``array.array``, ``bytearray``, ``memoryview``, ...) or DLPack (``__dlpack__``: PyTorch CPU
tensors, JAX and CuPy arrays on the host, ...). Each becomes a view of the same memory;
an object that cannot be viewed without a copy (a list, a tensor that requires grad, device
memory) raises ``TypeError``: updating a copy would silently lose the step. The native
kernels call :func:`as_array` for any argument that is not already an ndarray.
"""

from __future__ import annotations

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
