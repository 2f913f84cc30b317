"""Shared fixtures: every SIMD target this CPU supports, threads, the test report header,
and the hypothesis profiles of the property tests (tests/test_properties_*.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import pyfastopt
from pyfastopt import _core


def pytest_report_header(config):
    return f"pyfastopt build_info: {pyfastopt.build_info()}, hypothesis profile {PROFILE}"


# Hypothesis profiles, picked with HYPOTHESIS_PROFILE. "ci" (the default) is derandomized: the
# same examples every run, so CI cannot flake, bounded so all property tests take about a
# minute on 2 cores. "dev" and "long" draw new examples each run and keep failures in the
# local example database; "long" is for runs by hand. No deadline: the machines are shared,
# so timings are noise. print_blob: a failure prints the @reproduce_failure line to replay it.
# Each test scales max_examples to its cost (scaled() in test_properties_optim.py).
_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=20, derandomize=True, database=None,
                          **_COMMON)  # fmt: skip
settings.register_profile("dev", max_examples=80, **_COMMON)
settings.register_profile("long", max_examples=1000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


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
def restore_target():
    """Restores the target and thread count a test changes as it goes (the property tests
    select them per example, so this is not a parametrizing fixture)."""
    before_isa, before_threads = pyfastopt.build_info()["isa"], pyfastopt.get_num_threads()
    yield
    assert _core._select_isa(before_isa)
    pyfastopt.set_num_threads(before_threads)


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster of 2 CPUs for the session, inside a network namespace that has
    only loopback (pyfastopt.distributed.isolate_network: the process stays in it for the
    rest of the session). Actors import the tests' helper modules from this folder."""
    import ray

    from pyfastopt.distributed import isolate_network

    isolate_network()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1",
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}})  # fmt: skip
    yield ray
    ray.shutdown()
