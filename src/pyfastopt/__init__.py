"""pyfastopt: in-place gradient-descent optimizer kernels for NumPy.

Layers: :mod:`pyfastopt.functional` (in-place steps on arrays), :mod:`pyfastopt.optim`
(torch-style optimizer classes), :mod:`pyfastopt.reference` (plain NumPy specification).
"""

from __future__ import annotations

from . import functional, optim, reference
from ._config import build_info, get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build_info",
    "functional",
    "get_num_threads",
    "optim",
    "reference",
    "set_num_threads",
]
