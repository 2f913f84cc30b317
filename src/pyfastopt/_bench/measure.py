"""Timing: adaptive batches, round-robin rounds, medians.

A *group* is every implementation of one (optimizer, size, threads) plus the roofline
kernel at that size. Its entries are timed round-robin, one sample of each per round (the
starting entry rotating), so that the machine's noise hits all of them alike. Calls faster
than ``batch_below`` are timed in batches of about ``sample_target`` seconds; the number
of rounds comes from a time budget per entry, within [min_rounds, max_rounds].
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Entry:
    """One timed thing: a zero-argument call, and its samples (seconds per call)."""

    impl: str
    call: Callable[[], Any] = field(repr=False)
    note: str = ""
    batch: int = 1  #: calls per sample
    estimate: float = math.nan  #: seconds per call, from calibration
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass(frozen=True)
class Timing:
    """How long to time each group."""

    budget: float = 0.02  #: seconds of samples per entry (sets the round count)
    min_rounds: int = 5  #: at least this many samples per entry...
    min_rounds_slow: int = 3  #: ...or this many when one round takes over slow_round s
    slow_round: float = 0.1
    max_rounds: int = 200
    repeat: int | None = None  #: exactly this many rounds (overrides the four above)
    batch_below: float = 1e-4  #: calls faster than this are timed in batches...
    sample_target: float = 5e-4  #: ...of about this many seconds
    warm_below: float = 5e-3  #: with warm=True, calls faster than this get a warm-up call
    skip_warmup: float = 0.01  #: an entry known to be this slow is not warmed up again


def _clock(call: Callable[[], Any], k: int) -> float:
    t0 = time.perf_counter()
    for _ in range(k):
        call()
    return (time.perf_counter() - t0) / k


def calibrate(entry: Entry, timing: Timing) -> None:
    """Warm-up (page faults, lazily created state, thread pools), then the batch size. An
    entry already calibrated as slow (its arrays touched, its state made) skips both."""
    if entry.estimate >= timing.skip_warmup:
        return
    first = _clock(entry.call, 1)
    estimate = first
    if first < timing.skip_warmup:  # cheap enough to time again without the warm-up's costs
        estimate = _clock(entry.call, 1)
        if estimate < timing.batch_below:
            estimate = _clock(entry.call, max(2, math.ceil(1e-3 / max(estimate, 1e-7))))
    entry.estimate = estimate
    if estimate < timing.batch_below:
        entry.batch = max(1, math.ceil(timing.sample_target / max(estimate, 1e-7)))


def rounds_for(entries: Sequence[Entry], timing: Timing, *, warm: bool = False) -> int:
    """The number of rounds: ``timing.repeat``, else what fills the budget, within bounds."""
    if timing.repeat is not None:
        return timing.repeat
    round_time = sum((e.batch + (warm and e.estimate < timing.warm_below)) * e.estimate
                     for e in entries)  # fmt: skip
    low = timing.min_rounds_slow if round_time > timing.slow_round else timing.min_rounds
    wanted = math.ceil(timing.budget * len(entries) / max(round_time, 1e-9))
    return max(low, min(timing.max_rounds, wanted))


def run_group(entries: Sequence[Entry], timing: Timing, *, warm: bool = False,
              setup: Callable[[], None] | None = None) -> None:  # fmt: skip
    """Calibrates each entry, then times them round-robin; samples land in the entries.

    ``warm``: one untimed call before each sample of a call faster than
    ``timing.warm_below``, so that a step whose arrays fit in the caches is timed with them
    there, not where the previous entry (torch's temporaries, another optimizer's state) left
    them; a slower call hardly depends on it. ``setup`` runs first (e.g. thread counts).
    """
    if setup is not None:
        setup()
    for e in entries:
        calibrate(e, timing)
    n = len(entries)
    warmed = [warm and e.estimate < timing.warm_below for e in entries]
    for r in range(rounds_for(entries, timing, warm=warm)):
        for i in range(n):
            j = (r + i) % n
            e = entries[j]
            if warmed[j]:
                e.call()
            e.samples.append(_clock(e.call, e.batch))
