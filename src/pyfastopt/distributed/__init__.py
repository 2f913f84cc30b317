"""Distributed SGD: a sharded parameter server running pyfastopt's kernels, and workers that
compute gradients with a NumPy function on their own part of the data (Ruder's overview,
"Parallelizing and distributing SGD").

Modes (:mod:`._modes`): synchronous data-parallel SGD (:class:`Sync`), Downpour SGD
(:class:`Downpour`), elastic averaging (:class:`EASGD`, synchronous or not, and
:class:`EAMSGD`) and delay-tolerant AdaGrad (:class:`DelayTolerantAdagrad`).

The flat parameter vector is cut into ``shards`` contiguous slices, each owned by a
:class:`Shard` that applies the mode's server update to it; ``workers`` replicas each take an
equal contiguous part of the data rows. Backends: ``"threads"`` runs shards and workers in
this process (a lock per shard; the kernels and NumPy release the GIL); ``"ray"`` makes them
Ray actors (the ``[distributed]`` extra), restarted by Ray when they die.

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validate as check
from ._backends import Ray, Threads
from ._modes import EAMSGD, EASGD, DelayTolerantAdagrad, Downpour, Mode, Sync
from ._network import is_local, isolate_network, network_endpoints
from ._server import ROUND, Shard
from ._worker import GradFn, call_each

__all__ = [
    "EAMSGD",
    "EASGD",
    "DelayTolerantAdagrad",
    "Downpour",
    "Result",
    "Shard",
    "Sync",
    "is_local",
    "isolate_network",
    "network_endpoints",
    "train",
]


@dataclass
class Result:
    """What :func:`train` returns."""

    #: the server's parameters at the end (EASGD/EAMSGD: the center variable), flat or as a
    #: list of arrays, as they were given
    params: Any
    #: per worker: (seconds since the start, examples it processed, its minibatch loss),
    #: one entry per local step
    history: list[list[tuple[float, int, float]]]
    seconds: float
    #: per shard (Shard.stats): pushes applied, in all and per worker, and retries ignored
    shards: list[dict[str, Any]] = field(default_factory=list)
    #: with ``trace_every``: (seconds since the start, the server's parameters then)
    trace: list[tuple[float, Any]] = field(default_factory=list)


def _bounds(n: int, parts: int) -> list[int]:
    """The starts of ``parts`` near-equal contiguous parts of range(n), and n."""
    return [n * k // parts for k in range(parts + 1)]


def train(
    params: np.ndarray | Sequence[np.ndarray],
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
    address: str | None = None,
    num_cpus: int | None = None,
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 0,
    trace_every: float | None = None,
) -> Result:
    """Trains ``params`` (a flat float32 or float64 array, or a list of arrays of one of
    those dtypes, flattened into one vector; left unchanged) with ``workers`` replicas and
    ``shards`` server shards; returns the server's final parameters (as given: a flat
    array, or a list of arrays of the same shapes).

    Args:
        grad_fn: ``(params, batch) -> (loss, grad)``, pure NumPy and thread-safe; ``batch`` is
            a tuple of rows of the arrays of ``data``; ``grad`` has the params' dtype and shape
            (for a list of arrays: a list of gradients, one per array).
            On Ray it is pickled to the workers (cloudpickle: its module must be importable
            there, or registered to be pickled by value).
        data: row-aligned arrays (e.g. ``(X, y)``); worker ``w`` gets the ``w``-th of
            ``workers`` contiguous parts of the rows, in minibatches of ``batch_size`` drawn
            in a fresh random order each pass (from ``seed`` and ``w``).
        mode: :class:`Sync`, :class:`Downpour`, :class:`EASGD`, :class:`EAMSGD` or
            :class:`DelayTolerantAdagrad`.
        steps: local steps per worker (for the synchronous modes, rounds).
        backend: ``"threads"`` (this process) or ``"ray"`` (actors on the cluster this process
            is connected to; if none, the one at ``address``; else a local one started for
            the run with ``num_cpus`` CPUs, default 2, on 127.0.0.1, and stopped after it).
        checkpoint_dir: where each shard saves its state (``shard-<k>.pkl``) every
            ``checkpoint_every`` applied pushes and at the end; a shard created with an
            existing file resumes from it (a restarted actor, or a run resumed).
        trace_every: read the server's parameters about every this many seconds while the
            run goes on (into ``Result.trace``, for loss curves).
    """
    shapes = None
    if isinstance(params, (list, tuple)):
        arrays = [np.asarray(p) for p in params]
        if not arrays or len({a.dtype for a in arrays}) != 1:
            msg = "params: a list of arrays must be non-empty, of one dtype"
            raise TypeError(msg)
        shapes = [a.shape for a in arrays]
        params = np.concatenate([a.ravel() for a in arrays])
        grad_fn = _ListGradient(grad_fn, shapes)
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
    checkpoint_every = check.integer("checkpoint_every", checkpoint_every, 0)
    if trace_every is not None:
        trace_every = check.positive("trace_every", trace_every)
    data = tuple(np.asarray(a) for a in data)
    rows = len(data[0]) if data else 0
    if not data or any(len(a) != rows for a in data) or rows < workers:
        msg = "data must be row-aligned arrays with at least one row per worker"
        raise ValueError(msg)
    if isinstance(mode, EASGD) and workers * mode.alpha >= 1:
        msg = f"workers * alpha must be < 1 for EASGD to be stable, got {workers * mode.alpha}"
        raise ValueError(msg)
    if backend == "threads":
        cluster: Any = Threads(workers)
    elif backend == "ray":
        cluster = Ray(workers, address, num_cpus)
    else:
        msg = f"backend must be 'threads' or 'ray', got {backend!r}"
        raise ValueError(msg)
    try:
        result = _run(cluster, params, grad_fn, data, mode, steps, workers, shards, batch_size,
                      seed, checkpoint_dir, checkpoint_every, trace_every)  # fmt: skip
    finally:
        cluster.close()
    if shapes is not None:
        result.params = _unflatten(result.params, shapes)
        result.trace = [(t, _unflatten(p, shapes)) for t, p in result.trace]
    return result


def _run(cluster: Any, params: np.ndarray, grad_fn: GradFn, data: tuple, mode: Mode,
         steps: int, workers: int, shards: int, batch_size: int, seed: int,
         checkpoint_dir: str | None, checkpoint_every: int,
         trace_every: float | None) -> Result:  # fmt: skip
    bounds = _bounds(params.size, shards)
    handles = [
        cluster.shard(k, params[lo:hi], mode, _checkpoint(checkpoint_dir, k), checkpoint_every)
        for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))
    ]
    parts = _bounds(len(data[0]), workers)
    replicas = [
        cluster.worker(w, mode, grad_fn, tuple(a[lo:hi] for a in data), batch_size, bounds, seed)
        for w, (lo, hi) in enumerate(zip(parts[:-1], parts[1:]))
    ]
    cluster.map(replicas, "log")  # every worker up (Ray starts actors lazily), then the clock
    call_each(handles, "stats", [()] * shards)
    start = time.time()
    trace: list[tuple[float, np.ndarray]] = []
    tracing = threading.Event()

    def read() -> None:
        while not tracing.wait(trace_every):
            trace.append((time.time() - start, _value(handles)))

    tracer = threading.Thread(target=read, daemon=True)
    if trace_every is not None:
        trace.append((0.0, _value(handles)))
        tracer.start()
    if mode.synchronous:  # (a resumed run goes on after the last round every shard has)
        first = 1 + min(call_each(handles, "last_seq", [(ROUND,)] * shards))
        for r in range(first, steps):
            values = cluster.map(replicas, "round", handles, r, start)
            if values[0] is not None:  # (EASGD: an exchange round)
                mean = isinstance(mode, Sync)
                rounds = [(r, [v[k] for v in values], mean) for k in range(shards)]
                call_each(handles, "push_round", rounds)
    else:
        cluster.map(replicas, "run", handles, steps, start)
    seconds = time.time() - start
    if trace_every is not None:
        tracing.set()
        tracer.join()
        trace = [(t, p) for t, p in trace if t < seconds]  # (a read that ended after the run)
    call_each(handles, "save", [()] * shards)
    final = _value(handles)
    if trace_every is not None:
        trace.append((seconds, final))
    history = cluster.map(replicas, "log")
    return Result(final, history, seconds, call_each(handles, "stats", [()] * shards), trace)


def _value(handles: list[Any]) -> np.ndarray:
    """The server's parameters (every shard's, concatenated)."""
    return np.concatenate(call_each(handles, "value", [()] * len(handles)))


def _unflatten(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Views of ``flat`` with the given shapes, in order."""
    sizes = [int(np.prod(s)) for s in shapes]
    ends = np.cumsum(sizes)
    return [flat[e - n : e].reshape(s) for n, e, s in zip(sizes, ends, shapes)]


class _ListGradient:
    """A grad_fn on a list of arrays as one on their flat concatenation (picklable for Ray)."""

    def __init__(self, grad_fn: Any, shapes: list[tuple[int, ...]]) -> None:
        self.grad_fn, self.shapes = grad_fn, shapes

    def __call__(self, flat: np.ndarray, batch: tuple) -> tuple[float, np.ndarray]:
        loss, grads = self.grad_fn(_unflatten(flat, self.shapes), batch)
        return loss, np.concatenate([np.asarray(g, flat.dtype).ravel() for g in grads])


def _checkpoint(folder: str | None, shard: int) -> str | None:
    return None if folder is None else f"{folder}/shard-{shard}.pkl"


def _describe(x: object) -> str:
    return f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
