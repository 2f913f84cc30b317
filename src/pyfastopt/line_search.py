r"""Line searches: how far to go along a direction, for full-batch methods.

Given a point :math:`x`, a direction :math:`d` and the function of the step
:math:`\phi(\alpha) = f(x + \alpha d)`, a line search picks :math:`\alpha > 0`:

- :func:`backtracking` shrinks a trial step until it gives the *sufficient decrease* (Armijo)
  condition, :math:`\phi(\alpha) \le \phi(0) + c_1 \alpha \phi'(0)`. It needs values only.
- :func:`strong_wolfe` also asks for a flatter slope, the *strong curvature* condition
  :math:`|\phi'(\alpha)| \le c_2 |\phi'(0)|` (with :math:`0 < c_1 < c_2 < 1`): a step that is not
  too short. It brackets an acceptable step, then zooms in by cubic interpolation (Nocedal &
  Wright, *Numerical Optimization*, 2nd ed., algorithms 3.5 and 3.6), as
  ``scipy.optimize.line_search`` and ``torch.optim.LBFGS``'s strong Wolfe search do. Use it for
  conjugate gradient (:mod:`pyfastopt.conjugate_gradient`) and quasi-Newton methods.
- :func:`golden_section` and :func:`brent` minimise a function of one variable on an
  interval :math:`[a, b]` (a "direct" line search: it needs no derivative, so it suits a
  non-smooth :math:`\phi`). Golden section shrinks the interval by
  :math:`(\sqrt 5 - 1) / 2` per evaluation; Brent's method (Brent 1973, ch. 5) takes parabolic
  steps where they are safe, golden-section steps where not.

Every search returns a :class:`LineSearchResult` and counts every call of the function it
was given in ``nfev`` (none are hidden). Points are float64 copies: the caller's arrays are
never written. Bad arguments raise ``TypeError``/``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

from . import _validate as check

__all__ = ["LineSearchResult", "backtracking", "brent", "golden_section", "strong_wolfe"]

#: Relative resolution of a minimiser from function values near a smooth minimum.
_SQRT_EPS = math.sqrt(np.finfo(np.float64).eps)
_INV_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...: the share of the interval kept
#: How near an end of the zoom interval a trial step may be, as a share of the interval.
_ZOOM_MARGIN = 0.01


class LineSearchResult(NamedTuple):
    """What a line search found.

    ``step`` is the step :math:`\\alpha` (for the one-dimensional searches, the minimiser
    itself), ``value`` the function's value there and ``grad`` its gradient there when the
    search evaluated it (None otherwise). ``nfev`` counts the calls of the function the
    search was given; ``converged`` is False when the search stopped without meeting its
    conditions (``step`` is then the best point it found, ``0.0`` if none improved).
    """

    step: float
    value: float
    grad: np.ndarray | None
    nfev: int
    converged: bool


# --- argument checks --------------------------------------------------------------------


def _point(name: str, value: object) -> np.ndarray:
    """A float64 copy of a finite real array (the caller's array is never written)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        msg = f"{name} must be a real array, got dtype {array.dtype}"
        raise TypeError(msg)
    array = np.array(array, dtype=np.float64, copy=True)
    if array.size == 0:
        msg = f"{name} must not be empty"
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"{name} must be finite"
        raise ValueError(msg)
    return array


def _like(name: str, value: object, x: np.ndarray) -> np.ndarray:
    """A finite real array of ``x``'s shape (a direction or a gradient), as float64."""
    array = _point(name, value)
    if array.shape != x.shape:
        msg = f"{name} has shape {array.shape}, expected {x.shape} (x's)"
        raise ValueError(msg)
    return array


def _callable(name: str, value: object) -> None:
    if not callable(value):
        msg = f"{name} must be callable, got {type(value).__name__}"
        raise TypeError(msg)


def _scalar(name: str, value: object) -> float:
    """A function's value as a float (nan and inf pass: the searches treat them as too
    far)."""
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "biuf":
        msg = f"{name} must return a real scalar, got {type(value).__name__}"
        raise TypeError(msg)
    return float(array)


def _finite_value(name: str, value: object) -> float:
    x = _scalar(name, value)
    if not math.isfinite(x):
        msg = f"{name} is not finite: {x}"
        raise ValueError(msg)
    return x


def wolfe_constants(c1: object, c2: object) -> tuple[float, float]:
    """``(c1, c2)`` with :math:`0 < c_1 < c_2 < 1`, as floats (the strong Wolfe search's)."""
    c1 = check.real("c1", c1)
    c2 = check.real("c2", c2)
    if not 0.0 < c1 < 1.0:
        msg = f"Invalid c1: {c1!r} (must be in (0, 1))"
        raise ValueError(msg)
    if not c1 < c2 < 1.0:
        msg = f"Invalid c2: {c2!r} (must be in (c1, 1) = ({c1!r}, 1))"
        raise ValueError(msg)
    return c1, c2


def _interval(a: object, b: object) -> tuple[float, float]:
    a = check.real("a", a)
    b = check.real("b", b)
    if not a < b:
        msg = f"Invalid b: {b!r} (must be > a = {a!r})"
        raise ValueError(msg)
    return a, b


# --- searches along a direction ---------------------------------------------------------


def backtracking(
    f: Callable[[np.ndarray], Any],
    x: Any,
    direction: Any,
    *,
    fx: float | None = None,
    grad: Any = None,
    step: float = 1.0,
    shrink: float = 0.5,
    c1: float = 1e-4,
    max_evals: int = 50,
) -> LineSearchResult:
    r"""Backtracking (Armijo) line search: the first of ``step``, ``step * shrink``,
    ``step * shrink**2``, ... that decreases ``f`` sufficiently.

    .. math::
        f(x + \alpha d) \le f(x) + c_1 \alpha \, \nabla f(x)^\top d

    Args:
        f: the objective, ``f(x) -> float`` (values only; nan and inf count as too far).
        x: the point (any shape; not modified).
        direction: the direction :math:`d`, of ``x``'s shape; a descent direction.
        fx: ``f(x)`` if known (otherwise it is evaluated, and counted in ``nfev``).
        grad: the gradient at ``x``. None means ``direction`` is the steepest-descent
            direction :math:`d = -\nabla f(x)`, so that :math:`\nabla f(x)^\top d = -\|d\|^2`.
        step: the first trial step, > 0.
        shrink: the factor in (0, 1) that shortens a rejected step.
        c1: the sufficient-decrease constant, in (0, 1).
        max_evals: the most evaluations of ``f`` (including ``f(x)`` when ``fx`` is None).

    Returns:
        A :class:`LineSearchResult` with ``grad`` None (not evaluated). If no trial step
        passes within ``max_evals``: ``step=0.0``, ``value=f(x)``, ``grad`` the given
        ``grad``, ``converged=False``.
    """
    _callable("f", f)
    x = _point("x", x)
    d = _like("direction", direction, x)
    step = check.positive("step", step)
    shrink = check.real("shrink", shrink)
    if not 0.0 < shrink < 1.0:
        msg = f"Invalid shrink: {shrink!r} (must be in (0, 1))"
        raise ValueError(msg)
    c1 = check.real("c1", c1)
    if not 0.0 < c1 < 1.0:
        msg = f"Invalid c1: {c1!r} (must be in (0, 1))"
        raise ValueError(msg)
    max_evals = check.integer("max_evals", max_evals, 1)
    if grad is None:
        slope = -float(np.vdot(d, d))
    else:
        g = _like("grad", grad, x)
        slope = float(np.vdot(g, d))
        if not slope < 0.0:
            msg = f"direction is not a descent direction: grad . direction = {slope!r} >= 0"
            raise ValueError(msg)
    nfev = 0
    if fx is None:
        fx = _finite_value("f(x)", f(x.copy()))  # a copy: f may write its argument
        nfev = 1
    else:
        fx = _finite_value("fx", fx)
    alpha = step
    while nfev < max_evals:
        with np.errstate(all="ignore"):  # an overflowing point is "too far", not an error
            point = x + alpha * d
        value = _scalar("f", f(point))
        nfev += 1
        if value <= fx + c1 * alpha * slope:  # False for nan
            return LineSearchResult(alpha, value, None, nfev, True)
        alpha *= shrink
    return LineSearchResult(0.0, fx, None if grad is None else g, nfev, False)


class _Line:
    """:math:`\\phi(\\alpha) = f(x + \\alpha d)` and its slope, from ``f_and_grad``, counting
    calls."""

    def __init__(self, f_and_grad: Callable[[np.ndarray], Any], x: np.ndarray,
                 d: np.ndarray) -> None:  # fmt: skip
        self.f_and_grad, self.x, self.d = f_and_grad, x, d
        self.nfev = 0

    def __call__(self, alpha: float) -> tuple[float, np.ndarray, float]:
        with np.errstate(all="ignore"):  # an overflowing point is "too far", not an error
            point = self.x + alpha * self.d
        out = self.f_and_grad(point)
        self.nfev += 1
        try:
            value, grad = out
        except (TypeError, ValueError):
            msg = "f_and_grad must return a pair (value, gradient)"
            raise TypeError(msg) from None
        value = _scalar("f_and_grad", value)
        # a copy: some objectives hand back one gradient buffer that they overwrite
        grad = np.array(grad, dtype=np.float64, copy=True)
        if grad.shape != self.x.shape:
            msg = f"f_and_grad returned a gradient of shape {grad.shape}, expected {self.x.shape}"
            raise ValueError(msg)
        with np.errstate(all="ignore"):
            slope = float(np.vdot(grad, self.d))
        if not (math.isfinite(value) and math.isfinite(slope)):
            value = math.inf  # too far: the search shortens the step
        return value, grad, slope


def _cubic_minimizer(a: float, fa: float, da: float, b: float, fb: float,
                     db: float) -> float:  # fmt: skip
    """The minimiser of the cubic with values ``fa, fb`` and slopes ``da, db`` at ``a, b``
    (nan if it has none): Nocedal & Wright eq. 3.59."""
    if not all(map(math.isfinite, (fa, da, fb, db))) or a == b:
        return math.nan
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    radicand = d1 * d1 - da * db
    if not radicand >= 0.0:  # also nan
        return math.nan
    d2 = math.copysign(math.sqrt(radicand), b - a)
    denominator = db - da + 2.0 * d2
    if denominator == 0.0:
        return math.nan
    return b - (b - a) * (db + d2 - d1) / denominator


def _quadratic_minimizer(a: float, fa: float, da: float, b: float, fb: float) -> float:
    """The minimiser of the parabola with value ``fa`` and slope ``da`` at ``a`` and value
    ``fb`` at ``b`` (nan if it has none)."""
    if not all(map(math.isfinite, (fa, da, fb))) or a == b:
        return math.nan
    curvature = (fb - fa - da * (b - a)) / ((b - a) * (b - a))
    return a - da / (2.0 * curvature) if curvature > 0.0 else math.nan


def _zoom_step(a_lo: float, f_lo: float, s_lo: float, a_hi: float, f_hi: float,
               s_hi: float) -> float:  # fmt: skip
    """The next trial step between the best step ``a_lo`` and ``a_hi``: the cubic's
    minimiser, but where ``f`` rose at ``a_hi`` nearer ``a_lo`` when the parabola through
    the values says so (Moré & Thuente 1994, case 1: a cubic fitted to a steep rise, far
    beyond the minimiser, lands too far out)."""
    cubic = _cubic_minimizer(a_lo, f_lo, s_lo, a_hi, f_hi, s_hi)
    if not f_hi > f_lo:
        return cubic
    quadratic = _quadratic_minimizer(a_lo, f_lo, s_lo, a_hi, f_hi)
    if math.isnan(quadratic):
        return cubic
    if math.isnan(cubic):
        return quadratic
    if abs(cubic - a_lo) < abs(quadratic - a_lo):
        return cubic
    return cubic + 0.5 * (quadratic - cubic)


def strong_wolfe(
    f_and_grad: Callable[[np.ndarray], Any],
    x: Any,
    direction: Any,
    *,
    fx: float,
    grad: Any,
    step: float = 1.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_step: float = 1e20,
    max_evals: int = 50,
    noise: float = 0.0,
) -> LineSearchResult:
    r"""A step that satisfies the strong Wolfe conditions, by bracketing and zooming.

    .. math::
        \phi(\alpha) \le \phi(0) + c_1 \alpha \phi'(0), \qquad
        |\phi'(\alpha)| \le c_2 |\phi'(0)|, \qquad
        \phi(\alpha) = f(x + \alpha d), \quad \phi'(\alpha) = \nabla f(x + \alpha d)^\top d

    The bracketing phase tries ``step``, then longer steps (cubic extrapolation, each
    increment 1.1 to 4 times the last) until one is acceptable or an interval is known to
    hold one; the zoom phase then shrinks that interval, trying the minimiser of the cubic
    through its ends (nearer the best end after a steep rise, and a bisection when two
    trials have not shrunk the interval by a third, as Moré & Thuente's search does).
    Nocedal & Wright, *Numerical Optimization*, 2nd ed., algorithms 3.5 and 3.6.

    Args:
        f_and_grad: ``f_and_grad(x) -> (value, gradient)``; one call per trial step. A
            non-finite value or gradient means "too far".
        x: the point (any shape; not modified).
        direction: a descent direction, of ``x``'s shape (:math:`\phi'(0) < 0`).
        fx: ``f(x)``.
        grad: the gradient at ``x``.
        step: the first trial step, > 0 (clipped to ``max_step``).
        c1: the sufficient-decrease constant; c2: the curvature constant,
            :math:`0 < c_1 < c_2 < 1` (0.9 suits quasi-Newton methods, 0.1 conjugate
            gradient).
        max_step: the longest step tried.
        max_evals: the most calls of ``f_and_grad``.
        noise: the relative rounding error of ``f``'s values, >= 0. With ``noise > 0``,
            differences of ``f`` within :math:`\nu` = ``noise`` :math:`\cdot |f(x)|` are
            rounding, not decrease or increase, and a step with
            :math:`\phi(\alpha) \le \phi(0) + \nu` passes the sufficient-decrease test if
            its slope does, :math:`\phi'(\alpha) \le (2 c_1 - 1) \phi'(0)` (the Armijo
            condition of the quadratic through :math:`\phi(0), \phi'(0), \phi'(\alpha)`):
            Hager & Zhang's approximate Wolfe conditions (2005), for minimisers where ``f``
            is flat to rounding but its gradient still leads. 0 (the default): the exact
            conditions.

    Returns:
        A :class:`LineSearchResult` with the gradient at the step. Without an acceptable
        step in ``max_evals`` calls (or below the resolution of floats), ``converged`` is
        False and ``step`` is the best step that decreases ``f`` sufficiently (``0.0``,
        with ``fx`` and ``grad``, if none does). A step that reaches ``max_step`` still
        falling steeply is returned with ``converged=False`` too.
    """
    _callable("f_and_grad", f_and_grad)
    x = _point("x", x)
    d = _like("direction", direction, x)
    f0 = _finite_value("fx", fx)
    g0 = _like("grad", grad, x)
    c1, c2 = wolfe_constants(c1, c2)
    step = check.positive("step", step)
    max_step = check.positive("max_step", max_step)
    max_evals = check.integer("max_evals", max_evals, 1)
    tolerance = check.nonneg("noise", noise) * abs(f0)
    slope0 = float(np.vdot(g0, d))
    if not slope0 < 0.0:
        msg = f"direction is not a descent direction: grad . direction = {slope0!r} >= 0"
        raise ValueError(msg)

    line = _Line(f_and_grad, x, d)

    def armijo(alpha: float, value: float, slope: float) -> bool:
        return value <= f0 + c1 * alpha * slope0 or (
            value <= f0 + tolerance and slope <= (2.0 * c1 - 1.0) * slope0)  # fmt: skip

    def rose(value: float, reference: float) -> bool:  # f(step) >= f(reference step)
        return value - reference > tolerance if tolerance > 0.0 else value >= reference

    curvature = lambda slope: abs(slope) <= -c2 * slope0

    # Bracketing (algorithm 3.5). (a_prev, f_prev, g_prev, s_prev) is the last trial step,
    # which decreases f sufficiently; it starts at 0.
    a_prev, f_prev, g_prev, s_prev = 0.0, f0, g0, slope0
    alpha = min(step, max_step)
    while True:
        value, g, slope = line(alpha)
        if not armijo(alpha, value, slope) or (a_prev > 0.0 and rose(value, f_prev)):
            lo, hi = (a_prev, f_prev, g_prev, s_prev), (alpha, value, g, slope)
            break
        if curvature(slope):
            return LineSearchResult(alpha, value, g, line.nfev, True)
        if slope >= 0.0:  # past a minimiser of phi
            lo, hi = (alpha, value, g, slope), (a_prev, f_prev, g_prev, s_prev)
            break
        if alpha >= max_step or line.nfev >= max_evals:
            return LineSearchResult(alpha, value, g, line.nfev, False)
        # Still falling steeply: go further. Moré & Thuente's bounds [1.1, 4] times the last
        # increment keep the extrapolation from creeping or leaping.
        low, high = alpha + 1.1 * (alpha - a_prev), alpha + 4.0 * (alpha - a_prev)
        trial = _cubic_minimizer(a_prev, f_prev, s_prev, alpha, value, slope)
        trial = high if math.isnan(trial) else min(max(trial, low), high)
        a_prev, f_prev, g_prev, s_prev = alpha, value, g, slope
        alpha = min(trial, max_step)

    # Zoom (algorithm 3.6): lo is the best step so far that decreases f sufficiently; an
    # acceptable step lies between lo and hi.
    widths = [math.inf, math.inf]  # the last two intervals' widths
    while line.nfev < max_evals:
        (a_lo, f_lo, _, s_lo), (a_hi, f_hi, _, s_hi) = lo, hi
        width = abs(a_hi - a_lo)
        if width <= 4.0 * np.finfo(np.float64).eps * max(a_lo, a_hi):
            break  # the steps can no longer be told apart
        trial = _zoom_step(a_lo, f_lo, s_lo, a_hi, f_hi, s_hi)
        if math.isnan(trial) or width > 0.66 * widths[0]:
            # no interpolant, or too slow: two steps failed to shrink the interval by a
            # third (Moré & Thuente's safeguard), so bisect
            trial = 0.5 * (a_lo + a_hi)
        else:  # not too near an end, where a step teaches little
            margin = _ZOOM_MARGIN * width
            trial = min(max(trial, min(a_lo, a_hi) + margin), max(a_lo, a_hi) - margin)
        widths = [widths[1], width]
        value, g, slope = line(trial)
        if not armijo(trial, value, slope) or rose(value, f_lo):
            hi = (trial, value, g, slope)
            continue
        if curvature(slope):
            return LineSearchResult(trial, value, g, line.nfev, True)
        if slope * (a_hi - a_lo) >= 0.0:
            hi = lo
        lo = (trial, value, g, slope)
    a_lo, f_lo, g_lo, _ = lo
    return LineSearchResult(a_lo, f_lo, g_lo, line.nfev, False)


def bounded_cubic(x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any,
                  bounds: tuple[Any, Any] | None = None) -> Any:  # fmt: skip
    """The cubic's minimiser (:func:`_cubic_minimizer`, its points in increasing order),
    clamped to ``bounds`` (default: between the points); the middle of ``bounds`` when the
    cubic has no minimiser. The interpolation of minFunc's and torch.optim.LBFGS's
    strong Wolfe search (:func:`lbfgs_strong_wolfe`).

    The arguments may be NumPy scalars: float32 ones keep their dtype through the
    arithmetic (NumPy >= 2), as torch's 0-d tensors do."""
    low, high = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    if x1 <= x2:
        found = _cubic_minimizer(x1, f1, g1, x2, f2, g2)
    else:  # the same cubic, from its leftmost point
        found = _cubic_minimizer(x2, f2, g2, x1, f1, g1)
    if math.isnan(found):
        return (low + high) / 2.0
    return min(max(found, low), high)


def lbfgs_strong_wolfe(
    line: Callable[[Any], tuple[float, np.ndarray, Any]],
    t: Any,
    f: float,
    g: np.ndarray,
    gtd: Any,
    *,
    d_norm: Any,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, np.ndarray, Any, int]:
    r"""The strong Wolfe search of :class:`pyfastopt.optim.LBFGS`: the variant of Schmidt's
    minFunc that torch.optim.LBFGS uses (via torch7's ``lswolfe.lua``), kept decision for
    decision so that L-BFGS follows torch's iterates. :func:`strong_wolfe` is the general
    search (Nocedal & Wright's algorithms 3.5 and 3.6 with Moré & Thuente's safeguards).

    What differs from :func:`strong_wolfe`: the bracketing phase extrapolates by the cubic
    clamped to ``[t + 0.01 (t - t_prev), 10 t]`` and compares a value with the previous
    one only from its third trial on; the zoom phase takes the cubic through the bracket's
    ends, moved to 10% of the bracket from its nearer end when it falls within 10% of an end
    twice in a row (or outside it); it stops when the bracket, times
    :math:`\|d\|_\infty` (``d_norm``), is below ``tolerance_change``. At most ``max_ls``
    trials in all (the rest of the L-BFGS step's evaluations); without an acceptable step
    the best point of the bracket is returned.

    Args:
        line: ``line(t) -> (value, flat gradient, slope)`` at ``x + t d``.
        t: the first trial step; f, g, gtd: the value, flat gradient and slope at ``t = 0``.

    Returns:
        ``(value, gradient, t, evaluations)`` at the step taken.
    """
    f_new, g_new, gtd_new = line(t)
    nfev = 1
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    trials = 0  # trials after the first one
    bracket: list[Any] = []
    while trials < max_ls:
        if f_new > f + c1 * t * gtd or (trials > 1 and f_new >= f_prev):
            bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, done = [(t, f_new, g_new, gtd_new)], True
            break
        if gtd_new >= 0:  # past a minimiser of phi
            bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
            break
        # still falling: extrapolate, at least 1% further, at most 10 times as far
        t_next = bounded_cubic(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(t + 0.01 * (t - t_prev), t * 10))  # fmt: skip
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new, gtd_new = line(t)
        nfev += 1
        trials += 1
    if trials == max_ls:  # out of evaluations: choose between 0 and the last trial
        bracket = [(0, f, g, gtd), (t, f_new, g_new, None)]

    # zoom: bracket[low] is the best point so far
    low = 0 if bracket[0][1] <= bracket[-1][1] else 1
    insufficient = False
    while not done and trials < max_ls:
        (a, f_a, _, s_a), (b, f_b, _, s_b) = bracket
        if abs(b - a) * d_norm < tolerance_change:
            break
        t = bounded_cubic(a, f_a, s_a, b, f_b, s_b)
        left, right = min(a, b), max(a, b)
        margin = 0.1 * (right - left)
        if min(right - t, t - left) < margin:
            # near an end: tolerated once, else moved 10% of the bracket inside it
            if insufficient or t >= right or t <= left:
                t = right - margin if abs(t - right) < abs(t - left) else left + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new, gtd_new = line(t)
        nfev += 1
        trials += 1
        point = (t, f_new, g_new, gtd_new)
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[1 - low] = point
            low = 0 if bracket[0][1] <= bracket[1][1] else 1
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[1 - low][0] - bracket[low][0]) >= 0:
                bracket[1 - low] = bracket[low]  # the minimiser lies on the other side
            bracket[low] = point
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, nfev


