"""Results are bitwise identical for any thread count, and the GIL is released."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from cases import CASES, IDS

import pyfastopt
from pyfastopt import optim

N = (1 << 18) + 3  # well above the grain, and not a multiple of any block or vector width


def trajectory(name, kwargs, threads, dtype, steps=5):
    pyfastopt.set_num_threads(threads)
    rng = np.random.default_rng(7)
    params = [rng.standard_normal(N).astype(dtype), rng.standard_normal((300, 7)).astype(dtype)]
    opt = optim.__dict__[name](params, **kwargs)
    for _ in range(steps):
        opt.step([rng.standard_normal(p.shape).astype(dtype) for p in params])
    return params, opt.state


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bitwise_identical_for_1_and_2_threads(case, dtype, isa, threads):
    name, kwargs = case
    one, state_one = trajectory(name, kwargs, 1, dtype)
    two, state_two = trajectory(name, kwargs, 2, dtype)
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()
    for i in state_one:
        for key, value in state_one[i].items():
            other = state_two[i][key]
            same = value.tobytes() == other.tobytes() if isinstance(value, np.ndarray) else (
                value == other)  # fmt: skip
            assert same, key


def test_thread_count_api(threads):
    pyfastopt.set_num_threads(1)
    assert pyfastopt.get_num_threads() == 1
    assert pyfastopt.build_info()["num_threads"] == 1
    pyfastopt.set_num_threads(2)
    assert pyfastopt.get_num_threads() == 2
    with pytest.raises(ValueError, match="Invalid n"):
        pyfastopt.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        pyfastopt.set_num_threads(1.5)


def test_gil_is_released_during_a_step(threads):
    """While one thread runs long kernel calls, another Python thread keeps running."""
    pyfastopt.set_num_threads(1)
    p, g, m, v = (np.ones(1 << 22, np.float32) for _ in range(4))
    done = threading.Event()
    ticks = []

    def ticker():
        while not done.is_set():
            ticks.append(1)

    worker = threading.Thread(target=ticker)
    worker.start()
    try:
        before = len(ticks)
        for t in range(1, 6):
            pyfastopt.functional.adam_(p, g, m, v, step=t)
        during = len(ticks) - before
    finally:
        done.set()
        worker.join()
    # With the GIL held for 5 calls of several ms each, the ticker would be starved.
    assert during > 1000
