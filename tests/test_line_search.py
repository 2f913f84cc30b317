"""Line searches against closed forms (quadratics, golden-section interval counts), the
conditions they promise (Armijo, strong Wolfe), and SciPy's searches."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import rosen_and_der

from pyfastopt.line_search import backtracking, brent, golden_section, strong_wolfe

SQRT_EPS = math.sqrt(np.finfo(np.float64).eps)
TAU = (math.sqrt(5.0) - 1.0) / 2.0


class Counted:
    """An objective that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, x):
        self.calls += 1
        return self.fn(x)


def quadratic(n, seed):
    """f(x) = x'Ax/2 - b'x with a random SPD A (eigenvalues 1..30)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.linspace(1.0, 30.0, n)) @ q.T
    b = rng.normal(size=n)
    return a, b, lambda x: (0.5 * x @ a @ x - b @ x, a @ x - b)


def descent_direction(g, rng):
    """-g turned by a random perturbation, still downhill."""
    d = -g + 0.5 * np.linalg.norm(g) * rng.normal(size=g.shape) / math.sqrt(g.size)
    return d if g @ d < 0 else -g


# --- strong Wolfe -------------------------------------------------------------------------


@pytest.mark.parametrize("c2", [1e-6, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("first", [1e-4, 1.0, 50.0])
def test_strong_wolfe_on_a_quadratic_is_within_c2_of_the_exact_step(c2, first):
    # phi'(t) = phi'(0) + t d'Ad, so |phi'(t)| <= c2 |phi'(0)| <=> |t - t*| <= c2 t*,
    # with the exact step t* = -g.d / d'Ad
    a, _, fg = quadratic(6, seed=1)
    rng = np.random.default_rng(2)
    x = rng.normal(size=6)
    fx, g = fg(x)
    d = descent_direction(g, rng)
    exact = -(g @ d) / (d @ a @ d)
    found = strong_wolfe(fg, x, d, fx=fx, grad=g, step=first * exact, c1=min(1e-4, c2 / 2),
                         c2=c2)  # fmt: skip
    assert found.converged
    assert abs(found.step - exact) <= c2 * exact + 1e-12 * exact
    if c2 == 1e-6:
        np.testing.assert_allclose(found.step, exact, rtol=1e-9)
    if first > 1.0:  # the cubic through two points of a quadratic is the quadratic
        assert found.nfev == 2


@pytest.mark.parametrize("c2", [0.1, 0.4, 0.9])
@pytest.mark.parametrize("first", [1e-6, 1.0, 1e3])
def test_strong_wolfe_step_satisfies_both_conditions_on_rosenbrock(c2, first):
    rng = np.random.default_rng([int(c2 * 10), round(math.log10(first)) + 10])
    c1 = 1e-4
    for _ in range(10):
        n = int(rng.integers(2, 12))
        x = rng.uniform(-2.0, 2.0, n)
        fx, g = rosen_and_der(x)
        d = descent_direction(g, rng)
        f = Counted(rosen_and_der)
        found = strong_wolfe(f, x, d, fx=fx, grad=g, step=first, c1=c1, c2=c2)
        assert found.converged
        assert found.nfev == f.calls
        value, grad = rosen_and_der(x + found.step * d)
        assert found.value == pytest.approx(value, rel=1e-14, abs=1e-300)
        np.testing.assert_allclose(found.grad, grad, rtol=1e-14)
        assert found.value <= fx + c1 * found.step * (g @ d)  # Armijo
        assert abs(grad @ d) <= c2 * abs(g @ d)  # strong curvature


def test_strong_wolfe_needs_no_more_evaluations_than_scipys():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(0)
    ours = theirs = 0
    for i in range(60):
        n = int(rng.integers(2, 20))
        x = rng.uniform(-2.0, 2.0, n)
        fx, g = rosen_and_der(x)
        d = -g if i % 2 else -g / np.linalg.norm(g) * rng.uniform(0.1, 3.0)
        c2 = 0.9 if i % 3 == 0 else 0.1
        found = strong_wolfe(rosen_and_der, x, d, fx=fx, grad=g, c2=c2)
        assert found.converged
        ours += found.nfev
        with warnings.catch_warnings():  # SciPy warns when its search gives up
            warnings.simplefilter("ignore")
            _, fc, gc, *_ = scipy_optimize.line_search(
                scipy_optimize.rosen, scipy_optimize.rosen_der, x, d, gfk=g, old_fval=fx,
                c2=c2)  # fmt: skip
        theirs += max(fc, gc)  # it evaluates f and the gradient at each trial step
    assert ours <= theirs, f"pyfastopt {ours} evaluations, scipy.optimize.line_search {theirs}"


def test_strong_wolfe_rejects_a_flat_step_above_f_x():
    # phi(t) = -t (t - 1)(t - 2) falls to a minimum at 1 - 1/sqrt(3), then rises to a local
    # maximum at 1 + 1/sqrt(3), 0.385 above phi(0): its slope there is 0, so only the
    # sufficient-decrease condition rejects that step
    f = lambda x: (float(-x[0] * (x[0] - 1) * (x[0] - 2)),
                   np.array([-(3 * x[0] ** 2 - 6 * x[0] + 2)]))  # fmt: skip
    peak = 1.0 + 1.0 / math.sqrt(3.0)
    fx, g = f(np.zeros(1))
    found = strong_wolfe(f, np.zeros(1), np.ones(1), fx=fx, grad=g, step=peak, c1=0.2, c2=0.5)
    assert found.converged
    assert found.step < 1.0  # back in the first valley
    assert found.value <= fx + 0.2 * found.step * g[0]
    assert abs(found.grad[0]) <= 0.5 * abs(g[0])


def test_strong_wolfe_extrapolates_and_stops_at_max_step():
    # f = -sum(x), falling at the same rate along d = (1, 1, 1) forever: the search
    # extrapolates (no cubic has a minimiser: the longest step, t + 4 (t - t_prev)) and
    # stops at max_step
    steps = []

    def linear(x):
        steps.append(float(x[0]))
        return -float(x.sum()), -np.ones_like(x)

    found = strong_wolfe(linear, np.zeros(3), np.ones(3), fx=0.0, grad=-np.ones(3), step=1.0,
                         max_step=100.0)  # fmt: skip
    assert not found.converged
    assert steps == [1.0, 5.0, 21.0, 85.0, 100.0]
    assert (found.step, found.value, found.nfev) == (100.0, -300.0, 5)


def test_strong_wolfe_backs_off_from_non_finite_values():
    # a barrier: f is inf (and its gradient nan) for any x_i >= 1
    def barrier(x):
        if np.any(x >= 1.0):
            return np.inf, np.full_like(x, np.nan)
        return -float(np.log1p(-x).sum()) - 3.0 * float(x.sum()), 1.0 / (1.0 - x) - 3.0

    x = np.zeros(2)
    fx, g = barrier(x)
    d = -g
    found = strong_wolfe(barrier, x, d, fx=fx, grad=g, step=10.0, c2=0.1)
    assert found.converged
    assert np.all(x + found.step * d < 1.0)
    assert found.value <= fx + 1e-4 * found.step * (g @ d)
    assert abs(found.grad @ d) <= 0.1 * abs(g @ d)


def test_strong_wolfe_out_of_evaluations_returns_the_best_sufficient_decrease():
    x = np.array([-1.2, 1.0])
    fx, g = rosen_and_der(x)
    f = Counted(rosen_and_der)
    found = strong_wolfe(f, x, -g, fx=fx, grad=g, step=1.0, c2=0.1, max_evals=2)
    assert not found.converged
    assert found.nfev == f.calls == 2
    if found.step > 0.0:
        assert found.value <= fx + 1e-4 * found.step * (g @ -g)
        assert found.value == rosen_and_der(x - found.step * g)[0]
    else:
        assert found.value == fx


def test_strong_wolfe_with_noise_judges_steps_by_their_slope_where_f_is_flat():
    # f = 1 + |x|^2 / 2 plus an "error" of 1e-14 that its gradient does not see, near the
    # minimiser: the true decrease along -x (|x|^2 / 2 = 5e-17) is below that error
    def noisy(x):
        return 1.0 + 0.5 * float(x @ x) + 1e-14 * math.sin(1e9 * float(x.sum())), x.copy()

    x = np.array([1e-8, -2e-8, 3e-9])
    fx, g = noisy(x)
    slope0 = float(g @ -g)
    found = strong_wolfe(noisy, x, -g, fx=fx, grad=g, c2=0.1, noise=1e-12)
    assert found.converged
    slope = float(found.grad @ -g)
    # the exact minimiser along -x is t = 1, where the slope is 0
    assert abs(slope) <= 0.1 * abs(slope0)
    assert slope <= (2.0 * 1e-4 - 1.0) * slope0
    assert found.value <= fx + 1e-12 * abs(fx)
    assert abs(found.step - 1.0) <= 0.1


# --- backtracking -------------------------------------------------------------------------


@pytest.mark.parametrize("shrink", [0.5, 0.1])
@pytest.mark.parametrize("with_grad", [True, False])
def test_backtracking_returns_the_first_passing_step_of_the_sequence(shrink, with_grad):
    rng = np.random.default_rng(5)
    c1 = 1e-4
    for _ in range(10):
        x = rng.uniform(-2.0, 2.0, 5)
        fx, g = rosen_and_der(x)
        d = descent_direction(g, rng) if with_grad else -g
        f = Counted(lambda z: rosen_and_der(z)[0])
        found = backtracking(f, x, d, grad=g if with_grad else None, step=1.0, shrink=shrink,
                             c1=c1)  # fmt: skip
        assert found.converged
        assert found.grad is None
        assert found.nfev == f.calls  # fx was not given: f(x) is one of them
        k = round(math.log(found.step) / math.log(shrink))
        assert found.step == pytest.approx(shrink**k, rel=1e-12)
        assert found.nfev == k + 2
        assert found.value == f.fn(x + found.step * d)
        assert found.value <= fx + c1 * found.step * (g @ d)
        if k > 0:  # the step before failed
            longer = found.step / shrink
            assert not f.fn(x + longer * d) <= fx + c1 * longer * (g @ d)


@pytest.mark.parametrize("c1", [1e-4, 0.5, 0.9])
def test_backtracking_on_a_quadratic_stops_below_the_armijo_bound(c1):
    a, _, fg = quadratic(4, seed=3)
    x = np.ones(4)
    fx, g = fg(x)
    f = Counted(lambda z: fg(z)[0])
    found = backtracking(f, x, -g, fx=fx, grad=g, step=1.0, c1=c1)
    # along -g, Armijo holds for t <= 2 (1 - c1) t*, t* = g'g / g'Ag: the first of
    # 1, 1/2, 1/4, ... below that bound, so above half of it
    exact = (g @ g) / (g @ a @ g)
    assert found.step < 1.0
    assert (1.0 - c1) * exact < found.step <= 2.0 * (1.0 - c1) * exact
    assert found.nfev == f.calls == round(-math.log2(found.step)) + 1


def test_backtracking_out_of_evaluations_does_not_move():
    found = backtracking(lambda z: float(z @ z), np.ones(2), -np.ones(2) * 1e6, fx=2.0,
                         grad=2.0 * np.ones(2), max_evals=3)  # fmt: skip
    assert not found.converged
    assert (found.step, found.value, found.nfev) == (0.0, 2.0, 3)


# --- golden section and Brent -------------------------------------------------------------

UNIMODAL = [  # (phi, a, b, minimiser)
    pytest.param(lambda t: (t - 0.7) ** 4 + 0.1 * (t - 0.7) ** 2, -2.0, 3.0, 0.7, id="quartic"),
    pytest.param(lambda t: math.exp(t) - 2.0 * t, -1.0, 3.0, math.log(2.0), id="exp"),
    pytest.param(lambda t: abs(t - 0.3), -1.0, 2.0, 0.3, id="kink"),
    pytest.param(lambda t: max(t - 0.25, 0.0) ** 2 - t, 0.0, 5.0, 0.75, id="flat-then-curved"),
    pytest.param(lambda t: t**3, -1.0, 2.0, -1.0, id="left-end"),
    pytest.param(lambda t: math.nan if t > 4.0 else -t, 0.0, 5.0, 4.0, id="nan-beyond"),
]


@pytest.mark.parametrize("search", [golden_section, brent])
@pytest.mark.parametrize(("phi", "a", "b", "minimiser"), UNIMODAL)
@pytest.mark.parametrize("tol", [1e-3, 1e-6])
def test_interval_searches_find_the_minimiser_within_tol(search, phi, a, b, minimiser, tol):
    f = Counted(phi)
    found = search(f, a, b, tol=tol)
    assert found.converged
    assert found.nfev == f.calls
    assert a <= found.step <= b
    assert abs(found.step - minimiser) <= tol + SQRT_EPS * abs(found.step)
    assert found.value == phi(found.step)


@pytest.mark.parametrize("tol", [1e-2, 1e-5, 1e-8])
def test_golden_section_shrinks_the_interval_by_tau_per_evaluation(tol):
    # after 2 + k evaluations the interval is L tau^k wide and the best point is tau of it
    # from the far end: the search stops at the first k with L tau^(k+1) <= tol (the
    # minimiser is 0 here, so the sqrt(eps)|t| term is negligible)
    length = 3.0
    k = math.ceil(math.log(tol / length) / math.log(TAU)) - 1
    found = golden_section(lambda t: t * t, -1.0, 2.0, tol=tol)
    assert found.nfev == 2 + k


@pytest.mark.parametrize(
    ("phi", "a", "m", "b"),  # m: below both ends, for SciPy's golden and brent
    [
        (lambda t: -math.cos(t) * math.exp(-0.1 * t * t) + 0.3 * t, -1.0, 0.0, 1.5),
        (lambda t: (t - 0.7) ** 4 + 0.1 * (t - 0.7) ** 2, -2.0, 0.5, 3.0),
        (lambda t: t * math.log(t), 0.05, 0.5, 2.0),
        (lambda t: math.sin(3.0 * t) + 0.1 * t * t, -1.5, -0.5, 0.5),
    ],
)
def test_interval_searches_agree_with_scipy(phi, a, m, b):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    tol = 1e-8
    bounded = scipy_optimize.minimize_scalar(phi, bounds=(a, b), method="bounded",
                                             options={"xatol": tol})  # fmt: skip
    assert phi(m) < min(phi(a), phi(b))
    scipy_golden = scipy_optimize.golden(phi, brack=(a, m, b), tol=1e-10)
    scipy_brent = scipy_optimize.brent(phi, brack=(a, m, b), tol=1e-10)
    ours_golden = golden_section(phi, a, b, tol=tol)
    ours_brent = brent(phi, a, b, tol=tol)
    for ours in (ours_golden, ours_brent):
        for theirs in (bounded.x, scipy_golden, scipy_brent):
            assert abs(ours.step - theirs) <= 1e-6, (ours, theirs)
    # the same algorithm as SciPy's bounded search (whose tolerance is slightly tighter),
    # and far fewer evaluations than golden section on a smooth function
    assert ours_brent.nfev <= bounded.nfev + 2, (ours_brent.nfev, bounded.nfev)
    assert ours_brent.nfev < ours_golden.nfev


def test_interval_searches_stop_at_max_evals():
    f = Counted(lambda t: (t - 1.0) ** 2)
    found = golden_section(f, -10.0, 10.0, tol=1e-10, max_evals=5)
    assert (found.converged, found.nfev, f.calls) == (False, 5, 5)
    f = Counted(lambda t: abs(t - 1.0))
    found = brent(f, -10.0, 10.0, tol=1e-10, max_evals=5)
    assert (found.converged, found.nfev, f.calls) == (False, 5, 5)


# --- bad input ----------------------------------------------------------------------------


def _wolfe_args():
    x = np.array([-1.2, 1.0])
    fx, g = rosen_and_der(x)
    return x, -g, fx, g


@pytest.mark.parametrize(
    ("change", "error", "name"),
    [
        ({"x": np.array([np.nan, 1.0])}, ValueError, "x"),
        ({"x": np.array([np.inf, 1.0])}, ValueError, "x"),
        ({"x": np.array([1 + 1j, 1.0])}, TypeError, "x"),
        ({"direction": np.ones(3)}, ValueError, "direction"),
        ({"direction": np.ones((2, 1))}, ValueError, "direction"),
        ({"direction": np.array([1.0, np.nan])}, ValueError, "direction"),
        ({"grad": np.ones(3)}, ValueError, "grad"),
        ({"fx": math.nan}, ValueError, "fx"),
        ({"c1": 0.0}, ValueError, "c1"),
        ({"c1": 1.0}, ValueError, "c1"),
        ({"c1": 0.5, "c2": 0.4}, ValueError, "c2"),
        ({"c1": 0.5, "c2": 0.5}, ValueError, "c2"),
        ({"c2": 1.0}, ValueError, "c2"),
        ({"c2": "0.9"}, TypeError, "c2"),
        ({"step": 0.0}, ValueError, "step"),
        ({"max_step": -1.0}, ValueError, "max_step"),
        ({"max_evals": 0}, ValueError, "max_evals"),
        ({"noise": -1e-12}, ValueError, "noise"),
    ],
)
def test_strong_wolfe_rejects_bad_arguments_naming_them(change, error, name):
    x, d, fx, g = _wolfe_args()
    kwargs = {"fx": fx, "grad": g, "x": x, "direction": d, **change}
    arrays = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    copies = {k: v.copy() for k, v in arrays.items()}
    f = Counted(rosen_and_der)
    with pytest.raises(error, match=rf"^(Invalid )?{name}\b"):
        strong_wolfe(f, kwargs.pop("x"), kwargs.pop("direction"), **kwargs)
    assert f.calls == 0
    for k, v in arrays.items():
        np.testing.assert_array_equal(v, copies[k])


def test_searches_reject_an_uphill_direction_and_bad_constants():
    x, d, fx, g = _wolfe_args()
    with pytest.raises(ValueError, match="direction is not a descent direction"):
        strong_wolfe(rosen_and_der, x, -d, fx=fx, grad=g)
    with pytest.raises(ValueError, match="direction is not a descent direction"):
        backtracking(lambda z: rosen_and_der(z)[0], x, -d, grad=g)
    with pytest.raises(TypeError, match="f_and_grad"):
        strong_wolfe(None, x, d, fx=fx, grad=g)
    f = lambda z: rosen_and_der(z)[0]
    for kwargs, name in [({"shrink": 1.0}, "shrink"), ({"shrink": 0.0}, "shrink"),
                         ({"c1": 1.0}, "c1"), ({"step": -1.0}, "step"),
                         ({"fx": math.inf}, "fx"), ({"max_evals": 0}, "max_evals")]:  # fmt: skip
        with pytest.raises(ValueError, match=rf"^(Invalid )?{name}\b"):
            backtracking(f, x, d, grad=g, **kwargs)
    with pytest.raises(ValueError, match=r"^direction has shape"):
        backtracking(f, x, np.ones(3))


@pytest.mark.parametrize("search", [golden_section, brent])
def test_interval_searches_reject_bad_arguments(search):
    phi = lambda t: t * t
    with pytest.raises(ValueError, match=r"^Invalid b"):
        search(phi, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"^Invalid b"):
        search(phi, 1.0, -1.0)
    with pytest.raises(ValueError, match=r"^Invalid a"):
        search(phi, math.nan, 1.0)
    with pytest.raises(ValueError, match=r"^Invalid tol"):
        search(phi, 0.0, 1.0, tol=0.0)
    with pytest.raises(TypeError, match=r"^phi must be callable"):
        search("phi", 0.0, 1.0)
    with pytest.raises(TypeError, match=r"^phi must return a real scalar"):
        search(lambda t: np.ones(2), 0.0, 1.0)


def test_searches_never_write_the_callers_arrays():
    x, d, fx, g = _wolfe_args()
    copies = [x.copy(), d.copy(), g.copy()]

    def scribbling(z):  # an objective that overwrites its argument
        value = rosen_and_der(z)
        z[...] = 7.0
        return value

    found = strong_wolfe(scribbling, x, d, fx=fx, grad=g, c2=0.1)
    assert found.converged
    assert found.value == rosen_and_der(copies[0] + found.step * copies[1])[0]
    found = backtracking(lambda z: scribbling(z)[0], x, d, grad=g)
    assert found.converged
    assert found.value == rosen_and_der(copies[0] + found.step * copies[1])[0]
    for before, after in zip(copies, (x, d, g)):
        np.testing.assert_array_equal(before, after)
