"""Scheduler objects that write a schedule's values into an optimizer's parameter groups."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable

from ._schedule import _integer, _real


def _param_groups(optimizer: Any) -> list[dict[str, Any]]:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
        msg = ("optimizer must have a non-empty list of parameter-group dicts in "
               f"param_groups, got {type(optimizer).__name__}")  # fmt: skip
        raise TypeError(msg)
    return groups


def _key(key: Any) -> str | tuple[str, int]:
    if isinstance(key, str):
        return key
    if (isinstance(key, (tuple, list)) and len(key) == 2 and isinstance(key[0], str)
            and isinstance(key[1], int) and not isinstance(key[1], bool)):  # fmt: skip
        return (key[0], key[1])
    msg = f'key must be a group key ("lr") or a (key, index) pair (("betas", 0)), got {key!r}'
    raise TypeError(msg)


class ScheduleLR:
    """Sets a hyperparameter of every parameter group to ``schedule(t)``, where ``t`` counts
    the calls of :meth:`step` (torch's ``LambdaLR``, with absolute values, not factors).

    ``t = 0`` on construction, which writes ``schedule(0)`` into the groups: the first
    optimizer step uses it. Call :meth:`step` after each optimizer step to schedule per
    step, or after each epoch to schedule per epoch::

        opt = pyfastopt.optim.SGD(params, lr=0.1, momentum=0.9)
        sched = ScheduleLR(opt, cosine_decay_schedule(0.1, epochs))
        for epoch in range(epochs):
            for grads in batches():
                opt.step(grads)
            sched.step()

    Args:
        optimizer: a :mod:`pyfastopt.optim` optimizer (anything with ``param_groups``).
        schedule: a schedule (any callable mapping a step to a float), or a list with one
            schedule per parameter group.
        key: the group entry to set: ``"lr"``, ``"momentum"``, ``"weight_decay"``, ...;
            or a ``(key, index)`` pair for one element of a tuple entry: ``("betas", 0)``
            schedules Adam's ``beta1`` and keeps ``beta2``.

    The optimizer checks the values it receives at its next step, as if set by hand.
    """

    def __init__(self, optimizer: Any, schedule: Callable[[int], float] | Sequence[Any],
                 key: str | tuple[str, int] = "lr") -> None:  # fmt: skip
        groups = _param_groups(optimizer)
        self.key = _key(key)
        name = self.key if isinstance(self.key, str) else self.key[0]
        for i, group in enumerate(groups):
            if name not in group:
                msg = f"key: parameter group {i} has no entry {name!r}"
                raise ValueError(msg)
            if not isinstance(self.key, str):
                value = group[name]
                index = self.key[1]
                if not isinstance(value, (tuple, list)) or not -len(value) <= index < len(value):
                    msg = f"key: parameter group {i} has no element {self.key[1]} in {name!r}"
                    raise ValueError(msg)
        if isinstance(schedule, (list, tuple)):
            if len(schedule) != len(groups):
                msg = (f"schedule: expected one schedule per parameter group ({len(groups)}), "
                       f"got {len(schedule)}")  # fmt: skip
                raise ValueError(msg)
            schedules: list[Any] | None = list(schedule)
        else:
            schedules = None
        for s in schedules if schedules is not None else [schedule]:
            if not callable(s):
                msg = f"schedule must be callable, got {type(s).__name__}"
                raise TypeError(msg)
        self.optimizer = optimizer
        self.schedule = schedule
        self._schedules = schedules
        self.last_step = 0
        self._last_values: list[float] = []
        self._apply()

    def _apply(self) -> None:
        groups = _param_groups(self.optimizer)
        schedules = self._schedules or [self.schedule] * len(groups)
        if len(schedules) != len(groups):
            msg = (f"optimizer has {len(groups)} parameter groups, the scheduler was built "
                   f"with {len(schedules)} schedules")  # fmt: skip
            raise ValueError(msg)
        t = self.last_step
        values = [_real(f"schedule({t})", s(t)) for s in schedules]
        for group, value in zip(groups, values):
            if isinstance(self.key, str):
                group[self.key] = value
            else:
                name, index = self.key
                old = group[name]
                new = list(old)
                new[index] = value
                group[name] = type(old)(new)
        self._last_values = values

    def step(self) -> None:
        """Advances ``t`` by one and writes ``schedule(t)`` into the groups."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The values last written, one per group (learning rates for ``key="lr"``)."""
        return list(self._last_values)

    def state_dict(self) -> dict[str, Any]:
        """The step count and the last values (the schedules are code: not saved)."""
        return {"last_step": self.last_step, "key": self.key,
                "last_values": list(self._last_values)}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` and writes ``schedule(last_step)`` into the groups
        (so the order in which optimizer and scheduler are restored does not matter)."""
        key = state_dict["key"]
        if _key(key) != self.key:
            msg = f"state_dict: saved for key {key!r}, this scheduler sets {self.key!r}"
            raise ValueError(msg)
        self.last_step = _integer("state_dict['last_step']", state_dict["last_step"])
        self._apply()

    def __repr__(self) -> str:
        return (f"ScheduleLR(key={self.key!r}, schedule={self.schedule!r}, "
                f"last_step={self.last_step})")  # fmt: skip


class ReduceLROnPlateau:
    """Multiplies the learning rates by ``factor`` when a metric stops improving, as
    torch.optim.lr_scheduler.ReduceLROnPlateau (same arguments, same decisions).

    Call ``step(metric)`` once per evaluation (usually per epoch). A metric is an
    improvement when it beats the best so far by the threshold: ``metric < best (1 -
    threshold)`` (mode "min", threshold_mode "rel"), ``metric < best - threshold`` ("min",
    "abs"), ``metric > best (1 + threshold)`` ("max", "rel"), ``metric > best + threshold``
    ("max", "abs"). After more than ``patience`` evaluations without improvement, each
    group's learning rate becomes ``max(lr factor, min_lr)`` (unless that lowers it by no more
    than ``eps``); then ``cooldown`` evaluations pass in which bad evaluations are not counted.

    Args:
        optimizer: a :mod:`pyfastopt.optim` optimizer (anything with ``param_groups``).
        mode: "min" (lower is better, e.g. a loss) or "max" (e.g. an accuracy).
        factor: ``0 <= factor < 1``, the reduction.
        patience: evaluations without improvement tolerated before a reduction.
        threshold: ``>= 0``, the margin an improvement must have.
        threshold_mode: "rel" or "abs".
        cooldown: evaluations to wait after a reduction before counting again.
        min_lr: a lower bound on the learning rates, or a list with one per group.
        eps: ``>= 0``; a reduction by no more than this is skipped.
    """

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0,
                 eps: float = 1e-8) -> None:  # fmt: skip
        groups = _param_groups(optimizer)
        if mode not in ("min", "max"):
            msg = f'mode must be "min" or "max", got {mode!r}'
            raise ValueError(msg)
        if threshold_mode not in ("rel", "abs"):
            msg = f'threshold_mode must be "rel" or "abs", got {threshold_mode!r}'
            raise ValueError(msg)
        self.factor = _real("factor", factor, low=0.0, high=1.0, high_open=True)
        self.patience = _integer("patience", patience)
        self.threshold = _real("threshold", threshold, low=0.0)
        self.cooldown = _integer("cooldown", cooldown)
        self.eps = _real("eps", eps, low=0.0)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(groups):
                msg = f"min_lr: expected {len(groups)} values (one per group), got {len(min_lr)}"
                raise ValueError(msg)
            self.default_min_lr: float | None = None
            self.min_lrs = [_real(f"min_lr[{i}]", x, low=0.0) for i, x in enumerate(min_lr)]
        else:
            self.default_min_lr = _real("min_lr", min_lr, low=0.0)
            self.min_lrs = [self.default_min_lr] * len(groups)
        self.optimizer = optimizer
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [float(g["lr"]) for g in groups]

    @property
    def in_cooldown(self) -> bool:
        """Whether bad evaluations are being ignored after a reduction."""
        return self.cooldown_counter > 0

    def is_better(self, metric: float, best: float) -> bool:
        """Whether ``metric`` improves on ``best`` by the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < best * (1.0 - self.threshold)
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def step(self, metrics: float) -> None:
        """Records one evaluation of the metric and reduces the learning rates if due.

        Args:
            metrics: the monitored quantity (a float or a 0-d array).
        """
        try:
            if isinstance(metrics, (str, bytes)):
                raise TypeError
            current = float(metrics)
        except (TypeError, ValueError):
            msg = f"metrics must be a real number, got {type(metrics).__name__}"
            raise TypeError(msg) from None
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(g["lr"]) for g in _param_groups(self.optimizer)]

    def _reduce_lr(self) -> None:
        groups = _param_groups(self.optimizer)
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                msg = (f"optimizer has {len(groups)} parameter groups, min_lr has "
                       f"{len(self.min_lrs)} values")  # fmt: skip
                raise ValueError(msg)
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def get_last_lr(self) -> list[float]:
        """The learning rates after the last :meth:`step`, one per group."""
        return list(self._last_lr)

    _STATE = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
              "default_min_lr", "min_lrs", "eps", "best", "num_bad_epochs",
              "cooldown_counter", "last_epoch")  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """The settings and counters (plain Python values), as torch's ``state_dict``."""
        state = {name: getattr(self, name) for name in self._STATE}
        state["min_lrs"] = list(self.min_lrs)
        state["last_lr"] = list(self._last_lr)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` (the learning rates live in the optimizer's state)."""
        missing = [name for name in self._STATE if name not in state_dict]
        if missing:
            msg = f"state_dict: missing entries {missing}"
            raise ValueError(msg)
        if state_dict["mode"] not in ("min", "max"):
            msg = f"state_dict: mode must be \"min\" or \"max\", got {state_dict['mode']!r}"
            raise ValueError(msg)
        if state_dict["threshold_mode"] not in ("rel", "abs"):
            msg = f"state_dict: bad threshold_mode {state_dict['threshold_mode']!r}"
            raise ValueError(msg)
        for name in self._STATE:
            setattr(self, name, state_dict[name])
        self.min_lrs = list(self.min_lrs)
        self._last_lr = list(state_dict.get("last_lr", self._last_lr))

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, "
                f"patience={self.patience}, best={self.best}, "
                f"num_bad_epochs={self.num_bad_epochs})")  # fmt: skip
