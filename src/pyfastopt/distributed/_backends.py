"""Where shards and workers live: in this process (threads) or as Ray actors. Both give the
driver the same three things: shard handles (``handle.call(method, *args)``, and
``call_each(handles, method, args)`` for one call per shard at once; workers use them too),
workers, and ``map`` (one method on every worker at once, results in worker order)."""

from __future__ import annotations

import itertools
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._server import Shard
from ._worker import Worker


class _Local:
    """A shard in this process: calls run one at a time."""

    def __init__(self, shard: Shard) -> None:
        self.shard, self.lock = shard, threading.Lock()

    def call(self, method: str, *args: Any) -> Any:
        with self.lock:
            return getattr(self.shard, method)(*args)

    @staticmethod
    def call_each(handles: list[_Local], method: str, args: list[tuple]) -> list[Any]:
        return [h.call(method, *a) for h, a in zip(handles, args)]


class Threads:
    """Shards and workers in this process; each worker runs on a thread of its own (the
    kernels and NumPy release the GIL)."""

    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def shard(self, *args: Any) -> _Local:
        return _Local(Shard(*args))

    def worker(self, *args: Any) -> Worker:
        return Worker(*args)

    def map(self, workers: list[Worker], method: str, *args: Any) -> list[Any]:
        futures = [self.pool.submit(getattr(w, method), *args) for w in workers]
        return [f.result() for f in futures]

    def close(self) -> None:
        self.pool.shutdown()


class _RayShard:
    """A shard actor, callable from the driver and from worker actors alike."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self.actor, method).remote(*args))

    @staticmethod
    def call_each(handles: list[_RayShard], method: str, args: list[tuple]) -> list[Any]:
        """One call per shard, all in flight at once."""
        import ray

        return ray.get([getattr(h.actor, method).remote(*a) for h, a in zip(handles, args)])


class Ray:
    """Shards and workers as Ray actors that Ray restarts when they die (and whose calls
    it retries: pushes are deduplicated by the shards). The cluster: the one this process
    is connected to; if none, the one at ``address``; else a local one started for the run
    (2 CPUs unless ``num_cpus``) and stopped after it. A restarted shard reloads its checkpoint;
    a restarted worker resumes after its last applied push. Actors are named
    ``pyfastopt-<run>-shard-<k>`` and ``pyfastopt-<run>-worker-<w>`` (``run``: 8 random hex
    digits), for the tools that look at a cluster (and the fault tests, which kill them)."""

    def __init__(self, workers: int, address: str | None, num_cpus: int | None) -> None:
        try:
            import ray
        except ImportError as e:
            msg = "backend='ray' needs Ray: pip install 'pyfastopt[distributed]'"
            raise ImportError(msg) from e
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=address, num_cpus=None if address else (num_cpus or 2),
                     include_dashboard=False, log_to_driver=False,
                     _node_ip_address=None if address else "127.0.0.1")  # fmt: skip
        # restarted forever, calls retried forever; shards take no CPU of their own, each
        # worker one (and so its OpenMP threads)
        self.shard_class = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(Shard)
        self.worker_class = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(Worker)
        self.run = uuid.uuid4().hex[:8]
        self.shards, self.workers = itertools.count(), itertools.count()
        self.actors: list[Any] = []

    def shard(self, *args: Any) -> _RayShard:
        name = f"pyfastopt-{self.run}-shard-{next(self.shards)}"
        self.actors.append(self.shard_class.options(name=name).remote(*args))
        return _RayShard(self.actors[-1])

    def worker(self, *args: Any) -> Any:
        name = f"pyfastopt-{self.run}-worker-{next(self.workers)}"
        self.actors.append(self.worker_class.options(name=name).remote(*args))
        return self.actors[-1]

    def map(self, workers: list[Any], method: str, *args: Any) -> list[Any]:
        return self.ray.get([getattr(w, method).remote(*args) for w in workers])

    def close(self) -> None:
        """Ends the run's actors (their CPUs free for the next run at once, not when Ray
        notices the handles are gone), and the cluster if the run started it."""
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        if self.started:
            self.ray.shutdown()
