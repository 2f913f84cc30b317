"""Hyperparameter schedules, and schedulers that drive an optimizer's parameter groups.

A schedule is a pure function of the step, ``s(t) -> float``: the value of a
hyperparameter (learning rate, momentum, beta1, ...) for the update at step ``t``. Steps are
counted from 0, as optax counts them: ``s(0)`` is the value of the first update. Called on
an integer array of steps, a schedule returns a float64 array of the same shape, equal
element by element to the scalar calls. Each schedule checks its arguments when it is built
(``TypeError`` / ``ValueError`` naming the argument) and steps when it is called (integers
``>= 0``). Names and arguments follow optax where optax has the schedule; each docstring
gives the formula.

=================================  ==========================================================
schedule                           value at step t
=================================  ==========================================================
constant_schedule                  ``v``
time_based_decay_schedule          ``v0 / (1 + k t)``
step_decay_schedule                ``v0 d^floor((1 + t) / r)``
exponential_decay_schedule         ``v0 exp(-k t)``
inverse_sqrt_schedule              ``v0 / sqrt(t + 1)``
polynomial_schedule                ``(I - E) (1 - (t - B) / T)^P + E`` on ``[B, B + T]``
linear_schedule                    polynomial with ``P = 1``: linear warm-up or decay
cosine_decay_schedule              ``I (alpha + (1 - alpha) (1 + cos(pi t / T)) / 2)``
warmup_cosine_decay_schedule       linear warm-up, then cosine decay
cosine_warm_restarts_schedule      SGDR: cosine runs of length ``T_0 T_mult^i``
cosine_onecycle_schedule           one-cycle: cosine rise to a peak, cosine fall
piecewise_constant_schedule        ``v0`` times the scales of the boundaries passed
join_schedules                     one schedule after another, each from its own step 0
=================================  ==========================================================

Schedulers write values into ``optimizer.param_groups`` as ``torch.optim.lr_scheduler``
does: :class:`ScheduleLR` sets ``group[key] = s(t)`` (``t`` = calls of its ``step()``, so
per step or per epoch as you call it; any key, e.g. ``"momentum"``, or ``("betas", 0)`` for
beta1), and :class:`ReduceLROnPlateau` reduces the learning rates when a metric stalls,
with torch's semantics. Both have ``get_last_lr``, ``state_dict`` and ``load_state_dict``.
"""

from __future__ import annotations

from ._schedule import (
    Schedule,
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    cosine_warm_restarts_schedule,
    exponential_decay_schedule,
    inverse_sqrt_schedule,
    join_schedules,
    linear_schedule,
    piecewise_constant_schedule,
    polynomial_schedule,
    step_decay_schedule,
    time_based_decay_schedule,
    warmup_cosine_decay_schedule,
)
from ._scheduler import ReduceLROnPlateau, ScheduleLR

__all__ = [
    "ReduceLROnPlateau",
    "Schedule",
    "ScheduleLR",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "cosine_warm_restarts_schedule",
    "exponential_decay_schedule",
    "inverse_sqrt_schedule",
    "join_schedules",
    "linear_schedule",
    "piecewise_constant_schedule",
    "polynomial_schedule",
    "step_decay_schedule",
    "time_based_decay_schedule",
    "warmup_cosine_decay_schedule",
]
