"""``pyfastopt demo``: every optimizer of :mod:`pyfastopt.optim` trains the same small network
on scikit-learn's bundled digits data set, and the loss curves are drawn side by side.

The model is written in NumPy, forward and backward by hand, in float32: a one-hidden-layer
MLP (64 inputs, :data:`HIDDEN` ReLU units, 10 softmax outputs) or, with ``model="softmax"``,
softmax (multinomial logistic) regression. The 1797 8x8 images of ``load_digits`` (shipped
with scikit-learn, no download) are split 75/25 into training and test sets (stratified,
seeded) and standardised with the training set's mean and deviation.

Every optimizer starts from the same initial weights and sees the same mini-batches
(:func:`pyfastopt.training.minibatches`, reshuffled every epoch from the seed). Each epoch's
learning rate follows a cosine decay from the optimizer's rate in :data:`LEARNING_RATES` to
a tenth of it (:func:`pyfastopt.schedules.cosine_decay_schedule`, written into the
parameter groups by :class:`pyfastopt.schedules.ScheduleLR`), and every step's gradients
are clipped to a global L2 norm of :data:`MAX_GRAD_NORM`
(:func:`pyfastopt.clip_grad_norm_`).

:func:`run_mixed` (``pyfastopt demo --mixed``) compares float32 training with mixed
precision: the same MLP as a bfloat16 model (weights and gradients stored in bfloat16, forward
and backward computed in float32 from them) whose optimizer keeps float32 master weights and
bfloat16 or 8-bit states (:data:`MIXED_PRECISIONS`). :func:`bf16_regression` (``pyfastopt demo
--bf16-regression PNG``) is the case without a master copy: SGD on a linear regression whose
weights are stored in bfloat16. Between 0.5 and 1 bfloat16's values are 2**-8 apart, so a
store rounded to nearest loses every update below half that spacing and the loss stalls;
rounded stochastically (up with probability the fraction of the spacing the exact result
passes) each store is exact on average and the run follows float32.

Needs the ``demo`` extra (scikit-learn and matplotlib)::

    from pyfastopt.demo import run_demo, format_table
    print(format_table(run_demo()))
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import optim
from .precision import Precision, bfloat16
from .schedules import ScheduleLR, cosine_decay_schedule
from .training import minibatches
from .transforms import clip_grad_norm_

__all__ = [
    "DEFAULT_EPOCHS",
    "FULL_BATCH",
    "HIDDEN",
    "LEARNING_RATES",
    "LOSS_FLOOR",
    "MAX_GRAD_NORM",
    "MIXED_PRECISIONS",
    "MIXED_SEEDS",
    "OPTIMIZERS",
    "REGRESSION_FEATURES",
    "REGRESSION_LR",
    "REGRESSION_RUNS",
    "REGRESSION_SAMPLES",
    "REGRESSION_STEPS",
    "bf16_regression",
    "format_mixed_table",
    "format_regression",
    "format_table",
    "load_data",
    "plot_bf16_regression",
    "plot_losses",
    "run_demo",
    "run_mixed",
]

#: Epochs of the default run (about 10 s on a 2-core machine, start-up included).
DEFAULT_EPOCHS = 50

#: Hidden units of the MLP.
HIDDEN = 64

#: Global L2 norm every step's gradients are clipped to.
MAX_GRAD_NORM = 5.0

#: The lowest training loss the loss-curve picture shows.
LOSS_FLOOR = 1e-4

#: The initial learning rate of each optimizer, the same for both models: what works for the
#: standardised digits with batches of 64 in a few tens of epochs. Adam-like rules move
#: every weight by about ``lr`` per step, so they need small values (RAdam somewhat larger:
#: its rectification damps the early steps); Lion, whose steps are signs, smaller still (its
#: authors advise 3-10x below AdamW's). SGD's step is ``lr`` times the gradient, so it needs
#: large ones; momentum 0.9 makes the steady step ten times ``lr``, and 0.05 (2.5 times plain
#: SGD's effective rate) stays stable with it. Adadelta's ``lr = 1`` is Zeiler's rule, which
#: has no learning rate; Rprop's ``lr`` is its initial per-weight step size. LAMB and LARS
#: scale each array's step to the array's norm: LAMB's ``lr`` is that fraction per step, LARS's
#: is a thousand times it (its trust coefficient is 0.001, before momentum's tenfold), so 1.0
#: (its default) is a relative step of 0.1% (LARS at 10 diverges here, LAMB at 3e-2 falls to
#: 95.6%).
LEARNING_RATES: dict[str, float] = {
    "SGD": 0.2,
    "Momentum": 0.05,
    "Nesterov": 0.05,
    "Adagrad": 0.05,
    "Adadelta": 1.0,
    "RMSprop": 1e-3,
    "Adam": 2e-3,
    "AdamW": 2e-3,
    "AMSGrad": 2e-3,
    "Adamax": 4e-3,
    "NAdam": 2e-3,
    "RAdam": 5e-3,
    "AdaBound": 2e-3,
    "AMSBound": 2e-3,
    "SWATS": 2e-3,
    "Lion": 3e-4,
    "Rprop": 1e-3,
    "Adafactor": 1e-2,  # torch's default: a step of at most 1% of each array's RMS
    "LAMB": 5e-3,
    "LARS": 1.0,
}

#: Optimizers that train full-batch (one step per epoch, whatever ``batch_size`` says):
#: Rprop adapts each weight's step from the signs of consecutive gradients, which mini-batch
#: noise flips at random. Riedmiller & Braun designed it for full-batch learning, Hinton's
#: lecture 6e introduces RMSprop because "rprop does not work with mini-batches", and here,
#: with batches of 64, its loss grows above the initial one.
FULL_BATCH = frozenset({"Rprop"})

_Factory = Callable[[list[np.ndarray], float], optim.Optimizer]

#: How each optimizer of the demo is built from the parameters and its learning rate: every
#: class of :mod:`pyfastopt.optim`, plus the named variants of the survey (momentum,
#: Nesterov, AMSGrad). Hyperparameters other than ``lr`` are the defaults.
OPTIMIZERS: dict[str, _Factory] = {
    "SGD": lambda p, lr: optim.SGD(p, lr=lr),
    "Momentum": lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9),
    "Nesterov": lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "Adagrad": lambda p, lr: optim.Adagrad(p, lr=lr),
    "Adadelta": lambda p, lr: optim.Adadelta(p, lr=lr),
    "RMSprop": lambda p, lr: optim.RMSprop(p, lr=lr),
    "Adam": lambda p, lr: optim.Adam(p, lr=lr),
    "AdamW": lambda p, lr: optim.AdamW(p, lr=lr),
    "AMSGrad": lambda p, lr: optim.Adam(p, lr=lr, amsgrad=True),
    "Adamax": lambda p, lr: optim.Adamax(p, lr=lr),
    "NAdam": lambda p, lr: optim.NAdam(p, lr=lr),
    "RAdam": lambda p, lr: optim.RAdam(p, lr=lr),
    "AdaBound": lambda p, lr: optim.AdaBound(p, lr=lr),
    "AMSBound": lambda p, lr: optim.AMSBound(p, lr=lr),
    "SWATS": lambda p, lr: optim.SWATS(p, lr=lr),
    "Lion": lambda p, lr: optim.Lion(p, lr=lr),
    "Rprop": lambda p, lr: optim.Rprop(p, lr=lr),
    "Adafactor": lambda p, lr: optim.Adafactor(p, lr=lr),
    "LAMB": lambda p, lr: optim.LAMB(p, lr=lr),
    "LARS": lambda p, lr: optim.LARS(p, lr=lr),
}


def _at_rate(cls: Callable[..., optim.Optimizer]) -> _Factory:
    return lambda p, lr: cls(p, lr=lr)


# Every other element-wise class of pyfastopt.optim (its list is the one list of optimizers),
# with its defaults: torch's or its authors' learning rate, not one tuned here.
_UNTUNED = {name: cls for name, cls in optim.element_wise().items() if name not in OPTIMIZERS}
OPTIMIZERS.update({name: _at_rate(cls) for name, cls in _UNTUNED.items()})
LEARNING_RATES.update({name: optim.default_lr(cls) for name, cls in _UNTUNED.items()})

Progress = Callable[[str, int, int], Any]

#: What :func:`run_mixed` compares with float32 training, by label: a bfloat16 model whose
#: optimizer keeps float32 master weights and bfloat16 or 8-bit states. ``min_8bit_size=256``
#: gives both weight matrices of the MLP (4096 and 640 elements) 8-bit states; the biases
#: (64 and 10) keep float32 ones, as bitsandbytes does for small tensors.
MIXED_PRECISIONS: dict[str, Precision] = {
    "bf16 states": Precision(master_weights=True, state_dtype="bfloat16"),
    "8-bit states": Precision(master_weights=True, state_dtype="8bit", min_8bit_size=256),
}

#: The seeds :func:`run_mixed` averages over: each is a data split, initial weights and
#: batch order (the 450-image test set counts 0.22 points per image).
MIXED_SEEDS = (0, 1, 2)


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        msg = f"{module} is needed here: pip install 'pyfastopt[{extra}]'"
        raise ImportError(msg) from e


def load_data(seed: int = 0, test_size: float = 0.25
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The digits, split (stratified, seeded) and standardised with the training set's
    statistics: ``X_train, y_train, X_test, y_test`` (float32 features, int64 labels)."""
    datasets = _require("sklearn.datasets", "demo")
    model_selection = _require("sklearn.model_selection", "demo")
    X, y = datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y)  # fmt: skip
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0  # pixels that are blank in every training image
    X_train = ((X_train - mean) / std).astype(np.float32)
    X_test = ((X_test - mean) / std).astype(np.float32)
    return X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64)


