"""Build facts and the thread count of the native kernels."""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any

from . import _core
from . import _validate as check


def build_info() -> dict[str, Any]:
    """What this build compiled and selected.

    Keys: ``isa`` (the CPU target in use), ``isas`` (compiled), ``supported_isas`` (compiled
    and supported by this CPU), ``openmp``, ``num_threads``, ``compiler``, ``cuda``.
    ``PYFASTOPT_ISA=<name>`` (read at import) caps the target, e.g. ``baseline``. ``cuda``
    says whether the optional ``pyfastopt._cuda`` module was built (not whether a GPU is here).
    """
    cuda = importlib.util.find_spec("pyfastopt._cuda") is not None
    return {**_core.build_info(), "cuda": cuda}


def get_num_threads() -> int:
    """Threads one kernel call may use (default: OpenMP's, which honours OMP_NUM_THREADS)."""
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Sets the threads one kernel call may use (1 to 1024). Results do not depend on it."""
    _core.set_num_threads(check.num_threads("n", n))


_requested = os.environ.get("PYFASTOPT_ISA")
if _requested and _requested not in _core.build_info()["supported_isas"]:
    warnings.warn(
        f"PYFASTOPT_ISA={_requested!r} is not a supported target "
        f"({_core.build_info()['supported_isas']}); using {_core.build_info()['isa']!r}",
        RuntimeWarning,
        stacklevel=2,
    )
