"""One optimizer step in every storage configuration of ``pyfastopt bench --storage
standard`` (fp32, fp32+bf16-states, fp32+8bit-states, bf16, bf16+master, fp16) and its peers
(torch fused beside fp32, bf16 and fp16; bitsandbytes' 8-bit optimizer beside
fp32+8bit-states, where installed), in one pytest-benchmark group per optimizer, size and
thread count: ``<optimizer>-<size>-t<threads>-storage``.

The calls come from ``pyfastopt._bench.storage`` (shared with ``pyfastopt bench``);
``extra_info`` holds the bytes each moves per element. Each configuration and peer is checked
against the fp32 step at collection (``check_storage``): a disagreeing peer is not collected
(torch 2.13's fused SGD leaves most bf16/fp16 parameters unchanged), a disagreeing pyfastopt
configuration fails its benchmarks. Adam, AdamW, SGD and Lion at 64k and 1M elements, Adam
also at 16M. Each benchmark asserts afterwards that every parameter stayed finite.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt._bench import BY_NAME, parse_size
from pyfastopt._bench.storage import (
    STANDARD,
    StorageWorkload,
    check_storage,
    parse_storages,
    peer_names,
)

try:
    import torch
except ImportError:  # the peers are skipped
    torch = None
try:
    import bitsandbytes as bnb
except ImportError:  # its 8-bit peers are skipped
    bnb = None

STORAGES = parse_storages(",".join(STANDARD))
CASES = {"adam": ("64k", "1M", "16M"), "adamw": ("64k", "1M"), "sgd": ("64k", "1M"),
         "lion": ("64k", "1M")}  # fmt: skip
THREADS = (1, 2)
#: name -> (pyfastopt's disagreements, the disagreeing peers)
CHECKED = {name: check_storage(BY_NAME[name], STORAGES, torch, bnb) for name in CASES}


def _calls(name: str) -> list[str]:
    calls = []
    for s in STORAGES:
        calls.append(s.label)
        for peer in peer_names(BY_NAME[name], s):
            call = f"{peer} {s.label}"
            if torch is not None and (peer != "bnb-8bit" or bnb is not None) \
                    and call not in CHECKED[name][1]:  # fmt: skip
                calls.append(call)
    return calls


def _cases():
    for name, sizes in CASES.items():
        for size in sizes:
            for threads in THREADS:
                group = f"{name}-{size}-t{threads}-storage"
                for call in _calls(name):
                    yield pytest.param(name, size, threads, call, id=f"{group}-{call}",
                                       marks=pytest.mark.benchmark(group=group))  # fmt: skip


@pytest.mark.parametrize(("name", "size", "threads", "call"), list(_cases()),
                         indirect=["threads"])  # fmt: skip
def test_storage_step(benchmark, name, size, threads, call):
    assert not CHECKED[name][0], CHECKED[name][0]  # pyfastopt disagrees with its fp32 step
    spec = BY_NAME[name]
    label = call.split(" ")[-1]
    storage = next(s for s in STORAGES if s.label == label)
    w = StorageWorkload(spec, parse_size(size), [storage], torch=torch, bnb=bnb)
    step = w.calls[call]
    step()  # warm-up
    benchmark.extra_info.update(call=call, threads=threads, elements=w.size.total,
                                bytes_per_element=storage.bytes_per_element(len(spec.states)),
                                note=w.notes[call])  # fmt: skip
    benchmark(step)
    for a in w.arrays[label].params:
        assert np.isfinite(a.astype(np.float32)).all(), f"{call}: a parameter is non-finite"
