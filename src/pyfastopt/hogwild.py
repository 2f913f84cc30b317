"""Hogwild!: lock-free multi-threaded SGD for sparse linear models (Niu et al. 2011).

:func:`train` fits a linear model ``z = X @ coef + intercept`` on a CSR data set with SGD (or
Adagrad) on several threads that update the shared weights without locks, the GIL released.
The objective is

.. math::

    F(w, b) = \\frac{1}{n} \\sum_i \\ell(y_i, w \\cdot x_i + b) + \\frac{\\alpha}{2} \\|w\\|^2

with ``loss`` one of ``"logistic"`` (``log(1 + exp(-y z))``), ``"hinge"``
(``max(0, 1 - y z)``) or ``"squared"`` (``(z - y)^2 / 2``). A step on example ``i`` with
``g = dl/dz`` updates only the coordinates ``j`` stored in row ``i``::

    w_j <- w_j - lr * (g * x_ij + c_j * w_j),   c_j = alpha * n / count_j
    b   <- b - lr * intercept_lr_scale * g

where ``count_j`` is the number of rows storing feature ``j``. This is the paper's sparse
form of the L2 penalty (the penalty's share of each feature divided by its degree): in
expectation over the example it is exactly ``alpha * w``, so each step is an unbiased
stochastic gradient of ``F``, and a step writes only the row's coordinates (no dense decay
and no shared scale factor for the threads to fight over). With ``adagrad=True`` the same
per-coordinate gradient ``G = g * x_ij + c_j * w_j`` is used as
``A_j += G^2; w_j -= lr * G / (sqrt(A_j) + eps)`` (and ``A_b += g^2``,
``b -= lr * intercept_lr_scale * g / (sqrt(A_b) + eps)`` for the intercept). Every example
moves the intercept while a feature moves only in the rows that store it, so at the weights'
rate the intercept would be the noisiest coordinate by far: ``intercept_lr_scale=0.01`` slows
it, as scikit-learn's SGD does for sparse data (its ``SPARSE_INTERCEPT_DECAY``).
Arithmetic is in float64; the weights (and Adagrad sums) are stored in the dtype of the data.

Determinism: with ``n_threads=1`` the result is a pure function of the inputs and ``seed``.
With more threads the threads race on the weights by design (Hogwild!: no locks; every
access is a relaxed atomic load or store, so two simultaneous updates of one coordinate may
lose one), and the intercept is synchronised every 64 examples per thread, so results vary
from run to run: this is the one place where pyfastopt is not bitwise reproducible.

Learning rate: a number, or a schedule from :mod:`pyfastopt.schedules` (any ``step -> value``
callable, vectorised over an integer array). The schedule is evaluated in Python into an
array that the C++ loop reads: with ``lr_unit="step"`` (default) one rate per update, step
``t = epoch * n_rows + p`` for the ``p``-th example of the epoch's order (with several
threads ``t`` counts updates across all threads, so a decaying schedule decays with the
total work done); with ``lr_unit="epoch"`` one rate per epoch. A per-step schedule is
evaluated one epoch at a time into a ring of two epochs' float64 rates (16 MB per million
rows, whatever the number of epochs): epoch 0's before the run, each later epoch's by the
calling thread during the epoch before, so that with several threads the others train
meanwhile. A bad value in a later epoch stops the run after the current epoch and raises (the
partial result is discarded).

Order: each epoch visits the rows in a uniform random permutation drawn from a Philox stream
keyed by ``(seed, epoch)`` (a bucket shuffle: each row to one of 256 random buckets, then
Fisher-Yates within each bucket; see ``Shuffle`` in ``hogwild.hpp``); ``shuffle=False``
visits them in order.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np

from . import _core
from . import _validate as check
from ._config import get_num_threads
from .schedules import Schedule

__all__ = ["LOSSES", "HogwildResult", "decision_function", "objective", "train"]

#: loss name -> code of the C++ enum (pyfastopt/hogwild.hpp)
LOSSES = {"logistic": 0, "hinge": 1, "squared": 2}
# Epochs of one call: its loss history (and per-epoch rates) are arrays of this length.
_MAX_EPOCHS = 1 << 24
# Steps per evaluation of a schedule: its temporaries (128 KiB) stay in cache and come from
# malloc's heap; whole-run arrays (40 MB for 5M steps) cost page faults and memory traffic.
_RATE_CHUNK = 1 << 14

CsrTuple = tuple[np.ndarray, np.ndarray, np.ndarray]
MatrixLike = Union[CsrTuple, Any]  # (data, indices, indptr), or a scipy.sparse matrix


@dataclass(frozen=True)
class HogwildResult:
    """What :func:`train` returns.

    Attributes:
        coef: the weights, shape ``(n_features,)``, the dtype of the data.
        intercept: the intercept (0.0 with ``fit_intercept=False``).
        loss_history: float64, one value per epoch: the mean loss of the epoch's examples,
            each taken just before its own update (the "progressive" loss; no penalty
            term), or with ``history="objective"`` the objective ``F`` after the epoch.
        classes: for the classification losses, the two label values ``(negative,
            positive)``: ``positive`` is trained as +1; ``None`` for ``"squared"``.
    """

    coef: np.ndarray
    intercept: float
    loss_history: np.ndarray
    classes: tuple[Any, Any] | None

    def decision_function(self, X: MatrixLike, *, n_threads: int | None = None) -> np.ndarray:
        """``X @ coef + intercept`` (float64)."""
        return decision_function(X, self.coef, self.intercept, n_threads=n_threads)

    def predict(self, X: MatrixLike, *, n_threads: int | None = None) -> np.ndarray:
        """Class labels (``classes[1]`` where the margin is > 0), or the regression values."""
        z = self.decision_function(X, n_threads=n_threads)
        if self.classes is None:
            return z
        return np.where(z > 0, self.classes[1], self.classes[0])


# -- input checks ---------------------------------------------------------------------------


def _csr(X: MatrixLike, n_features: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(indptr as int64, indices as int32/int64, data as float32/float64, n_features)."""
    if isinstance(X, tuple):
        if len(X) != 3:
            msg = f"X must be a (data, indices, indptr) tuple, got a tuple of {len(X)}"
            raise TypeError(msg)
        data, indices, indptr = X
        shape_features = None
    elif hasattr(X, "tocsr") and hasattr(X, "shape"):  # scipy.sparse, without importing it
        if getattr(X, "ndim", 2) != 2:
            msg = f"X must be 2-dimensional, got shape {X.shape}"
            raise ValueError(msg)
        csr = X.tocsr()  # duplicates and unsorted indices are fine: a row is a sum
        data, indices, indptr = csr.data, csr.indices, csr.indptr
        shape_features = int(X.shape[1])
    else:
        msg = ("X must be a scipy.sparse matrix or a (data, indices, indptr) tuple, got "
               f"{type(X).__name__}")
        raise TypeError(msg)
    data, indices, indptr = (_array("data", data), _array("indices", indices),
                             _array("indptr", indptr))  # fmt: skip
    if data.dtype.kind != "f" or data.dtype.itemsize not in (4, 8):
        msg = f"data has dtype {data.dtype}, expected float32 or float64"
        raise TypeError(msg)
    for name, a in (("indices", indices), ("indptr", indptr)):
        if a.dtype.kind not in "iu":
            msg = f"{name} has dtype {a.dtype}, expected an integer dtype (int32 or int64)"
            raise TypeError(msg)
    if indptr.size == 0:
        msg = "indptr must hold n_rows + 1 >= 1 offsets, got 0"
        raise ValueError(msg)
    if indptr.dtype.kind == "u" and indptr.size and int(indptr.max()) > np.iinfo(np.int64).max:
        msg = "indptr values must fit in int64"
        raise ValueError(msg)
    if indices.dtype.kind != "i" or indices.dtype.itemsize not in (4, 8):
        if indices.size and (int(indices.max()) > np.iinfo(np.int64).max):
            msg = "indices values must fit in int64"
            raise ValueError(msg)
        indices = indices.astype(np.int64)
    if indices.shape != data.shape:
        msg = f"indices has shape {indices.shape} but data {data.shape}: one index per value"
        raise ValueError(msg)
    if n_features is None and shape_features is None and indices.size and indices.min() < 0:
        msg = f"indices has a negative column index ({int(indices.min())})"
        raise ValueError(msg)  # (the native check would come after n_features is inferred)
    if n_features is None:
        n_features = shape_features if shape_features is not None else (
            int(indices.max()) + 1 if indices.size else 0)  # fmt: skip
    else:
        n_features = check.integer("n_features", n_features, 0, 2**63 - 1)  # int64 indices
        if shape_features is not None and n_features != shape_features:
            msg = f"n_features={n_features} but X has {shape_features} columns"
            raise ValueError(msg)
    # The native layer reads only C-contiguous, aligned arrays in native byte order; these
    # are only read, so a converted copy (when needed) loses nothing.
    return (np.require(indptr, np.int64, ["C", "A"]), _native(indices), _native(data),
            n_features)  # fmt: skip


