"""``pyfastopt plot``: the source documents' pictures, drawn by pyfastopt's own optimizers.

Three pictures, each a PNG of contour plots with optimizer trajectories:

- ``beale.png`` — the Beale function (Ruder's overview, after Alec Radford's animation):
  ``f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2``, minimum 0 at
  (3, 0.5); one panel for the survey's six (SGD, momentum, NAG, Adagrad, Adadelta, RMSprop),
  one for the Adam family, one for the rest.
- ``saddle.png`` — the saddle ``f(x, y) = x^2 - y^2`` (the same source), started on the ridge
  a hair off the symmetry axis: plain and momentum SGD first slide towards the saddle point,
  the adaptive methods head down the negative slope at once.
- ``quadratic.png`` — the ill-conditioned quadratic of the d2l lecture notes,
  ``f(x) = 0.1 x1^2 + 2 x2^2`` from (-5, -2), 20 steps: gradient descent with eta = 0.4
  (converges, slowly along x1) and eta = 0.6 (diverges along x2), and momentum with
  eta = 0.6, beta = 0.5 / 0.25 (:data:`QUADRATIC_SETTINGS`).
- ``fullbatch.png`` — the full-batch methods, which choose their own steps by line searches:
  nonlinear conjugate gradient (:func:`pyfastopt.conjugate_gradient.minimize_cg`,
  Polak-Ribière+) and :class:`pyfastopt.optim.LBFGS` (strong Wolfe) on the same quadratic
  and on the Rosenbrock function ``(1 - x)^2 + 100 (y - x^2)^2`` from (-1.2, 1)
  (:func:`full_batch_paths`).

Each trajectory is made by the real :mod:`pyfastopt.optim` class stepping a 2-element
float64 array with a hand-written gradient (:func:`trajectory`). ``gif=True`` also writes
``beale.gif``, the Beale panels animated (matplotlib's Pillow writer).

Needs the ``plot`` extra (matplotlib)::

    from pyfastopt.plot import run_plot
    run_plot("pictures", gif=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import optim

__all__ = [
    "BEALE",
    "GRID_RATES",
    "PANELS",
    "QUADRATIC_SETTINGS",
    "QUADRATIC_START",
    "QUADRATIC_STEPS",
    "SADDLE",
    "Surface",
    "beale",
    "beale_grad",
    "full_batch_paths",
    "quadratic",
    "quadratic_grad",
    "quadratic_paths",
    "rosenbrock",
    "rosenbrock_grad",
    "run_plot",
    "saddle",
    "saddle_grad",
    "surface_paths",
    "trajectory",
]

Grad = Callable[[np.ndarray], np.ndarray]
Factory = Callable[[list[np.ndarray]], optim.Optimizer]


# --- the functions and their gradients, by hand ---------------------------------------------


def beale(x: Any, y: Any) -> Any:
    """The Beale function; minimum 0 at (3, 0.5)."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def beale_grad(p: np.ndarray) -> np.ndarray:
    """The gradient of :func:`beale` at ``p = (x, y)``, as a float64 array."""
    x, y = float(p[0]), float(p[1])
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y**2
    c = 2.625 - x + x * y**3
    dx = 2.0 * (a * (y - 1.0) + b * (y**2 - 1.0) + c * (y**3 - 1.0))
    dy = 2.0 * x * (a + 2.0 * b * y + 3.0 * c * y**2)
    return np.array([dx, dy])


def saddle(x: Any, y: Any) -> Any:
    """``x^2 - y^2``: a saddle point at the origin, unbounded below along y."""
    return x**2 - y**2


def saddle_grad(p: np.ndarray) -> np.ndarray:
    """The gradient of :func:`saddle` at ``p = (x, y)``: ``(2x, -2y)``."""
    return np.array([2.0 * p[0], -2.0 * p[1]])


def quadratic(x1: Any, x2: Any) -> Any:
    """``0.1 x1^2 + 2 x2^2`` (d2l): curvatures 0.2 and 4, condition number 20."""
    return 0.1 * x1**2 + 2.0 * x2**2


