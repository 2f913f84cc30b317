"""One ``pyfastopt bench`` run: which groups are timed, in what order, with what arrays.

For each size class: the roofline group (triad and Adam pattern) at every thread count, then
for each optimizer one :class:`~.workload.Workload` (arrays made once) timed at every thread
count. A group holds the Adam-pattern kernel (the ceiling, side by side), pyfastopt's class and
functional calls, the torch.optim modes, and, in the first thread group only, the NumPy
formulations (NumPy runs on one thread whatever the setting). With storage configurations
(``--storage``), each optimizer's group holds instead the Adam-pattern kernel, the step in
every configuration (:class:`~.storage.StorageWorkload`; all-fp32 among them) and its peers.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .. import get_num_threads, set_num_threads
from .baselines import FORMULATIONS, NUMPY_BLOCK
from .measure import Entry, Timing, run_group
from .optimizers import Spec, bytes_per_element
from .storage import Storage, StorageWorkload
from .workload import IMPLS, Roofline, Size, Workload, cache_level, cache_sizes, parse_size

#: Default size classes (float32, this project's reference machine: L1d 32 KiB and L2
#: 512 KiB per core, L3 32 MiB): the Adam working set (4 arrays) of 2^10 elements is 16 KiB
#: (L1), of 2^12 64 KiB (L2; the issue's 4096-element step), of 2^16 1 MiB and of 2^20
#: 16 MiB (L3), of 2^23 128 MiB (DRAM: 4x the L3; 2^24 doubles the run's time for the same
#: bandwidth figure, ask for it with --sizes); then a model of 2000 arrays of 512 elements.
DEFAULT_SIZES = ("2^10", "2^12", "2^16", "2^20", "2^23", "2000x512")
#: ``--quick``: one size per level, DRAM at 2^22 (64 MiB for Adam: still twice the L3).
QUICK_SIZES = ("2^12", "2^16", "2^22", "2000x512")
DEFAULT_TIMING = Timing(budget=0.01)
QUICK_TIMING = Timing(budget=0.004, min_rounds=3, min_rounds_slow=2, max_rounds=60,
                      sample_target=2.5e-4)  # fmt: skip


@dataclass
class Config:
    specs: Sequence[Spec]
    sizes: Sequence[Size]
    threads: Sequence[int]
    dtype: np.dtype
    timing: Timing
    torch: ModuleType | None = None
    block: int = NUMPY_BLOCK
    mode: str = "default"
    #: storage configurations: when given, they are timed instead of the implementations
    storages: Sequence[Storage] = ()
    bnb: ModuleType | None = None  #: bitsandbytes, for the 8-bit peers
    #: peers left out of the timing, by optimizer: {call name: why} (see check_storage)
    excluded: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "optimizers": [s.name for s in self.specs], "sizes": [s.label for s in self.sizes],
            "size_objects": list(self.sizes), "threads": list(self.threads),
            "dtype": self.dtype.name, "mode": self.mode, "timing": vars(self.timing).copy(),
            "numpy_block": self.block, "impls": list(IMPLS),
            "storages": [s.label for s in self.storages],
            "bitsandbytes": None if self.bnb is None else self.bnb.__version__,
            "excluded_peers": {k: dict(v) for k, v in self.excluded.items()},
        }  # fmt: skip


@dataclass
class Task:
    """One group to time, with its progress weight (estimated seconds)."""

    label: str
    weight: float
    run: Callable[[], None] = field(repr=False)


def _estimate(size: Size, entries: int, timing: Timing) -> float:
    """Rough seconds a group takes (for the progress bar's ETA only)."""
    call = max(size.total * 28 / 4e9, size.count * 8e-6)  # torch-ish: ~4 GB/s, ~8 us per tensor
    rounds = timing.repeat or (timing.min_rounds_slow if call * entries > timing.slow_round
                               else timing.min_rounds)  # fmt: skip
    return entries * max(timing.budget, (rounds + 1.5) * call)


def _set_threads(n: int, torch: ModuleType | None) -> Callable[[], None]:
    def setup() -> None:
        set_num_threads(n)
        if torch is not None:
            torch.set_num_threads(n)

    return setup


def plan(config: Config, records: list[dict[str, Any]]) -> list[Task]:
    """The tasks of a run, in order; each appends its records (one per entry) when run."""
    tasks: list[Task] = []
    torch = config.torch
    pattern_bytes = bytes_per_element("adam-pattern", config.dtype.itemsize)

    def record(group: str, size: Size, t: int, name: str | None, entries: list[Entry],
               extra: dict[str, dict[str, Any]]) -> None:  # fmt: skip
        for e in entries:
            records.append({"group": group, "size": size, "threads": t, "optimizer": name,
                            "impl": e.impl, "note": e.note, "median_s": e.median,
                            "batch": e.batch, "samples_s": e.samples,
                            **extra.get(e.impl, {})})  # fmt: skip

    def timed(group: str, spec: Spec, size: Size, roof: Roofline, warm: bool,
              calls: dict[str, Callable[[], Any]], notes: dict[str, str],
              extra: dict[str, dict[str, Any]]) -> None:  # fmt: skip
        """Every call beside the Adam-pattern kernel, round-robin, at each thread count
        (NumPy's in the first only: it runs on one thread)."""
        known: dict[str, float] = {}  # slow entries are not warmed up twice
        for i, t in enumerate(config.threads):
            entries = [Entry("adam-pattern", roof.adam_pattern)]
            for impl, call in calls.items():
                if impl.startswith("numpy") and i > 0:
                    continue  # single-threaded: timed once
                entries.append(Entry(impl, call, notes.get(impl, "")))
            for e in entries:
                e.estimate = known.get(e.impl, e.estimate)
            run_group(entries, config.timing, warm=warm, setup=_set_threads(t, torch))
            record(group, size, t, spec.name, entries, extra)
            known.update((e.impl, e.estimate) for e in entries)

    caches = cache_sizes()
    for size in config.sizes:
        holder: dict[str, Any] = {}
        # warm samples where the step's arrays fit in the caches (Adam: 4 arrays)
        warm = cache_level(4 * size.total * config.dtype.itemsize, caches) != "DRAM"

        def roofline(size=size, holder=holder, warm=warm) -> None:
            holder["roof"] = Roofline(size, config.dtype)
            for t in config.threads:
                r = holder["roof"]
                entries = [Entry("triad", r.triad), Entry("adam-pattern", r.adam_pattern)]
                if r.adam_pattern_aliased is not None:
                    entries.append(Entry("adam-pattern-aliased", r.adam_pattern_aliased))
                run_group(entries, config.timing, warm=warm, setup=_set_threads(t, torch))
                record("roofline", size, t, None, entries, {})

        tasks.append(Task(f"roofline {size.label}", len(config.threads)
                          * _estimate(size, 2, config.timing) / 3, roofline))  # fmt: skip
        for spec in config.specs:
            if config.storages:
                n_entries = 1 + 2 * len(config.storages)

                def step(spec=spec, size=size, holder=holder, warm=warm) -> None:
                    w = StorageWorkload(spec, size, config.storages, torch=torch, bnb=config.bnb,
                                        exclude=config.excluded.get(spec.name, {}))  # fmt: skip
                    by_label = {s.label: s for s in config.storages}
                    extra: dict[str, dict[str, Any]] = {"adam-pattern": {
                        "storage": None, "peer": None, "bytes_per_element": pattern_bytes}}
                    for impl, (label, peer) in w.meta.items():
                        nbytes = by_label[label].bytes_per_element(len(spec.states))
                        extra[impl] = {"storage": label, "peer": peer, "bytes_per_element": nbytes}
                    timed("storage", spec, size, holder["roof"], warm, w.calls, w.notes, extra)
                    del w
                    gc.collect()
            else:
                numpy_entries = 2 * (spec.name in FORMULATIONS)
                torch_entries = len(spec.torch_modes if torch else ())
                n_entries = 2 + numpy_entries + torch_entries + (size.count > 1)

                def step(spec=spec, size=size, holder=holder, warm=warm) -> None:
                    w = Workload(spec, size, config.dtype, torch=torch, block=config.block)
                    timed("step", spec, size, holder["roof"], warm, w.calls, w.notes, {})
                    del w
                    gc.collect()

            tasks.append(Task(f"{spec.name} {size.label}", len(config.threads)
                              * _estimate(size, n_entries, config.timing), step))  # fmt: skip

        def release(holder=holder) -> None:
            holder.clear()
            gc.collect()

        tasks.append(Task("", 0.0, release))
    return tasks


#: progress(label, advance), told of each task (see run)
OnProgress = Callable[[str, float], None]


def run(config: Config, progress: OnProgress | None = None) -> tuple[list[dict], float]:
    """Runs every task. ``progress(label, advance)`` is told each task's label before it
    starts (advance 0) and its weight once done (label ""). Returns the records and the
    seconds the run took. Thread counts are restored."""
    records: list[dict[str, Any]] = []
    tasks = plan(config, records)
    torch = config.torch
    before = get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else None
    start = time.perf_counter()
    gc.freeze()  # torch's many objects out of the collector's way: gc.collect() stays cheap
    try:
        for task in tasks:
            if progress is not None and task.label:
                progress(task.label, 0.0)
            task.run()
            if progress is not None:
                progress("", task.weight)
    finally:
        gc.unfreeze()
        set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_before)
    return records, time.perf_counter() - start


def total_weight(config: Config) -> float:
    return sum(t.weight for t in plan(config, []))


__all__ = ["DEFAULT_SIZES", "QUICK_SIZES", "Config", "parse_size", "plan", "run"]
