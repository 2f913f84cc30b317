"""One optimizer step, for every optimizer, size class and thread count: pyfastopt (the
optim class and the functional call), NumPy and torch.optim (for-loop, foreach, fused; when
torch is importable) in the same pytest-benchmark group.

The implementations come from ``pyfastopt._bench`` (shared with ``pyfastopt bench``, which
checks each against pyfastopt before timing). Groups are named
``<optimizer>-<size>-t<threads>-float32``, sizes 4k, 64k, 1M, 16M (2^12 ... 2^24 elements) and
2000x512 (a model of 2000 arrays); 16M and 2000x512 run for Adam and SGD only, to keep the
suite short. Each benchmark starts from a fresh workload and asserts
afterwards that every parameter stayed finite and moved against its (constant) gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt._bench import NUMPY_BLOCK, OPTIMIZERS, Workload, parse_size

try:
    import torch
except ImportError:  # the torch peers are skipped
    torch = None

DTYPE = np.dtype(np.float32)
#: 2^12, 2^16, 2^20, 2^24 elements (k, M: binary, as parse_size reads them; no "^" in test
#: ids, so that -k can select them), and the model of 2000 arrays of 512
SIZES = ("4k", "64k", "1M", "16M", "2000x512")
HEAVY = {"16M": ("adam", "sgd"), "2000x512": ("adam", "sgd")}  # size -> optimizers it runs for
THREADS = (1, 2)


def _impls(spec, size) -> list[str]:
    impls = ["pyfastopt", "functional", "numpy"]
    if parse_size(size).numel > NUMPY_BLOCK:
        impls.append("numpy-blocked")
    if torch is not None:
        impls += [f"torch-{mode}" for mode in spec.torch_modes]
    return impls


def _cases():
    for spec in OPTIMIZERS:
        for size in SIZES:
            if size in HEAVY and spec.name not in HEAVY[size]:
                continue
            for threads in THREADS:
                group = f"{spec.name}-{size}-t{threads}-{DTYPE}"
                for impl in _impls(spec, size):
                    yield pytest.param(spec, size, threads, impl, id=f"{group}-{impl}",
                                       marks=pytest.mark.benchmark(group=group))  # fmt: skip


@pytest.mark.parametrize(("spec", "size", "threads", "impl"), list(_cases()), indirect=["threads"])
def test_step(benchmark, spec, size, threads, impl):
    w = Workload(spec, parse_size(size), DTYPE, torch=torch)
    call = w.calls[impl]
    call()  # warm-up: torch creates its state, NumPy touches its scratch
    p0 = [p.copy() for p in w.params]
    benchmark.extra_info.update(impl=impl, threads=threads, elements=w.size.total,
                                bytes_per_element=spec.bytes_per_element(DTYPE.itemsize),
                                note=w.notes.get(impl, ""))  # fmt: skip
    benchmark(call)
    assert w.moved_against_gradient(p0), f"{impl}: a parameter is non-finite or moved with g"