def quadratic_grad(p: np.ndarray) -> np.ndarray:
    """The gradient of :func:`quadratic` at ``p = (x1, x2)``: ``(0.2 x1, 4 x2)``."""
    return np.array([0.2 * p[0], 4.0 * p[1]])


def rosenbrock(x: Any, y: Any) -> Any:
    """``(1 - x)^2 + 100 (y - x^2)^2``: minimum 0 at (1, 1), at the end of a curved valley."""
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    """The gradient of :func:`rosenbrock` at ``p = (x, y)``, as a float64 array."""
    x, y = float(p[0]), float(p[1])
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x**2), 200.0 * (y - x**2)])


# --- trajectories ---------------------------------------------------------------------------


def trajectory(make: Factory, grad: Grad, start: Sequence[float], steps: int,
               bound: float = np.inf) -> np.ndarray:  # fmt: skip
    """The points visited by ``make([x])`` minimising from ``start``: ``x`` is a 2-element
    float64 array that the optimizer updates in place with ``step([grad(x)])``.

    Returns an array of shape ``(k + 1, 2)``: the start and the point after each of the
    ``k <= steps`` steps; the run stops early once a coordinate leaves ``[-bound, bound]``
    (a diverging run: stopped before the gradient overflows).
    """
    x = np.array(start, dtype=np.float64)
    opt = make([x])
    path = [x.copy()]
    for _ in range(steps):
        if not np.all(np.abs(x) <= bound):
            break
        opt.step([np.ascontiguousarray(grad(x), dtype=np.float64)])
        path.append(x.copy())
    return np.array(path)


@dataclass(frozen=True)
class Surface:
    """A test function with its picture's settings and its optimizers' hyperparameters."""

    name: str
    title: str
    f: Callable[[Any, Any], Any]
    grad: Grad
    start: tuple[float, float]
    steps: int
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    #: name -> optimizer factory: the hyperparameters chosen for this function's scale
    optimizers: dict[str, Factory]
    #: label -> point marked with a star ("minimum (3, 0.5)")
    marks: dict[str, tuple[float, float]] = field(default_factory=dict)
    log_levels: bool = False
    levels: int = 30
    #: a coordinate beyond this stops a run (diverged)
    bound: float = 1e3
    legend: str = "lower left"

    def factory(self, name: str) -> Factory:
        """The optimizer ``name`` as drawn here: the hand-set hyperparameters of
        :attr:`optimizers`, else the class at the rate of :data:`GRID_RATES` whose run ends
        lowest (the notes' grid search; the classes without a hand-set rate)."""
        if name not in self.optimizers:
            self.optimizers[name] = self._grid_searched(optim.element_wise()[name])
        return self.optimizers[name]

    def _grid_searched(self, cls: type[optim.Optimizer]) -> Factory:
        def final_value(lr: float) -> float:
            path = trajectory(_spec(cls, lr=lr), self.grad, self.start, self.steps, self.bound)
            value = float(self.f(*path[-1]))
            return value if len(path) == self.steps + 1 and np.isfinite(value) else np.inf

        return _spec(cls, lr=min(GRID_RATES, key=final_value))


#: Panels of the Beale and saddle pictures: the survey's six classics (as in Radford's
#: animation), the Adam family, and the rest of :mod:`pyfastopt.optim`: bounded, switching
#: and sign-based, then, six to a panel, every other element-wise class (the one list of
#: optimizers is :mod:`pyfastopt.optim`'s), at a rate from :data:`GRID_RATES`.
PANELS: dict[str, list[str]] = {
    "The survey's classics": ["SGD", "Momentum", "NAG", "Adagrad", "Adadelta", "RMSprop"],
    "The Adam family": ["Adam", "AdamW", "AMSGrad", "Adamax", "NAdam", "RAdam"],
    "Bounded, switching and sign-based": ["AdaBound", "AMSBound", "SWATS", "Lion", "Rprop"],
}
_MORE = [n for n in optim.element_wise() if all(n not in names for names in PANELS.values())]
PANELS.update({f"More optimizers{f' ({k // 6 + 1})' if len(_MORE) > 6 else ''}, lr from a grid":
               _MORE[k:k + 6] for k in range(0, len(_MORE), 6)})  # fmt: skip