def _native(a: np.ndarray) -> np.ndarray:
    """``a`` itself, or a C-contiguous aligned copy in native byte order."""
    return np.require(a, a.dtype.newbyteorder("="), ["C", "A"])


def _array(name: str, a: Any) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        msg = f"{name} must be a numpy.ndarray, got {type(a).__name__}"
        raise TypeError(msg)
    if a.ndim != 1:
        msg = f"{name} must be 1-dimensional, got shape {a.shape}"
        raise ValueError(msg)
    return a


def _labels(y: Any, n_rows: int, loss: str, dtype: np.dtype,
            signed_ok: bool = False) -> tuple[np.ndarray, tuple | None]:  # fmt: skip
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_rows:
        msg = f"y must have shape ({n_rows},) (one label per row of X), got {y.shape}"
        raise ValueError(msg)
    if y.dtype.kind in "fc" and not np.isfinite(y).all():  # NaN != NaN: no class of its own
        i = int(np.argmin(np.isfinite(y)))
        msg = f"y must be finite, got y[{i}] = {y[i]}"
        raise ValueError(msg)
    if loss == "squared":
        if y.dtype.kind not in "biuf":
            msg = f"y has dtype {y.dtype}, expected real numbers for loss='squared'"
            raise TypeError(msg)
        yf = y.astype(dtype)
        if not np.isfinite(yf).all():
            msg = "y must be finite"
            raise ValueError(msg)
        return yf, None
    if y.dtype.kind in "biuf" and y.size:  # min/max: much faster than np.unique's sort
        lo, hi = y.min(), y.max()
        classes = np.array([lo, hi]) if lo != hi and ((y == lo) | (y == hi)).all() else np.unique(y)
    else:
        classes = np.unique(y)
    if signed_ok and y.dtype.kind in "iuf" and np.isin(classes, (-1, 1)).all():
        return y.astype(dtype), (-1, 1)
    if classes.size != 2:
        msg = f"y must hold exactly two classes for loss={loss!r}, got {classes.size}"
        raise ValueError(msg)
    signs = (y == classes[1]).astype(dtype)  # 1 and 0, then 1 and -1: no int64 temporary
    signs *= 2
    signs -= 1
    return signs, (classes[0].item(), classes[1].item())


