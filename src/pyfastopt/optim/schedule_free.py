"""Schedule-free SGD and AdamW (Defazio et al. 2024)."""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .. import functional as F
from ._common import betas as check_betas
from .optimizer import Optimizer


class _ScheduleFree(Optimizer):
    """The parameters hold y (where gradients are taken) while training; :meth:`eval`
    moves them to the average x to evaluate or save, :meth:`train` back. Unlike the
    authors' classes, which start in eval mode and raise until ``train()`` is called, these
    start in train mode; a step in eval mode raises, as theirs. The mode is each group's
    ``train_mode`` (saved with the state dict, as theirs). State: ``z`` and the scalars
    ``lr_max`` and ``weight_sum`` (the authors keep these two per group: the same values
    while a group's parameters step together). ``z`` is a sequence of parameters, kept in
    the precision the updates are made in (no 16- or 8-bit ``precision.state_dtype``: it
    would lose the steps, as a 16-bit parameter without a master copy does)."""

    _scalar_state = ("lr_max", "weight_sum")
    _param_like_states = ("z",)

    def _init_state(self, param, group):
        return {"step": 0, "lr_max": -1.0, "weight_sum": 0.0}

    def _check_scalar(self, key, value, name):
        (check.real if key == "lr_max" else check.nonneg)(name, value)

    def _beta(self, group: dict[str, Any]) -> float:
        """The interpolation weight: SGD's momentum, AdamW's beta1."""
        raise NotImplementedError

    def step(self, grads, **kwargs):
        if not all(group["train_mode"] for group in self.param_groups):
            msg = f"{type(self).__name__} is in eval mode: call .train() before step()"
            raise ValueError(msg)
        super().step(grads, **kwargs)

    def eval(self) -> None:
        """Parameters to x, the average to evaluate the model at (no-op in eval mode)."""
        self._switch(train=False)

    def train(self) -> None:
        """Parameters back to y, where training takes gradients (no-op in train mode)."""
        self._switch(train=True)

    def _switch(self, train: bool) -> None:
        index = 0
        for group in self.param_groups:
            states = [self.state.get(index + i) for i in range(len(group["params"]))]
            index += len(group["params"])
            if group["train_mode"] == train:
                continue
            pairs = [(p, s) for p, s in zip(group["params"], states) if s and "z" in s]
            targets = [s.get("master", p) for p, s in pairs]  # a master copy is the parameter
            move = F.schedule_free_train_ if train else F.schedule_free_eval_
            move(targets, [s["z"] for _, s in pairs], beta=self._beta(group))
            for p, s in pairs:
                if "master" in s:
                    p[...] = s["master"]
            group["train_mode"] = train


class SGDScheduleFree(_ScheduleFree):
    """Schedule-free SGD (Defazio et al. 2024, "The Road Less Scheduled"), as the authors'
    ``schedulefree.SGDScheduleFree``: the same arguments and defaults; the update is
    :func:`pyfastopt.functional.schedule_free_sgd_`. No learning-rate schedule is needed
    (``warmup_steps`` warms up linearly); call :meth:`eval` before evaluating or saving."""

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                        maximize=maximize, train_mode=True)  # fmt: skip
        super().__init__(params, defaults)

    def _beta(self, group):
        return group["momentum"]

    def _rule(self, group):
        return F.schedule_free_sgd_rule(
            lr=group["lr"], momentum=group["momentum"], weight_decay=group["weight_decay"],
            warmup_steps=group["warmup_steps"], r=group["r"],
            weight_lr_power=group["weight_lr_power"], maximize=group["maximize"],
        )  # fmt: skip


class AdamWScheduleFree(_ScheduleFree):
    """Schedule-free AdamW (Defazio et al. 2024), as the authors'
    ``schedulefree.AdamWScheduleFree``: the same arguments and defaults; the update is
    :func:`pyfastopt.functional.schedule_free_adamw_` (``betas[0]`` is the interpolation
    weight; there is no first moment). Call :meth:`eval` before evaluating or saving."""

    def __init__(
        self,
        params: Any,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        maximize: bool = False,
    ) -> None:
        check_betas(betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                        maximize=maximize, train_mode=True)  # fmt: skip
        super().__init__(params, defaults)

    def _beta(self, group):
        return check_betas(group["betas"])[0]

    def _rule(self, group):
        beta1, beta2 = check_betas(group["betas"])
        return F.schedule_free_adamw_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], warmup_steps=group["warmup_steps"],
            r=group["r"], weight_lr_power=group["weight_lr_power"], maximize=group["maximize"],
        )  # fmt: skip