#: The learning rates a class without a hand-set rate is tried at on each surface.
GRID_RATES = tuple(float(x) for x in np.logspace(-3, 0, 7))


def _spec(cls: type[optim.Optimizer], **kwargs: Any) -> Factory:
    def make(params: list[np.ndarray]) -> optim.Optimizer:
        return cls(params, **kwargs)

    shown = [f"lr {kwargs['lr']:.2g}"]
    if kwargs.get("momentum"):
        shown.append(f"\u03b2 {kwargs['momentum']:g}")
    make.hyperparameters = ", ".join(shown)  # type: ignore[attr-defined]
    return make


def _beale_optimizers() -> dict[str, Factory]:
    # Beale's gradient is ~100 at the start and ~1 near the minimum: plain SGD needs a small
    # rate; the adaptive rules move about lr per step whatever the scale. RAdam's first
    # steps are un-adapted momentum steps (lr times the raw gradient), so its lr must be
    # small too. Adadelta is Zeiler's rule with its defaults (lr 1, rho 0.9, eps 1e-6).
    return {
        "SGD": _spec(optim.SGD, lr=2e-3),
        "Momentum": _spec(optim.SGD, lr=1e-3, momentum=0.9),
        "NAG": _spec(optim.SGD, lr=1e-3, momentum=0.9, nesterov=True),
        "Adagrad": _spec(optim.Adagrad, lr=0.5),
        "Adadelta": _spec(optim.Adadelta, lr=1.0),
        "RMSprop": _spec(optim.RMSprop, lr=0.02),
        "Adam": _spec(optim.Adam, lr=0.05),
        "AdamW": _spec(optim.AdamW, lr=0.05),
        "AMSGrad": _spec(optim.Adam, lr=0.05, amsgrad=True),
        "Adamax": _spec(optim.Adamax, lr=0.2),
        "NAdam": _spec(optim.NAdam, lr=0.05),
        "RAdam": _spec(optim.RAdam, lr=0.01),
        "AdaBound": _spec(optim.AdaBound, lr=0.05, final_lr=0.01),
        "AMSBound": _spec(optim.AMSBound, lr=0.05, final_lr=0.01),
        "SWATS": _spec(optim.SWATS, lr=0.05),
        "Lion": _spec(optim.Lion, lr=0.01),
        "Rprop": _spec(optim.Rprop, lr=0.01),
    }


def _saddle_optimizers() -> dict[str, Factory]:
    return {
        "SGD": _spec(optim.SGD, lr=0.02),
        "Momentum": _spec(optim.SGD, lr=0.02, momentum=0.9),
        "NAG": _spec(optim.SGD, lr=0.02, momentum=0.9, nesterov=True),
        "Adagrad": _spec(optim.Adagrad, lr=0.1),
        "Adadelta": _spec(optim.Adadelta, lr=1.0),
        "RMSprop": _spec(optim.RMSprop, lr=0.02),
        "Adam": _spec(optim.Adam, lr=0.02),
        "AdamW": _spec(optim.AdamW, lr=0.02),
        "AMSGrad": _spec(optim.Adam, lr=0.02, amsgrad=True),
        "Adamax": _spec(optim.Adamax, lr=0.02),
        "NAdam": _spec(optim.NAdam, lr=0.02),
        "RAdam": _spec(optim.RAdam, lr=0.02),
        "AdaBound": _spec(optim.AdaBound, lr=0.02, final_lr=0.02),
        "AMSBound": _spec(optim.AMSBound, lr=0.02, final_lr=0.02),
        "SWATS": _spec(optim.SWATS, lr=0.02),
        "Lion": _spec(optim.Lion, lr=0.02),
        "Rprop": _spec(optim.Rprop, lr=0.01),
    }


#: The Beale picture: 500 steps from (1, 1.5), log-spaced contours, the survey's rates.
BEALE = Surface(
    name="beale",
    title="Beale function",
    f=beale,
    grad=beale_grad,
    start=(1.0, 1.5),
    steps=500,
    xlim=(-1.0, 4.5),
    ylim=(-1.5, 2.5),
    optimizers=_beale_optimizers(),
    marks={"minimum (3, 0.5)": (3.0, 0.5)},
    log_levels=True,
    legend="upper right",
)

