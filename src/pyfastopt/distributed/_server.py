"""A parameter-server shard: one contiguous slice of the flat parameter vector, the server
side of a training mode, and the bookkeeping that makes pushes safe to retry (every push is
tagged (worker, sequence number) and applied at most once) and the shard restartable (its
whole state saved atomically, and loaded by the constructor of a restarted shard)."""

from __future__ import annotations

import copy
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import functional as F
from ._modes import EASGD, DelayTolerantAdagrad, Mode

#: the worker id of a synchronous round's combined push (the driver's)
ROUND = -1


class _Rule:
    """The server side of a mode. Defaults: nothing to note on a read, every push may be
    applied, no state besides the parameters."""

    def on_read(self, worker: int) -> None:
        pass

    def check(self, worker: int) -> None:
        """Raises if a push from ``worker`` cannot be applied now (before anything changes)."""

    def apply(self, worker: int, value: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class _OptimizerRule(_Rule):
    """Sync and Downpour: the pushed gradient goes to a pyfastopt.optim optimizer."""

    def __init__(self, params: np.ndarray, mode: Mode) -> None:
        self.optimizer = mode.server_optimizer()([params])  # type: ignore[union-attr]

    def apply(self, worker: int, grad: np.ndarray) -> None:
        self.optimizer.step([grad])

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


class _CenterRule(_Rule):
    """EASGD/EAMSGD: the params are the center; a push is an elastic difference to add."""

    def __init__(self, params: np.ndarray, mode: Mode) -> None:
        self.params = params

    def apply(self, worker: int, diff: np.ndarray) -> None:
        np.add(self.params, diff, out=self.params)


class _DelayTolerantRule(_Rule):
    """Delay-tolerant AdaGrad: z, z', the running gradient sum, and each worker's copy of
    that sum as it was at the worker's last read."""

    def __init__(self, params: np.ndarray, mode: Mode) -> None:
        assert isinstance(mode, DelayTolerantAdagrad)
        self.params, self.lr, self.eps = params, mode.lr, mode.eps
        self.sums = {k: np.zeros_like(params) for k in ("sum", "sum_max", "gbar")}
        self.at_read: dict[int, np.ndarray] = {}
        self.steps = 0

    def on_read(self, worker: int) -> None:
        self.at_read.setdefault(worker, np.empty_like(self.params))[...] = self.sums["gbar"]

    def check(self, worker: int) -> None:
        if worker not in self.at_read:
            msg = f"worker {worker} pushed a gradient before reading the parameters"
            raise ValueError(msg)

    def apply(self, worker: int, grad: np.ndarray) -> None:
        self.steps += 1
        F.delay_tolerant_adagrad_(self.params, grad, self.sums["sum"], self.sums["sum_max"],
                                  self.sums["gbar"], self.at_read[worker], step=self.steps,
                                  lr=self.lr, eps=self.eps)  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums, "at_read": self.at_read, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state["sums"].items():
            self.sums[k][...] = v
        self.at_read = {w: np.array(v) for w, v in state["at_read"].items()}
        self.steps = state["steps"]


def _rule_of(params: np.ndarray, mode: Mode) -> _Rule:
    if isinstance(mode, EASGD):
        return _CenterRule(params, mode)
    if isinstance(mode, DelayTolerantAdagrad):
        return _DelayTolerantRule(params, mode)
    return _OptimizerRule(params, mode)


class Shard:
    """Parameters [start, stop) of the flat vector and their server state.

    ``checkpoint``: a file path; if it exists, the shard starts from it (a restarted actor
    resumes), and :meth:`save` writes it atomically (a temporary file, then a rename), by
    itself after every ``checkpoint_every`` applied pushes (0: only when asked). Methods
    are called one at a time (the backend serialises them).
    """

    def __init__(self, index: int, params: np.ndarray, mode: Mode,
                 checkpoint: str | None = None, checkpoint_every: int = 0) -> None:  # fmt: skip
        self.index = index
        self.params = np.array(params, copy=True)  # its own: arrays from Ray are read-only
        self.rule = _rule_of(self.params, mode)
        self.applied: dict[int, int] = {}  # worker -> last sequence number applied
        self.counts: dict[int, int] = {}  # worker -> pushes applied
        self.pushes = self.duplicates = 0
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        if checkpoint is not None and Path(checkpoint).exists():
            with Path(checkpoint).open("rb") as f:
                self.load_state_dict(pickle.load(f))

    def pull(self, worker: int) -> np.ndarray:
        """A copy of the parameters (a read, for delay-tolerant AdaGrad)."""
        self.rule.on_read(worker)
        return self.params.copy()

    def push(self, worker: int, seq: int, value: Any) -> bool:
        """Applies ``value`` (a gradient, or an elastic difference) from ``worker``, unless
        its push ``seq`` was applied already (a retry): returns whether it was applied. A
        value of the wrong type, dtype or shape raises and changes nothing."""
        self._check(worker, value)
        if seq <= self.applied.get(worker, -1):
            self.duplicates += 1
            return False
        self.rule.check(worker)
        self.rule.apply(worker, value)
        self.applied[worker] = seq
        self.counts[worker] = self.counts.get(worker, 0) + 1
        self.pushes += 1
        if self.checkpoint_every and self.pushes % self.checkpoint_every == 0:
            self.save()
        return True

    def push_round(self, seq: int, values: list[Any], mean: bool) -> bool:
        """A synchronous round: every worker's value, combined in worker order (summed, or
        averaged when ``mean``) and applied as one push of the round's number."""
        for worker, value in enumerate(values):
            self._check(worker, value)
        total = values[0].copy()
        for value in values[1:]:
            total += value
        if mean:
            total /= len(values)
        return self.push(ROUND, seq, total)

    def value(self) -> np.ndarray:
        """A copy of the parameters (not a worker's read)."""
        return self.params.copy()

    def last_seq(self, worker: int) -> int:
        """The last sequence number applied from ``worker`` (-1: none)."""
        return self.applied.get(worker, -1)

    def stats(self) -> dict[str, Any]:
        """Pushes applied (in all and per worker; -1: synchronous rounds) and retries
        ignored."""
        return {"shard": self.index, "pushes": self.pushes, "duplicates": self.duplicates,
                "by_worker": dict(self.counts)}  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of everything the shard holds."""
        return copy.deepcopy({"params": self.params, "rule": self.rule.state_dict(),
                              "applied": self.applied, "counts": self.counts,
                              "pushes": self.pushes,
                              "duplicates": self.duplicates})  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` saved (``ValueError`` if the shapes differ)."""
        if state["params"].shape != self.params.shape:
            msg = (f"checkpoint of shard {self.index} has shape {state['params'].shape}, "
                   f"expected {self.params.shape}")  # fmt: skip
            raise ValueError(msg)
        self.params[...] = state["params"]
        self.rule.load_state_dict(state["rule"])
        self.applied, self.counts = dict(state["applied"]), dict(state["counts"])
        self.pushes, self.duplicates = state["pushes"], state["duplicates"]

    def save(self) -> None:
        """Writes the checkpoint file atomically (no-op without one)."""
        if self.checkpoint is None:
            return
        path = Path(self.checkpoint)
        with tempfile.NamedTemporaryFile(dir=path.resolve().parent, delete=False) as f:
            pickle.dump(self.state_dict(), f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        Path(f.name).replace(path)

    def _check(self, worker: int, value: Any) -> None:
        where = f"push from worker {worker} to shard {self.index}"
        if not isinstance(value, np.ndarray):
            msg = f"{where}: expected a NumPy array, got {type(value).__name__}"
            raise TypeError(msg)
        if value.dtype != self.params.dtype:
            msg = f"{where} has dtype {value.dtype}, expected {self.params.dtype}"
            raise TypeError(msg)
        if value.shape != self.params.shape:
            msg = f"{where} has shape {value.shape}, expected {self.params.shape}"
            raise ValueError(msg)