# --- one-dimensional minimisation on an interval ----------------------------------------


def _objective(phi: Callable[[float], Any]) -> Callable[[float], float]:
    """phi as a float function; nan becomes inf, so that it is never taken as a minimum."""

    def value(t: float) -> float:
        v = _scalar("phi", phi(t))
        return math.inf if math.isnan(v) else v

    return value


def golden_section(
    phi: Callable[[float], Any],
    a: float,
    b: float,
    *,
    tol: float = 1e-8,
    max_evals: int = 500,
) -> LineSearchResult:
    r"""Minimises ``phi`` on ``[a, b]`` by golden-section search.

    Two interior points split :math:`[a, b]`; the side beyond the worse one is dropped,
    and the kept point is reused, so each evaluation shrinks the interval by
    :math:`\tau = (\sqrt 5 - 1) / 2 \approx 0.618`. For a unimodal ``phi`` the minimiser stays
    in the interval: the search stops when the best point is within
    :math:`\mathrm{tol} + \sqrt{\epsilon}\,|t|` of both ends (:math:`\epsilon` the float64
    epsilon: values cannot place a smooth minimum more finely).

    Args:
        phi: a function of one real variable (nan counts as +inf).
        a, b: the interval, a < b.
        tol: the absolute tolerance on the minimiser, > 0.
        max_evals: the most evaluations of ``phi`` (at least 2).

    Returns:
        A :class:`LineSearchResult` with the minimiser in ``step`` and ``grad`` None.
    """
    _callable("phi", phi)
    a, b = _interval(a, b)
    tol = check.positive("tol", tol)
    max_evals = check.integer("max_evals", max_evals, 2)
    f = _objective(phi)
    c, d = b - _INV_GOLDEN * (b - a), a + _INV_GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    nfev = 2
    while True:
        t, ft = (c, fc) if fc <= fd else (d, fd)
        if max(t - a, b - t) <= tol + _SQRT_EPS * abs(t):
            return LineSearchResult(t, ft, None, nfev, True)
        if nfev >= max_evals:
            return LineSearchResult(t, ft, None, nfev, False)
        if fc <= fd:  # a minimiser lies in [a, d]
            b, d, fd = d, c, fc
            c = b - _INV_GOLDEN * (b - a)
            fc = f(c)
        else:  # in [c, b]
            a, c, fc = c, d, fd
            d = a + _INV_GOLDEN * (b - a)
            fd = f(d)
        nfev += 1