#: The saddle picture: 150 steps from just off the ridge, (1, 0.001); a run stops once a
#: coordinate leaves [-3, 3].
SADDLE = Surface(
    name="saddle",
    title="Saddle f(x, y) = x\u00b2 \u2212 y\u00b2",
    f=saddle,
    grad=saddle_grad,
    start=(1.0, 1e-3),
    steps=150,
    xlim=(-1.5, 1.5),
    ylim=(-1.5, 1.5),
    optimizers=_saddle_optimizers(),
    marks={"saddle point (0, 0)": (0.0, 0.0)},
    bound=3.0,
)

#: The d2l notes' runs on ``0.1 x1^2 + 2 x2^2``: (label, eta, beta); beta = 0 is plain
#: gradient descent, otherwise heavy-ball momentum ``v = beta v + g, x -= eta v`` (which is
#: ``optim.SGD(lr=eta, momentum=beta)``).
QUADRATIC_SETTINGS: list[tuple[str, float, float]] = [
    ("gradient descent, \u03b7 = 0.4", 0.4, 0.0),
    ("gradient descent, \u03b7 = 0.6", 0.6, 0.0),
    ("momentum, \u03b7 = 0.6, \u03b2 = 0.5", 0.6, 0.5),
    ("momentum, \u03b7 = 0.6, \u03b2 = 0.25", 0.6, 0.25),
]
#: Where the runs of :data:`QUADRATIC_SETTINGS` start.
QUADRATIC_START = (-5.0, -2.0)
#: Steps of each run of :data:`QUADRATIC_SETTINGS`.
QUADRATIC_STEPS = 20


def quadratic_paths(steps: int = QUADRATIC_STEPS) -> dict[str, np.ndarray]:
    """The trajectories of :data:`QUADRATIC_SETTINGS` from :data:`QUADRATIC_START`."""

    def sgd(eta: float, beta: float) -> Factory:
        return lambda p: optim.SGD(p, lr=eta, momentum=beta)

    return {label: trajectory(sgd(eta, beta), quadratic_grad, QUADRATIC_START, steps)
            for label, eta, beta in QUADRATIC_SETTINGS}  # fmt: skip


ROSENBROCK_START = (-1.2, 1.0)


def lbfgs_path(grad: Grad, f: Callable[[Any, Any], Any], start: Sequence[float],
               max_steps: int = 200) -> np.ndarray:  # fmt: skip
    """The iterates of :class:`pyfastopt.optim.LBFGS` (strong Wolfe) from ``start``: one
    iteration per ``step`` (``max_iter=1``: the state carries the rest), until it stops.
    ``max_eval=26`` gives each line search torch's 25 trials (the default, ``max_iter *
    5 // 4``, would leave it none); tolerances to approach the minimum to ~1e-9."""
    x = np.array(start, dtype=np.float64)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=1, max_eval=26,
                      tolerance_grad=1e-9, tolerance_change=1e-15)  # fmt: skip

    def closure() -> tuple[float, list[np.ndarray]]:
        return float(f(x[0], x[1])), [grad(x)]

    path = [x.copy()]
    for _ in range(max_steps):
        opt.step(closure)
        if np.array_equal(x, path[-1]):  # converged: the step returned at once
            break
        path.append(x.copy())
    return np.array(path)


def full_batch_paths() -> dict[str, dict[str, np.ndarray]]:
    """Panel title -> method -> iterates: CG (PR+) and L-BFGS on the d2l quadratic from
    :data:`QUADRATIC_START` and on the Rosenbrock function from :data:`ROSENBROCK_START`."""
    from .conjugate_gradient import minimize_cg

    panels = {}
    for title, f, grad, start in (
        ("quadratic", quadratic, quadratic_grad, QUADRATIC_START),
        ("rosenbrock", rosenbrock, rosenbrock_grad, ROSENBROCK_START),
    ):
        def f_and_grad(p: np.ndarray, f: Any = f, grad: Grad = grad) -> tuple[float, np.ndarray]:
            return float(f(p[0], p[1])), grad(p)

        cg = minimize_cg(f_and_grad, np.array(start), method="PR+", gtol=1e-9)
        assert cg.trace is not None
        panels[title] = {"CG (PR+)": cg.trace, "L-BFGS": lbfgs_path(grad, f, start)}
    return panels


