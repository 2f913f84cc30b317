"""Schedules: pure functions of the step, scalar or vectorised over an integer array."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from .. import _validate as check

_INT64_MAX = int(np.iinfo(np.int64).max)


# -- argument checks ----------------------------------------------------------------------


def _real(name: str, value: Any, *, low: float | None = None, low_open: bool = False,
          high: float | None = None, high_open: bool = False) -> float:  # fmt: skip
    """A finite real number in [low, high] (or an open end), as a float."""
    x = check.real(name, value)
    if low is not None and (x <= low if low_open else x < low):
        msg = f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}"
        raise ValueError(msg)
    if high is not None and (x >= high if high_open else x > high):
        msg = f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}"
        raise ValueError(msg)
    return x


def _integer(name: str, value: Any, *, low: int = 0) -> int:
    """An integer >= low that fits in int64, as an int."""
    return check.integer(name, value, low, _INT64_MAX)


def _steps(step: Any) -> tuple[np.ndarray, bool]:
    """The step(s) as an int64 array and whether a float is to be returned (a scalar step
    becomes a 1-element array: scalar and array calls then run the same NumPy loops)."""
    if isinstance(step, (int, np.integer)) and not isinstance(step, (bool, np.bool_)):
        return np.array([_integer("step", step)], dtype=np.int64), True
    array = np.asarray(step)
    if array.dtype.kind not in "iu":
        msg = f"step must be an integer or an array of integers, got {array.dtype} values"
        raise TypeError(msg)
    if array.size and array.min() < 0:
        msg = f"step must be >= 0, got {array.min()}"
        raise ValueError(msg)
    if array.dtype.kind == "u" and array.size and array.max() > _INT64_MAX:
        msg = "step must fit in int64"
        raise ValueError(msg)
    return array.astype(np.int64, copy=False), False


def _evaluate(fn: Callable[[np.ndarray], Any], t: np.ndarray) -> np.ndarray:
    """fn (a Schedule's function) over the 1-d steps t, as float64 values of t's shape."""
    return np.broadcast_to(np.asarray(fn(t), dtype=np.float64), t.shape)


# -- the schedule type ----------------------------------------------------------------------


class Schedule:
    """A schedule: ``s(t)`` is the value of a hyperparameter at step ``t = 0, 1, 2, ...``.

    Called with an integer it returns a ``float``; called with an array (or sequence) of
    integers it returns a float64 ``ndarray`` of the same shape whose elements equal the
    scalar calls (the same NumPy loops compute both). Negative or non-integer steps raise.

    The functions of :mod:`pyfastopt.schedules` build instances. To write your own,
    vectorised, pass ``fn`` mapping a 1-d int64 array of steps to their values; any plain
    callable mapping an int step to a float can also stand in for a schedule (in
    :func:`join_schedules` and the schedulers).

    Args:
        fn: maps a 1-d int64 array of steps (>= 0) to an array of values of its shape.
        text: the repr.
    """

    __slots__ = ("_fn", "_text")

    def __init__(self, fn: Callable[[np.ndarray], Any], text: str = "Schedule(...)") -> None:
        if not callable(fn):
            msg = f"fn must be callable, got {type(fn).__name__}"
            raise TypeError(msg)
        self._fn = fn
        self._text = text

    def __call__(self, step: Any) -> Any:
        t, scalar = _steps(step)
        flat = t.reshape(-1)
        value = _evaluate(self._fn, flat)
        if scalar:
            return float(value[0])
        return value.reshape(t.shape).copy()

    def __repr__(self) -> str:
        return self._text


def _schedule(name: str, fn: Callable[[np.ndarray], Any], **args: Any) -> Schedule:
    return Schedule(fn, f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})")


# -- schedules ------------------------------------------------------------------------------


def constant_schedule(value: float) -> Schedule:
    """A constant: ``s(t) = value``.

    Args:
        value: the value at every step.
    """
    v = _real("value", value)
    return _schedule("constant_schedule", lambda t: np.full(t.shape, v), value=v)


def time_based_decay_schedule(init_value: float, decay: float) -> Schedule:
    """Time-based (inverse-time) decay: ``s(t) = init_value / (1 + decay * t)``.

    The closed form of the documents' time-based decay (Keras' ``InverseTimeDecay`` with
    ``decay_steps=1``; the ``decay`` argument of Keras' legacy optimizers).

    Args:
        init_value: the value at step 0.
        decay: the decay rate ``k >= 0``.
    """
    v0 = _real("init_value", init_value)
    k = _real("decay", decay, low=0.0)
    return _schedule("time_based_decay_schedule", lambda t: v0 / (1.0 + k * t),
                     init_value=v0, decay=k)  # fmt: skip


def step_decay_schedule(init_value: float, drop_rate: float, drop_every: int) -> Schedule:
    """Step decay: ``s(t) = init_value * drop_rate ** floor((1 + t) / drop_every)``.

    The documents' formula ``eta_n = eta_0 d^floor((1 + n) / r)``: the value is multiplied by
    ``d = drop_rate`` every ``r = drop_every`` steps; as ``t`` starts at 0, the first drop is
    at ``t = r - 1`` (the r-th step), the next at ``t = 2r - 1``, and so on.

    Args:
        init_value: the value before the first drop.
        drop_rate: the factor ``d >= 0`` applied at each drop (0.5 halves).
        drop_every: the number of steps ``r >= 1`` between drops.
    """
    v0 = _real("init_value", init_value)
    d = _real("drop_rate", drop_rate, low=0.0)
    r = _integer("drop_every", drop_every, low=1)
    return _schedule("step_decay_schedule", lambda t: v0 * d ** ((1 + t) // r),
                     init_value=v0, drop_rate=d, drop_every=r)  # fmt: skip


def exponential_decay_schedule(init_value: float, decay: float) -> Schedule:
    """Exponential decay: ``s(t) = init_value * exp(-decay * t)``.

    (optax's ``exponential_decay(init_value, transition_steps=1, decay_rate=exp(-decay))``,
    torch's ``ExponentialLR`` with ``gamma = exp(-decay)``.)

    Args:
        init_value: the value at step 0.
        decay: the decay constant ``k >= 0``.
    """
    v0 = _real("init_value", init_value)
    k = _real("decay", decay, low=0.0)
    return _schedule("exponential_decay_schedule", lambda t: v0 * np.exp(-k * t),
                     init_value=v0, decay=k)  # fmt: skip


def inverse_sqrt_schedule(init_value: float) -> Schedule:
    """Inverse square root decay: ``s(t) = init_value / sqrt(t + 1)``.

    Args:
        init_value: the value at step 0.
    """
    v0 = _real("init_value", init_value)
    return _schedule("inverse_sqrt_schedule", lambda t: v0 / np.sqrt(t + 1.0), init_value=v0)


def polynomial_schedule(init_value: float, end_value: float, power: float,
                        transition_steps: int, transition_begin: int = 0) -> Schedule:  # fmt: skip
    """Polynomial transition from ``init_value`` to ``end_value`` (optax's semantics).

    With ``I, E, P, T, B`` the arguments in order::

        s(t) = I                                  for t < B
        s(t) = (I - E) (1 - (t - B) / T) ** P + E  for B <= t < B + T
        s(t) = E                                  for t >= B + T

    Args:
        init_value: ``I``, the value up to step ``B``.
        end_value: ``E``, the value from step ``B + T`` on.
        power: ``P > 0`` (1 is linear).
        transition_steps: ``T >= 1``, the length of the transition (optax turns ``T <= 0``
            into a constant schedule; here it raises).
        transition_begin: ``B >= 0``, the step at which the transition starts.
    """
    v0 = _real("init_value", init_value)
    v1 = _real("end_value", end_value)
    p = _real("power", power, low=0.0, low_open=True)
    n = _integer("transition_steps", transition_steps, low=1)
    b = _integer("transition_begin", transition_begin)

    def fn(t: np.ndarray) -> np.ndarray:
        frac = 1.0 - np.clip(t - b, 0, n) / n
        return (v0 - v1) * frac**p + v1

    return _schedule("polynomial_schedule", fn, init_value=v0, end_value=v1, power=p,
                     transition_steps=n, transition_begin=b)  # fmt: skip


def linear_schedule(init_value: float, end_value: float, transition_steps: int,
                    transition_begin: int = 0) -> Schedule:  # fmt: skip
    """Linear transition, and so linear warm-up (optax's ``linear_schedule``)::

        s(t) = I + (E - I) min(max(t - B, 0), T) / T

    i.e. :func:`polynomial_schedule` with ``power=1``. A warm-up from 0 to ``peak`` over
    ``W`` steps is ``linear_schedule(0.0, peak, W)``; follow it with another schedule with
    :func:`join_schedules` (or use :func:`warmup_cosine_decay_schedule`).

    Args:
        init_value: ``I``, the value up to step ``B``.
        end_value: ``E``, the value from step ``B + T`` on.
        transition_steps: ``T >= 1``.
        transition_begin: ``B >= 0``.
    """
    poly = polynomial_schedule(init_value, end_value, 1.0, transition_steps, transition_begin)
    text = repr(poly).replace("polynomial_schedule", "linear_schedule").replace(" power=1.0,", "")
    return Schedule(poly._fn, text)


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0,
                          exponent: float = 1.0) -> Schedule:  # fmt: skip
    """Cosine decay without restarts (optax's ``cosine_decay_schedule``)::

        s(t) = I (alpha + (1 - alpha) ((1 + cos(pi min(t, T) / T)) / 2) ** exponent)

    from ``I`` at ``t = 0`` to ``alpha I`` at ``t = T`` and after (torch's
    ``CosineAnnealingLR`` with ``T_max = T``, ``eta_min = alpha I``, for ``t <= T``). An
    ``alpha > 1`` makes the cosine rise: ``cosine_decay_schedule(0.85, 70, 0.95 / 0.85)``
    goes from 0.85 up to 0.95, as a one-cycle momentum does.

    Args:
        init_value: ``I``, the value at step 0.
        decay_steps: ``T >= 1``, the length of the decay.
        alpha: the final value as a fraction of ``init_value``.
        exponent: ``> 0``, shapes the curve (1 is the plain cosine).
    """
    v0 = _real("init_value", init_value)
    n = _integer("decay_steps", decay_steps, low=1)
    a = _real("alpha", alpha)
    e = _real("exponent", exponent, low=0.0, low_open=True)

    def fn(t: np.ndarray) -> np.ndarray:
        cosine = 0.5 * (1.0 + np.cos(np.pi * np.minimum(t, n) / n))
        return v0 * (a + (1.0 - a) * cosine**e)

    return _schedule("cosine_decay_schedule", fn, init_value=v0, decay_steps=n, alpha=a,
                     exponent=e)  # fmt: skip


def warmup_cosine_decay_schedule(init_value: float, peak_value: float, warmup_steps: int,
                                 decay_steps: int, end_value: float = 0.0) -> Schedule:  # fmt: skip
    """Linear warm-up, then cosine decay (optax's ``warmup_cosine_decay_schedule``)::

        s(t) = I + (P - I) t / W                              for t < W
        s(t) = E + (P - E) (1 + cos(pi (t - W) / (D - W))) / 2  for W <= t <= D
        s(t) = E                                              for t > D

    Args:
        init_value: ``I``, the value at step 0.
        peak_value: ``P``, reached at the end of the warm-up.
        warmup_steps: ``W >= 0`` (0: no warm-up).
        decay_steps: ``D > W``, the total length, warm-up included.
        end_value: ``E``, the final value.
    """
    v0 = _real("init_value", init_value)
    peak = _real("peak_value", peak_value)
    w = _integer("warmup_steps", warmup_steps)
    d = _integer("decay_steps", decay_steps, low=w + 1)
    v1 = _real("end_value", end_value)
    n = d - w

    def fn(t: np.ndarray) -> np.ndarray:
        warm = v0 + (peak - v0) * (t / w) if w else 0.0
        u = np.maximum(t - w, 0)
        decay = peak + (v1 - peak) * 0.5 * (1.0 - np.cos(np.pi * np.minimum(u, n) / n))
        return np.where(t < w, warm, decay)

    return _schedule("warmup_cosine_decay_schedule", fn, init_value=v0, peak_value=peak,
                     warmup_steps=w, decay_steps=d, end_value=v1)  # fmt: skip


def cosine_warm_restarts_schedule(init_value: float, period: int, period_mult: int = 1,
                                  min_value: float = 0.0) -> Schedule:  # fmt: skip
    """Cosine annealing with warm restarts, SGDR (Loshchilov & Hutter 2017)::

        s(t) = eta_min + (eta_max - eta_min) (1 + cos(pi T_cur / T_i)) / 2

    with ``eta_max = init_value``, ``eta_min = min_value``; the i-th run (i = 0, 1, ...)
    lasts ``T_i = T_0 T_mult^i`` steps, ``T_0 = period``, ``T_mult = period_mult``, and
    ``T_cur`` counts the steps since the last restart (0 at a restart, where the value
    jumps back to ``eta_max``). torch's ``CosineAnnealingWarmRestarts(T_0, T_mult,
    eta_min)``; the restarts are located in exact integer arithmetic.

    Args:
        init_value: ``eta_max``, the value at every restart.
        period: ``T_0 >= 1``, the length of the first run.
        period_mult: ``T_mult >= 1``, the growth of the run length after each restart.
        min_value: ``eta_min``, the value approached at the end of each run.
    """
    hi = _real("init_value", init_value)
    t0 = _integer("period", period, low=1)
    mult = _integer("period_mult", period_mult, low=1)
    lo = _real("min_value", min_value)

    def fn(t: np.ndarray) -> np.ndarray:
        t_i: float | np.ndarray  # the length of the run each step is in
        if mult == 1:
            t_cur, t_i = t % t0, float(t0)
        else:
            last = int(t.max()) if t.size else 0
            starts, lengths = [0], [t0]
            while starts[-1] + lengths[-1] <= last:
                starts.append(starts[-1] + lengths[-1])
                lengths.append(lengths[-1] * mult)
            run = np.searchsorted(np.array(starts, np.int64), t, side="right") - 1
            t_cur = t - np.array(starts, np.int64)[run]
            t_i = np.array(lengths, np.float64)[run]
        return hi + (lo - hi) * 0.5 * (1.0 - np.cos(np.pi * t_cur / t_i))  # hi at restarts

    return _schedule("cosine_warm_restarts_schedule", fn, init_value=hi, period=t0,
                     period_mult=mult, min_value=lo)  # fmt: skip


def cosine_onecycle_schedule(transition_steps: int, peak_value: float, pct_start: float = 0.3,
                             div_factor: float = 25.0,
                             final_div_factor: float = 1e4) -> Schedule:  # fmt: skip
    """One-cycle (Smith & Topin 2019), optax's ``cosine_onecycle_schedule``.

    With ``T = transition_steps``, ``S = int(pct_start T)`` (truncated), the value rises
    from ``v0 = peak_value / div_factor`` to ``peak_value`` over ``[0, S)`` and falls to
    ``v1 = peak_value / (div_factor final_div_factor)`` over ``[S, T)``, along cosines::

        cos_interp(a, b, x) = a + (b - a) (1 - cos(pi x)) / 2
        s(t) = cos_interp(v0, peak_value, t / S)           for t < S
        s(t) = cos_interp(peak_value, v1, (t - S) / (T - S))  for S <= t < T
        s(t) = v1                                        for t >= T

    torch's ``OneCycleLR`` (anneal_strategy="cos", three_phase=False) draws the same
    curves, but its peak is at step ``pct_start T - 1`` and its final value at ``T - 1``.
    For the inverse momentum cycle that goes with it, join two
    :func:`cosine_decay_schedule` (see there).

    Args:
        transition_steps: ``T >= 1``, the length of the cycle.
        peak_value: the maximum, reached at step ``S``.
        pct_start: ``0 <= pct_start <= 1``, the fraction of the cycle spent rising.
        div_factor: ``> 0``, ``v0 = peak_value / div_factor``.
        final_div_factor: ``> 0``, ``v1 = v0 / final_div_factor``.
    """
    n = _integer("transition_steps", transition_steps, low=1)
    peak = _real("peak_value", peak_value)
    pct = _real("pct_start", pct_start, low=0.0, high=1.0)
    div = _real("div_factor", div_factor, low=0.0, low_open=True)
    final_div = _real("final_div_factor", final_div_factor, low=0.0, low_open=True)
    s = int(pct * n)
    v0, v1 = peak / div, peak / (div * final_div)

    def interp(a: float, b: float, x: np.ndarray) -> np.ndarray:
        return a + (b - a) * 0.5 * (1.0 - np.cos(np.pi * x))  # exactly a at x = 0

    def fn(t: np.ndarray) -> np.ndarray:
        rise = interp(v0, peak, t / max(s, 1))
        fall = interp(peak, v1, (t - s) / max(n - s, 1))
        return np.where(t < s, rise, np.where(t < n, fall, v1))

    return _schedule("cosine_onecycle_schedule", fn, transition_steps=n, peak_value=peak,
                     pct_start=pct, div_factor=div, final_div_factor=final_div)  # fmt: skip


def piecewise_constant_schedule(init_value: float,
                                boundaries_and_scales: Mapping[int, float] | None = None,
                                ) -> Schedule:  # fmt: skip
    """Piecewise constant (optax's semantics; torch's ``MultiStepLR`` with per-step factors)::

        s(t) = init_value * prod(scale_b for b in boundaries if t >= b)

    Args:
        init_value: the value before the first boundary.
        boundaries_and_scales: ``{step: scale}``; from ``step`` on the value is multiplied
            by ``scale >= 0``.
    """
    v0 = _real("init_value", init_value)
    items = {} if boundaries_and_scales is None else boundaries_and_scales
    if not isinstance(items, Mapping):
        msg = ("boundaries_and_scales must be a dict {step: scale}, "
               f"got {type(items).__name__}")  # fmt: skip
        raise TypeError(msg)
    pairs = sorted((_integer("boundaries_and_scales key", b),
                    _real(f"boundaries_and_scales[{b!r}]", x, low=0.0))
                   for b, x in items.items())  # fmt: skip
    bounds = np.array([b for b, _ in pairs], np.int64)
    values = [v0]
    for _, x in pairs:
        values.append(values[-1] * x)
    table = np.array(values, np.float64)

    return _schedule("piecewise_constant_schedule",
                     lambda t: table[np.searchsorted(bounds, t, side="right")],
                     init_value=v0, boundaries_and_scales=dict(pairs))  # fmt: skip


def join_schedules(schedules: Sequence[Callable[[Any], Any]],
                   boundaries: Sequence[int]) -> Schedule:  # fmt: skip
    """Runs schedules one after another (optax's ``join_schedules``)::

        s(t) = schedules[0](t)                    for t < boundaries[0]
        s(t) = schedules[i](t - boundaries[i-1])   for boundaries[i-1] <= t < boundaries[i]

    each later schedule sees the steps counted from its own start.

    Args:
        schedules: ``k >= 1`` schedules; a callable that is not a :class:`Schedule` is
            called once per step, with an int.
        boundaries: ``k - 1`` strictly increasing steps ``>= 0``.
    """
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
        msg = f"schedules must be a list of schedules, got {type(schedules).__name__}"
        raise TypeError(msg)
    parts = list(schedules)
    if not parts:
        msg = "schedules must not be empty"
        raise ValueError(msg)
    for i, s in enumerate(parts):
        if not callable(s):
            msg = f"schedules[{i}] must be callable, got {type(s).__name__}"
            raise TypeError(msg)
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
        msg = f"boundaries must be a list of steps, got {type(boundaries).__name__}"
        raise TypeError(msg)
    bounds = [_integer(f"boundaries[{i}]", b) for i, b in enumerate(boundaries)]
    if len(bounds) != len(parts) - 1:
        msg = (f"boundaries must have len(schedules) - 1 = {len(parts) - 1} entries, "
               f"got {len(bounds)}")  # fmt: skip
        raise ValueError(msg)
    if any(a >= b for a, b in zip(bounds, bounds[1:])):
        msg = f"boundaries must be strictly increasing, got {bounds}"
        raise ValueError(msg)

    def fn(t: np.ndarray) -> np.ndarray:
        which = np.searchsorted(np.array(bounds, np.int64), t, side="right")
        out = np.empty(t.shape)
        for i, s in enumerate(parts):
            here = which == i
            if np.any(here):
                u = t[here] - (bounds[i - 1] if i else 0)
                if isinstance(s, Schedule):
                    out[here] = _evaluate(s._fn, u)
                else:
                    out[here] = [float(s(int(x))) for x in u]
        return out

    return _schedule("join_schedules", fn, schedules=parts, boundaries=bounds)

