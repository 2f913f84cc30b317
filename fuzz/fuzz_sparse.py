#!/usr/bin/env python3
"""Fuzzes row-sparse gradients from bytes: pyfastopt.functional steps with a
pyfastopt.sparse.SparseRows gradient, pyfastopt.sparse.rowwise_adagrad_, and the
_core.<rule>_rows / rowwise_adagrad_rows kernels called directly, with indices out of range,
negative, duplicated, of every integer (and non-integer) dtype, big-endian, unaligned,
strided, read-only or aliasing the table.

Besides the common oracle: a successful call leaves the rows that no index names unchanged
(updates are lazy), its SGD/Adagrad result equals the dense step with the scattered
gradient, and sparse.check_rows (the Python copy of the native checks, which the optimizers
use to check every call before the first one writes) agrees with the native kernel.

Run: python fuzz/fuzz_sparse.py [libFuzzer flags] [corpus dir]  (see fuzz/README.md)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

h.setup()

import numpy as np

from pyfastopt import (
    _core,
    sparse,
)
from pyfastopt import functional as F

#: functional step -> its state arguments (hyperparameters: the defaults, lr fuzzed)
RULES = {
    "sgd_": ["momentum_buffer"], "adagrad_": ["sum"], "adadelta_": ["square_avg", "acc_delta"],
    "rmsprop_": ["square_avg"], "adam_": ["exp_avg", "exp_avg_sq"],
    "adamw_": ["exp_avg", "exp_avg_sq"], "adamax_": ["exp_avg", "exp_inf"],
    "radam_": ["exp_avg", "exp_avg_sq"], "rprop_": ["prev", "step_size"],
    "adabound_": ["exp_avg", "exp_avg_sq"], "lion_": ["exp_avg"],
}  # fmt: skip
RULE_NAMES = sorted(RULES)
ROWS_KERNELS = sorted(n for n in dir(_core) if n.endswith("_rows") and n != "rowwise_adagrad_rows")
# the state names of every rule (each has a rows kernel), from the rule headers
ARG_NAMES = ["param", "grad", "params", "grads", "indices", "values", "sum", "states", "coeffs",
             "step", "lr", "eps", "weight_decay",
             *{s for v in _core.state_names.values() for s in v}]  # fmt: skip

INDEX_DTYPES = [np.int64, np.int64, np.int32, np.int32, np.uint32, np.uint64, np.dtype(">i8"),
                np.dtype(">i4"), np.dtype(">u8"), np.int16, np.int8, np.uint8, np.float64,
                np.bool_, object, np.intp, np.longlong]  # fmt: skip


def copies(*args):
    """Copies of the array arguments (memoryviews too), None for the others."""
    return [np.array(np.asarray(a), copy=True)
            if isinstance(a, (np.ndarray, memoryview, bytearray)) else None for a in args]


def writable(*args):
    """The writable arrays among the arguments (what a call may write)."""
    return [a for a in h.as_arrays(args) if a.flags.writeable]


def table(inp: h.Inputs, dtype, odd: int = 12):
    rows = inp.int(0, 9) if inp.chance(8) else inp.int(1, 9)
    tail = inp.pick([(), (), (3,), (4,), (2, 3), (0,)])
    return inp.array((rows, *tail), dtype, odd=odd), rows, tail


def index_values(inp: h.Inputs, n: int, rows: int) -> list[int]:
    out = []
    for _ in range(n):
        r = inp.int(0, 15)
        if r < 11 and rows:
            out.append(inp.int(0, rows - 1))  # in range (duplicates come by chance)
        else:
            out.append(inp.pick([-1, rows, rows + 1, -rows - 1, 2**31 - 1, 2**31, 2**32 + 1,
                                 2**63 - 1, -(2**63), 255, 65536]))
    return out


def indices(inp: h.Inputs, rows: int):
    """An index array: mostly int64/int32 in range; sometimes any dtype, layout or value."""
    n = inp.int(0, 12)
    values = index_values(inp, n, rows)
    dtype = np.dtype(inp.pick(INDEX_DTYPES) if inp.chance(3) else inp.pick([np.int64, np.int32]))
    with np.errstate(all="ignore"):
        try:
            arr = np.array(values, dtype=np.int64).astype(dtype) if dtype.kind != "O" else \
                np.array(values, dtype=object)
        except (OverflowError, ValueError, TypeError):
            arr = np.zeros(n, dtype)
    layout = inp.int(0, 9)
    if layout == 0:  # unaligned copy in the shared buffer
        view = inp.view(arr.shape, arr.dtype) if arr.dtype.kind != "O" else arr
        view[...] = arr
        arr = view
    elif layout == 1:  # strided
        wide = np.repeat(arr, 2)
        arr = wide[::2]
    elif layout == 2:
        arr.flags.writeable = False
    elif layout == 3:
        return inp.keep(arr).reshape(-1, 1) if inp.bool() else arr.tolist()
    elif layout == 4 and arr.size:
        return inp.keep(arr)[0]  # 0-d / scalar
    return inp.keep(arr)


def named_rows(idx, rows: int) -> np.ndarray | None:
    """The rows an index argument names, as numpy reads it (None if it names none or cannot
    be read as integers)."""
    try:
        a = np.asarray(idx)
        if a.dtype.kind not in "iu":
            return None
        a = a.astype(np.int64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        return None
    return a[(a >= 0) & (a < rows)]


def untouched_rows_unchanged(where, before, arrays, named, rows, data, show):
    """Rows no index names (read before the call) must keep their bytes: updates are lazy."""
    if named is None:
        return
    mask = np.ones(rows, bool)
    mask[named] = False
    for b, a in zip(before, arrays):
        if b is None or not isinstance(a, np.ndarray) or a.ndim < 1 or a.shape[0] != rows:
            continue
        if np.ndarray.tobytes(a[mask]) != np.ndarray.tobytes(b[mask]):
            h.report(h.Finding("silent wrong update", where,
                               "a row that no index names changed"), data, show)


def fuzz_functional(inp: h.Inputs, data: bytes) -> None:
    name = inp.pick(RULE_NAMES)
    dtype = inp.pick([np.float32, np.float64])
    param, rows, tail = table(inp, dtype)
    idx = indices(inp, rows)
    n = len(idx) if hasattr(idx, "__len__") else 1
    values = inp.array((n, *tail), dtype, odd=10)
    states = [inp.array((rows, *tail), dtype, odd=14) for _ in RULES[name]]
    kwargs = {"step": inp.step() if inp.chance(4) else inp.int(1, 4)}
    if inp.bool():
        kwargs["lr"] = inp.real([1e-3, 0.1, 0.0])
    if name in ("sgd_", "rmsprop_") and inp.bool():
        kwargs["momentum"] = 0.9
    if name == "rmsprop_" and kwargs.get("momentum"):
        states.append(inp.array((rows, *tail), dtype, odd=14))
    grad = sparse.SparseRows(idx, values)
    args = (param, grad, *states)
    before = copies(param, *states)
    named, grad0 = named_rows(idx, rows), sparse.SparseRows(*copies(idx, values))  # as passed
    # the Python pre-check that optimizers run before any native call
    try:
        sparse.check_rows(param, grad) if isinstance(param, np.ndarray) else None
        precheck = None
    except (TypeError, ValueError) as e:
        precheck = e
    except Exception as e:  # noqa: BLE001
        precheck = e
        h.report(h.Finding("wrong exception type", "sparse.check_rows",
                           f"{type(e).__name__}: {e}"), data, lambda: h.describe((param, grad)))
    show = lambda: h.describe((args, kwargs), inp.made)
    ok, err = h.call(f"functional.{name}", lambda: getattr(F, name)(*args, **kwargs), inp, data,
                     names=ARG_NAMES, args=(args, kwargs),
                     written=lambda: writable(param, *states))
    if ok:
        untouched_rows_unchanged(f"functional.{name}", before, (param, *states), named, rows,
                                 data, show)
        if precheck is not None:
            h.report(h.Finding("check_rows disagrees with the kernel", "sparse.check_rows",
                               f"check_rows raised {type(precheck).__name__}: {precheck} but the "
                               "kernel accepted the gradient"), data, show)
        if name in ("sgd_", "adagrad_") and not kwargs.get("momentum"):
            compare_dense(name, before, param, grad0, kwargs, data, show)
    elif precheck is None and gradient_error(err) and well_formed(param, states):
        h.report(h.Finding("check_rows disagrees with the kernel", "sparse.check_rows",
                           f"check_rows passed but the kernel raised {type(err).__name__}: {err}"),
                 data, show)


def gradient_error(err) -> bool:
    """An error about the gradient itself: what check_rows (which sees the table, not its
    states) must also find; a gradient inside a state buffer is the caller's check."""
    text = str(err)
    if "shares memory" in text and "param" not in text:
        return False
    return any(w in text for w in ("indices", "values", "grad"))