def _select(optimizers: Sequence[str] | None) -> set[str] | None:
    if optimizers is None:
        return None
    if isinstance(optimizers, str):
        optimizers = [optimizers]
    known = {name.lower(): name for names in PANELS.values() for name in names}
    known["nesterov"] = "NAG"
    chosen = set()
    for name in optimizers:
        if name.lower() not in known:
            msg = (f"optimizers: unknown optimizer {name!r}; choose from "
                   f"{', '.join(n for names in PANELS.values() for n in names)}")  # fmt: skip
            raise ValueError(msg)
        chosen.add(known[name.lower()])
    return chosen


def surface_paths(surface: Surface, optimizers: Sequence[str] | None = None
                  ) -> dict[str, dict[str, np.ndarray]]:  # fmt: skip
    """Panel title -> optimizer name -> trajectory on ``surface`` (panels left empty by the
    selection are dropped)."""
    chosen = _select(optimizers)
    panels = {}
    for title, names in PANELS.items():
        picked = [n for n in names if chosen is None or n in chosen]
        if picked:
            panels[title] = {
                n: trajectory(surface.factory(n), surface.grad, surface.start, surface.steps,
                              surface.bound)
                for n in picked
            }  # fmt: skip
    return panels


# --- drawing --------------------------------------------------------------------------------


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        msg = "matplotlib is needed for the pictures: pip install 'pyfastopt[plot]'"
        raise ImportError(msg) from e
    return matplotlib


def _figure(ncols: int, nrows: int = 1, size: tuple[float, float] = (5.6, 5.0)) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _contours(ax: Any, f: Callable[[Any, Any], Any], xlim: tuple[float, float],
              ylim: tuple[float, float], log_levels: bool, levels: int) -> None:  # fmt: skip
    from matplotlib.colors import LogNorm

    xs = np.linspace(*xlim, 300)
    ys = np.linspace(*ylim, 300)
    X, Y = np.meshgrid(xs, ys)
    Z = f(X, Y)
    if log_levels:
        lo = max(float(Z.min()), 1e-3)
        lv = np.logspace(np.log10(lo), np.log10(float(Z.max())), levels)
        ax.contourf(X, Y, Z, levels=lv, norm=LogNorm(), cmap="Greys_r", alpha=0.3)
        ax.contour(X, Y, Z, levels=lv, norm=LogNorm(), colors="0.5", linewidths=0.5)
    else:
        ax.contourf(X, Y, Z, levels=levels, cmap="RdBu_r", alpha=0.3)
        ax.contour(X, Y, Z, levels=levels, colors="0.45", linewidths=0.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _draw_surface(surface: Surface, panels: dict[str, dict[str, np.ndarray]]) -> tuple[Any, list]:
    """The figure, and per panel a list of (line, path) for the animation."""
    fig = _figure(len(panels))
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)[0])
    lines = []
    for ax, (title, paths) in zip(axes, panels.items()):
        _contours(ax, surface.f, surface.xlim, surface.ylim, surface.log_levels, surface.levels)
        panel_lines = []
        # widths decrease along the legend, so a run that retraces an earlier one (Adam,
        # AMSGrad and SWATS often do) leaves the earlier one visible around it
        widths = np.linspace(4.0, 1.5, len(paths)) if len(paths) > 1 else [2.0]
        for color, lw, (name, path) in zip(_colors(len(paths)), widths, paths.items()):
            label = f"{name} ({getattr(surface.factory(name), 'hyperparameters', '')})"
            (line,) = ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=lw, label=label,
                              solid_capstyle="round")  # fmt: skip
            (head,) = ax.plot(path[-1:, 0], path[-1:, 1], "o", color=color, ms=5)
            panel_lines.append((line, head, path))
        ax.plot(*surface.start, "ko", ms=7, label=f"start ({surface.start[0]:g}, "
                f"{surface.start[1]:g})", zorder=5)  # fmt: skip
        for mark, point in surface.marks.items():
            ax.plot(*point, "*", color="gold", mec="k", ms=16, label=mark, zorder=5)
        ax.set_title(title)
        ax.legend(loc=surface.legend, fontsize=8, framealpha=0.9)
        lines.append(panel_lines)
    ends = "dots: where each ends"
    if surface.bound < np.inf and surface.bound < 10 * max(map(abs, surface.xlim + surface.ylim)):
        ends += f"; a run stops when it leaves |x|, |y| \u2264 {surface.bound:g}"
    fig.suptitle(f"{surface.title}: {surface.steps} steps of each pyfastopt optimizer "
                 f"({ends})")  # fmt: skip
    return fig, lines


