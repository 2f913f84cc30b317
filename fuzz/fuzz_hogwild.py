#!/usr/bin/env python3
"""Fuzzes Hogwild! from bytes: pyfastopt.hogwild.train / decision_function / objective and
the _core.hogwild_* entry points called directly, on CSR matrices that are malformed (indptr
not starting at 0, decreasing, or not ending at nnz; lengths that disagree; indices out of
range or negative; NaN/inf data; odd dtypes, byte orders, layouts, unaligned buffers; empty
matrices) with odd labels (NaN, one or three classes, wrong length) and hyperparameters.

Besides the common oracle (the inputs are only read: they must never change): a successful
decision_function equals the dense X @ coef + intercept, and a train() on finite, modest
inputs with a small learning rate returns finite weights of the right shape.

Not drawn, as they take the machine down rather than fail (findings already reported):
thread counts from 65 to 2**31 - 1 (OpenMP starts that many threads), and train() inferring
n_features from a huge index (memory in proportion to the largest index is touched).

Run: python fuzz/fuzz_hogwild.py [libFuzzer flags] [corpus dir]  (see fuzz/README.md)
"""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

h.setup()

import numpy as np

from pyfastopt import (
    _core,
    hogwild,
)

ARG_NAMES = ["X", "y", "data", "indices", "indptr", "coef", "loss", "alpha", "lr", "lr_unit",
             "epochs", "eps", "intercept", "seed", "n_threads", "n_features", "history", "rates",
             "rate_unit", "fill_rates", "row", "features", "labels", "classes",
             "intercept_lr_scale", "fit_intercept", "adagrad", "shuffle"]  # fmt: skip
THREADS = [None, 1, 1, 2, 3, 0, -1, 64, 2**31, 2**63, 10**30, 1.5, "2", True]
INT_DTYPES = [np.int64, np.int32, np.uint32, np.uint64, np.int8, np.int16, np.dtype(">i8"),
              np.dtype(">i4"), np.float64, np.bool_]  # fmt: skip
FLOAT_DTYPES = [np.float64, np.float32, np.dtype(">f8"), np.float16, np.int32, np.longdouble]


