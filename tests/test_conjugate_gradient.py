"""Nonlinear conjugate gradient against linear CG's closed-form properties on quadratics
and against scipy.optimize.minimize(method="CG")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import rosen_and_der

from pyfastopt.conjugate_gradient import minimize_cg
from pyfastopt.line_search import LineSearchResult, strong_wolfe

METHODS = ["PR+", "FR", "HS"]


class Counted:
    """An objective that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, x):
        self.calls += 1
        return self.fn(x)


def quadratic(eigenvalues, seed):
    """f(x) = x'Ax/2 - b'x, A = Q diag(eigenvalues) Q' with a random rotation Q."""
    n = len(eigenvalues)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(eigenvalues) @ q.T
    b = rng.normal(size=n)
    return a, b, lambda x: (0.5 * x @ a @ x - b @ x, a @ x - b)


def exact_search(a):
    """The exact line search on f(x) = x'Ax/2 - b'x: t* = -g.d / d'Ad (one evaluation, at
    t*)."""

    def search(f_and_grad, x, direction, *, fx, grad, step):
        t = -(grad @ direction) / (direction @ a @ direction)
        value, g = f_and_grad(x + t * direction)
        return LineSearchResult(t, value, g, 1, True)

    return search


def beale(x):
    u, v = x
    t1, t2, t3 = 1.5 - u + u * v, 2.25 - u + u * v * v, 2.625 - u + u * v**3
    grad = [2 * t1 * (v - 1) + 2 * t2 * (v * v - 1) + 2 * t3 * (v**3 - 1),
            2 * t1 * u + 4 * t2 * u * v + 6 * t3 * u * v * v]  # fmt: skip
    return t1 * t1 + t2 * t2 + t3 * t3, np.array(grad)


def logistic_regression():
    """Mean logistic loss of a seeded 200 x 20 problem, plus an L2 penalty (strongly
    convex: one minimiser)."""
    rng = np.random.default_rng(3)
    features = rng.normal(size=(200, 20))
    labels = np.where(features @ rng.normal(size=20) + rng.normal(size=200) > 0, 1.0, -1.0)

    def loss(w):
        margins = labels * (features @ w)
        value = np.logaddexp(0.0, -margins).mean() + 5e-3 * (w @ w)
        grad = features.T @ (-labels / (1.0 + np.exp(margins))) / len(labels) + 1e-2 * w
        return value, grad

    return loss


# --- closed forms on quadratics -----------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_exact_line_searches_end_in_at_most_n_iterations(method):
    # linear CG: with exact steps every beta formula is the same, the gradients are
    # mutually orthogonal, and the n-th iterate is the minimiser A^-1 b
    n = 10
    a, b, fg = quadratic(np.linspace(1.0, 25.0, n), seed=0)
    result = minimize_cg(fg, np.zeros(n), method=method, line_search=exact_search(a),
                         gtol=1e-10, restart=0)  # fmt: skip
    assert result.converged
    assert result.nit <= n
    np.testing.assert_allclose(result.x, np.linalg.solve(a, b), rtol=0, atol=1e-10)
    grads = np.array([a @ x - b for x in result.trace[:-1]])
    gram = grads @ grads.T
    off = gram - np.diag(np.diag(gram))
    scale = np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    assert np.all(np.abs(off) <= 1e-8 * scale)


