"""Training-loop helpers from the survey's "additional strategies": mini-batching (batch,
stochastic and mini-batch gradient descent), shuffling and curriculum ordering, and early
stopping."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from . import _validate as check

__all__ = ["EarlyStopping", "minibatches"]


def minibatches(
    n: int,
    batch_size: int | None,
    *,
    epoch: int = 0,
    seed: int | None = 0,
    shuffle: bool = True,
    curriculum: Sequence[float] | np.ndarray | None = None,
    drop_last: bool = False,
) -> Iterator[np.ndarray]:
    """Index arrays covering ``range(n)`` once: one epoch of batches.

    ``batch_size=None`` is batch gradient descent (one batch of everything), ``1`` is
    stochastic gradient descent, anything else mini-batch gradient descent. With ``shuffle``
    the order is a permutation drawn from ``(seed, epoch)``: reshuffled every epoch, and the
    same for the same seed and epoch. ``curriculum`` gives each example a difficulty: batches
    then go from easiest to hardest (stable order, no shuffling), as in curriculum learning
    (Bengio et al. 2009). ``drop_last`` drops a final short batch.
    """
    n = check.integer("n", n, 0)
    batch_size = max(n, 1) if batch_size is None else check.integer("batch_size", batch_size, 1)
    if curriculum is not None:
        key = np.asarray(curriculum, dtype=np.float64)
        if key.shape != (n,):
            msg = f"curriculum must hold one difficulty per example: shape ({n},), got {key.shape}"
            raise ValueError(msg)
        order = np.argsort(key, kind="stable")
    elif shuffle:
        order = np.random.default_rng([seed if seed is not None else 0, epoch]).permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


class EarlyStopping:
    """Stops training when a monitored metric has stopped improving (Keras' EarlyStopping).

    Args:
        patience: evaluations without improvement before stopping.
        min_delta: the least change that counts as an improvement.
        mode: "min" (a loss) or "max" (an accuracy).
        restore_best: keep copies of the parameters at the best evaluation, so that
            :meth:`restore` can put them back.

    ``update(metric, params)`` after each evaluation returns True when training should stop:
    after ``patience`` evaluations in a row that did not improve on the best.
    """

    def __init__(
        self,
        patience: int = 10,
        min_delta: float = 0.0,
        mode: str = "min",
        restore_best: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            msg = f"Invalid mode: {mode!r} (must be 'min' or 'max')"
            raise ValueError(msg)
        self.patience = check.integer("patience", patience, 0)
        self.min_delta = check.nonneg("min_delta", min_delta)
        self.mode = mode
        self.restore_best = restore_best
        self.best = math.inf if mode == "min" else -math.inf
        self.best_step = -1
        self.best_params: list[np.ndarray] | None = None
        self.wait = 0
        self.evaluations = 0

    def _improved(self, metric: float) -> bool:
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def update(self, metric: float, params: Sequence[np.ndarray] = ()) -> bool:
        """Records one evaluation; True once ``patience`` evaluations in a row did not
        improve on the best by more than ``min_delta``."""
        metric = float(metric)
        self.evaluations += 1
        if self._improved(metric):
            self.best, self.best_step, self.wait = metric, self.evaluations - 1, 0
            if self.restore_best:
                self.best_params = [np.array(p, copy=True) for p in params]
            return False
        self.wait += 1
        return self.wait >= self.patience

    def restore(self, params: Sequence[np.ndarray]) -> None:
        """Copies the best parameters seen back into ``params`` (in place)."""
        if self.best_params is None:
            msg = "restore: no parameters were recorded (restore_best=False or no update)"
            raise ValueError(msg)
        for target, best in zip(params, self.best_params):
            np.copyto(target, best)