def _rates(lr: Any, lr_unit: str, epochs: int,
           n_rows: int) -> tuple[np.ndarray, int, Callable[[int], None] | None]:  # fmt: skip
    """(rates as float64, rate_unit code: 0 constant, 1 per epoch, 2 per step, and for per-step
    rates fill(e), which fills epoch e's; epoch 0's are filled now)."""
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        return np.array([check.positive("lr", lr)]), 0, None
    if not callable(lr):
        msg = f"lr must be a positive number or a schedule (step -> value), got {type(lr).__name__}"
        raise TypeError(msg)
    if lr_unit not in ("step", "epoch"):
        msg = f"Invalid lr_unit: {lr_unit!r} (must be 'step' or 'epoch')"
        raise ValueError(msg)
    if lr_unit == "epoch":
        rates = np.empty(epochs, dtype=np.float64)
        _fill(lr, rates, 0, epochs)
        return rates, 1, None
    # Two epochs' rates, a ring: epoch e's are filled into slot e % 2 while epoch e - 1 runs.
    rates = np.empty(min(epochs, 2) * n_rows, dtype=np.float64)

    def fill(epoch: int) -> None:
        slot = rates[epoch % 2 * n_rows : (epoch % 2 + 1) * n_rows]
        _fill(lr, slot, epoch * n_rows, (epoch + 1) * n_rows)

    fill(0)
    return rates, 2, fill


