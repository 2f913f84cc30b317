"""Where the C++ headers and the CMake package config are, for code that embeds the kernels.

The wheel ships ``pyfastopt/include/pyfastopt/*.hpp`` (Python-free, header-only) and
``pyfastopt/share/cmake/pyfastopt/pyfastoptConfig.cmake``, as pybind11 and NumPy ship theirs
(``pybind11.get_include()``, ``pybind11.get_cmake_dir()``, ``numpy.get_include()``). The
Cython declarations (``pyfastopt/kernels.pxd``) sit next to the Python modules, where
``cimport pyfastopt.kernels`` finds them on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def get_include() -> str:
    """The directory to add to the C++ include path: it holds ``pyfastopt/kernels.hpp``.

    Compile with C++17; see docs/guide/embedding.rst for the flags.
    """
    installed = _PACKAGE / "include"
    if (installed / "pyfastopt" / "config.hpp").is_file():
        return str(installed)
    source = _PACKAGE.parent / "cpp" / "include"  # an editable install runs from src/
    if (source / "pyfastopt" / "config.hpp").is_file():
        return str(source)
    msg = f"pyfastopt's C++ headers are not installed (looked in {installed})"
    raise FileNotFoundError(msg)


def get_cmake_dir() -> str:
    """The directory of ``pyfastoptConfig.cmake``: pass it as ``-Dpyfastopt_DIR=...``.

    ``find_package(pyfastopt CONFIG REQUIRED)`` then defines ``pyfastopt::kernels``.
    """
    cmake_dir = _PACKAGE / "share" / "cmake" / "pyfastopt"
    if (cmake_dir / "pyfastoptConfig.cmake").is_file():
        return str(cmake_dir)
    msg = f"pyfastopt's CMake package config is not installed (looked in {cmake_dir})"
    raise FileNotFoundError(msg)
