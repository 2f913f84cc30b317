"""Choosing the learning rate: Smith's learning-rate range test, and grid and random search
over any hyperparameters of any optimizer, parallel over processes with the standard library.

:func:`range_test` is the test of Smith, "Cyclical Learning Rates for Training Neural
Networks" (WACV 2017), section 3.3, as fastai's ``lr_find`` and ``torch-lr-finder`` run it:
one short training run whose rate grows exponentially from a tiny one to a large one, with
the loss recorded at every step. The loss first stays flat (the rate is too small to move),
then falls, then rises and blows up (too large). A good fixed rate lies on the falling part::

    result = range_test(lambda: optim.Adam(fresh_params(), lr=1e-3), train_step)
    print(result.suggested_lr)
    plot_range_test(result, "range_test.png")

:func:`grid_search` and :func:`random_search` are the lecture notes' hyperparameter search:
"search (sample) on a logarithmic scale", e.g. ``lr = 10**r`` for ``r`` uniform in
``[-4, 0]``, which is :func:`log_uniform` ``(1e-4, 1.0)``. Trials are independent, hence
"embarrassingly parallel": ``processes=k`` runs them in ``k`` worker processes::

    space = {"lr": log_uniform(1e-4, 1.0), "momentum": choice([0.0, 0.9])}
    result = random_search(train, space, trials=20, seed=0, processes=2)
    print(format_trials(result))

(:mod:`pyfastopt.distributed.tuning` runs the same searches, and population-based training,
with Ray Tune.) :func:`run_lr_demo` runs both on the digits MLP of ``pyfastopt demo``.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import numbers
import pickle
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import product, repeat
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import _validate as check

__all__ = [
    "DEMO_GRID",
    "DEMO_OPTIMIZER",
    "SUGGESTION_RULES",
    "Choice",
    "LogUniform",
    "RangeTestResult",
    "SearchResult",
    "Uniform",
    "choice",
    "demo_range_test",
    "demo_trial",
    "format_trials",
    "grid_search",
    "log_uniform",
    "plot_range_test",
    "random_search",
    "range_test",
    "run_lr_demo",
    "suggest_lr",
    "uniform",
]

#: How :func:`suggest_lr` can turn a range test's smoothed loss into one rate.
SUGGESTION_RULES = ("steepest", "minimum")


# --- the range test ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeTestResult:
    """What :func:`range_test` recorded: one entry per step taken (fewer than ``steps`` when
    it stopped early)."""

    #: The learning rate of each step: geometric from ``min_lr`` (towards ``max_lr``).
    rates: np.ndarray
    #: The loss ``train_step`` returned at each step.
    losses: np.ndarray
    #: The exponentially smoothed, bias-corrected loss at each step.
    smoothed: np.ndarray
    #: The rate :func:`suggest_lr` picks from ``rates`` and ``smoothed`` with ``rule``.
    suggested_lr: float
    #: The suggestion rule used (one of :data:`SUGGESTION_RULES`).
    rule: str
    #: True if the smoothed loss diverged (or a loss was not finite) before the last rate.
    stopped_early: bool


def range_test(
    make_optimizer: Callable[[], Any],
    train_step: Callable[[Any, int], float],
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    smooth: float = 0.98,
    diverge: float = 4.0,
    rule: str = "steepest",
) -> RangeTestResult:
    r"""Smith's learning-rate range test: trains with a rate that grows exponentially, step
    by step, and records the loss.

    Step ``i`` (``0 <= i < steps``) sets ``lr`` to
    :math:`\text{lr}_i = \mathrm{min\_lr}\,(\mathrm{max\_lr}/\mathrm{min\_lr})^{i/(\text{steps}-1)}`
    in every parameter group of the optimizer, then calls ``train_step(optimizer, i)``. The
    smoothed loss is an exponential moving average, bias-corrected as Adam's moments are:
    :math:`a_i = \beta a_{i-1} + (1-\beta)\,\ell_i`, :math:`s_i = a_i / (1-\beta^{i+1})`
    with ``beta = smooth`` (``a_{-1} = 0``; ``smooth=0`` records the raw losses). The test
    stops after the first step whose smoothed loss exceeds ``diverge`` times the lowest so
    far, or whose loss is not finite (that step is recorded): larger rates only blow up.

    Args:
        make_optimizer: called once, with no arguments, at the start: returns the optimizer
            to test (a :mod:`pyfastopt.optim` optimizer, or anything with torch's
            ``param_groups``). The test trains its parameters until they diverge: give it
            fresh copies, not the weights you mean to keep.
        train_step: ``train_step(optimizer, step)`` takes one training step (a mini-batch:
            forward, backward, ``optimizer.step(grads)``) and returns that batch's loss,
            computed before the update. Losses should be positive (a cross-entropy, a
            squared error): the divergence test compares ratios.
        min_lr, max_lr: the first and the last rate, ``0 < min_lr < max_lr``.
        steps: the number of rates (steps) in the sweep, at least 2.
        smooth: the moving average's ``beta``, in ``[0, 1)``.
        diverge: stop when the smoothed loss exceeds this multiple (> 1) of its minimum.
        rule: how to pick the suggested rate: see :func:`suggest_lr`.

    Returns:
        A :class:`RangeTestResult`: the rates, losses and smoothed losses of the steps
        taken, and the suggested rate.
    """
    if not callable(make_optimizer):
        msg = f"make_optimizer must be callable, got {type(make_optimizer).__name__}"
        raise TypeError(msg)
    if not callable(train_step):
        msg = f"train_step must be callable, got {type(train_step).__name__}"
        raise TypeError(msg)
    rates = _geometric_rates(min_lr, max_lr, steps)
    beta = check.unit("smooth", smooth)
    diverge = check.real("diverge", diverge)
    if not diverge > 1.0:
        msg = f"Invalid diverge: {diverge!r} (must be > 1)"
        raise ValueError(msg)
    _check_rule(rule)

    optimizer = make_optimizer()
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
        msg = ("make_optimizer must return an optimizer with a non-empty list of parameter-group "
               f"dicts in param_groups, got {type(optimizer).__name__}")  # fmt: skip
        raise TypeError(msg)

    losses: list[float] = []
    smoothed: list[float] = []
    average = 0.0
    best = math.inf
    stopped_early = False
    for i, lr in enumerate(rates):
        for group in groups:  # one rate for every group, as Smith's test has
            group["lr"] = float(lr)
        loss = train_step(optimizer, i)
        if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
            msg = f"train_step must return the loss as a real number, got {type(loss).__name__}"
            raise TypeError(msg)
        loss = float(loss)
        average = beta * average + (1.0 - beta) * loss
        value = average / (1.0 - beta ** (i + 1))
        losses.append(loss)
        smoothed.append(value)
        if not math.isfinite(value) or value > diverge * best:
            stopped_early = i < len(rates) - 1
            break
        best = min(best, value)

    taken = rates[: len(losses)]
    smoothed_array = np.array(smoothed)
    return RangeTestResult(
        rates=taken,
        losses=np.array(losses),
        smoothed=smoothed_array,
        suggested_lr=suggest_lr(taken, smoothed_array, rule),
        rule=rule,
        stopped_early=stopped_early,
    )


def _geometric_rates(min_lr: object, max_lr: object, steps: object) -> np.ndarray:
    lo = check.positive("min_lr", min_lr)
    hi = check.positive("max_lr", max_lr)
    if not lo < hi:
        msg = f"Invalid min_lr: {min_lr!r} (must be < max_lr = {max_lr!r})"
        raise ValueError(msg)
    n = check.integer("steps", steps, 2)
    # geomspace computes lo * (hi/lo)**(i/(n-1)) in log space and sets both ends exactly
    return np.geomspace(lo, hi, n)


def _check_rule(rule: object) -> None:
    if rule not in SUGGESTION_RULES:
        msg = f"rule must be one of {', '.join(map(repr, SUGGESTION_RULES))}, got {rule!r}"
        raise ValueError(msg)


def suggest_lr(rates: Sequence[float] | np.ndarray, smoothed: Sequence[float] | np.ndarray,
               rule: str = "steepest", *, skip_start: int = 10) -> float:  # fmt: skip
    """The rate a range test suggests, from its rates and smoothed losses.

    Rules:
        ``"steepest"`` (the default): the rate at which the smoothed loss falls fastest
            against ``log(lr)``, searched from step ``skip_start`` to the step of the lowest
            smoothed loss (``torch-lr-finder``'s suggestion, which also skips the first 10
            steps, and fastai's ``steep``). This is on the falling part of the curve, where
            the test says training makes progress fastest and is still stable.
        ``"minimum"``: the rate of the lowest smoothed loss divided by 10 (fastai's
            ``minimum``): the minimum is where training is already on the edge of
            diverging, and a tenth of it is a safe margin.

    The slope is ``numpy.gradient`` of the smoothed loss over ``log(lr)`` (central
    differences). ``skip_start`` steps are left out of the search because the first
    smoothed values average only a few batch losses: batch-to-batch noise there makes
    slopes as steep as the real descent (on the digits MLP, the first step's slope is
    the steepest of the sweep). The moving average lags: its steepest descent comes a
    little after the raw losses', which moves the ``"steepest"`` rate up, towards the
    minimum. If the smoothed loss never falls after ``skip_start`` (its minimum comes
    first), ``"steepest"`` gives the minimum's rate; if it never falls at all, both rules
    give about the first rate: lower ``min_lr`` and run the test again. Non-finite losses
    (a blow-up at the end) are ignored.
    """
    _check_rule(rule)
    skip_start = check.integer("skip_start", skip_start, 0)
    lr = np.asarray(rates, dtype=np.float64)
    s = np.asarray(smoothed, dtype=np.float64)
    if lr.ndim != 1 or lr.shape != s.shape or lr.size == 0:
        msg = (f"rates and smoothed must be 1-D, non-empty and of the same length, got shapes "
               f"{lr.shape} and {s.shape}")  # fmt: skip
        raise ValueError(msg)
    finite = np.isfinite(s)
    if not finite.any():
        msg = "smoothed: no finite loss to suggest a rate from"
        raise ValueError(msg)
    stop = int(np.flatnonzero(finite)[-1]) + 1  # the finite part, before any blow-up
    lr, s = lr[:stop], s[:stop]
    lowest = int(np.nanargmin(s))
    if rule == "minimum":
        return float(lr[lowest] / 10.0)
    first = min(skip_start, lowest)
    if lowest - first < 1:
        return float(lr[lowest])
    # the slope at a point needs both neighbours: take it over the points up to one past
    # the minimum (so the minimum's own slope is a central difference), then search
    # from the first point not skipped to the minimum
    end = min(lowest + 2, len(s))
    slope = np.gradient(s[:end], np.log(lr[:end]))[first : lowest + 1]
    return float(lr[first + int(np.nanargmin(slope))])


def plot_range_test(
    result: RangeTestResult,
    out: str | Path,
    *,
    search: SearchResult | None = None,
    search_label: str | None = None,
    title: str = "",
) -> Path:
    """Saves the range test as a PNG: the loss against the rate (log scale), raw and
    smoothed, with the suggested rate marked.

    Args:
        result: what :func:`range_test` returned.
        out: the PNG's path.
        search: optionally, a search over ``lr`` (:func:`grid_search`): its trials' objective
            is drawn against their ``lr`` on a second axis, with the best trial marked.
        search_label: the second axis's label (default: the objective's name).
        title: the figure's title.

    Needs matplotlib (``pip install 'pyfastopt[plot]'``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        msg = "plot_range_test needs matplotlib: pip install 'pyfastopt[plot]'"
        raise ImportError(msg) from e
    if not isinstance(result, RangeTestResult):
        msg = f"result must be a RangeTestResult, got {type(result).__name__}"
        raise TypeError(msg)
    if search is not None and not isinstance(search, SearchResult):
        msg = f"search must be None or a SearchResult, got {type(search).__name__}"
        raise TypeError(msg)

    out = Path(out)
    fig = Figure(figsize=(9, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(result.rates, result.losses, color="tab:blue", alpha=0.3, lw=1, label="loss")
    ax.plot(result.rates, result.smoothed, color="tab:blue", lw=2.2, label="smoothed loss")
    ax.axvline(result.suggested_lr, color="tab:red", ls="--", lw=1.5,
               label=f"suggested lr {result.suggested_lr:.2g} ({result.rule})")  # fmt: skip
    finite = np.isfinite(result.smoothed)
    if finite.any():  # up to the flat start: the blow-up at the end would squash the rest
        lowest = int(np.nanargmin(np.where(finite, result.smoothed, np.nan)))
        high = float(result.smoothed[: lowest + 1].max())
        low = min(0.0, float(np.nanmin(np.where(np.isfinite(result.losses), result.losses,
                                                np.nan))))  # fmt: skip
        ax.set_ylim(low, high + 0.3 * (high - low))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()

    if search is not None:
        rows = sorted((r for r in search.trials if "lr" in r["params"]),
                      key=lambda r: r["params"]["lr"])  # fmt: skip
        if rows:
            twin = ax.twinx()
            x = [r["params"]["lr"] for r in rows]
            y = [r[search.objective] for r in rows]
            label = search_label or search.objective
            twin.plot(x, y, "o-", color="tab:green", lw=1.2, ms=5, label=f"grid search: {label}")
            best = search.best
            if "lr" in best["params"]:
                twin.plot([best["params"]["lr"]], [best[search.objective]], "*",
                          color="tab:orange", ms=16, mec="black", zorder=5,
                          label=f"grid's best lr {best['params']['lr']:.2g}")  # fmt: skip
            twin.set_ylabel(label)
            more_handles, more_labels = twin.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    fig.savefig(out, dpi=100)
    return out


# --- search spaces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogUniform:
    """Uniform in log space between ``lo`` and ``hi``: each decade is as likely as the
    next (made by :func:`log_uniform`)."""

    lo: float
    hi: float

    def sample(self, rng: np.random.Generator) -> float:
        """One value drawn with ``rng``."""
        x = math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))
        return min(max(x, self.lo), self.hi)  # exp(log(hi)) may round above hi


@dataclass(frozen=True)
class Uniform:
    """Uniform between ``lo`` and ``hi`` (made by :func:`uniform`)."""

    lo: float
    hi: float

    def sample(self, rng: np.random.Generator) -> float:
        """One value drawn with ``rng``."""
        return float(rng.uniform(self.lo, self.hi))


@dataclass(frozen=True)
class Choice:
    """One of ``options``, each equally likely (made by :func:`choice`)."""

    options: tuple[Any, ...] = field(default=())

    def sample(self, rng: np.random.Generator) -> Any:
        """One of ``options``, drawn uniformly with ``rng``."""
        return self.options[int(rng.integers(len(self.options)))]


_DISTRIBUTIONS = (LogUniform, Uniform, Choice)


def _bounds(lo: object, hi: object, positive: bool) -> tuple[float, float]:
    bound = check.positive if positive else check.real
    a, b = bound("lo", lo), bound("hi", hi)
    if not a < b:
        msg = f"Invalid lo: {lo!r} (must be < hi = {hi!r})"
        raise ValueError(msg)
    return a, b


def log_uniform(lo: float, hi: float) -> LogUniform:
    """A distribution uniform in log space on ``[lo, hi]``, ``0 < lo < hi``: ``exp(u)`` for
    ``u`` uniform in ``[log lo, log hi]``, the notes' ``10**r`` with ``r`` uniform."""
    return LogUniform(*_bounds(lo, hi, positive=True))


def uniform(lo: float, hi: float) -> Uniform:
    """A distribution uniform on ``[lo, hi)``, ``lo < hi``."""
    return Uniform(*_bounds(lo, hi, positive=False))


def choice(options: Sequence[Any]) -> Choice:
    """A distribution over a non-empty list of values, each equally likely."""
    if isinstance(options, (str, bytes)) or not isinstance(options, (Sequence, np.ndarray)):
        msg = f"options must be a list of values, got {type(options).__name__}"
        raise TypeError(msg)
    values = _plain(options)
    if not values:
        msg = "options: empty list"
        raise ValueError(msg)
    return Choice(tuple(values))


def _plain(values: Sequence[Any] | np.ndarray) -> list[Any]:
    """A list of the values, NumPy arrays' elements as Python scalars (for the table)."""
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _space(space: object) -> dict[str, Any]:
    if not isinstance(space, Mapping):
        msg = f"space must be a dict of hyperparameter names to values, got {type(space).__name__}"
        raise TypeError(msg)
    if not space:
        msg = "space: empty (name at least one hyperparameter)"
        raise ValueError(msg)
    for name in space:
        if not isinstance(name, str):
            msg = f"space: hyperparameter names must be strings, got {name!r}"
            raise TypeError(msg)
    return dict(space)


def _is_list(value: object) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, (str, bytes))