def _draw_quadratic(paths: dict[str, np.ndarray]) -> Any:
    fig = _figure(2, 2, size=(6.0, 4.0))
    axes = fig.subplots(2, 2).ravel()
    xlim, ylim = (-5.5, 1.5), (-3.0, 3.0)
    for ax, (label, path) in zip(axes, paths.items()):
        _contours(ax, quadratic, xlim, ylim, False, 20)
        ax.plot(path[:, 0], path[:, 1], "-o", color="tab:orange", ms=4, lw=1.5,
                label="iterates")  # fmt: skip
        ax.plot(*QUADRATIC_START, "ko", ms=7, label="start (-5, -2)", zorder=5)
        ax.plot(0.0, 0.0, "*", color="gold", mec="k", ms=16, label="minimum (0, 0)", zorder=5)
        end = path[-1]
        ax.set_title(label)
        ax.set_xlabel("x\u2081")
        ax.set_ylabel("x\u2082")
        note = f"after {len(path) - 1} steps: ({end[0]:.3g}, {end[1]:.3g})"
        if not (xlim[0] <= end[0] <= xlim[1] and ylim[0] <= end[1] <= ylim[1]):
            note = "diverges along x\u2082: " + note
        ax.text(0.98, 0.04, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})  # fmt: skip
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.suptitle("f(x) = 0.1 x\u2081\u00b2 + 2 x\u2082\u00b2 (d2l notes): gradient descent and "
                 "momentum, optim.SGD(lr=\u03b7, momentum=\u03b2)")  # fmt: skip
    return fig


def _draw_full_batch(panels: dict[str, dict[str, np.ndarray]]) -> Any:
    fig = _figure(2, size=(6.0, 5.0))
    axes = fig.subplots(1, 2)
    settings = {
        "quadratic": ("f(x) = 0.1 x\u2081\u00b2 + 2 x\u2082\u00b2 (d2l notes)", quadratic,
                      (-5.5, 1.5), (-3.0, 3.0), False, (0.0, 0.0), QUADRATIC_START),
        "rosenbrock": ("Rosenbrock (1 \u2212 x)\u00b2 + 100 (y \u2212 x\u00b2)\u00b2",
                       rosenbrock, (-2.0, 2.0), (-1.0, 3.0), True, (1.0, 1.0),
                       ROSENBROCK_START),
    }  # fmt: skip
    for ax, (name, paths) in zip(axes, panels.items()):
        title, f, xlim, ylim, log_levels, minimum, start = settings[name]
        _contours(ax, f, xlim, ylim, log_levels, 30)
        for (method, path), color, marker in zip(paths.items(), ("tab:blue", "tab:red"),
                                                 ("o", "s")):  # fmt: skip
            ax.plot(path[:, 0], path[:, 1], "-" + marker, color=color, ms=4, lw=1.5,
                    label=f"{method}: {len(path) - 1} iterations")  # fmt: skip
        ax.plot(*start, "ko", ms=7, label=f"start ({start[0]:g}, {start[1]:g})", zorder=5)
        ax.plot(*minimum, "*", color="gold", mec="k", ms=16,
                label=f"minimum ({minimum[0]:g}, {minimum[1]:g})", zorder=5)  # fmt: skip
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.suptitle("Full-batch methods with strong Wolfe line searches: minimize_cg (PR+) and "
                 "optim.LBFGS(line_search_fn=\"strong_wolfe\")")  # fmt: skip
    return fig


