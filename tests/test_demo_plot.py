"""`pyfastopt demo` (digits, every optimizer) and `pyfastopt plot` (the documents' pictures)."""

from __future__ import annotations

import inspect

import matplotlib.image
import numpy as np
import pytest
from PIL import Image

from pyfastopt import optim
from pyfastopt import plot as P
from pyfastopt.demo import OPTIMIZERS, _Model, format_table, load_data, run_demo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, size):
    """A PNG by its signature, that matplotlib reads back with ``size`` = (width, height)."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (size[1], size[0])
    assert pixels.std() > 0.05  # not a blank canvas


# --- demo -------------------------------------------------------------------------------------


def test_demo_uses_every_optimizer_class():
    classes = {name for name, obj in vars(optim).items()
               if inspect.isclass(obj) and issubclass(obj, optim.Optimizer)}  # fmt: skip
    classes.discard("Optimizer")
    # Muon takes only matrices; the demo's network has bias vectors, and one optimizer
    classes.discard("Muon")
    # L-BFGS steps with a closure over the full batch, not with minibatch gradients: it is
    # drawn by the plot (fullbatch.png), not trained by the demo
    classes.discard("LBFGS")
    p = [np.zeros(3, np.float32)]
    used = {type(make(p, 1e-3)).__name__ for make in OPTIMIZERS.values()}
    assert used == classes


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo.png"
    calls = []
    rows = run_demo(epochs=5, out=out, progress=lambda *a: calls.append(a))
    return rows, out, calls


def test_short_demo_learns_with_every_optimizer(short_demo):
    rows, _, calls = short_demo
    assert [r["optimizer"] for r in rows] == list(OPTIMIZERS)
    for r in rows:
        losses = r["losses"]
        assert len(losses) == 6
        assert all(b < a for a, b in zip(losses, losses[1:])), r["optimizer"]  # every epoch
        assert r["train_loss"] == losses[-1] < 0.9 * losses[0]
        assert r["test_accuracy"] > 0.2, r["optimizer"]  # 10 classes: chance is 0.1
        assert r["seconds"] > 0
    assert np.median([r["test_accuracy"] for r in rows]) >= 0.9
    adam = next(r for r in rows if r["optimizer"] == "Adam")
    assert adam["test_accuracy"] >= 0.9
    assert calls == [(name, e, 5) for name in OPTIMIZERS for e in range(1, 6)]


def test_short_demo_writes_the_loss_curves(short_demo):
    _, out, _ = short_demo
    assert_png(out, (1500, 650))


def test_format_table(short_demo):
    rows, _, _ = short_demo
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["optimizer", "lr", "batch", "train", "loss", "test", "acc",
                                "seconds"]  # fmt: skip
    assert len(lines) == 2 + len(rows)
    for line, r in zip(lines[2:], rows):
        assert line.split()[0] == r["optimizer"]
        assert f"{100 * r['test_accuracy']:.1f}%" in line
    assert "full" in lines[2 + list(OPTIMIZERS).index("Rprop")]


def test_demo_subset_softmax_full_batch_no_picture(tmp_path):
    rows = run_demo(["adam", "SGD"], epochs=5, batch_size=None, out=None, model="softmax",
                    learning_rates={"Adam": 0.05})  # fmt: skip
    assert [(r["optimizer"], r["lr"], r["batch_size"]) for r in rows] == [
        ("Adam", 0.05, None), ("SGD", 0.2, None)]  # fmt: skip
    for r in rows:  # five full-batch steps each, the same start
        assert r["losses"][0] == pytest.approx(np.log(10.0))  # zero weights: uniform output
        assert all(b < a for a, b in zip(r["losses"], r["losses"][1:]))
    with pytest.raises(ValueError, match="unknown optimizer 'Adan'"):
        run_demo(["Adan"], out=None)


@pytest.mark.parametrize("hidden", [0, 8])
def test_hand_written_backward_matches_finite_differences(hidden):
    X, y, _, _ = load_data()
    X, y = X[:20].astype(np.float64), y[:20]
    model = _Model(64, 10, hidden, seed=1)
    rng = np.random.default_rng(0)
    model.params = [(p + 0.1 * rng.standard_normal(p.shape)).astype(np.float64)
                    for p in model.params]  # fmt: skip
    grads = model.gradients(X, y)
    for p, g in zip(model.params, grads):
        assert g.shape == p.shape
        assert g.dtype == np.float64
        for i in rng.choice(p.size, 5, replace=False):
            k = np.unravel_index(i, p.shape)
            old = p[k]
            p[k] = old + 1e-6
            up = model.loss(X, y)
            p[k] = old - 1e-6
            down = model.loss(X, y)
            p[k] = old
            assert g[k] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-8)


# --- plot -------------------------------------------------------------------------------------


def test_gradient_descent_on_the_quadratic_follows_its_closed_form():
    paths = P.quadratic_paths()
    x0 = np.array(P.QUADRATIC_START)
    c = np.array([0.2, 4.0])  # the curvatures of 0.1 x1^2 + 2 x2^2
    t = np.arange(P.QUADRATIC_STEPS + 1)[:, None]
    for label, eta, beta in P.QUADRATIC_SETTINGS:
        if beta == 0.0:  # x_t = x_0 (1 - eta c)^t
            np.testing.assert_allclose(paths[label], x0 * (1.0 - eta * c) ** t, rtol=1e-12)
    gd06 = paths[P.QUADRATIC_SETTINGS[1][0]]
    assert abs(gd06[-1, 1]) == pytest.approx(2.0 * 1.4**20)  # eta = 0.6 diverges along x2


def test_momentum_on_the_quadratic_is_the_notes_recurrence():
    paths = P.quadratic_paths()
    for label, eta, beta in P.QUADRATIC_SETTINGS[2:]:
        x = np.array(P.QUADRATIC_START)
        v = np.zeros(2)
        expected = [x.copy()]
        for _ in range(P.QUADRATIC_STEPS):  # d2l: v = beta v + g; x = x - eta v
            v = beta * v + np.array([0.2, 4.0]) * x
            x = x - eta * v
            expected.append(x.copy())
        np.testing.assert_allclose(paths[label], expected, rtol=1e-12, atol=1e-15)
    # the notes: beta = 0.5 converges well, beta = 0.25 "barely converges"
    ends = [np.linalg.norm(paths[label][-1]) for label, _, _ in P.QUADRATIC_SETTINGS[2:]]
    assert ends[0] < 0.05 < ends[1] < 0.5


@pytest.mark.parametrize(("grad", "f", "point"), [
    (P.beale_grad, P.beale, (1.0, 1.5)), (P.beale_grad, P.beale, (-0.7, 2.2)),
    (P.saddle_grad, P.saddle, (0.3, -0.8)), (P.quadratic_grad, P.quadratic, (-5.0, -2.0))])
def test_hand_written_gradients(grad, f, point):
    h = 1e-6
    x, y = point
    numeric = [(f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)]
    np.testing.assert_allclose(grad(np.array(point)), numeric, rtol=1e-6)


def test_beale_and_saddle_pictures_tell_the_surveys_story():
    assert P.beale(3.0, 0.5) == 0.0
    assert np.all(P.beale_grad(np.array([3.0, 0.5])) == 0.0)
    beale = {n: p for panel in P.surface_paths(P.BEALE).values() for n, p in panel.items()}
    # every panel's optimizers: the 17 drawn by hand and every other element-wise class
    assert set(beale) == {n for names in P.PANELS.values() for n in names}
    assert len(beale) >= 17
    for name in ("Momentum", "NAG", "Adagrad", "Adam", "Rprop"):
        assert P.beale(*beale[name][-1]) < 0.01, name  # reached the minimum's basin
    # the saddle: SGD creeps along the ridge; the adaptive methods head down at once
    saddle = P.surface_paths(P.SADDLE, ["SGD", "Adagrad", "RMSprop", "Adadelta"])
    paths = saddle["The survey's classics"]
    assert abs(paths["SGD"][-1, 1]) < 0.5
    for name in ("Adagrad", "RMSprop", "Adadelta"):
        escaped = np.flatnonzero(np.abs(paths[name][:, 1]) > 1.0)
        assert escaped.size, name
        assert escaped[0] < 60, name


def test_full_batch_panels_reach_the_minimum():
    """CG (PR+) and L-BFGS (strong Wolfe) end at the minimum of the quadratic (0, 0) and of
    Rosenbrock (1, 1), each trajectory starting at its panel's start and going downhill."""
    panels = P.full_batch_paths()
    cases = {"quadratic": (P.quadratic, P.QUADRATIC_START, (0.0, 0.0)),
             "rosenbrock": (P.rosenbrock, P.ROSENBROCK_START, (1.0, 1.0))}  # fmt: skip
    assert set(panels) == set(cases)
    for name, (f, start, minimum) in cases.items():
        assert set(panels[name]) == {"CG (PR+)", "L-BFGS"}
        for path in panels[name].values():
            assert path.shape[1] == 2
            assert 2 < len(path) < 100
            np.testing.assert_array_equal(path[0], start)
            np.testing.assert_allclose(path[-1], minimum, atol=1e-6)
            values = f(path[:, 0], path[:, 1])
            assert np.all(np.diff(values) <= 1e-12)  # line searches decrease f