def _fill(lr: Callable[..., Any], out: np.ndarray, first: int, stop: int) -> None:
    """out[t - first] = lr(t) for the steps t in [first, stop), checked to be finite and >= 0."""
    for start in range(first, stop, _RATE_CHUNK):
        steps = np.arange(start, min(stop, start + _RATE_CHUNK), dtype=np.int64)
        try:
            values = np.asarray(_evaluate(lr, steps), dtype=np.float64)
        except (TypeError, ValueError) as error:  # strings, None, ragged lists
            msg = f"lr schedule returned values that are not real numbers ({error})"
            raise TypeError(msg) from None
        if values.shape != steps.shape:
            msg = f"lr schedule returned shape {values.shape} for {steps.shape} steps"
            raise ValueError(msg)
        if not (values.min() >= 0 and np.isfinite(values.max())):  # NaN fails too
            t = int(np.argmax(~(np.isfinite(values) & (values >= 0))))
            msg = (f"lr schedule returned {float(values[t])!r} at step {start + t} (rates must be "
                   "finite and >= 0)")  # fmt: skip
            raise ValueError(msg)
        out[start - first : start - first + steps.size] = values


def _evaluate(schedule: Callable[..., Any], steps: np.ndarray) -> Any:
    """The schedule over an array of steps; element by element if it is not vectorised."""
    if isinstance(schedule, Schedule):  # its vectorised function, without the copy of __call__
        return np.broadcast_to(np.asarray(schedule._fn(steps), dtype=np.float64), steps.shape)
    try:
        values = schedule(steps)
    except (TypeError, ValueError):
        values = None
    if values is None or np.shape(values) != steps.shape:
        values = [schedule(int(t)) for t in steps]
    return values


def _threads(n_threads: int | None) -> int:
    return get_num_threads() if n_threads is None else check.num_threads("n_threads", n_threads)


# -- public API -----------------------------------------------------------------------------


def train(
    X: MatrixLike,
    y: Any,
    *,
    loss: str = "logistic",
    alpha: float = 1e-4,
    lr: float | Callable[..., Any] = 0.1,
    lr_unit: str = "step",
    epochs: int = 5,
    adagrad: bool = False,
    eps: float = 1e-10,
    fit_intercept: bool = True,
    intercept_lr_scale: float = 0.01,
    shuffle: bool = True,
    seed: int = 0,
    n_threads: int | None = None,
    n_features: int | None = None,
    history: str = "progressive",
) -> HogwildResult:
    """Fits a sparse linear model with Hogwild! SGD (see the module docstring for the math).

    Args:
        X: the examples as a scipy.sparse matrix (any format; converted to CSR) or a CSR
            tuple ``(data, indices, indptr)`` (scipy's order). ``data`` is float32 or
            float64 (the dtype of the result), ``indices`` int32 or int64 (other integer
            types are converted), ``indptr`` any integer type. SciPy is not required.
        y: one label per row: two classes (any values; the larger is the positive class)
            for ``"logistic"`` and ``"hinge"``, real targets for ``"squared"``.
        loss: ``"logistic"``, ``"hinge"`` or ``"squared"``.
        alpha: L2 strength ``>= 0`` (``alpha/2 ||w||^2``; sklearn's ``alpha`` for penalty="l2").
        lr: learning rate ``> 0``, or a schedule (``pyfastopt.schedules`` or any ``step ->
            value`` callable; values ``>= 0``).
        lr_unit: for a schedule, ``"step"`` (one rate per update) or ``"epoch"``.
        epochs: passes over the data, ``>= 1``.
        adagrad: Adagrad steps ``lr * G / (sqrt(A) + eps)`` instead of ``lr * G``.
        eps: Adagrad's denominator term, ``> 0``.
        fit_intercept: learn ``b`` (never penalised); otherwise ``b = 0``.
        intercept_lr_scale: the intercept's learning rate relative to the weights', ``> 0``.
        shuffle: a fresh permutation each epoch from ``(seed, epoch)``; otherwise row order.
        seed: integer in ``[0, 2^64)``.
        n_threads: threads, 1 to 1024 (default :func:`pyfastopt.get_num_threads`). Above 1
            the result is not bitwise reproducible (Hogwild! races by design).
        n_features: the number of weights (default: X's columns, or max index + 1 for a tuple).
        history: ``"progressive"`` (default, free: the mean loss of each epoch's examples
            at the weights they were trained with) or ``"objective"`` (``F`` after each
            epoch: one more read-only pass per epoch, reduced in a fixed order).

    Returns:
        A :class:`HogwildResult` (``coef``, ``intercept``, ``loss_history``, ``classes``).

    Raises:
        TypeError, ValueError: naming the argument, before any work: malformed CSR arrays
            (dtypes, ``indptr`` not starting at 0 / decreasing / not ending at ``nnz``,
            indices out of range), labels of the wrong shape, not finite or not two
            classes, bad hyperparameters.

    References:
        F. Niu, B. Recht, C. Re, S. J. Wright. Hogwild!: A Lock-Free Approach to
        Parallelizing Stochastic Gradient Descent. NeurIPS 2011.
    """
    if loss not in LOSSES:
        msg = f"Invalid loss: {loss!r} (must be one of {sorted(LOSSES)})"
        raise ValueError(msg)
    if history not in ("progressive", "objective"):
        msg = f"Invalid history: {history!r} (must be 'progressive' or 'objective')"
        raise ValueError(msg)
    alpha = check.nonneg("alpha", alpha)
    epochs = check.integer("epochs", epochs, 1, _MAX_EPOCHS)
    eps = check.positive("eps", eps)
    intercept_lr_scale = check.positive("intercept_lr_scale", intercept_lr_scale)
    seed = check.integer("seed", seed, 0)
    if seed >= 2**64:
        msg = f"Invalid seed: {seed!r} (must be < 2**64)"
        raise ValueError(msg)
    threads = _threads(n_threads)
    indptr, indices, data, n_features = _csr(X, n_features)
    n_rows = indptr.size - 1
    y_arr, classes = _labels(y, n_rows, loss, data.dtype)
    rates, unit, fill_rates = _rates(lr, lr_unit, epochs, n_rows)
    coef = np.zeros(n_features, dtype=data.dtype)
    intercept, hist = _core.hogwild_train(
        indptr, indices, data, y_arr, coef, 0.0, rates, LOSSES[loss], alpha, bool(adagrad),
        eps, bool(fit_intercept), intercept_lr_scale, bool(shuffle), seed, epochs, unit, threads,
        history == "objective", fill_rates,
    )  # fmt: skip
    return HogwildResult(coef, float(intercept), hist, classes)


