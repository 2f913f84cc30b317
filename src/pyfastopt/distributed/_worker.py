"""A worker (model replica): its slice of the data, minibatches, the user's gradient
function, and the client side of a training mode, talking to the shards through handles
(``handle.call(method, *args)``, in this process or on Ray)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from .. import functional as F
from .. import optim
from ._modes import EASGD, DelayTolerantAdagrad, Downpour, Mode, Sync

#: (params, batch) -> (loss, gradient): params and gradient flat arrays of one dtype
GradFn = Callable[[np.ndarray, tuple], tuple[float, np.ndarray]]


class Worker:
    """Worker ``index`` of a run: ``data`` is its own tuple of row-aligned arrays."""

    def __init__(self, index: int, mode: Mode, grad_fn: GradFn, data: tuple,
                 batch_size: int, bounds: Sequence[int], seed: int) -> None:  # fmt: skip
        self.index, self.mode, self.grad_fn = index, mode, grad_fn
        self.data, self.batch_size, self.bounds = data, batch_size, list(bounds)
        self.rng = np.random.default_rng([seed, index])
        self.order = np.empty(0, np.intp)
        self.cursor = 0
        self.examples = 0
        self.loss = float("nan")  # of the last minibatch
        self.history: list[tuple[float, int, float]] = []  # (seconds, examples, batch loss)
        self.params: np.ndarray | None = None  # EASGD: the worker's own parameters
        self.local: Any = None  # EASGD/EAMSGD: the local optimizer; Downpour: accrued grads

    def run(self, shards: list[Any], steps: int, start: float) -> None:
        """The asynchronous modes: local steps until ``steps``, pushing as the mode says. A
        push is numbered by its step, and a restarted worker resumes after the last push that
        every shard applied (a shard that has the redone step's push already ignores it: each
        applies one push per step, none twice, none lost)."""
        first = 1 + min(call_each(shards, "last_seq", [(self.index,)] * len(shards)))
        for t in range(first, steps):
            if isinstance(self.mode, Downpour):
                self._downpour_step(shards, t, steps)
            elif isinstance(self.mode, EASGD):
                self._elastic_step(shards, t, exchange=t % self.mode.tau == 0)
            else:
                assert isinstance(self.mode, DelayTolerantAdagrad)
                self._push(shards, t, self._gradient(self._pull(shards)))
            self._log(start)

    def log(self) -> list[tuple[float, int, float]]:
        """(seconds since the start, examples processed, minibatch loss) per local step."""
        return self.history

    def round(self, shards: list[Any], r: int, start: float) -> list[np.ndarray] | None:
        """A synchronous round: the values to combine at each shard (None: nothing to push
        this round, for EASGD between exchanges)."""
        out: list[np.ndarray] | None
        if isinstance(self.mode, Sync):
            out = self._split(self._gradient(self._pull(shards)))
        else:
            assert isinstance(self.mode, EASGD)
            out = self._elastic_step(shards, r, exchange=r % self.mode.tau == 0, push=False)
        self._log(start)
        return out

    def _downpour_step(self, shards: list[Any], t: int, steps: int) -> None:
        mode = self.mode
        assert isinstance(mode, Downpour)
        if t % mode.n_fetch == 0 or self.params is None:
            self.params = self._pull(shards)
            self.local = self.local if self.local is not None else np.zeros_like(self.params)
        assert self.params is not None
        grad = self._gradient(self.params)
        self.local += grad  # accrued gradients
        if mode.lr > 0:
            F.sgd_(self.params, grad, step=1, lr=mode.lr)
        if (t + 1) % mode.n_push == 0 or t + 1 == steps:
            self._push(shards, t, self.local)
            self.local[...] = 0

    def _elastic_step(self, shards: list[Any], t: int, exchange: bool,
                      push: bool = True) -> list[np.ndarray] | None:  # fmt: skip
        mode = self.mode
        assert isinstance(mode, EASGD)
        if self.params is None:  # start from the center
            self.params = self._pull(shards)
            self.local = optim.SGD([self.params], lr=mode.lr, momentum=mode.momentum,
                                   nesterov=mode.momentum > 0)  # fmt: skip
        grad = self._gradient(self.params)  # at x before the exchange
        out = None
        if exchange:
            diff = np.empty_like(self.params)
            F.elastic_(self.params, self._pull(shards), diff, alpha=mode.alpha)
            out = self._split(diff)
            if push:
                self._push(shards, t, diff)
        self.local.step([grad])
        return out

    def _pull(self, shards: list[Any]) -> np.ndarray:
        return np.concatenate(call_each(shards, "pull", [(self.index,)] * len(shards)))

    def _push(self, shards: list[Any], t: int, value: np.ndarray) -> None:
        call_each(shards, "push", [(self.index, t, part) for part in self._split(value)])

    def _split(self, value: np.ndarray) -> list[np.ndarray]:
        return [value[lo:hi] for lo, hi in zip(self.bounds[:-1], self.bounds[1:])]

    def _log(self, start: float) -> None:
        self.history.append((time.time() - start, self.examples, self.loss))

    def _gradient(self, params: np.ndarray) -> np.ndarray:
        """The gradient at ``params`` on the next minibatch (its loss kept for the log)."""
        batch = self._next_batch()
        loss, grad = self.grad_fn(params, batch)
        grad = np.asarray(grad)
        if grad.dtype != params.dtype or grad.shape != params.shape:
            msg = (f"grad_fn returned a gradient of dtype {grad.dtype} and shape {grad.shape}"
                   f" for params of dtype {params.dtype} and shape {params.shape}")
            raise TypeError(msg)
        self.examples += len(batch[0])
        self.loss = float(loss)
        return grad

    def _next_batch(self) -> tuple:
        rows = len(self.data[0])
        if self.cursor + self.batch_size > len(self.order):  # a new epoch of this shard
            self.order, self.cursor = self.rng.permutation(rows), 0
        take = self.order[self.cursor : self.cursor + self.batch_size]
        self.cursor += len(take)
        return tuple(a[take] for a in self.data)


def call_each(shards: list[Any], method: str, args: list[tuple]) -> list[Any]:
    """One call per shard handle (all at once where the backend can), results in order."""
    return type(shards[0]).call_each(shards, method, args)