@pytest.mark.parametrize("point", [(-1.2, 1.0), (0.3, -0.7)])
def test_rosenbrock_gradient(point):
    h = 1e-6
    p = np.array(point)
    numeric = [(P.rosenbrock(*(p + h * e)) - P.rosenbrock(*(p - h * e))) / (2 * h)
               for e in np.eye(2)]  # fmt: skip
    np.testing.assert_allclose(P.rosenbrock_grad(p), numeric, rtol=1e-6)


def test_trajectory_stops_a_diverging_run():
    path = P.trajectory(lambda p: optim.SGD(p, lr=1.0), P.quadratic_grad, (1.0, 1.0), 100,
                        bound=10.0)  # x2 -> -3 x2 each step  # fmt: skip
    assert len(path) == 4
    assert abs(path[-1, 1]) == 27.0


def test_run_plot_writes_the_pictures_and_the_gif(tmp_path):
    files = P.run_plot(tmp_path / "pics", gif=True, optimizers=["SGD", "Nesterov", "Adam"])
    assert [f.name for f in files] == ["beale.png", "saddle.png", "quadratic.png",
                                       "fullbatch.png", "beale.gif"]  # fmt: skip
    assert_png(files[0], (1120, 500))  # two panels: the classics and the Adam family
    assert_png(files[1], (1120, 500))
    assert_png(files[2], (1200, 800))
    assert_png(files[3], (1200, 500))
    assert files[4].read_bytes()[:6] == b"GIF89a"
    with Image.open(files[4]) as gif:
        assert gif.n_frames > 20
        assert gif.is_animated
    with pytest.raises(ValueError, match="unknown optimizer"):
        P.run_plot(tmp_path, optimizers=["Adan"])
