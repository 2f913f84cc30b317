"""Shared machinery of the atheris harnesses: inputs built from the fuzzer's bytes, byte
snapshots, and the oracle.

The oracle (issue 12): a call either succeeds, or raises TypeError/ValueError naming the
argument, and then every array passed in is bytewise unchanged. Anything else is a
finding: another exception type (or a warning), a crash, a changed array after an error, an
error message that names no argument, or a successful call that wrote where it may not.

A finding raises :class:`Finding` (atheris stops and saves the input), unless
``PYFASTOPT_FUZZ_LOG`` names a file: then each new kind of finding (by signature) is
appended to it as a JSON line and the run goes on, to collect many in one long run.
``PYFASTOPT_FUZZ_ALLOW`` (comma-separated substrings of signatures) skips findings
already known.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import atheris
import numpy as np

_LOG = os.environ.get("PYFASTOPT_FUZZ_LOG")
_ALLOW = [s for s in os.environ.get("PYFASTOPT_FUZZ_ALLOW", "").split(",") if s]
_TRACE = bool(os.environ.get("PYFASTOPT_FUZZ_TRACE"))  # print each call (to replay a crash)
_seen: set[str] = set()

# The pybind11 dump of a call that matched no overload: it names no argument.
_SIGNATURE_DUMP = "incompatible function arguments"


class UserError(Exception):
    """Raised by a callable the harness hands to a call (a schedule, a callback): the call
    must let it through (it is the caller's own error)."""


class Finding(Exception):
    """A violation of the oracle; ``kind`` is the triage group."""

    def __init__(self, kind: str, where: str, detail: str) -> None:
        super().__init__(f"[{kind}] {where}: {detail}")
        self.kind, self.where, self.detail = kind, where, detail

    @property
    def signature(self) -> str:
        """What makes two findings the same defect: the kind, the entry point's family (the
        rule's name dropped) and the message with its numbers, reprs and types masked."""
        family = re.sub(r"\.[a-z_0-9]+?(_plan)?(\.step|\(\))?$", r".*\1\2", self.where)
        detail = self.detail.split(" | ")[0]
        detail = re.sub(r"<class '[^']*'>|0x[0-9a-f]+|[-+]?\d[\d.e+-]*|'[^']*'|\([^)]*\)",
                        "#", detail)[:160]
        return f"{self.kind} | {family} | {detail}"


def describe(obj: Any, made: Sequence[np.ndarray] = (), depth: int = 0) -> str:
    """A short account of an argument, for reproducing a finding by hand: arrays by dtype,
    shape, strides, flags and which earlier array they alias."""
    if isinstance(obj, np.ndarray):
        f = obj.flags
        alias = [i for i, m in enumerate(made) if m is not obj and overlap(m, obj)]
        index = next((i for i, m in enumerate(made) if m is obj), "-")
        return (f"{type(obj).__name__}(dtype={obj.dtype.str}, shape={obj.shape}, "
                f"strides={obj.strides}, addr%64={obj.ctypes.data % 64}, "
                f"{'C' if f.c_contiguous else 'notC'}, {'aligned' if f.aligned else 'UNALIGNED'}, "
                f"{'w' if f.writeable else 'RO'}, #{index}"
                f"{f' overlaps #{alias}' if alias else ''})")  # fmt: skip
    if isinstance(obj, (list, tuple)) and depth < 3:
        inner = ", ".join(describe(x, made, depth + 1) for x in obj)
        return f"[{inner}]" if isinstance(obj, list) else f"({inner})"
    if isinstance(obj, dict) and depth < 3:
        inner = ", ".join(f"{k!r}: {describe(v, made, depth + 1)}" for k, v in obj.items())
        return "{" + inner + "}"
    text = repr(obj)
    return text if len(text) < 120 else text[:117] + "..."


def report(finding: Finding, data: bytes, show: Callable[[], str] | None = None) -> None:
    """Raises the finding, or logs it once per signature and returns (PYFASTOPT_FUZZ_LOG)."""
    sig = finding.signature
    if any(a in sig for a in _ALLOW):
        return
    if show is not None:
        finding.args = (f"{finding.args[0]}\n  call: {show()}",)
    if not _LOG:
        raise finding
    if sig in _seen:
        return
    _seen.add(sig)
    with Path(_LOG).open("a", encoding="utf-8") as f:
        f.write(json.dumps({"signature": sig, "finding": str(finding), "input": data.hex()}) + "\n")
        f.flush()
    print(f"NEW FINDING: {finding}", file=sys.stderr)


# -- inputs -----------------------------------------------------------------------------

#: Hyperparameter values worth trying besides random floats: edges, non-finite values,
#: beyond float32, huge ints, and things that are not real numbers at all.
SPECIAL_REALS: list[Any] = [
    0.0, -0.0, 1e-3, 0.1, 0.5, 0.9, 0.999, 1.0, 1.5, 2.0, -1.0, -1e-3,
    math.inf, -math.inf, math.nan, 1e308, 1e39, 3.5e38, 1e-45, 5e-324, 2**53 + 1, 2**63,
    2**64, 10**400, -(10**400), True, False, None, "0.1", b"1", 1j, [0.1], (0.1,),
    np.float32(0.9), np.float64(np.nan), np.float16(0.5), np.int64(1), np.uint64(2**64 - 1),
    Fraction(1, 3), np.longdouble(0.5),
]  # fmt: skip

#: Step counts: valid, edges, beyond C's int64 and float64, not ints.
SPECIAL_STEPS: list[Any] = [
    1, 1, 2, 3, 10, 0, -1, 2**31, 2**32 + 1, 2**63 - 1, 2**63, 2**64, 10**400, True, 1.0, 2.5,
    math.nan, None, "1", np.int64(4), np.uint64(2**64 - 1), np.int8(-3),
]  # fmt: skip

#: Array dtypes: the two accepted ones (most often), non-native byte order, odd kinds.
DTYPES: list[Any] = [
    np.float32, np.float64, np.float32, np.float64, np.dtype(">f4"), np.dtype(">f8"),
    np.dtype("=f4"), np.dtype("<f8"), np.float16, np.longdouble, np.complex64, np.int32,
    np.int64, np.uint8, np.bool_, np.dtype([("a", "<f4")]), np.dtype("V4"), object,
    np.dtype("datetime64[s]"),
]  # fmt: skip

BACKING_BYTES = 1 << 14


class Inputs:
    """Values drawn from the fuzzer's bytes (atheris.FuzzedDataProvider)."""

    def __init__(self, data: bytes) -> None:
        self.fdp = atheris.FuzzedDataProvider(data)
        # one shared backing buffer for views: offsets, overlaps and odd strides live in it
        self.backing = np.random.default_rng(self.int(0, 255)).standard_normal(
            BACKING_BYTES // 8).view(np.uint8)
        self.made: list[np.ndarray] = []  # every ndarray handed to a call, for snapshots

    def int(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)

    def bool(self) -> bool:
        return self.fdp.ConsumeBool()

    def chance(self, one_in: int) -> bool:
        return self.int(0, one_in - 1) == 0

    def pick(self, values: Sequence[Any]) -> Any:
        return values[self.int(0, len(values) - 1)]

    def real(self, typical: Sequence[float]) -> Any:
        """A hyperparameter: mostly a typical value, sometimes a special or random one."""
        r = self.int(0, 9)
        if r < 6:
            return self.pick(typical)
        if r < 9:
            return self.pick(SPECIAL_REALS)
        return self.fdp.ConsumeFloat()

    def step(self) -> Any:
        return self.pick(SPECIAL_STEPS) if self.chance(3) else self.int(1, 5)

    def values(self, n: int, dtype: Any) -> np.ndarray:
        """n values of a dtype: normal, with the odd zero, inf or nan."""
        rng = np.random.default_rng(self.int(0, 1 << 16))
        x = rng.standard_normal(n)
        if self.chance(4):
            x[rng.integers(0, max(n, 1), size=min(n, 3))] = self.pick([0.0, np.inf, np.nan, 1e38])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return x.astype(dtype)
            except (TypeError, ValueError):
                return np.zeros(n, dtype=dtype)

    def shape(self, max_size: int = 64) -> tuple[int, ...]:
        ndim = self.pick([1, 1, 1, 2, 2, 3, 0])
        dims = [self.int(0, 8) if self.chance(8) else self.int(1, 8) for _ in range(ndim)]
        while math.prod(dims) > max_size:
            dims[dims.index(max(dims))] //= 2
        return tuple(dims)

    def like(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Mostly `shape`; sometimes a near miss."""
        if not self.chance(12):
            return shape
        return self.pick([shape[:-1], (*shape, 1), tuple(d + 1 for d in shape), shape[::-1],
                          (math.prod(shape),), ()])  # fmt: skip

    def array(self, shape: tuple[int, ...], dtype: Any, *, odd: int = 10) -> Any:
        """An array argument of this shape and dtype; one in `odd` is malformed somehow."""
        if not self.chance(odd):
            a = self.values(math.prod(shape), dtype).reshape(shape)
            return self.keep(a)
        kind = self.int(0, 9)
        if kind == 0:  # another dtype
            a = self.values(math.prod(shape), self.pick(DTYPES)).reshape(shape)
            return self.keep(a)
        if kind == 1:  # a contiguous view into the shared buffer, maybe unaligned/overlapping
            return self.keep(self.view(shape, dtype))
        if kind == 2:  # any strides over the shared buffer
            return self.keep(self.strided(shape, dtype))
        if kind == 3:  # read-only
            a = self.values(math.prod(shape), dtype).reshape(shape)
            a.flags.writeable = False
            return self.keep(a)
        if kind == 4:  # Fortran order, or a transposed view
            a = np.asfortranarray(self.values(math.prod(shape), dtype).reshape(shape))
            return self.keep(a if a.ndim else a.T)
        if kind == 5:  # reuse an array already made (aliasing)
            return self.pick(self.made) if self.made else self.keep(self.view(shape, dtype))
        if kind == 6:  # a view of part of an array already made
            if self.made:
                base = self.pick(self.made)
                flat = base.reshape(-1) if base.flags.c_contiguous else base.ravel()
                return self.keep(flat[self.int(0, max(flat.size - 1, 0)):])
            return self.keep(self.view(shape, dtype))
        if kind == 7:  # not an ndarray: buffer protocol objects and plain objects
            a = self.values(math.prod(shape), dtype).reshape(shape)
            self.keep(a)
            # (object and ml_dtypes arrays export no buffer: the array itself stands in)
            view = memoryview(a) if a.dtype.kind not in "OV" else a
            return self.pick([view, a.tolist(), None, bytearray(a.tobytes()), 1.0, "x", (a,),
                              a.data if a.dtype.kind != "V" else a])  # fmt: skip
        if kind == 8:  # another shape
            return self.keep(self.values(math.prod(self.like(shape)) + self.int(0, 1),
                                         dtype).reshape(-1))
        # a numpy subclass, an empty slice, an extra leading axis
        a = self.values(math.prod(shape), dtype).reshape(shape)
        odd_ones = [lambda: np.ma.masked_array(a), lambda: a.reshape(-1)[:0], lambda: a[None]]
        return self.keep(self.pick(odd_ones)())

    def view(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A C-contiguous view of the shared buffer at any byte offset (unaligned ones too)."""
        dt = np.dtype(dtype)
        nbytes = math.prod(shape) * dt.itemsize
        top = BACKING_BYTES - nbytes
        if top < 0:
            return np.zeros(shape, dt)
        offset = self.int(0, top) if self.chance(3) else self.int(0, top // 64) * 64 + self.pick(
            [0, 0, 0, 1, 2, 4, 8, 12, 16, 32])  # fmt: skip
        offset = min(offset, top)
        return np.ndarray(shape, dt, buffer=self.backing, offset=offset)

    def strided(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """as_strided over the shared buffer with any strides (negative and zero too),
        kept inside it."""
        dt = np.dtype(dtype)
        strides = [self.pick([dt.itemsize, -dt.itemsize, 0, 2 * dt.itemsize, 3, 1, 4 * dt.itemsize,
                              -8, 1000]) for _ in shape]  # fmt: skip
        lo = sum(min(0, s * (d - 1)) for s, d in zip(strides, shape) if d)
        hi = sum(max(0, s * (d - 1)) for s, d in zip(strides, shape) if d) + dt.itemsize
        if hi - lo > BACKING_BYTES:
            return np.zeros(shape, dt)
        start = -lo + self.int(0, BACKING_BYTES - (hi - lo))
        return np.ndarray(shape, dt, buffer=self.backing, offset=start, strides=strides)

    def keep(self, a: Any) -> Any:
        if isinstance(a, np.ndarray):
            self.made.append(a)
        return a


# -- snapshots and the oracle -------------------------------------------------------------


def _bytes(a: np.ndarray) -> bytes:
    if a.dtype.hasobject:
        return repr(a.tolist()).encode()
    return np.ndarray.tobytes(a)


def as_arrays(objs: Iterable[Any]) -> list[np.ndarray]:
    """The ndarrays behind arguments (views of buffer-protocol objects; others dropped)."""
    out = []
    for obj in objs:
        if isinstance(obj, np.ndarray):
            out.append(obj)
        elif isinstance(obj, (memoryview, bytearray)):
            out.append(np.asarray(memoryview(obj)))
    return out


def extent(a: np.ndarray) -> tuple[int, int]:
    """[lowest, highest) address an array's elements occupy (empty if it has none)."""
    if a.size == 0:
        return (0, 0)
    byte_bounds = getattr(np.lib, "array_utils", np).byte_bounds  # moved in NumPy 2.0
    lo, hi = byte_bounds(a)
    return lo, hi


def overlap(a: np.ndarray, b: np.ndarray) -> bool:
    (a0, a1), (b0, b1) = extent(a), extent(b)
    return a0 < b1 and b0 < a1


class Snapshot:
    """The bytes of every array made for a call, and of the shared buffer."""

    def __init__(self, inputs: Inputs, extra: Iterable[np.ndarray] = ()) -> None:
        self.arrays = [a for a in [*inputs.made, *extra] if isinstance(a, np.ndarray)]
        self.before = [_bytes(a) for a in self.arrays]
        self.backing = inputs.backing
        self.backing_before = inputs.backing.tobytes()

    def changed(self, written: Sequence[np.ndarray] = ()) -> list[str]:
        """Descriptions of what changed, outside the arrays `written` (and their memory)."""
        out = []
        spans = [extent(w) for w in written if isinstance(w, np.ndarray)]

        def inside(a: np.ndarray) -> bool:  # or overlapping: a view of an output may change
            lo, hi = extent(a)
            return lo == hi or any(w0 < hi and lo < w1 for w0, w1 in spans)

        for a, before in zip(self.arrays, self.before):
            if any(a is w for w in written) or inside(a):
                continue
            if _bytes(a) != before:
                ro = "" if a.flags.writeable else ", READ-ONLY"
                out.append(f"array shape={a.shape} dtype={a.dtype}{ro} (not written by the call)")
        now = np.frombuffer(self.backing.tobytes(), np.uint8)
        was = np.frombuffer(self.backing_before, np.uint8)
        diff = now != was
        base = self.backing.ctypes.data
        for w0, w1 in spans:  # bytes inside written arrays of the shared buffer may change
            lo, hi = max(w0 - base, 0), min(w1 - base, len(diff))
            if lo < hi:
                diff[lo:hi] = False
        if diff.any():
            out.append(f"shared buffer bytes {np.flatnonzero(diff)[:4].tolist()}... changed")
        return out


#: The package's state-buffer names: any call may name one in its errors.
STATE_NAMES = ("momentum_buffer", "sum", "square_avg", "acc_delta", "grad_avg", "exp_avg",
               "exp_avg_sq", "max_exp_avg_sq", "exp_inf", "prev", "step_size")


@functools.cache
def _names_pattern(names: tuple[str, ...]) -> re.Pattern:
    """Any of the names as a word (so that "y" is not found in "array")."""
    return re.compile("|".join(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])"
                               for n in (*names, *STATE_NAMES)))


def call(
    where: str,
    fn: Callable[[], Any],
    inputs: Inputs,
    data: bytes,
    *,
    names: Iterable[str],
    written: Callable[[], Sequence[np.ndarray]] | None = None,
    extra: Iterable[np.ndarray] = (),
    after_success: Callable[[Any], None] | None = None,
    args: Any = None,
) -> tuple[bool, Any]:
    """Runs fn under the oracle. `names` are the argument names an error message may name;
    `written()` lists the arrays a successful call may write (None: it may write nothing).
    Returns (succeeded, result or exception)."""
    snap = Snapshot(inputs, extra)
    made = list(inputs.made)

    def show() -> str:
        return describe(args, made) if args is not None else "?"

    if _TRACE:
        print(f"CALL {where}: {show()}", file=sys.stderr, flush=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except Finding:
            raise
        except UserError as error:
            return False, error
        except (TypeError, ValueError) as error:
            msg = str(error)
            changed = snap.changed()
            if changed:
                detail = f"{type(error).__name__}: {msg[:200]} | changed: {changed}"
                report(Finding("partial update before an error", where, detail), data, show)
            if _SIGNATURE_DUMP in msg:
                report(Finding("unclear error message (pybind11 signature dump)", where,
                               msg.splitlines()[0][:200]), data, show)
            elif not _names_pattern(tuple(names)).search(msg):
                report(Finding("unclear error message (names no argument)", where,
                               f"{type(error).__name__}: {msg[:200]}"), data, show)
            return False, error
        except Exception as error:  # noqa: BLE001  (any other type is the finding)
            tb = traceback.extract_tb(error.__traceback__)[-1]
            report(Finding("wrong exception type", where,
                           f"{type(error).__name__}: {str(error)[:200]} "
                           f"(at {Path(tb.filename).name}:{tb.lineno})"), data, show)
            return False, error
    for w in caught:
        at = f"{Path(w.filename).name}:{w.lineno}"
        detail = f"{w.category.__name__}: {w.message} (at {at})"
        report(Finding("warning", where, detail), data, show)
    changed = snap.changed(as_arrays(written()) if written is not None else ())
    if changed:
        kind = "wrote a read-only array" if any("READ-ONLY" in c for c in changed) else \
            "wrote outside its outputs"
        report(Finding(kind, where, str(changed)), data, show)
    if after_success is not None:
        after_success(result)
    return True, result


def setup(instrument: bool = True) -> None:
    """Imports pyfastopt under atheris' Python coverage instrumentation."""
    if instrument:
        with atheris.instrument_imports(include=["pyfastopt"]):
            import pyfastopt
            import pyfastopt.functional
            import pyfastopt.hogwild
            import pyfastopt.optim
            import pyfastopt.sparse  # noqa: F401


def main(test_one_input: Callable[[bytes], None]) -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