class _Model:
    """Softmax regression (``hidden=0``) or a one-hidden-layer ReLU MLP. The parameters are
    float32 or (mixed precision) bfloat16; forward and backward compute in float32 from them,
    as a bfloat16 model's matrix products accumulate in float32, and the gradients come back
    in the parameters' dtype."""

    def __init__(self, n_in: int, n_out: int, hidden: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.hidden = hidden
        if hidden:  # He initialisation for the ReLU layer, Glorot-like for the output
            self.params = [
                (rng.standard_normal((n_in, hidden)) * math.sqrt(2.0 / n_in)).astype(np.float32),
                np.zeros(hidden, np.float32),
                (rng.standard_normal((hidden, n_out)) * math.sqrt(1.0 / hidden)).astype(np.float32),
                np.zeros(n_out, np.float32),
            ]  # fmt: skip
        else:
            self.params = [np.zeros((n_in, n_out), np.float32), np.zeros(n_out, np.float32)]

    def copy(self, dtype: Any = None) -> _Model:
        """A copy, with the parameters rounded to ``dtype`` if given."""
        new = object.__new__(_Model)
        new.hidden = self.hidden
        new.params = [p.astype(dtype or p.dtype) for p in self.params]
        return new

    def weights(self) -> list[np.ndarray]:
        """The parameters to compute with: 16-bit ones in float32, the others as they are."""
        return [p if p.dtype.itemsize >= 4 else p.astype(np.float32) for p in self.params]

    def logits(self, X: np.ndarray) -> np.ndarray:
        if not self.hidden:
            W, b = self.weights()
            return X @ W + b
        W1, b1, W2, b2 = self.weights()
        return np.maximum(X @ W1 + b1, 0.0) @ W2 + b2

    @staticmethod
    def _log_softmax(z: np.ndarray) -> np.ndarray:
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy, evaluated in float64 as ``log1p(sum_{j != y} exp(z_j - z_y))``,
        which stays accurate (and positive) when the loss is far below float32's epsilon."""
        z = self.logits(X).astype(np.float64)
        rows = np.arange(len(y))
        d = np.exp(np.minimum(z - z[rows, y][:, None], 700.0))
        d[rows, y] = 0.0
        return float(np.log1p(d.sum(axis=1)).mean())

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float((self.logits(X).argmax(axis=1) == y).mean())

    def gradients(self, X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """Gradients of the mean cross-entropy of the batch, one per parameter."""
        n = np.float32(len(y))
        if self.hidden:
            W1, b1, W2, b2 = self.weights()
            h = np.maximum(X @ W1 + b1, 0.0)
            z = h @ W2 + b2
        else:
            W2, b2 = self.weights()
            h, z = X, X @ W2 + b2
        p = np.exp(self._log_softmax(z))  # softmax
        p[np.arange(len(y)), y] -= 1.0  # d loss / d z, times n
        dz = p / n
        grads = [h.T @ dz, dz.sum(axis=0)]
        if self.hidden:
            dh = dz @ W2.T
            dh[h <= 0.0] = 0.0  # ReLU
            grads = [X.T @ dh, dh.sum(axis=0), *grads]
        return [g.astype(p.dtype, copy=False) for g, p in zip(grads, self.params)]


def _select(optimizers: Sequence[str] | None) -> list[str]:
    if optimizers is None:
        return list(OPTIMIZERS)
    if isinstance(optimizers, str):
        optimizers = [optimizers]
    by_lower = {name.lower(): name for name in OPTIMIZERS}
    names = []
    for name in optimizers:
        if name.lower() not in by_lower:
            msg = f"optimizers: unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}"
            raise ValueError(msg)
        names.append(by_lower[name.lower()])
    if not names:
        msg = "optimizers: empty selection"
        raise ValueError(msg)
    return names


def run_demo(
    optimizers: Sequence[str] | None = None,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int | None = 64,
    seed: int = 0,
    out: str | Path | None = "demo.png",
    progress: Progress | None = None,
    *,
    model: str = "mlp",
    learning_rates: dict[str, float] | None = None,
    precision: Precision | None = None,
) -> list[dict[str, Any]]:
    """Trains the digits model with each optimizer and returns one row per optimizer.

    Args:
        optimizers: names from :data:`OPTIMIZERS` (case-insensitive); ``None``: all.
        epochs: passes over the training set.
        batch_size: examples per mini-batch (``None``: full-batch gradient descent); the
            optimizers of :data:`FULL_BATCH` always train full-batch.
        seed: the data split, the initial weights and the batch order.
        out: where to save the loss-curve PNG; ``None``: no picture.
        progress: called as ``progress(optimizer_name, epoch, epochs)`` after every epoch
            (``epoch`` counts from 1), e.g. to advance a progress bar.
        model: ``"mlp"`` (one hidden layer of :data:`HIDDEN` ReLU units) or ``"softmax"``
            (softmax regression).
        learning_rates: overrides of :data:`LEARNING_RATES`, by optimizer name (spelled as
            in :data:`OPTIMIZERS`).
        precision: ``None``: a float32 model. Otherwise a bfloat16 model (weights and
            gradients stored in bfloat16, rounded from the float32 initial weights and the
            float32 backward) whose optimizers store as this says (e.g. float32 master
            weights and 8-bit states); see :func:`run_mixed`.

    Returns:
        One dict per optimizer, in the order run: ``optimizer`` (name), ``lr`` (initial
        learning rate), ``batch_size`` (``None`` for full-batch), ``train_loss`` (mean
        cross-entropy on the whole training set after the last epoch), ``test_accuracy``
        (the fraction of the test set classified right), ``seconds`` (wall time of the
        training steps: forward, backward, clipping and optimizer steps, without the
        per-epoch evaluation) and ``losses`` (training loss before training and after each
        epoch, ``epochs + 1`` values).
    """
    names = _select(optimizers)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        msg = f"epochs must be an int >= 1, got {epochs!r}"
        raise ValueError(msg)
    if model not in ("mlp", "softmax"):
        msg = f"model must be 'mlp' or 'softmax', got {model!r}"
        raise ValueError(msg)
    if precision is not None and not isinstance(precision, Precision):
        msg = f"precision must be None or a pyfastopt.precision.Precision, got {precision!r}"
        raise TypeError(msg)
    if precision is not None and bfloat16 is None:
        msg = "a bfloat16 model needs ml_dtypes: pip install 'pyfastopt[bf16]'"
        raise ImportError(msg)
    rates = {**LEARNING_RATES, **(learning_rates or {})}
    X_train, y_train, X_test, y_test = load_data(seed)
    # The matrices are at most 1347 x 64: BLAS threads only add overhead, and on a busy
    # machine (threads spin-waiting for a core) slow each product down 50-fold.
    threadpoolctl = _require("threadpoolctl", "demo")  # a dependency of scikit-learn
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        rows = _train_all(names, rates, epochs, batch_size, seed, model, progress, precision,
                          X_train, y_train, X_test, y_test)  # fmt: skip
    if out is not None:
        hidden = HIDDEN if model == "mlp" else 0
        batches = "full batch" if batch_size is None else f"batches of {batch_size}"
        arch = f"MLP 64-{hidden}-10 (ReLU)" if hidden else "Softmax regression"
        arch += "" if precision is None else " in bfloat16"
        title = (f"{arch} on scikit-learn's digits ({len(y_train)} train / {len(y_test)} "
                 f"test images), {batches}, cosine-decayed lr, gradients "
                 f"clipped to norm {MAX_GRAD_NORM:g}")  # fmt: skip
        plot_losses(rows, out, title=title)
    return rows


def run_mixed(
    optimizers: Sequence[str] | None = ("Adam", "AdamW"),
    seeds: Sequence[int] = MIXED_SEEDS,
    epochs: int = DEFAULT_EPOCHS,
    precisions: dict[str, Precision] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Mixed-precision training against float32: the digits MLP of :func:`run_demo` trained
    in float32, and as a bfloat16 model with each optimizer storage of ``precisions``
    (default :data:`MIXED_PRECISIONS`), from the same initial weights (rounded to bfloat16)
    and the same batches, once per seed.

    Returns one row per optimizer and storage (float32 first): ``optimizer``, ``precision``
    (``"float32"`` or the label), ``test_accuracies`` (one per seed), ``test_accuracy`` and
    ``train_loss`` (their means over the seeds). ``progress`` is called as in
    :func:`run_demo`, with the name ``"<optimizer> <label>"``.
    """
    names = _select(optimizers)
    seeds = list(seeds)
    if not seeds:
        msg = "seeds: empty selection"
        raise ValueError(msg)
    runs: dict[str, Precision | None] = {"float32": None, **(precisions or MIXED_PRECISIONS)}
    rows = []
    for name in names:
        for label, precision in runs.items():
            tagged = None if progress is None else _tagged(progress, label)
            done = [run_demo([name], epochs=epochs, seed=seed, out=None, progress=tagged,
                             precision=precision)[0] for seed in seeds]  # fmt: skip
            accuracies = [r["test_accuracy"] for r in done]
            rows.append({
                "optimizer": name,
                "precision": label,
                "test_accuracies": accuracies,
                "test_accuracy": float(np.mean(accuracies)),
                "train_loss": float(np.mean([r["train_loss"] for r in done])),
            })  # fmt: skip
    return rows


def _tagged(progress: Progress, label: str) -> Progress:
    return lambda name, epoch, total: progress(f"{name} {label}", epoch, total)


def format_mixed_table(rows: Sequence[dict[str, Any]]) -> str:
    """:func:`run_mixed`'s rows as a plain-text table: each storage's mean test accuracy,
    its difference from the optimizer's float32 run (percentage points) and the accuracy
    of each seed."""
    reference = {r["optimizer"]: r["test_accuracy"] for r in rows if r["precision"] == "float32"}
    header = ("optimizer", "precision", "train loss", "test acc", "vs fp32", "per seed")
    lines = [(r["optimizer"], r["precision"], f"{r['train_loss']:.4f}",
              f"{100.0 * r['test_accuracy']:.2f}%",
              f"{100.0 * (r['test_accuracy'] - reference[r['optimizer']]):+.2f} pp"
              if r["optimizer"] in reference else "",
              " ".join(f"{100.0 * a:.2f}" for a in r["test_accuracies"]))
             for r in rows]  # fmt: skip
    return _table(header, lines)


def _train_all(names: list[str], rates: dict[str, float], epochs: int, batch_size: int | None,
               seed: int, model: str, progress: Progress | None, precision: Precision | None,
               X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
               y_test: np.ndarray) -> list[dict[str, Any]]:  # fmt: skip
    hidden = HIDDEN if model == "mlp" else 0
    init = _Model(X_train.shape[1], 10, hidden, seed)
    if precision is not None:
        init = init.copy(bfloat16)
    initial_loss = init.loss(X_train, y_train)

    rows = []
    for name in names:
        net = init.copy()
        lr = float(rates[name])
        opt = OPTIMIZERS[name](net.params, lr)
        if precision is not None:
            opt.precision = precision
        # schedule-free optimizers take no schedule, and are evaluated at their average
        modes = hasattr(opt, "eval") and hasattr(opt, "train")
        scheduler = None if modes else ScheduleLR(opt, cosine_decay_schedule(lr, epochs, alpha=0.1))
        batch = None if name in FULL_BATCH else batch_size
        losses = [initial_loss]
        seconds = 0.0
        for epoch in range(epochs):
            start = time.perf_counter()
            for idx in minibatches(len(y_train), batch, epoch=epoch, seed=seed):
                grads = net.gradients(X_train[idx], y_train[idx])
                clip_grad_norm_(grads, MAX_GRAD_NORM)
                opt.step(grads)
            if scheduler is not None:
                scheduler.step()  # the next epoch's learning rate
            seconds += time.perf_counter() - start
            if modes:
                opt.eval()  # type: ignore[attr-defined]
            losses.append(net.loss(X_train, y_train))
            if modes and epoch + 1 < epochs:
                opt.train()  # type: ignore[attr-defined]
            if progress is not None:
                progress(name, epoch + 1, epochs)
        rows.append({
            "optimizer": name,
            "lr": lr,
            "batch_size": batch,
            "train_loss": losses[-1],
            "test_accuracy": net.accuracy(X_test, y_test),
            "seconds": seconds,
            "losses": losses,
        })  # fmt: skip
    return rows


def plot_losses(rows: Sequence[dict[str, Any]], out: str | Path, title: str = "") -> Path:
    """Saves the rows' loss curves (log scale, left) and test accuracies (right) as a PNG.

    The loss axis stops at :data:`LOSS_FLOOR`: a curve that falls below (full-batch Rprop
    memorises the training set) is cut there and its final value written on the plot.
    """
    _require("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    fig = Figure(figsize=(15, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax, bars = fig.subplots(1, 2, width_ratios=[2.3, 1])
    colors = _colors(len(rows))
    styles = ["-", "--", "-.", ":"]
    for i, row in enumerate(rows):
        losses = row["losses"]
        ax.plot(range(len(losses)), losses, color=colors[i], linestyle=styles[(i // 10) % 4],
                lw=1.8, label=_label(row))  # fmt: skip
    lowest = min(min(r["losses"]) for r in rows)
    bottom = max(0.7 * lowest, LOSS_FLOOR)
    ax.set_yscale("log")
    ax.set_ylim(bottom, 1.5 * max(max(r["losses"]) for r in rows))
    cut = [r for r in rows if min(r["losses"]) < bottom]
    if cut:
        note = "\n".join(f"{r['optimizer']} falls below the axis: {r['train_loss']:.1e} at the end"
                         for r in cut)  # fmt: skip
        ax.text(0.98, 0.03, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (mean cross-entropy, log scale)")
    ax.set_xlim(0, max(len(r["losses"]) for r in rows) - 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_title("Training loss per epoch")

    order = sorted(range(len(rows)), key=lambda i: rows[i]["test_accuracy"])
    acc = [100.0 * rows[i]["test_accuracy"] for i in order]
    ypos = np.arange(len(order))
    bars.barh(ypos, acc, color=[colors[i] for i in order])
    bars.set_yticks(ypos, [rows[i]["optimizer"] for i in order])
    low = max(0.0, 5.0 * math.floor(min(acc) / 5.0 - 0.2))
    bars.set_xlim(low, 100.0)
    for y, a in zip(ypos, acc):
        bars.text(a - 0.005 * (100.0 - low), y, f"{a:.1f}%", ha="right", va="center",
                  fontsize=8, color="white", fontweight="bold")  # fmt: skip
    bars.set_xlabel("test accuracy (%)")
    bars.set_title("Test accuracy after the last epoch")
    bars.grid(True, axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.savefig(out, dpi=100)
    return out


def _label(row: dict[str, Any]) -> str:
    full = ", full batch" if row.get("batch_size", 0) is None else ""
    return f"{row['optimizer']} (lr {row['lr']:g}{full})"


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(n)]  # the 11th on: dashed lines


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a plain-text table: optimizer, lr, batch size, final train loss, test
    accuracy, training time."""
    header = ("optimizer", "lr", "batch", "train loss", "test acc", "seconds")
    lines = [(r["optimizer"], f"{r['lr']:g}",
              "full" if r.get("batch_size") is None else str(r["batch_size"]),
              f"{r['train_loss']:.4f}",
              f"{100.0 * r['test_accuracy']:.1f}%", f"{r['seconds']:.2f}")
             for r in rows]  # fmt: skip
    return _table(header, lines)


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others, a rule under the header."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


# --- pure bfloat16 training: rounding to nearest against stochastic rounding -------------

#: Steps of :func:`bf16_regression` (its default).
REGRESSION_STEPS = 2000
#: Learning rate of :func:`bf16_regression`'s SGD (its default).
REGRESSION_LR = 2e-3
#: Rows of :func:`bf16_regression`'s least-squares problem (its default).
REGRESSION_SAMPLES = 512
#: Weights of :func:`bf16_regression`'s least-squares problem (its default).
REGRESSION_FEATURES = 32

#: The runs of :func:`bf16_regression`: how the parameters are stored, by label.
REGRESSION_RUNS = ("float32", "bfloat16, round to nearest", "bfloat16, stochastic rounding")


def bf16_regression(steps: int = REGRESSION_STEPS, lr: float = REGRESSION_LR,
                    samples: int = REGRESSION_SAMPLES, features: int = REGRESSION_FEATURES,
                    seed: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    """Full-batch SGD on a noiseless least-squares problem, ``0.5 * mean((X w - y)**2)``
    with ``X`` and the true weights standard normal (from ``seed``) and ``y = X w_true``,
    from ``w = 0``, once per storage of :data:`REGRESSION_RUNS`. The gradient is computed
    in float32 from the stored weights and handed over in their dtype (a bfloat16 model's
    gradients are bfloat16). The stochastic rounding's seed is ``seed`` too.

    Returns the loss (float64, the optimum is 0) before each step and after the last,
    ``steps + 1`` values, by run label.
    """
    if bfloat16 is None:
        msg = "bfloat16 parameters need ml_dtypes: pip install 'pyfastopt[bf16]'"
        raise ImportError(msg)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, features)).astype(np.float32)
    y = X @ rng.standard_normal(features).astype(np.float32)
    storages = {
        REGRESSION_RUNS[0]: (np.float32, Precision()),
        REGRESSION_RUNS[1]: (bfloat16, Precision()),
        REGRESSION_RUNS[2]: (bfloat16, Precision(stochastic_rounding=True, seed=seed)),
    }
    curves = {}
    for label, (dtype, precision) in storages.items():
        w = np.zeros(features, dtype)
        opt = optim.SGD([w], lr=lr)
        opt.precision = precision
        losses = np.empty(steps + 1)
        for t in range(steps + 1):
            r = X @ w.astype(np.float32) - y
            losses[t] = 0.5 * np.mean(np.square(r, dtype=np.float64))
            if t < steps:
                opt.step([((X.T @ r) / np.float32(samples)).astype(dtype)])
        curves[label] = losses
    return curves


def format_regression(curves: dict[str, np.ndarray]) -> str:
    """The loss of each run at a few steps, as a plain-text table."""
    steps = len(next(iter(curves.values()))) - 1
    marks = sorted({0, steps // 4, steps // 2, steps})
    width = max(len(label) for label in curves)
    lines = ["run".ljust(width) + "".join(f"{f'step {m}':>12}" for m in marks)]
    lines += [label.ljust(width) + "".join(f"{c[m]:12.4g}" for m in marks)
              for label, c in curves.items()]  # fmt: skip
    return "\n".join(lines)


def plot_bf16_regression(curves: dict[str, np.ndarray], out: str | Path,
                         title: str = "") -> Path:  # fmt: skip
    """Saves the loss curves (log scale) as a PNG."""
    _require("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    styles: dict[str, Any] = {
        REGRESSION_RUNS[0]: {"color": "black", "lw": 2.5},
        REGRESSION_RUNS[1]: {"color": "tab:red", "lw": 1.8},
        REGRESSION_RUNS[2]: {"color": "tab:blue", "lw": 1.8, "linestyle": "--"},
    }
    for label, losses in curves.items():
        ax.plot(range(len(losses)), losses, label=f"{label} (final {losses[-1]:.2g})",
                **styles.get(label, {}))  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlim(0, len(next(iter(curves.values()))) - 1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title or f"Linear regression ({REGRESSION_SAMPLES} samples, "
                 f"{REGRESSION_FEATURES} weights), full-batch SGD, lr {REGRESSION_LR:g}, "
                 "no master weights", fontsize=10)  # fmt: skip
    fig.savefig(out, dpi=100)
    return out