def brent(
    phi: Callable[[float], Any],
    a: float,
    b: float,
    *,
    tol: float = 1e-8,
    max_evals: int = 500,
) -> LineSearchResult:
    r"""Minimises ``phi`` on ``[a, b]`` by Brent's method (golden section and parabolic
    interpolation), as ``scipy.optimize.minimize_scalar(method="bounded")`` does.

    Each step fits a parabola through the three best points and goes to its vertex when
    that is inside the interval and the step is less than half the step before last;
    otherwise it takes a golden-section step into the larger part of the interval. Steps
    are at least :math:`t_1 = (\mathrm{tol} + \sqrt{\epsilon}\,|t|) / 2` long, and the search
    stops, as :func:`golden_section` does, when the best point is within
    :math:`2 t_1` of both ends. Brent, *Algorithms for Minimization without Derivatives*
    (1973), ch. 5.

    Args:
        phi: a function of one real variable (nan counts as +inf).
        a, b: the interval, a < b.
        tol: the absolute tolerance on the minimiser, > 0.
        max_evals: the most evaluations of ``phi``.

    Returns:
        A :class:`LineSearchResult` with the minimiser in ``step`` and ``grad`` None.
    """
    _callable("phi", phi)
    a, b = _interval(a, b)
    tol = check.positive("tol", tol)
    max_evals = check.integer("max_evals", max_evals, 1)
    f = _objective(phi)
    golden = 1.0 - _INV_GOLDEN  # 0.382...: the golden step into the larger part
    # t is the best point, w the second best, v the previous w; e the step before last
    t = w = v = a + golden * (b - a)
    ft = fw = fv = f(t)
    nfev = 1
    delta = e = 0.0
    while True:
        middle = 0.5 * (a + b)
        tol1 = 0.5 * (tol + _SQRT_EPS * abs(t))
        tol2 = 2.0 * tol1
        if abs(t - middle) <= tol2 - 0.5 * (b - a):  # max(t - a, b - t) <= tol2
            return LineSearchResult(t, ft, None, nfev, True)
        if nfev >= max_evals:
            return LineSearchResult(t, ft, None, nfev, False)
        parabolic = False
        if abs(e) > tol1:
            # the vertex of the parabola through v, w, t is t + p / q
            # (an infinite value makes p or q nan or inf: the test below then fails)
            r = (t - w) * (ft - fv)
            q = (t - v) * (ft - fw)
            p = (t - v) * q - (t - w) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            last, e = e, delta
            # only inside (a, b) and shorter than half the step before last: else the
            # parabola is not converging, and golden section takes over
            if abs(p) < abs(0.5 * q * last) and q * (a - t) < p < q * (b - t):
                delta = p / q
                u = t + delta
                if u - a < tol2 or b - u < tol2:  # not too near an end
                    delta = tol1 if t < middle else -tol1
                parabolic = True
        if not parabolic:
            e = (b - t) if t < middle else (a - t)
            delta = golden * e
        u = t + (delta if abs(delta) >= tol1 else math.copysign(tol1, delta))
        fu = f(u)
        nfev += 1
        if fu <= ft:
            if u < t:
                b = t
            else:
                a = t
            v, fv, w, fw, t, ft = w, fw, t, ft, u, fu
        else:
            if u < t:
                a = u
            else:
                b = u
            if fu <= fw or w == t:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (t, w):
                v, fv = u, fu