def _flatten_background(fig: Any, dpi: float) -> None:
    """Renders everything but the plotted lines and markers (contours, axes, labels,
    legends, titles) once, at ``dpi``, into one figure image; each frame then draws that
    image and the lines only. Redrawing the contours and texts for every frame made a GIF
    take a minute and a half. The layout is frozen first (it would otherwise be computed
    again for every frame, and could move by a pixel)."""
    fig.set_dpi(dpi)
    fig.canvas.draw()  # lays the figure out at this size
    fig.set_layout_engine("none")
    live = {line for ax in fig.axes for line in ax.lines}  # trajectories and markers
    for line in live:
        line.set_visible(False)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba()).copy()
    for ax in fig.axes:
        for artist in ax.get_children():
            if artist not in live:
                artist.set_visible(False)
    for text in [*fig.texts, getattr(fig, "_suptitle", None)]:
        if text is not None:
            text.set_visible(False)
    fig.figimage(pixels, origin="upper", zorder=-1)
    for line in live:
        line.set_visible(True)


def _animate(fig: Any, lines: list, out: Path, frames: int = 50, fps: int = 10,
             dpi: float = 70) -> None:  # fmt: skip
    from matplotlib.animation import FuncAnimation, PillowWriter

    _flatten_background(fig, dpi)
    longest = max(len(path) for panel in lines for _, _, path in panel)
    ends = np.unique(np.geomspace(2, longest, frames).round().astype(int))  # slow start

    counter = fig.text(0.005, 0.985, "", ha="left", va="top", fontsize=11, fontweight="bold")

    def update(k: int) -> list:
        counter.set_text(f"step {k - 1}")
        artists = [counter]
        for panel in lines:
            for line, head, path in panel:
                shown = path[: min(k, len(path))]
                line.set_data(shown[:, 0], shown[:, 1])
                head.set_data(shown[-1:, 0], shown[-1:, 1])
                artists += [line, head]
        return artists

    hold = [int(longest)] * (2 * fps)  # the final picture, for two seconds
    anim = FuncAnimation(fig, update, frames=[int(k) for k in ends] + hold, blit=False)
    anim.save(out, writer=PillowWriter(fps=fps), dpi=dpi)


def run_plot(out_dir: str | Path = ".", gif: bool = False,
             optimizers: Sequence[str] | None = None) -> list[Path]:  # fmt: skip
    """Draws the documents' pictures into ``out_dir`` and returns the files written.

    Args:
        out_dir: the directory (created if missing).
        gif: also write ``beale.gif``, the Beale trajectories animated.
        optimizers: names to draw on the Beale function and the saddle (case-insensitive,
            from :data:`PANELS`; ``"Nesterov"`` means NAG); ``None``: all. The quadratic's
            panels are the notes' fixed gradient-descent and momentum settings.

    Returns:
        ``[beale.png, saddle.png, quadratic.png, fullbatch.png]`` (then ``beale.gif``) in
        ``out_dir``.
    """
    _matplotlib()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    beale_fig, beale_lines = _draw_surface(BEALE, surface_paths(BEALE, optimizers))
    beale_fig.savefig(out / "beale.png", dpi=100)
    written.append(out / "beale.png")
    saddle_fig, _ = _draw_surface(SADDLE, surface_paths(SADDLE, optimizers))
    saddle_fig.savefig(out / "saddle.png", dpi=100)
    written.append(out / "saddle.png")
    quad_fig = _draw_quadratic(quadratic_paths())
    quad_fig.savefig(out / "quadratic.png", dpi=100)
    written.append(out / "quadratic.png")
    full_fig = _draw_full_batch(full_batch_paths())
    full_fig.savefig(out / "fullbatch.png", dpi=100)
    written.append(out / "fullbatch.png")
    if gif:
        _animate(beale_fig, beale_lines, out / "beale.gif")
        written.append(out / "beale.gif")
    return written