@pytest.mark.parametrize("method", METHODS)
def test_k_distinct_eigenvalues_take_at_most_k_iterations(method):
    eigenvalues = np.repeat([1.0, 4.0, 9.0], [7, 7, 6])  # 20 dimensions, 3 eigenvalues
    a, b, fg = quadratic(eigenvalues, seed=1)
    result = minimize_cg(fg, np.zeros(20), method=method, line_search=exact_search(a),
                         gtol=1e-10, restart=0)  # fmt: skip
    assert result.converged
    assert result.nit <= 3
    np.testing.assert_allclose(result.x, np.linalg.solve(a, b), rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_a_nearly_exact_strong_wolfe_search_ends_in_n_iterations(method):
    # with c2 tiny, strong Wolfe is an exact search on a quadratic: its cubic fits exactly
    n = 8
    a, b, fg = quadratic(np.linspace(1.0, 20.0, n), seed=2)
    result = minimize_cg(fg, np.zeros(n), method=method, gtol=1e-9, restart=0, c1=1e-8,
                         c2=1e-6)  # fmt: skip
    assert result.converged
    assert result.nit <= n
    np.testing.assert_allclose(result.x, np.linalg.solve(a, b), rtol=0, atol=1e-9)


# --- SciPy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x0",
    [
        pytest.param(np.array([-1.2, 1.0]), id="2d"),
        pytest.param(np.tile([-1.2, 1.0], 50), id="100d"),
        pytest.param(np.random.default_rng(0).uniform(-2.0, 2.0, 100), id="100d-seeded"),
    ],
)
def test_rosenbrock_reaches_scipys_minimum_in_no_more_evaluations(x0):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    gtol = 1e-8  # both stop at |g|_inf <= gtol; 1e-5 leaves x 2e-5 from the minimiser
    theirs = scipy_optimize.minimize(rosen_and_der, x0, jac=True, method="CG",
                                     options={"gtol": gtol})  # fmt: skip
    assert theirs.success
    f = Counted(rosen_and_der)
    ours = minimize_cg(f, x0, gtol=gtol)
    counts = f"nfev: pyfastopt {ours.nfev}, scipy {theirs.nfev}"
    assert ours.converged, counts
    assert ours.nfev == f.calls
    assert np.max(np.abs(ours.x - theirs.x)) <= 1e-6, counts
    assert np.max(np.abs(ours.x - 1.0)) <= 1e-6, counts  # the minimiser is (1, ..., 1)
    assert abs(ours.fun - theirs.fun) <= 1e-6, counts
    assert ours.nfev <= 1.2 * theirs.nfev, counts


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("name", "x0", "atol"),
    [
        ("beale", np.array([1.0, 1.0]), 1e-6),
        ("logistic", np.zeros(20), 1e-6),
        ("rosenbrock", np.random.default_rng(1).uniform(-2.0, 2.0, 10), 1e-6),
    ],
)
def test_other_functions_reach_scipys_minimum(method, name, x0, atol):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    fg = {"beale": beale, "logistic": logistic_regression(), "rosenbrock": rosen_and_der}[name]
    theirs = scipy_optimize.minimize(fg, x0, jac=True, method="CG", options={"gtol": 1e-9})
    assert theirs.success
    ours = minimize_cg(fg, x0, method=method, gtol=1e-9)
    assert ours.converged
    np.testing.assert_allclose(ours.x, theirs.x, rtol=0, atol=atol)
    assert ours.fun == pytest.approx(theirs.fun, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(ours.grad, fg(ours.x)[1], rtol=1e-12, atol=0)


# --- the result and the iteration ----------------------------------------------------------


@pytest.mark.parametrize("line_search", ["strong_wolfe", "backtracking"])
def test_the_result_describes_the_run(line_search):
    f = Counted(beale)
    x0 = np.array([1.0, 1.0])
    result = minimize_cg(f, x0, line_search=line_search, gtol=1e-6, max_iter=5000)
    assert result.converged
    assert result.message == "gtol reached"
    assert result.nfev == f.calls
    value, grad = beale(result.x)
    assert result.fun == value
    np.testing.assert_array_equal(result.grad, grad)
    assert np.max(np.abs(result.grad)) <= 1e-6
    assert result.trace.shape == (result.nit + 1, 2)
    np.testing.assert_array_equal(result.trace[0], x0)
    np.testing.assert_array_equal(result.trace[-1], result.x)
    assert result.trace_fun.shape == (result.nit + 1,)
    assert result.trace_fun[-1] == result.fun
    assert np.all(np.diff(result.trace_fun) < 0)  # every step decreases f (Armijo)
    np.testing.assert_allclose(result.x, [3.0, 0.5], atol=1e-5)  # Beale's minimiser


def test_each_line_search_goes_downhill_and_restarts_every_restart_iterations():
    calls = []

    def recording(f_and_grad, x, direction, *, fx, grad, step):
        calls.append((grad.copy(), direction.copy()))
        return strong_wolfe(f_and_grad, x, direction, fx=fx, grad=grad, step=step, c2=0.1)

    x0 = np.random.default_rng(2).uniform(-2.0, 2.0, 12)
    result = minimize_cg(rosen_and_der, x0, method="HS", line_search=recording, restart=5)
    assert result.converged
    assert all(grad @ direction < 0.0 for grad, direction in calls)
    steepest = [np.array_equal(direction, -grad) for grad, direction in calls]
    assert steepest[0]
    # at most 4 conjugate directions in a row, and most directions are conjugate ones
    assert all(any(steepest[k : k + 5]) for k in range(len(steepest) - 4))
    assert sum(steepest) < 0.5 * len(steepest)


def _beta(method, g_new, g, d):
    y = g_new - g
    if method == "FR":
        return (g_new @ g_new) / (g @ g)
    if method == "PR+":
        return max((g_new @ y) / (g @ g), 0.0)
    return (g_new @ y) / (d @ y)


@pytest.mark.parametrize("method", METHODS)
def test_directions_follow_the_beta_formulas(method):
    calls = []

    def recording(f_and_grad, x, direction, *, fx, grad, step):
        found = strong_wolfe(f_and_grad, x, direction, fx=fx, grad=grad, step=step, c2=0.1)
        calls.append((grad.copy(), direction.copy(), found.converged))
        return found

    x0 = np.random.default_rng(4).uniform(-2.0, 2.0, 8)
    # (no periodic restarts; Fletcher-Reeves crawls without them, so 300 iterations)
    minimize_cg(rosen_and_der, x0, method=method, line_search=recording, restart=0,
                max_iter=300)  # fmt: skip
    conjugate = restarts = 0
    for (g, d, converged), (g_new, d_new, _) in zip(calls, calls[1:]):
        beta = _beta(method, g_new, g, d)
        candidate = -g_new + beta * d
        if np.array_equal(d_new, -g_new) and not (beta == 0.0 and method == "PR+"):
            # a restart: only after a failed search or for a direction that is not downhill
            assert not converged or g_new @ candidate >= 0.0
            restarts += 1
        else:
            np.testing.assert_allclose(d_new, candidate, rtol=1e-10, atol=1e-300)
            conjugate += 1
    assert conjugate > 0.8 * (len(calls) - 1), (conjugate, restarts)
    if method == "PR+":  # the clipping at 0 happens on this run
        clipped = [_beta("PR+", b[0], a[0], a[1]) == 0.0 for a, b in zip(calls, calls[1:])]
        assert any(clipped)


def test_max_iter_stops_the_run():
    result = minimize_cg(rosen_and_der, np.array([-1.2, 1.0]), max_iter=3)
    assert (result.nit, result.converged, result.message) == (3, False, "max_iter reached")
    assert result.trace.shape == (4, 2)
    result = minimize_cg(rosen_and_der, np.array([-1.2, 1.0]), max_iter=0)
    assert (result.nit, result.nfev) == (0, 1)
    assert minimize_cg(rosen_and_der, np.array([-1.2, 1.0]), trace=False).trace is None


def test_any_shape_and_the_callers_array_is_never_written():
    target = np.arange(12.0).reshape(3, 4)

    def scribbling(x):  # a bowl around target that overwrites its argument
        value, grad = 0.5 * float(np.sum((x - target) ** 2)), x - target
        x[...] = np.nan
        return value, grad

    x0 = np.zeros((3, 4))
    result = minimize_cg(scribbling, x0)
    assert result.converged
    assert result.x.shape == (3, 4)
    np.testing.assert_allclose(result.x, target, atol=1e-5)
    np.testing.assert_array_equal(x0, 0.0)
    # integers are taken as float64
    result = minimize_cg(lambda x: (float(x @ x), 2.0 * x), np.array([3, -4]))
    assert result.x.dtype == np.float64
    np.testing.assert_allclose(result.x, 0.0, atol=1e-5)


def test_a_run_that_cannot_decrease_f_says_so():
    # a wrong gradient (the sign flipped): -grad points uphill, so no step decreases f
    f = Counted(lambda x: (float(x @ x), -2.0 * x))
    x0 = np.array([1.0, -2.0, 3.0])
    result = minimize_cg(f, x0)
    assert not result.converged
    assert result.message == "line search failed"
    assert result.nit == 0
    np.testing.assert_array_equal(result.x, x0)
    assert result.nfev == f.calls == 51  # f(x0), then the line search's 50
    # a gradient whose g'g underflows to 0 (while g != 0 > gtol = 0) gives no direction
    result = minimize_cg(lambda x: (1e-300 * float(x @ x), 2e-300 * x), np.full(3, 1e-10),
                         gtol=0.0)  # fmt: skip
    assert (result.converged, result.message, result.nit) == (False, "gradient underflows", 0)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x0", "kwargs", "error", "name"),
    [
        (np.array([np.nan, 1.0]), {}, ValueError, "x0"),
        (np.array([1.0, np.inf]), {}, ValueError, "x0"),
        (np.array([], dtype=float), {}, ValueError, "x0"),
        (np.array([1 + 2j, 1.0]), {}, TypeError, "x0"),
        (np.array(["a", "b"]), {}, TypeError, "x0"),
        (np.ones(2), {"method": "PR"}, ValueError, "method"),
        (np.ones(2), {"method": "fr"}, ValueError, "method"),
        (np.ones(2), {"method": None}, TypeError, "method"),
        (np.ones(2), {"line_search": "exact"}, ValueError, "line_search"),
        (np.ones(2), {"line_search": 3}, TypeError, "line_search"),
        (np.ones(2), {"c1": 0.0}, ValueError, "c1"),
        (np.ones(2), {"c1": 0.2, "c2": 0.1}, ValueError, "c2"),
        (np.ones(2), {"c2": 1.0}, ValueError, "c2"),
        (np.ones(2), {"c2": math.nan}, ValueError, "c2"),
        (np.ones(2), {"gtol": -1.0}, ValueError, "gtol"),
        (np.ones(2), {"max_iter": -1}, ValueError, "max_iter"),
        (np.ones(2), {"max_iter": 2.5}, TypeError, "max_iter"),
        (np.ones(2), {"restart": -1}, ValueError, "restart"),
        (np.ones(2), {"noise": -1.0}, ValueError, "noise"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(x0, kwargs, error, name):
    f = Counted(rosen_and_der)
    before = x0.copy()
    with pytest.raises(error, match=rf"^(Invalid )?{name}\b"):
        minimize_cg(f, x0, **kwargs)
    assert f.calls == 0
    np.testing.assert_array_equal(x0, before)


def test_bad_objectives_raise():
    with pytest.raises(TypeError, match=r"^f_and_grad must be callable"):
        minimize_cg(None, np.ones(2))
    with pytest.raises(TypeError, match=r"^f_and_grad must return a pair"):
        minimize_cg(lambda x: 1.0, np.ones(2))
    with pytest.raises(ValueError, match="gradient of shape"):
        minimize_cg(lambda x: (1.0, np.ones(3)), np.ones(2))
    with pytest.raises(ValueError, match=r"^x0: f_and_grad"):
        minimize_cg(lambda x: (math.inf, x), np.ones(2))
