r"""Nonlinear conjugate gradient: full-batch minimisation of a smooth function.

From :math:`x_0` and :math:`d_0 = -g_0` (:math:`g_k = \nabla f(x_k)`), each iteration searches
along :math:`d_k` for a step :math:`\alpha_k` (:mod:`pyfastopt.line_search`), then mixes the
new gradient with the old direction:

.. math::
    x_{k+1} = x_k + \alpha_k d_k, \qquad d_{k+1} = -g_{k+1} + \beta_{k+1} d_k, \qquad
    y_k = g_{k+1} - g_k

    \beta^{FR}_{k+1} = \frac{g_{k+1}^\top g_{k+1}}{g_k^\top g_k}, \qquad
    \beta^{PR+}_{k+1} = \max\Big(\frac{g_{k+1}^\top y_k}{g_k^\top g_k}, 0\Big), \qquad
    \beta^{HS}_{k+1} = \frac{g_{k+1}^\top y_k}{d_k^\top y_k}

(Fletcher-Reeves, Polak-Ribière+, Hestenes-Stiefel: Nocedal & Wright, *Numerical
Optimization*, 2nd ed., section 5.2). On a convex quadratic with exact line searches all three
are linear CG, which ends in at most n iterations. Elsewhere PR+ is the robust default: its
:math:`\beta = 0` restarts from steepest descent when the gradients stop being nearly
orthogonal (Gilbert & Nocedal 1992). A direction that is not downhill
(:math:`g^\top d \ge 0`, possible with PR+ and HS) is replaced by :math:`-g`, and so is
every n-th direction (``restart``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Union

import numpy as np

from . import _validate as check
from .line_search import LineSearchResult, backtracking, strong_wolfe, wolfe_constants

__all__ = ["CGResult", "minimize_cg"]

METHODS = ("PR+", "FR", "HS")
LineSearch = Union[str, Callable[..., LineSearchResult]]


class CGResult(NamedTuple):
    """The outcome of :func:`minimize_cg`.

    ``x``, ``fun`` and ``grad`` are the last iterate, its value and gradient; ``nit`` the
    iterations (line searches that moved ``x``); ``nfev`` every call of ``f_and_grad``;
    ``converged`` whether :math:`\\|g\\|_\\infty \\le` ``gtol`` was reached, ``message``
    says why it stopped. ``trace`` holds the iterates :math:`x_0, \\dots, x_{nit}`, shape
    ``(nit + 1,) + x.shape`` (None with ``trace=False``); ``trace_fun`` their values.
    """

    x: np.ndarray
    fun: float
    grad: np.ndarray
    nit: int
    nfev: int
    converged: bool
    message: str
    trace: np.ndarray | None
    trace_fun: np.ndarray


def _evaluate(f_and_grad: Callable[[np.ndarray], Any], x: np.ndarray) -> tuple[float, np.ndarray]:
    out = f_and_grad(x.copy())  # a copy: the objective may write its argument
    try:
        value, grad = out
    except (TypeError, ValueError):
        msg = "f_and_grad must return a pair (value, gradient)"
        raise TypeError(msg) from None
    value = np.asarray(value)
    if value.shape != () or value.dtype.kind not in "biuf":
        msg = f"f_and_grad must return a real scalar value, got {type(value).__name__}"
        raise TypeError(msg)
    grad = np.array(grad, dtype=np.float64, copy=True)
    if grad.shape != x.shape:
        msg = f"f_and_grad returned a gradient of shape {grad.shape}, expected {x.shape}"
        raise ValueError(msg)
    return float(value), grad


def _beta(method: str, g_new: np.ndarray, g: np.ndarray, d: np.ndarray) -> float:
    """The weight of the old direction; nan when it is undefined (a restart)."""
    with np.errstate(all="ignore"):  # 0/0 or overflow: restart from steepest descent
        if method == "FR":
            return float(np.vdot(g_new, g_new) / np.vdot(g, g))
        y = g_new - g
        if method == "PR+":
            return max(float(np.vdot(g_new, y) / np.vdot(g, g)), 0.0)
        return float(np.vdot(g_new, y) / np.vdot(d, y))  # HS


def minimize_cg(
    f_and_grad: Callable[[np.ndarray], Any],
    x0: Any,
    *,
    method: str = "PR+",
    line_search: LineSearch = "strong_wolfe",
    gtol: float = 1e-5,
    max_iter: int | None = None,
    restart: int | None = None,
    c1: float = 1e-4,
    c2: float = 0.1,
    noise: float = 1e-12,
    trace: bool = True,
) -> CGResult:
    r"""Minimises ``f`` by nonlinear conjugate gradient.

    Args:
        f_and_grad: ``f_and_grad(x) -> (value, gradient)``, the gradient of ``x``'s shape.
        x0: the starting point (any shape; copied as float64, never written).
        method: "PR+" (Polak-Ribière+, the default), "FR" (Fletcher-Reeves) or "HS"
            (Hestenes-Stiefel).
        line_search: "strong_wolfe" (:func:`pyfastopt.line_search.strong_wolfe` with
            ``c1``, ``c2``), "backtracking" (:func:`pyfastopt.line_search.backtracking`
            with ``c1``: cheaper steps, but no guarantee the next direction is downhill), or
            a callable ``(f_and_grad, x, direction, *, fx, grad, step) ->``
            :class:`~pyfastopt.line_search.LineSearchResult` (``grad`` may be None: it is
            then evaluated).
        gtol: stop when :math:`\|g\|_\infty \le` ``gtol`` (SciPy's test).
        max_iter: the most iterations (default ``200 * x0.size``, as SciPy's).
        restart: also restart from steepest descent every ``restart`` iterations: None
            (the default) every n = ``x0.size``, as Nocedal & Wright suggest (on a quadratic,
            CG is done by then; elsewhere the old directions have gone stale, and
            Fletcher-Reeves in particular can crawl without restarts); 0 only when needed
            (a failed line search, a direction that is not downhill).
        c1, c2: the line search's Wolfe constants, :math:`0 < c_1 < c_2 < 1`. Nocedal &
            Wright suggest :math:`c_2 = 0.1` for CG (a nearly exact search); SciPy's CG
            uses 0.4.
        noise: the strong Wolfe search's ``noise`` (relative rounding error of ``f``):
            near a minimiser where ``f`` is flat to rounding, steps are judged by their
            slope (Hager & Zhang's approximate Wolfe conditions), so that a small ``gtol``
            can still be reached. 0: the exact conditions.
        trace: keep every iterate in ``result.trace`` (``nit + 1`` copies of ``x``).

    Returns:
        A :class:`CGResult`.

    The first trial step of each line search is Nocedal & Wright's eq. 3.60,
    :math:`\min(1, 2.02 (f_k - f_{k-1}) / g_k^\top d_k)`, as SciPy's; the first one gives
    a step of length at most 1.
    """
    if not callable(f_and_grad):
        msg = f"f_and_grad must be callable, got {type(f_and_grad).__name__}"
        raise TypeError(msg)
    x = np.asarray(x0)
    if x.dtype.kind not in "iuf":
        msg = f"x0 must be a real array, got dtype {x.dtype}"
        raise TypeError(msg)
    x = np.array(x, dtype=np.float64, copy=True)
    if x.size == 0 or not np.all(np.isfinite(x)):
        msg = "x0 must be finite and not empty"
        raise ValueError(msg)
    if not isinstance(method, str):
        msg = f"method must be a str, got {type(method).__name__}"
        raise TypeError(msg)
    if method not in METHODS:
        msg = f"Invalid method: {method!r} (must be one of {', '.join(METHODS)})"
        raise ValueError(msg)
    if isinstance(line_search, str):
        if line_search not in ("strong_wolfe", "backtracking"):
            msg = f"Invalid line_search: {line_search!r} (must be 'strong_wolfe', "
            msg += "'backtracking' or a callable)"
            raise ValueError(msg)
    elif not callable(line_search):
        msg = f"line_search must be a str or a callable, got {type(line_search).__name__}"
        raise TypeError(msg)
    gtol = check.nonneg("gtol", gtol)
    max_iter = 200 * x.size if max_iter is None else check.integer("max_iter", max_iter, 0)
    restart = x.size if restart is None else check.integer("restart", restart, 0)
    c1, c2 = wolfe_constants(c1, c2)
    noise = check.nonneg("noise", noise)

    fun, grad = _evaluate(f_and_grad, x)
    nfev = 1
    if not (math.isfinite(fun) and np.all(np.isfinite(grad))):
        msg = "x0: f_and_grad(x0) is not finite"
        raise ValueError(msg)
    counted = _Counted(f_and_grad)
    iterates, values = [x.copy()] if trace else [], [fun]
    direction, steepest, since_restart = -grad, True, 0
    fun_prev = math.nan
    nit, converged, message = 0, False, ""
    while True:
        if float(np.max(np.abs(grad))) <= gtol:
            converged, message = True, "gtol reached"
            break
        if nit >= max_iter:
            message = "max_iter reached"
            break
        slope = float(np.vdot(grad, direction))
        if not slope < 0.0:  # not downhill (PR+ and HS can do this): steepest descent
            direction, steepest = -grad, True
            slope = -float(np.vdot(grad, grad))
            if not slope < 0.0:  # g'g underflows: no line search can use this gradient
                message = "gradient underflows"
                break
        if steepest:
            since_restart = 0
        if math.isnan(fun_prev):  # the first step: at most 1 long
            step = min(1.0, 1.0 / math.sqrt(-slope))
        else:  # as if phi were the quadratic through f_k, f_{k-1}: N&W eq. 3.60
            step = 2.02 * (fun - fun_prev) / slope
            step = min(1.0, step) if step > 0.0 else 1.0
        counted.nfev = 0
        if line_search == "strong_wolfe":
            found = strong_wolfe(counted, x, direction, fx=fun, grad=grad, step=step, c1=c1,
                                 c2=c2, noise=noise)  # fmt: skip
        elif line_search == "backtracking":
            found = backtracking(counted.value, x, direction, fx=fun, grad=grad, step=step,
                                 c1=c1)  # fmt: skip
        else:
            assert callable(line_search)
            found = line_search(counted, x, direction, fx=fun, grad=grad, step=step)
        nfev += counted.nfev
        # A step that meets the search's conditions is taken even without a decrease in
        # float64 (f flat to rounding near its minimum: the gradient still guides CG)
        if not (found.step > 0.0 and (found.converged or found.value < fun)):
            if steepest:  # no step found even downhill: rounding errors (or a wrong gradient)
                message = "line search failed"
                break
            direction, steepest = -grad, True  # retry from steepest descent
            continue
        x_new = x + found.step * direction
        if found.grad is not None:
            grad_new = np.array(found.grad, dtype=np.float64, copy=True)
        elif counted.last is not None and np.array_equal(counted.last[0], x_new):
            grad_new = counted.last[1]  # backtracking: its accepted step is its last call
        else:
            _, grad_new = _evaluate(f_and_grad, x_new)
            nfev += 1
        beta = _beta(method, grad_new, grad, direction)
        x, fun_prev, fun, grad = x_new, fun, found.value, grad_new
        nit += 1
        since_restart += 1
        if trace:
            iterates.append(x.copy())
        values.append(fun)
        if (not found.converged or not math.isfinite(beta)
                or (restart > 0 and since_restart >= restart)):  # fmt: skip
            direction, steepest = -grad, True
        else:
            direction, steepest = -grad + beta * direction, beta == 0.0
    return CGResult(
        x=x, fun=fun, grad=grad, nit=nit, nfev=nfev, converged=converged, message=message,
        trace=np.stack(iterates) if trace else None, trace_fun=np.array(values),
    )  # fmt: skip


class _Counted:
    """``f_and_grad`` that counts its calls and keeps the last point and gradient (which
    the backtracking search, given values only, would otherwise throw away)."""

    def __init__(self, f_and_grad: Callable[[np.ndarray], Any]) -> None:
        self.f_and_grad = f_and_grad
        self.nfev = 0
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = _evaluate(self.f_and_grad, x)
        self.nfev += 1
        self.last = (x.copy(), grad)
        return value, grad

    def value(self, x: np.ndarray) -> float:
        return self(x)[0]