def well_formed(param, states) -> bool:
    return all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.aligned
               and a.flags.writeable and a.dtype == param.dtype and a.shape == param.shape
               for a in (param, *states))  # fmt: skip


def compare_dense(name, before, param, grad, kwargs, data, show):
    """SGD (no momentum) and Adagrad: the lazy step is the dense step with the gradient
    scattered (duplicates summed)."""
    p0, *s0 = (np.array(b, copy=True) for b in before)
    try:
        dense = np.zeros_like(p0)
        np.add.at(dense, np.asarray(grad.indices).astype(np.int64), np.asarray(grad.values))
        getattr(F, name)(p0, dense, *s0, **kwargs)
    except Exception:  # noqa: BLE001  (the dense call has its own oracle)
        return
    rows, param = named_rows(grad.indices, p0.shape[0]), np.asarray(param)
    if rows is None or param.shape != p0.shape:
        return
    with np.errstate(all="ignore"):  # rows no index names are checked to be unchanged
        same = np.allclose(param[rows], p0[rows], rtol=1e-5, atol=1e-6, equal_nan=True)
    if not same:
        h.report(h.Finding("silent wrong update", f"functional.{name}",
                           "the sparse step differs from the dense step with the scattered "
                           "gradient"), data, show)


def fuzz_rows_kernel(inp: h.Inputs, data: bytes) -> None:
    name = inp.pick(ROWS_KERNELS)
    dtype = inp.pick([np.float32, np.float64])
    param, rows, tail = table(inp, dtype, odd=8)
    idx = indices(inp, rows)
    n = len(idx) if hasattr(idx, "__len__") else 1
    values = inp.array((n, *tail), dtype, odd=8)
    k = inp.int(0, 3)
    states = [inp.array((rows, *tail), dtype, odd=10) for _ in range(k)]
    coeffs = tuple(inp.pick([1.0, 0.0, 0.9, 0.1, -1e-3, 1e-8]) for _ in range(inp.int(0, 10)))
    before, named = copies(param, *states), named_rows(idx, rows)
    args = (param, idx, values, states, coeffs)
    ok, _ = h.call(f"_core.{name}", lambda: getattr(_core, name)(*args), inp, data,
                   names=ARG_NAMES, args=args,
                   written=lambda: writable(param, *states))
    if ok:
        untouched_rows_unchanged(f"_core.{name}", before, (param, *states), named, rows, data,
                                 lambda: h.describe(args, inp.made))


