"""pytest-benchmark setup for bench/: collects bench_*.py and prints the machine in the header.

Run from the repository root: ``python -m pytest bench/ --benchmark-only`` (see
bench/README.md).
"""

from __future__ import annotations

import pytest

import pyfastopt
from pyfastopt._bench.report import machine_info


def pytest_collect_file(file_path, parent):
    """Collect bench_*.py files too (the project's python_files stays test_*.py)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def threads(request):
    """Sets pyfastopt's and torch's thread counts for one benchmark (its "threads"
    parameter; NumPy runs on one)."""
    try:
        import torch
    except ImportError:
        torch = None
    n = request.node.callspec.params["threads"]
    before = pyfastopt.get_num_threads(), torch.get_num_threads() if torch else None
    pyfastopt.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    yield n
    pyfastopt.set_num_threads(before[0])
    if torch is not None:
        torch.set_num_threads(before[1])


def pytest_report_header(config):
    try:
        import torch
    except ImportError:
        torch = None
    info = machine_info(torch)
    b = info["build"]
    c = info["caches"]
    return [
        (f"machine: {info['cpu']}, {info['usable_cpus']}/{info['logical_cpus']} logical CPUs, "
         f"L1d {c['L1'] >> 10} KiB, L2 {c['L2'] >> 10} KiB, L3 {c['L3'] >> 20} MiB; "
         f"load {info['load_avg_1min']}; {info['system']}"),
        (f"pyfastopt {info['pyfastopt']}: isa {b['isa']}, openmp {b['openmp']}, default threads "
         f"{pyfastopt.get_num_threads()} (each benchmark sets its own); numpy {info['numpy']} "
         f"(1 thread); torch {info['torch'] or 'not installed: torch peers skipped'}"),
    ]