# --- searches ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    """The trials of a search, best first.

    Each trial is a dict: ``trial`` (its index in the order the search made them),
    ``params`` (the hyperparameters ``train_fn`` was called with) and what ``train_fn``
    returned: ``{"loss": value}`` for a number, else the dict's entries.
    """

    #: The trials, sorted best first (ties in trial order; non-finite values last).
    trials: list[dict[str, Any]]
    #: The entry ranked: ``"score"`` (higher is better) or ``"loss"`` (lower is better).
    objective: str

    @property
    def best(self) -> dict[str, Any]:
        """The best trial."""
        return self.trials[0]


def grid_search(
    train_fn: Callable[..., Any],
    space: Mapping[str, Sequence[Any]],
    *,
    processes: int = 1,
) -> SearchResult:
    """Calls ``train_fn(**params)`` once for every combination of the values in ``space``.

    Args:
        train_fn: trains with the given hyperparameters (keyword arguments) and returns a
            loss (a number, lower is better) or a dict of metrics with a ``"score"``
            (higher is better, e.g. a validation accuracy; ranked if present) or a
            ``"loss"``. With ``processes > 1`` it must be picklable: a module-level
            function (or a :func:`functools.partial` of one), not a lambda or closure.
        space: hyperparameter name -> a non-empty list of values, e.g.
            ``{"lr": np.logspace(-4, 0, 9), "momentum": [0.0, 0.9]}``. Use log-spaced
            rates (``numpy.logspace``).
        processes: worker processes; 1 runs the trials here, one after the other.

    Returns:
        A :class:`SearchResult`. The trials are numbered in the order of
        :func:`itertools.product` over the space's values (the last name varies fastest).
    """
    grid = _space(space)
    for name, values in grid.items():
        if not _is_list(values):
            msg = (f"space[{name!r}] must be a list of values for a grid search, got "
                   f"{type(values).__name__}")  # fmt: skip
            raise TypeError(msg)
        grid[name] = _plain(values)
        if not grid[name]:
            msg = f"space[{name!r}]: empty list of values"
            raise ValueError(msg)
    points = [dict(zip(grid, values)) for values in product(*grid.values())]
    return _search(train_fn, points, processes)


def random_search(
    train_fn: Callable[..., Any],
    space: Mapping[str, Any],
    *,
    trials: int,
    seed: int,
    processes: int = 1,
) -> SearchResult:
    """Calls ``train_fn(**params)`` for ``trials`` random draws from ``space``.

    Args:
        train_fn: as for :func:`grid_search`.
        space: hyperparameter name -> a distribution: :func:`log_uniform`, :func:`uniform`,
            :func:`choice`, or a list of values (a :func:`choice`).
        trials: the number of draws, at least 1.
        seed: seeds :func:`numpy.random.default_rng`. The draws are made here, trial by
            trial and name by name in the space's order, before any training: the trials
            and the table depend on the seed only, not on ``processes``.
        processes: worker processes; 1 runs the trials here, one after the other.

    Returns:
        A :class:`SearchResult`.
    """
    dists = _space(space)
    for name, dist in dists.items():
        if _is_list(dist):
            dists[name] = choice(dist)
        elif not isinstance(dist, _DISTRIBUTIONS):
            msg = (f"space[{name!r}]: unknown distribution {dist!r}; use log_uniform, uniform, "
                   "choice or a list of values")  # fmt: skip
            raise TypeError(msg)
    n = check.integer("trials", trials, 1)
    rng = np.random.default_rng(check.seed(seed))
    points = [{name: dist.sample(rng) for name, dist in dists.items()} for _ in range(n)]
    return _search(train_fn, points, processes)


def _call(train_fn: Callable[..., Any], params: dict[str, Any]) -> Any:
    """One trial (module-level, so that worker processes can unpickle it)."""
    return train_fn(**params)


def _search(train_fn: Callable[..., Any], points: list[dict[str, Any]],
            processes: object) -> SearchResult:  # fmt: skip
    if not callable(train_fn):
        msg = f"train_fn must be callable, got {type(train_fn).__name__}"
        raise TypeError(msg)
    workers = check.integer("processes", processes, 1)
    if workers == 1:
        outcomes = [train_fn(**p) for p in points]
    else:
        try:
            pickle.dumps(train_fn)
        except Exception as e:  # pickle raises several types (PicklingError, AttributeError)
            msg = ("train_fn must be picklable for processes > 1 (a module-level function or a "
                   f"functools.partial of one, not a lambda or closure): {e}")  # fmt: skip
            raise TypeError(msg) from e
        # spawn, not fork: a forked child inherits the parent's OpenMP and BLAS thread pools
        # in whatever state they are, which can deadlock; spawn is also what macOS and
        # Windows do, so a search behaves the same everywhere
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(points)), mp_context=context) as pool:
            outcomes = list(pool.map(_call, repeat(train_fn), points))
    rows = [_row(i, p, outcome) for i, (p, outcome) in enumerate(zip(points, outcomes))]
    objective = "score" if all("score" in r for r in rows) else "loss"
    if not all(objective in r for r in rows):
        msg = ('train_fn must return a number (a loss) or a dict with a "score" or a "loss" '
               "entry, the same in every trial")  # fmt: skip
        raise ValueError(msg)
    sign = -1.0 if objective == "score" else 1.0

    def key(row: dict[str, Any]) -> tuple[bool, float, int]:
        value = row[objective]
        finite = math.isfinite(value)
        return (not finite, sign * value if finite else 0.0, row["trial"])

    return SearchResult(sorted(rows, key=key), objective)


def _row(trial: int, params: dict[str, Any], outcome: Any) -> dict[str, Any]:
    metrics = dict(outcome) if isinstance(outcome, Mapping) else {"loss": outcome}
    for reserved in ("trial", "params"):
        if reserved in metrics:
            msg = f"train_fn: the returned dict may not have a {reserved!r} entry"
            raise ValueError(msg)
    for name in ("score", "loss"):
        if name in metrics:
            value = metrics[name]
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                msg = (f"train_fn must return a real number as the {name}, got "
                       f"{type(value).__name__}")  # fmt: skip
                raise TypeError(msg)
            metrics[name] = float(value)
    return {"trial": trial, "params": dict(params), **metrics}


def format_trials(result: SearchResult, limit: int | None = None) -> str:
    """The trials (best first, at most ``limit``) as a plain-text table: the trial number,
    each hyperparameter, then each numeric metric."""
    rows = result.trials[:limit]
    names = list(rows[0]["params"])
    metrics = [k for k, v in rows[0].items() if k not in ("trial", "params")
               and isinstance(v, numbers.Real)]  # fmt: skip
    header = ["trial", *names, *metrics]

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = [[str(r["trial"]), *(cell(r["params"][n]) for n in names),
              *(cell(r.get(m, "")) for m in metrics)] for r in rows]  # fmt: skip
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


# --- the digits MLP of `pyfastopt demo` ---------------------------------------------------------

#: The optimizer of :func:`run_lr_demo`: SGD with momentum 0.9.
DEMO_OPTIMIZER = "Momentum"
#: The rates of :func:`run_lr_demo`'s grid search: 10^-4 to 10^0, three per decade.
DEMO_GRID = tuple(np.logspace(-4.0, 0.0, 13).tolist())


def _demo_name(optimizer: object) -> str:
    """The key of :data:`pyfastopt.demo.OPTIMIZERS` spelled ``optimizer`` in any case."""
    from .demo import OPTIMIZERS

    by_lower = {name.lower(): name for name in OPTIMIZERS}
    if not isinstance(optimizer, str) or optimizer.lower() not in by_lower:
        names = ", ".join(OPTIMIZERS)
        msg = f"optimizer: unknown optimizer {optimizer!r}; choose from {names}"
        raise ValueError(msg)
    return by_lower[optimizer.lower()]


def demo_trial(lr: float, *, optimizer: str = DEMO_OPTIMIZER, epochs: int | None = None,
               seed: int = 0) -> dict[str, float]:  # fmt: skip
    """A ``train_fn`` for the searches: trains the MLP of ``pyfastopt demo`` as
    :func:`pyfastopt.demo.run_demo` does (its data split, initial weights, batches of 64,
    cosine decay from ``lr`` to ``lr/10``, gradient clipping; ``epochs=None``: its
    default) with the optimizer named ``optimizer`` (a key of
    :data:`pyfastopt.demo.OPTIMIZERS`) and returns ``{"score": test accuracy in percent,
    "train_loss": final training loss}``. Picklable with :func:`functools.partial`."""
    from .demo import DEFAULT_EPOCHS, run_demo

    name = _demo_name(optimizer)  # run_demo's rates are keyed by the exact spelling
    row = run_demo([name], epochs=DEFAULT_EPOCHS if epochs is None else epochs, seed=seed,
                   out=None, learning_rates={name: lr})[0]  # fmt: skip
    return {"score": 100.0 * row["test_accuracy"], "train_loss": row["train_loss"]}


def demo_range_test(optimizer: str = DEMO_OPTIMIZER, *, seed: int = 0, batch_size: int = 64,
                    **kwargs: Any) -> RangeTestResult:  # fmt: skip
    """:func:`range_test` on the MLP of ``pyfastopt demo``: the same data split, initial
    weights, mini-batches (reshuffled every epoch) and gradient clipping as
    :func:`pyfastopt.demo.run_demo` with this ``seed``; ``kwargs`` go to :func:`range_test`
    (its default 100 steps are about 5 epochs of batches of 64)."""
    from . import demo
    from .training import minibatches
    from .transforms import clip_grad_norm_

    make = demo.OPTIMIZERS[_demo_name(optimizer)]
    batch_size = check.integer("batch_size", batch_size, 1)
    X, y, _, _ = demo.load_data(seed)
    net = demo._Model(X.shape[1], 10, demo.HIDDEN, seed)
    per_epoch = math.ceil(len(y) / batch_size)
    batches: list[np.ndarray] = []

    def train_step(opt: Any, step: int) -> float:
        while len(batches) <= step:  # the next epoch's batches, as run_demo draws them
            epoch = len(batches) // per_epoch
            batches.extend(minibatches(len(y), batch_size, epoch=epoch, seed=seed))
        idx = batches[step]
        loss = net.loss(X[idx], y[idx])  # before the update, as the test wants
        grads = net.gradients(X[idx], y[idx])
        clip_grad_norm_(grads, demo.MAX_GRAD_NORM)
        opt.step(grads)
        return loss

    # tiny matrices: BLAS threads only add overhead (see run_demo); threadpoolctl is a
    # dependency of scikit-learn, which the demo needs
    threadpoolctl = importlib.import_module("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        return range_test(lambda: make(net.params, 1e-3), train_step, **kwargs)


def run_lr_demo(
    out: str | Path | None = "lr_range_test.png",
    *,
    optimizer: str = DEMO_OPTIMIZER,
    epochs: int | None = None,
    grid: Sequence[float] = DEMO_GRID,
    seed: int = 0,
    processes: int = 1,
) -> dict[str, Any]:
    """The range test and a log-scale grid search over ``lr`` on the digits MLP of
    ``pyfastopt demo`` (:func:`demo_range_test`, then :func:`grid_search` of
    :func:`demo_trial` with ``epochs``), and one more training run at the suggested rate.
    Draws the range test and the grid's accuracies together in ``out`` (a PNG; ``None``:
    no picture).

    Returns a dict: ``range_test`` (the :class:`RangeTestResult`), ``search`` (the grid's
    :class:`SearchResult`), ``suggested_lr``, ``suggested_score`` (the test accuracy, in
    percent, that the suggested rate trains to), ``best_lr`` and ``best_score`` (the
    grid's best) and ``out`` (the PNG's path, or None).
    """
    import functools

    from .demo import DEFAULT_EPOCHS

    optimizer = _demo_name(optimizer)
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    result = demo_range_test(optimizer, seed=seed)
    train = functools.partial(demo_trial, optimizer=optimizer, epochs=epochs, seed=seed)
    search = grid_search(train, {"lr": list(grid)}, processes=processes)
    suggested = train(result.suggested_lr)["score"]
    best_lr, best = search.best["params"]["lr"], search.best["score"]
    path = None
    if out is not None:
        title = (f"LR range test of {optimizer} on the digits MLP of `pyfastopt demo`: the "
                 f"suggested lr trains to {suggested:.1f}% test accuracy in {epochs} epochs,"
                 f"\nthe best of a log-scale grid search (lr {best_lr:.2g}) to {best:.1f}%")
        path = plot_range_test(result, out, search=search, title=title,
                               search_label=f"test accuracy after {epochs} epochs (%)")  # fmt: skip
    return {"range_test": result, "search": search, "suggested_lr": result.suggested_lr,
            "suggested_score": suggested, "best_lr": best_lr, "best_score": best,
            "out": path}  # fmt: skip
