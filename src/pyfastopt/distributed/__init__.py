"""Distributed SGD: a sharded parameter server running pyfastopt's kernels, and workers that
compute gradients with a NumPy function on their own part of the data (Ruder's overview,
"Parallelizing and distributing SGD").

Modes (:mod:`._modes`): synchronous data-parallel SGD (:class:`Sync`), Downpour SGD
(:class:`Downpour`), elastic averaging (:class:`EASGD`, synchronous or not, and
:class:`EAMSGD`) and delay-tolerant AdaGrad (:class:`DelayTolerantAdagrad`).

The flat parameter vector is cut into ``shards`` contiguous slices, each owned by a
:class:`Shard` that applies the mode's server update to it; ``workers`` replicas each take an
equal contiguous part of the data rows. Backends: ``"threads"`` runs shards and workers in
this process (a lock per shard; the kernels and NumPy release the GIL).

Determinism: a synchronous mode gives the same result for the same inputs (each round's
values are combined in worker order); the asynchronous ones depend on how the workers'
pushes interleave, as on any cluster.

Every push is tagged (worker, sequence number), and a shard applies each at most once, so
that a retried push (Ray's at-least-once delivery) is not applied twice; a push of the wrong
type, dtype or shape raises ``TypeError``/``ValueError`` and changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validate as check
from ._modes import EAMSGD, EASGD, DelayTolerantAdagrad, Downpour, Mode, Sync
from ._server import Shard
from ._worker import GradFn, Worker

__all__ = [
    "EAMSGD",
    "EASGD",
    "DelayTolerantAdagrad",
    "Downpour",
    "Result",
    "Shard",
    "Sync",
    "train",
]


@dataclass
class Result:
    """What :func:`train` returns."""

    #: the server's parameters at the end (EASGD/EAMSGD: the center variable)
    params: np.ndarray
    #: per worker: (seconds since the start, examples it processed, its minibatch loss),
    #: one entry per local step
    history: list[list[tuple[float, int, float]]]
    seconds: float
    #: per shard: pushes applied and duplicate pushes ignored
    shards: list[dict[str, int]] = field(default_factory=list)


class _Local:
    """A shard in this process: calls run one at a time."""

    def __init__(self, shard: Shard) -> None:
        self.shard, self.lock = shard, threading.Lock()

    def call(self, method: str, *args: Any) -> Any:
        with self.lock:
            return getattr(self.shard, method)(*args)


def _bounds(n: int, parts: int) -> list[int]:
    """The starts of ``parts`` near-equal contiguous parts of range(n), and n."""
    return [n * k // parts for k in range(parts + 1)]


def train(
    params: np.ndarray,
    grad_fn: GradFn,
    data: Sequence[np.ndarray],
    mode: Mode,
    *,
    steps: int,
    workers: int = 2,
    shards: int = 2,
    batch_size: int = 32,
    seed: int = 0,
    backend: str = "threads",
    checkpoint_dir: str | None = None,
) -> Result:
    """Trains ``params`` (a flat float32 or float64 array, left unchanged) with ``workers``
    replicas and ``shards`` server shards; returns the server's final parameters.

    Args:
        grad_fn: ``(params, batch) -> (loss, grad)``, pure NumPy and thread-safe; ``batch`` is
            a tuple of rows of the arrays of ``data``; ``grad`` has the params' dtype and shape.
        data: row-aligned arrays (e.g. ``(X, y)``); worker ``w`` gets the ``w``-th of
            ``workers`` contiguous parts of the rows, in minibatches of ``batch_size`` drawn
            in a fresh random order each pass (from ``seed`` and ``w``).
        mode: :class:`Sync`, :class:`Downpour`, :class:`EASGD`, :class:`EAMSGD` or
            :class:`DelayTolerantAdagrad`.
        steps: local steps per worker (for the synchronous modes, rounds).
        checkpoint_dir: where each shard saves its state when the run ends (``shard-<k>.pkl``;
            a shard created with an existing file resumes from it).
    """
    if not isinstance(params, np.ndarray) or params.dtype not in (np.float32, np.float64):
        msg = f"params must be a float32 or float64 NumPy array, got {_describe(params)}"
        raise TypeError(msg)
    if params.ndim != 1:
        msg = f"params must be flat (1-D), got shape {params.shape}"
        raise ValueError(msg)
    steps = check.integer("steps", steps, 1)
    workers = check.integer("workers", workers, 1)
    shards = check.integer("shards", shards, 1, params.size)
    batch_size = check.integer("batch_size", batch_size, 1)
    data = tuple(np.asarray(a) for a in data)
    rows = len(data[0]) if data else 0
    if not data or any(len(a) != rows for a in data) or rows < workers:
        msg = "data must be row-aligned arrays with at least one row per worker"
        raise ValueError(msg)
    if isinstance(mode, EASGD) and workers * mode.alpha >= 1:
        msg = f"workers * alpha must be < 1 for EASGD to be stable, got {workers * mode.alpha}"
        raise ValueError(msg)
    if backend != "threads":
        msg = f"backend must be 'threads', got {backend!r}"
        raise ValueError(msg)

    bounds = _bounds(params.size, shards)
    handles = [
        _Local(Shard(k, params[lo:hi], mode, _checkpoint(checkpoint_dir, k)))
        for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))
    ]
    parts = _bounds(rows, workers)
    replicas = [
        Worker(w, mode, grad_fn, tuple(a[lo:hi] for a in data), batch_size, bounds, seed)
        for w, (lo, hi) in enumerate(zip(parts[:-1], parts[1:]))
    ]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        if mode.synchronous:
            for r in range(steps):
                values = list(pool.map(Worker.round, replicas, [handles] * workers,
                                       [r] * workers, [start] * workers))  # fmt: skip
                if values[0] is not None:  # (EASGD: an exchange round)
                    for k, handle in enumerate(handles):
                        parts_k = [v[k] for v in values]
                        handle.call("push_round", r, parts_k, isinstance(mode, Sync))
        else:
            list(pool.map(Worker.run, replicas, [handles] * workers, [steps] * workers,
                          [start] * workers))  # fmt: skip
    seconds = time.perf_counter() - start
    for handle in handles:
        handle.call("save")
    final = np.concatenate([h.call("value") for h in handles])
    return Result(final, [w.history for w in replicas], seconds,
                  [h.call("stats") for h in handles])  # fmt: skip


def _checkpoint(folder: str | None, shard: int) -> str | None:
    return None if folder is None else f"{folder}/shard-{shard}.pkl"


def _describe(x: object) -> str:
    return f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
