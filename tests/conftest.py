"""Shared fixtures: every SIMD target this CPU supports, threads, and the test report header."""

from __future__ import annotations

import numpy as np
import pytest

import pyfastopt
from pyfastopt import _core


def pytest_report_header(config):
    return f"pyfastopt build_info: {pyfastopt.build_info()}"


SUPPORTED_ISAS = pyfastopt.build_info()["supported_isas"]


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Runs the test once per supported CPU target, then restores the selected one."""
    before = pyfastopt.build_info()["isa"]
    assert _core._select_isa(request.param)
    yield request.param
    assert _core._select_isa(before)


@pytest.fixture
def threads():
    """Restores the thread count a test changes."""
    before = pyfastopt.get_num_threads()
    yield
    pyfastopt.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)