def fuzz_rowwise(inp: h.Inputs, data: bytes) -> None:
    dtype = inp.pick([np.float32, np.float64])
    param, rows, tail = table(inp, dtype, odd=8)
    idx = indices(inp, rows)
    n = len(idx) if hasattr(idx, "__len__") else 1
    values = inp.array((n, *tail), dtype, odd=8)
    acc = inp.array((rows,), dtype, odd=6)
    before = copies(param, acc)
    if inp.bool():  # the public function
        grad = sparse.SparseRows(idx, values) if inp.chance(4) else \
            inp.array(param.shape if isinstance(param, np.ndarray) else (rows, *tail), dtype)
        kw = {k: inp.real([1e-2, 0.1, 1e-10, 0.0]) for k in ("lr", "eps", "weight_decay")
              if inp.chance(3)}  # fmt: skip
        args = (param, grad, acc, kw)
        where = "sparse.rowwise_adagrad_"
        fn = lambda: sparse.rowwise_adagrad_(param, grad, acc, **kw)
        named = named_rows(idx, rows) if isinstance(grad, sparse.SparseRows) else None
    else:
        coeffs = tuple(inp.pick([1.0, 0.0, 1e-10, -1e-2]) for _ in range(inp.int(2, 5)))
        args = (param, idx, values, acc, coeffs)
        where, fn = "_core.rowwise_adagrad_rows", lambda: _core.rowwise_adagrad_rows(*args)
        named = named_rows(idx, rows)
    ok, _ = h.call(where, fn, inp, data, names=ARG_NAMES, args=args,
                   written=lambda: writable(param, acc))
    if ok:
        untouched_rows_unchanged(where, before, (param, acc), named, rows, data,
                                 lambda: h.describe(args, inp.made))


TARGETS = [fuzz_functional, fuzz_functional, fuzz_rows_kernel, fuzz_rowwise]


def test_one_input(data: bytes) -> None:
    inp = h.Inputs(data)
    inp.pick(TARGETS)(inp, data)


if __name__ == "__main__":
    h.main(test_one_input)