def decision_function(X: MatrixLike, coef: np.ndarray, intercept: float = 0.0, *,
                      n_threads: int | None = None) -> np.ndarray:  # fmt: skip
    """``X @ coef + intercept`` as float64, computed in C++ (no SciPy needed).

    ``coef`` must have the dtype of ``X``'s data and one weight per column.
    """
    coef = _coef(coef)
    indptr, indices, data, _ = _csr(X, coef.size)
    return _core.hogwild_decision_function(indptr, indices, data,
                                           np.require(coef, data.dtype, ["C", "A"]),
                                           check.real("intercept", intercept),
                                           _threads(n_threads))  # fmt: skip


def objective(X: MatrixLike, y: Any, coef: np.ndarray, intercept: float = 0.0, *,
              loss: str = "logistic", alpha: float = 0.0,
              n_threads: int | None = None) -> float:  # fmt: skip
    """The objective ``F(coef, intercept)`` that :func:`train` minimises (module docstring):
    mean loss plus ``alpha/2 ||coef||^2``, summed in a fixed order (the same for any thread
    count). Labels as in :func:`train`, or already +-1 (one class may then be absent).
    """
    if loss not in LOSSES:
        msg = f"Invalid loss: {loss!r} (must be one of {sorted(LOSSES)})"
        raise ValueError(msg)
    alpha = check.nonneg("alpha", alpha)
    coef = _coef(coef)
    indptr, indices, data, _ = _csr(X, coef.size)
    y_arr, _ = _labels(y, indptr.size - 1, loss, data.dtype, signed_ok=True)
    return _core.hogwild_objective(indptr, indices, data, y_arr,
                                   np.require(coef, data.dtype, ["C", "A"]),
                                   check.real("intercept", intercept),
                                   LOSSES[loss], alpha, _threads(n_threads))  # fmt: skip


def _coef(coef: Any) -> np.ndarray:
    coef = np.ascontiguousarray(coef)
    if coef.ndim != 1 or coef.dtype.kind != "f":
        msg = f"coef must be a 1-d float array, got shape {coef.shape} dtype {coef.dtype}"
        raise ValueError(msg)
    if not np.isfinite(coef).all():
        msg = "coef must be finite"
        raise ValueError(msg)
    return coef