class Csr:
    """A CSR matrix drawn from the bytes, mostly well-formed, and its dense form."""

    def __init__(self, inp: h.Inputs) -> None:
        self.n_rows, self.n_features = inp.int(0, 6), inp.int(0, 6)
        cols, lengths = [], []
        for _ in range(self.n_rows):
            k = inp.int(0, 4) if self.n_features else 0
            lengths.append(k)
            cols += [inp.int(0, self.n_features - 1) for _ in range(k)]  # duplicates allowed
        self.indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.indices = np.array(cols, np.int64)
        self.dtype = inp.pick([np.float64, np.float32])
        self.data = inp.values(len(cols), self.dtype)
        self.well_formed = True
        if inp.chance(3):
            self.malform(inp)

    def malform(self, inp: h.Inputs) -> None:
        self.well_formed = False
        what = inp.int(0, 11)
        # a mutation that does not apply to these arrays (a value that does not fit the
        # dtype, an index into an empty one) is skipped
        with np.errstate(all="ignore"), contextlib.suppress(
            IndexError, OverflowError, TypeError, ValueError
        ):
            self._malform(inp, what)

    def _malform(self, inp: h.Inputs, what: int) -> None:
        if not all(isinstance(a, np.ndarray) and a.ndim == 1
                   for a in (self.indptr, self.indices, self.data)):
            return
        ip, ix, d = (np.array(a) for a in (self.indptr, self.indices, self.data))  # writable
        self.indptr, self.indices, self.data = ip, ix, d
        if what == 0 and ip.size > 2:  # not monotone
            i = inp.int(1, ip.size - 2)
            ip[i] = ip[-1] + inp.int(1, 3)
        elif what == 1:  # wrong start or end
            ip[inp.pick([0, -1])] += inp.pick([1, -1, 2**40, -(2**62)])
        elif what == 2 and ix.size:  # an index out of range
            ix[inp.int(0, ix.size - 1)] = inp.pick([-1, self.n_features, 2**31, 2**62, -(2**63)])
        elif what == 3:  # lengths disagree
            self.indices = ix[:-1] if inp.bool() else np.append(ix, 0)
        elif what == 4 and d.size:  # non-finite data
            d[inp.int(0, d.size - 1)] = inp.pick([np.nan, np.inf, -np.inf])
        elif what == 5:  # dtypes
            self.indptr = self.convert(ip, inp.pick(INT_DTYPES))
            self.indices = self.convert(ix, inp.pick(INT_DTYPES))
        elif what == 6:
            self.data = self.convert(d, inp.pick(FLOAT_DTYPES))
        elif what == 7:  # unaligned copies in the shared buffer
            for name in ("indptr", "indices", "data"):
                a = getattr(self, name)
                v = inp.view(a.shape, a.dtype)
                v[...] = a
                setattr(self, name, v)
        elif what == 8:  # non-contiguous or 2-D
            name = inp.pick(["indptr", "indices", "data"])
            a = getattr(self, name)
            setattr(self, name, np.repeat(a, 2)[::2] if inp.bool() else a.reshape(1, -1))
        elif what == 9:  # read-only, or not an array
            name = inp.pick(["indptr", "indices", "data"])
            a = getattr(self, name)
            a.flags.writeable = False
            if inp.chance(3):
                setattr(self, name, a.tolist())
        elif what == 10:  # indptr empty
            self.indptr = ip[:0]
        elif ip.size > 3:  # a negative row length in the middle with a consistent end
            ip[1], ip[2] = ip[2] + 1, ip[1]

    def huge_index(self) -> bool:
        ix = self.indices
        return isinstance(ix, np.ndarray) and ix.size > 0 and ix.dtype.kind in "iuf" and \
            float(np.max(ix)) > 2**20

    @staticmethod
    def convert(a: np.ndarray, dtype) -> np.ndarray:
        with np.errstate(all="ignore"):
            try:
                return a.astype(dtype)
            except (OverflowError, ValueError, TypeError):
                return a

    def arrays(self, inp: h.Inputs):
        for a in (self.indptr, self.indices, self.data):
            inp.keep(a)
        return self.data, self.indices, self.indptr

    def dense(self) -> np.ndarray:
        out = np.zeros((self.n_rows, self.n_features))
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices), self.data.astype(np.float64))
        return out


