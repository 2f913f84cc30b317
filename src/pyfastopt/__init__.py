"""pyfastopt: in-place gradient-descent optimizer kernels for NumPy.

Layers: :mod:`pyfastopt.functional` (in-place steps on arrays), :mod:`pyfastopt.optim`
(torch-style optimizer classes), :mod:`pyfastopt.reference` (plain NumPy specification);
around them :mod:`pyfastopt.transforms` (clipping, gradient noise, weight averaging).
:func:`get_include` and :func:`get_cmake_dir` locate the header-only C++ kernels for
embedding (C++, CMake, and Cython through ``cimport pyfastopt.kernels``).
"""

from __future__ import annotations

from . import functional, hogwild, optim, precision, reference, schedules, training, transforms
from ._config import build_info, get_num_threads, set_num_threads
from ._paths import get_cmake_dir, get_include
from .transforms import (
    EMA,
    GradientNoise,
    add_gradient_noise_,
    clip_grad_norm_,
    clip_grad_value_,
    ema_,
    global_norm,
)

#: The package version (PEP 440).
__version__ = "0.1.0"

__all__ = [
    "EMA",
    "GradientNoise",
    "__version__",
    "add_gradient_noise_",
    "build_info",
    "clip_grad_norm_",
    "clip_grad_value_",
    "ema_",
    "functional",
    "get_cmake_dir",
    "get_include",
    "get_num_threads",
    "global_norm",
    "hogwild",
    "optim",
    "precision",
    "reference",
    "schedules",
    "set_num_threads",
    "training",
    "transforms",
]
