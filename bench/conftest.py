"""pytest-benchmark setup for bench/: collects bench_*.py and prints the machine in the header.

Run from the repository root: ``pytest bench/ --benchmark-only`` (see bench/README.md).
"""

from __future__ import annotations

import pytest

import pyfastopt
from pyfastopt import _bench


def pytest_collect_file(file_path, parent):
    """Collect bench_*.py files too (the project's python_files stays test_*.py)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_report_header(config):
    info = _bench.machine_info()
    b = info["build"]
    n = _bench.DEFAULT_SIZE
    return [
        f"machine: {info['cpu']}, {info['usable_cpus']}/{info['logical_cpus']} logical CPUs, "
        f"load {info['load_avg_1min']}; {info['system']}",
        f"pyfastopt {info['pyfastopt']}: isa {b['isa']}, openmp {b['openmp']}, "
        f"threads {pyfastopt.get_num_threads()} (OMP_NUM_THREADS to change); "
        f"numpy {info['numpy']} (1 thread)",
        f"size: 2^{n.bit_length() - 1} = {n:,} elements per array",
    ]