def labels(inp: h.Inputs, n: int):
    kind = inp.int(0, 9)
    rng = np.random.default_rng(inp.int(0, 99))
    if kind < 5:
        y = rng.integers(0, 2, n).astype(inp.pick([np.float64, np.int64, np.float32]))
        if n >= 2:
            y[:2] = [0, 1]
        return inp.keep(y)
    if kind == 5:
        return inp.keep(np.where(rng.integers(0, 2, n) > 0, "spam", "ham"))
    if kind == 6:  # NaN/inf among them
        y = rng.integers(0, 2, n).astype(np.float64)
        if n:
            y[inp.int(0, n - 1)] = inp.pick([np.nan, np.inf])
        return inp.keep(y)
    if kind == 7:  # one or three classes, signed labels
        odd = [np.zeros(n), np.arange(n) % 3, np.where(np.arange(n) % 2, 1, -1)]
        return inp.keep(inp.pick(odd))
    if kind == 8:  # wrong length or shape
        if inp.bool():
            return inp.keep(rng.integers(0, 2, n).astype(float).reshape(-1, 1))
        return inp.keep(rng.integers(0, 2, max(n + inp.pick([-1, 1]), 0)).astype(float))
    return inp.pick([None, "ab", [0, 1] * (n // 2) + [0] * (n % 2), np.ones(n, complex)])


def threads(inp: h.Inputs):
    return inp.pick(THREADS)


def schedule(inp: h.Inputs):
    return inp.pick([
        lambda t: 0.1 / (1.0 + np.asarray(t)),
        lambda t: np.full(np.shape(t), np.nan),
        lambda t: -1.0,
        lambda t: "x",
        lambda t: np.ones(3),
        raise_user_error,
    ])  # fmt: skip


def raise_user_error(*args):
    msg = "from a schedule"
    raise h.UserError(msg)


def fuzz_train(inp: h.Inputs, data: bytes) -> None:
    X = Csr(inp)
    y = labels(inp, X.n_rows)
    kw = dict(
        loss=inp.pick(["logistic", "hinge", "squared"] if not inp.chance(10) else ["x", 1, None]),
        alpha=inp.real([1e-4, 0.0, 0.1]),
        lr=inp.real([0.1, 0.01]) if not inp.chance(5) else schedule(inp),
        lr_unit=inp.pick(["step", "epoch"]) if not inp.chance(10) else "x",
        epochs=inp.int(1, 3) if not inp.chance(6) else inp.pick([0, -1, 2**64, 10**400, 1.0, True,
                                                                 2**62]),
        adagrad=inp.bool(),
        eps=inp.real([1e-10, 1e-3]),
        fit_intercept=inp.bool(),
        intercept_lr_scale=inp.real([0.01, 1.0]),
        shuffle=inp.bool(),
        seed=inp.int(0, 5) if not inp.chance(6) else inp.pick([2**64 - 1, 2**64, -1, 1.5, 10**400]),
        n_threads=threads(inp),
        n_features=None if inp.bool() else inp.pick([X.n_features, X.n_features + 1, 0, -1,
                                                      X.n_features - 1, 2**64, 1.5]),
        history=inp.pick(["progressive", "objective"]) if not inp.chance(10) else "x",
    )  # fmt: skip
    kw = {k: v for k, v in kw.items() if not inp.chance(8)}  # some left at their defaults
    if kw.get("n_features") is None and X.huge_index():
        # n_features inferred from a huge index allocates (and touches) memory in proportion:
        # a finding reported once (the OOM), not to be drawn again and again
        kw["n_features"] = X.n_features
    Xt = X.arrays(inp)

    def after(result):
        finite_inputs = (X.well_formed and isinstance(y, np.ndarray) and y.dtype.kind == "f"
                         and np.isfinite(y).all() and np.abs(X.data).max(initial=0) < 1e3)
        modest = (isinstance(kw.get("lr", 0.1), float) and kw.get("lr", 0.1) <= 0.1
                  and isinstance(kw.get("alpha", 1e-4), float)
                  and kw.get("alpha", 1e-4) * max(X.n_rows, 1) <= 1.0
                  and kw.get("intercept_lr_scale", 0.01) <= 1.0
                  and kw.get("loss", "logistic") in ("logistic", "hinge"))  # fmt: skip
        nf = X.n_features if kw.get("n_features") is None else kw["n_features"]
        if result.coef.shape != (nf,) and kw.get("n_features") is not None:
            h.report(h.Finding("silent wrong update", "hogwild.train",
                               f"coef has shape {result.coef.shape} for n_features={nf}"), data)
        if len(result.loss_history) != kw.get("epochs", 5):
            h.report(h.Finding("silent wrong update", "hogwild.train",
                               "loss_history does not hold one value per epoch"), data)
        if finite_inputs and modest and not (np.isfinite(result.coef).all()
                                             and math.isfinite(result.intercept)):
            h.report(h.Finding("silent wrong update", "hogwild.train",
                               "non-finite weights from finite inputs"), data,
                     lambda: h.describe((Xt, y, kw), inp.made))

    h.call("hogwild.train", lambda: hogwild.train(Xt, y, **kw), inp, data, names=ARG_NAMES,
           args=(Xt, y, kw), after_success=after)


def fuzz_decision(inp: h.Inputs, data: bytes) -> None:
    X = Csr(inp)
    coef = inp.keep(inp.values(max(X.n_features + (inp.pick([-1, 1]) if inp.chance(10) else 0), 0),
                               inp.pick([X.dtype, X.dtype, np.float64, np.float32, np.int64])))
    intercept = inp.real([0.0, 1.5, -2.0])
    n_threads = threads(inp)
    Xt = X.arrays(inp)
    if inp.bool():
        def after(z):
            if not (X.well_formed and isinstance(intercept, float) and np.isfinite(coef).all()
                    and coef.size == X.n_features and np.isfinite(X.data).all()):
                return
            with np.errstate(all="ignore"):
                want = X.dense() @ coef.astype(np.float64) + intercept
                atol = 1e-5 * (1 + np.abs(want).max(initial=0))
                if not np.allclose(z, want, rtol=1e-5, atol=atol, equal_nan=True):
                    h.report(h.Finding("silent wrong update", "hogwild.decision_function",
                                       "differs from the dense X @ coef + intercept"), data,
                             lambda: h.describe((Xt, coef, intercept), inp.made))

        h.call("hogwild.decision_function",
               lambda: hogwild.decision_function(Xt, coef, intercept, n_threads=n_threads), inp,
               data, names=ARG_NAMES, args=(Xt, coef, intercept, n_threads), after_success=after)
    else:
        y = labels(inp, X.n_rows)
        loss = inp.pick(["logistic", "hinge", "squared"])
        alpha = inp.real([0.0, 1e-3])
        h.call("hogwild.objective",
               lambda: hogwild.objective(Xt, y, coef, intercept, loss=loss, alpha=alpha,
                                         n_threads=n_threads),
               inp, data, names=ARG_NAMES, args=(Xt, y, coef, intercept, loss, alpha, n_threads))


def fuzz_core(inp: h.Inputs, data: bytes) -> None:
    """The private entry points, which must check everything they rely on for memory
    safety themselves (their callers normalise first, but nothing stops a direct call)."""
    X = Csr(inp)
    if inp.chance(3):
        X.malform(inp)
    d, ix, ip = X.arrays(inp)
    nf = X.n_features + (inp.pick([-1, 1, 5]) if inp.chance(6) else 0)
    coef = inp.keep(inp.values(max(nf, 0), inp.pick([X.dtype, X.dtype, np.float64, np.float32])))
    if inp.chance(8):
        coef.flags.writeable = False
    y = labels(inp, X.n_rows)
    if isinstance(y, np.ndarray) and y.dtype.kind in "iuf" and inp.bool():
        y = inp.keep(y.astype(X.dtype))
    n_threads = inp.pick([1, 1, 2, 0, -1, 2**31, 2**63])
    which = inp.int(0, 2)
    if which == 0:
        epochs = inp.int(1, 2) if not inp.chance(6) else inp.pick([0, 2**64, -1])
        unit = inp.int(0, 2) if not inp.chance(8) else inp.pick([-1, 3, 2**31])
        want = {0: 1, 1: epochs if isinstance(epochs, int) and 0 <= epochs < 9 else 1,
                2: (min(epochs, 2) if isinstance(epochs, int) and epochs > 0 else 1) * X.n_rows}
        size = want.get(unit, 1) + (inp.pick([-1, 1]) if inp.chance(8) else 0)
        rates = inp.keep(np.full(max(size, 0), inp.pick([0.1, 0.1, np.nan, -1.0, np.inf])))
        fill = None if unit != 2 or inp.bool() else inp.pick([lambda e: None, raise_user_error])
        args = (ip, ix, d, y, coef, inp.real([0.0]), rates, inp.int(-1, 3), inp.real([1e-4]),
                inp.bool(), inp.real([1e-10]), inp.bool(), inp.real([0.01]), inp.bool(),
                inp.pick([0, 2**64 - 1, 2**64, -1]), epochs, unit, n_threads, inp.bool(), fill)
        h.call("_core.hogwild_train", lambda: _core.hogwild_train(*args), inp, data,
               names=ARG_NAMES, args=args,
               written=lambda: [coef] + ([rates] if fill is not None else []))
    elif which == 1:
        args = (ip, ix, d, coef, inp.real([0.0]), n_threads)
        h.call("_core.hogwild_decision_function", lambda: _core.hogwild_decision_function(*args),
               inp, data, names=ARG_NAMES, args=args)
    else:
        args = (ip, ix, d, y, coef, inp.real([0.0]), inp.int(-1, 3), inp.real([0.0, 1e-3]),
                n_threads)
        h.call("_core.hogwild_objective", lambda: _core.hogwild_objective(*args), inp, data,
               names=ARG_NAMES, args=args)


TARGETS = [fuzz_train, fuzz_train, fuzz_decision, fuzz_core]


def test_one_input(data: bytes) -> None:
    inp = h.Inputs(data)
    inp.pick(TARGETS)(inp, data)


if __name__ == "__main__":
    h.main(test_one_input)
