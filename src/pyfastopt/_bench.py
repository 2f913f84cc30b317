"""``pyfastopt bench``: optimizer steps against the memory-bandwidth roofline and NumPy.

One run times, round-robin so that machine noise hits every entry alike:

* the STREAM triad ``a = b + s*c`` (``_core._triad``): what this machine's memory delivers;
* the Adam memory pattern with trivial arithmetic (``_core._adam_pattern``, run by the same
  driver as the real rules): the ceiling for a 4-read/3-write in-place update;
* each optimizer step of :data:`OPTIMIZERS` through :mod:`pyfastopt.functional`, and its NumPy
  baselines (below), which are checked once against pyfastopt, bit for bit, before timing.

Every entry is timed once per round; the table reports medians. Bytes are counted as STREAM
counts them: every element read or written once (a write-only array's write-allocate read is
not counted, so the triad's counted GB/s understate its bus traffic by a quarter).

The NumPy baselines are the fastest in-place NumPy we know that rounds exactly as the C++
rules do (same operations in the same order, ``out=`` everywhere, one preallocated scratch
array): ``numpy`` runs each pass over the whole array; ``numpy-blocked`` runs the same passes
over cache-sized blocks, so the temporaries never leave the cache. ``bench/bench_step.py``
imports them from here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__, _core, build_info, functional, get_num_threads, set_num_threads

#: The size of the default ("embedded") benchmark: 2^24 elements, 64 MiB per float32 array.
DEFAULT_SIZE = 1 << 24
#: Elements per block of the blocked NumPy baselines (about 1 MiB per float32 array, so the
#: scratch and the block of every buffer stay in L2/L3).
NUMPY_BLOCK = 1 << 18
#: The step number of every timed call: the per-step scalars stay the same across calls.
TIMED_STEP = 10


# --------------------------------------------------------------------------------------
# NumPy baselines


def _blocks(n: int, block: int | None) -> list[slice]:
    if block is None or block >= n:
        return [slice(0, n)]
    return [slice(s, min(s + block, n)) for s in range(0, n, block)]


def adam_coeffs(dtype, *, step: int, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8) -> tuple:
    """Adam's per-step scalars, as pyfastopt.functional.adam_ computes them (double, then
    rounded once to ``dtype``)."""
    bc1, bc2 = 1.0 - beta1**step, 1.0 - beta2**step
    c = (beta1, 1.0 - beta1, beta2, 1.0 - beta2, 1.0 / math.sqrt(bc2), eps, -lr / bc1)
    return tuple(dtype.type(x) for x in c)


def _adam_passes(p, g, m, v, t, c) -> None:
    b1, omb1, b2, omb2, inv_sqrt_bc2, eps, neg_step = c
    np.multiply(m, b1, out=m)  # m = b1 m + (1-b1) g
    np.multiply(g, omb1, out=t)
    np.add(m, t, out=m)
    np.multiply(v, b2, out=v)  # v = b2 v + (1-b2) g^2
    np.multiply(g, g, out=t)
    np.multiply(t, omb2, out=t)
    np.add(v, t, out=v)
    np.sqrt(v, out=t)  # p = p - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
    np.multiply(t, inv_sqrt_bc2, out=t)
    np.add(t, eps, out=t)
    np.divide(m, t, out=t)
    np.multiply(t, neg_step, out=t)
    np.add(p, t, out=p)


#: Whole-array passes of numpy_adam_: 13 (120 bytes moved per element in float32, vs 28).
ADAM_NUMPY_PASSES = 13


def numpy_adam_(
    param, grad, exp_avg, exp_avg_sq, *, step: int, scratch, block: int | None = None, **hp
) -> None:
    """Adam (no weight decay, no AMSGrad) in place with NumPy ufuncs; bit-identical to
    ``pyfastopt.functional.adam_(param, grad, exp_avg, exp_avg_sq, step=step, **hp)``.

    ``scratch`` is a preallocated array of the dtype with at least ``min(n, block)``
    elements; ``block`` (elements) runs the passes block by block.
    """
    c = adam_coeffs(param.dtype, step=step, **hp)
    for s in _blocks(param.size, block):
        k = s.stop - s.start
        _adam_passes(param[s], grad[s], exp_avg[s], exp_avg_sq[s], scratch[:k], c)


def sgd_momentum_coeffs(dtype, *, step: int, lr=1e-3, momentum=0.9, dampening=0.0) -> tuple:
    """SGD momentum's per-step scalars, as pyfastopt.functional.sgd_ computes them."""
    first = step == 1
    c = (0.0 if first else momentum, 1.0 if first else 1.0 - dampening, -lr)
    return tuple(dtype.type(x) for x in c)


def _sgd_momentum_passes(p, g, b, t, c) -> None:
    buffer_decay, grad_scale, neg_lr = c
    np.multiply(b, buffer_decay, out=b)  # b = mu b + (1 - dampening) g
    if grad_scale == 1:  # 1 * g == g exactly: one pass fewer
        np.add(b, g, out=b)
    else:
        np.multiply(g, grad_scale, out=t)
        np.add(b, t, out=b)
    np.multiply(b, neg_lr, out=t)  # p = p - lr b
    np.add(p, t, out=p)


#: Whole-array passes of numpy_sgd_momentum_ (dampening 0): 4 (40 bytes/element vs 20).
SGD_MOMENTUM_NUMPY_PASSES = 4


def numpy_sgd_momentum_(
    param, grad, momentum_buffer, *, step: int, scratch, block: int | None = None, **hp
) -> None:
    """SGD with classical momentum in place with NumPy ufuncs; bit-identical to
    ``pyfastopt.functional.sgd_(param, grad, momentum_buffer, step=step, **hp)`` (no
    weight decay, no Nesterov). ``scratch`` and ``block`` as for :func:`numpy_adam_`."""
    c = sgd_momentum_coeffs(param.dtype, step=step, **hp)
    for s in _blocks(param.size, block):
        k = s.stop - s.start
        _sgd_momentum_passes(param[s], grad[s], momentum_buffer[s], scratch[:k], c)


# --------------------------------------------------------------------------------------
# What is timed


@dataclass(frozen=True)
class Optimizer:
    """One optimizer step under test, with its state count and its implementations."""

    name: str
    num_states: int  # state buffers besides param and grad
    hparams: dict
    pyfastopt: Callable  # (p, g, states, step, **hparams)
    numpy: Callable  # (p, g, states, step, scratch, block, **hparams)
    numpy_passes: int

    def bytes_per_element(self, itemsize: int) -> int:
        """Reads p, g and every state; writes p and every state."""
        return (3 + 2 * self.num_states) * itemsize


OPTIMIZERS: tuple[Optimizer, ...] = (
    Optimizer(
        "adam",
        2,
        {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        lambda p, g, s, step, **hp: functional.adam_(p, g, *s, step=step, **hp),
        lambda p, g, s, step, scratch, block, **hp: numpy_adam_(
            p, g, *s, step=step, scratch=scratch, block=block, **hp
        ),
        ADAM_NUMPY_PASSES,
    ),
    Optimizer(
        "sgd-momentum",
        1,
        {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0},
        lambda p, g, s, step, **hp: functional.sgd_(p, g, *s, step=step, **hp),
        lambda p, g, s, step, scratch, block, **hp: numpy_sgd_momentum_(
            p, g, *s, step=step, scratch=scratch, block=block, **hp
        ),
        SGD_MOMENTUM_NUMPY_PASSES,
    ),
)

#: NumPy formulations timed for every optimizer: name -> block size (None: whole array).
NUMPY_VARIANTS = {"numpy": None, "numpy-blocked": NUMPY_BLOCK}


def _random_arrays(count: int, n: int, dtype, rng) -> list[np.ndarray]:
    """Well-scaled positive values: no denormals, no NaN, whatever the step count."""
    return [(rng.random(n, dtype=np.float64) + 0.5).astype(dtype) for _ in range(count)]


def check_baselines(dtype, n: int = 4099, steps: int = 3) -> None:
    """Asserts every NumPy baseline matches pyfastopt bit for bit (whole and blocked, odd
    size), and that the roofline kernels compute what they claim."""
    rng = np.random.default_rng(0)
    for opt in OPTIMIZERS:
        init = _random_arrays(2 + opt.num_states, n, dtype, rng)
        init[1] *= rng.choice(np.array([-1, 1], dtype), n)  # gradients of both signs
        ours = [a.copy() for a in init]
        for step in range(1, steps + 1):
            opt.pyfastopt(ours[0], ours[1], ours[2:], step, **opt.hparams)
        for variant, block in {"numpy": None, "numpy-blocked": 1000}.items():
            theirs = [a.copy() for a in init]
            scratch = np.empty(n, dtype)
            for step in range(1, steps + 1):
                opt.numpy(theirs[0], theirs[1], theirs[2:], step, scratch, block, **opt.hparams)
            for a, b in zip(ours, theirs):
                if not np.array_equal(a, b):
                    msg = f"{variant} {opt.name} differs from pyfastopt (max {np.abs(a - b).max()})"
                    raise AssertionError(msg)
    a, b, c = _random_arrays(3, n, dtype, rng)
    _core._triad(a, b, c, 3.0)
    assert np.array_equal(a, b + dtype.type(3.0) * c), "triad"
    p, g, m, v = _random_arrays(4, n, dtype, rng)
    p0, m0, v0 = p.copy(), m.copy(), v.copy()
    _core._adam_pattern([p], [g], [[m], [v]], (1.0, 2.0, 3.0))
    for x, x0, k in ((p, p0, 1.0), (m, m0, 2.0), (v, v0, 3.0)):
        assert np.array_equal(x, x0 + dtype.type(k) * g), "adam pattern"


@dataclass
class Entry:
    """One timed thing: a zero-argument call, and its samples (seconds)."""

    kernel: str
    impl: str
    threads: int  # pyfastopt threads (NumPy baselines: 1)
    bytes_per_element: int
    call: Callable[[], Any] = field(repr=False)
    set_threads: bool = True
    note: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def make_entries(n: int, dtype, threads: Sequence[int]) -> list[Entry]:
    """Allocates the arrays and returns the entries of one round, in timing order."""
    rng = np.random.default_rng(1)
    size = dtype.itemsize
    # Separate arrays for each kernel family: nothing one entry does changes another's data.
    a, b, c = _random_arrays(3, n, dtype, rng)
    pattern = _random_arrays(4, n, dtype, rng)
    per_opt = {opt.name: _random_arrays(2 + opt.num_states, n, dtype, rng) for opt in OPTIMIZERS}
    scratch = np.empty(n, dtype)

    def triad() -> None:
        _core._triad(a, b, c, 3.0)

    def adam_pattern() -> None:  # zero coefficients: full traffic, values unchanged
        _core._adam_pattern([pattern[0]], [pattern[1]], [[pattern[2]], [pattern[3]]], (0, 0, 0))

    def ours(opt: Optimizer) -> Callable[[], None]:
        p, g, *s = per_opt[opt.name]
        return lambda: opt.pyfastopt(p, g, s, TIMED_STEP, **opt.hparams)

    def theirs(opt: Optimizer, block: int | None) -> Callable[[], None]:
        p, g, *s = per_opt[opt.name]
        return lambda: opt.numpy(p, g, s, TIMED_STEP, scratch, block, **opt.hparams)

    entries = []
    for t in threads:
        entries.append(Entry("triad", "pyfastopt", t, 3 * size, triad))
        entries.append(Entry("adam-pattern", "pyfastopt", t, 7 * size, adam_pattern))
        for opt in OPTIMIZERS:
            entries.append(Entry(opt.name, "pyfastopt", t, opt.bytes_per_element(size), ours(opt)))
    for opt in OPTIMIZERS:  # single-threaded whatever pyfastopt's setting: timed once a round
        for variant, block in NUMPY_VARIANTS.items():
            note = f"{opt.numpy_passes} passes" + (f", blocks of {block}" if block else "")
            entries.append(
                Entry(opt.name, variant, 1, opt.bytes_per_element(size), theirs(opt, block),
                      set_threads=False, note=note)
            )  # fmt: skip
    return entries


def measure(entries: Sequence[Entry], repeat: int, progress: Callable[[int], None]) -> None:
    """One untimed warm-up round, then `repeat` rounds timing every entry once, in order."""
    for r in range(repeat + 1):
        for e in entries:
            if e.set_threads:
                set_num_threads(e.threads)
            t0 = time.perf_counter()
            e.call()
            elapsed = time.perf_counter() - t0
            if r > 0:
                e.samples.append(elapsed)
        progress(r)


# --------------------------------------------------------------------------------------
# Report


def machine_info() -> dict[str, Any]:
    """CPU, OS, load and build facts printed above the table."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        load = None
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_avg_1min": load,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyfastopt": __version__,
        "build": build_info(),
    }


def _size_str(n: int) -> str:
    k = n.bit_length() - 1
    return f"2^{k} = {n:,}" if n == 1 << k else f"{n:,}"


def rows(entries: Sequence[Entry], n: int) -> list[dict[str, Any]]:
    """Medians and the derived rates and ratios, one dict per entry."""
    by = {(e.kernel, e.impl, e.threads): e for e in entries}
    best_numpy = {
        e.kernel: min(f.median for f in entries if f.kernel == e.kernel and f.impl != "pyfastopt")
        for e in entries
        if e.impl != "pyfastopt"
    }
    out = []
    for e in entries:
        med = e.median
        gbs = e.bytes_per_element * n / med / 1e9
        row = {
            "kernel": e.kernel,
            "impl": e.impl,
            "threads": e.threads,
            "bytes_per_element": e.bytes_per_element,
            "median_s": med,
            "gelem_per_s": n / med / 1e9,
            "gb_per_s": gbs,
            "note": e.note,
            "samples_s": list(e.samples),
        }
        for key, ref in (("pct_triad", "triad"), ("pct_adam_pattern", "adam-pattern")):
            r = by.get((ref, "pyfastopt", e.threads))
            if r is not None and e.kernel not in ("triad", "adam-pattern"):
                row[key] = 100 * gbs / (r.bytes_per_element * n / r.median / 1e9)
        if e.kernel in best_numpy:
            row["speedup_vs_numpy"] = best_numpy[e.kernel] / med
        out.append(row)
    return out


def _ms(seconds: float) -> str:
    """Milliseconds with 4 significant digits: 23.64, 0.1203."""
    ms = seconds * 1e3
    return f"{ms:.2f}" if ms >= 10 else f"{ms:.4g}"


def format_table(info: dict[str, Any], config: dict[str, Any], table: list[dict]) -> str:
    b = info["build"]
    lines = [
        f"pyfastopt bench: n = {_size_str(config['size'])} {config['dtype']}, median of "
        f"{config['repeat']} interleaved runs ({config['seconds']:.0f} s)",
        f"cpu    {info['cpu']}, {info['usable_cpus']}/{info['logical_cpus']} logical CPUs usable, "
        f"load {info['load_avg_1min']} at start; {info['system']}",
        f"build  pyfastopt {info['pyfastopt']}: isa {b['isa']} (compiled "
        f"{' '.join(b['isas'])}), openmp {'on' if b['openmp'] else 'off'}, {b.get('compiler', '?')}"
        f"; numpy {info['numpy']}, python {info['python']}",
        "",
    ]
    head = ("threads", "kernel", "impl", "B/el", "ms/step", "Gelem/s", "GB/s", "%triad",
            "%ceil", "x numpy", "")  # fmt: skip
    fmt = "{:>7}  {:<13} {:<13} {:>4} {:>8} {:>8} {:>6} {:>6} {:>6} {:>8}  {}"
    lines.append(fmt.format(*head).rstrip())

    def pct(x):
        return "-" if x is None else f"{x:.0f}"

    last_group = None
    for r in table:
        group = (r["impl"] == "pyfastopt", r["threads"])
        if last_group is not None and group != last_group:
            lines.append("")
        last_group = group
        sp = r.get("speedup_vs_numpy")
        lines.append(
            fmt.format(
                r["threads"], r["kernel"], r["impl"], r["bytes_per_element"],
                _ms(r['median_s']), f"{r['gelem_per_s']:.3f}", f"{r['gb_per_s']:.1f}",
                pct(r.get("pct_triad")), pct(r.get("pct_adam_pattern")),
                "-" if sp is None else f"{sp:.2f}", r["note"],
            ).rstrip()
        )  # fmt: skip
    lines += [
        "",
        "B/el: bytes counted per element (each read or write once, as STREAM counts). %triad, "
        "%ceil: GB/s",
        "relative to triad and to adam-pattern (the Adam memory pattern with trivial "
        "arithmetic) at the",
        "same thread count. x numpy: fastest NumPy baseline's median / this median (NumPy "
        "runs on 1 thread).",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Command line


def parse_size(text: str) -> int:
    """'16777216', '2^24', '1<<24' or '16M' (Mi elements)."""
    s = text.strip().replace(" ", "").replace("_", "")
    try:
        if "^" in s:
            base, exp = s.split("^")
            n = int(base) ** int(exp)
        elif "<<" in s:
            base, shift = s.split("<<")
            n = int(base) << int(shift)
        elif s[-1:] in "kKmMgG" and s[:-1]:
            n = int(s[:-1]) << {"k": 10, "m": 20, "g": 30}[s[-1].lower()]
        else:
            n = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"size must be >= 1, got {n}")
    return n


def parse_threads(text: str) -> list[int]:
    try:
        threads = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid thread list: {text!r}") from None
    if not threads or min(threads) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return threads


def add_arguments(parser: argparse.ArgumentParser) -> None:  # fmt: skip
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE,
                        help="elements per array: 16777216, 2^24, 1<<24 or 16M (default 2^24)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=parse_threads, default=[1, 2],
                        help="comma-separated pyfastopt thread counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=100,
                        help="timed rounds; the table reports medians (default 100, min 1)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write machine facts, settings and every sample to PATH")


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        print("pyfastopt bench: --repeat must be >= 1", file=sys.stderr)
        return 2
    dtype = np.dtype(args.dtype)
    info = machine_info()
    check_baselines(dtype)
    before = get_num_threads()
    try:
        entries = make_entries(args.size, dtype, args.threads)
        start = time.perf_counter()

        def progress(r: int) -> None:
            if sys.stderr.isatty():
                print(f"\rround {r}/{args.repeat}", end="", file=sys.stderr, flush=True)

        measure(entries, args.repeat, progress)
        if sys.stderr.isatty():
            print("\r" + " " * 20 + "\r", end="", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - start
    finally:
        set_num_threads(before)
    config = {"size": args.size, "dtype": args.dtype, "threads": args.threads,
              "repeat": args.repeat, "seconds": seconds, "timed_step": TIMED_STEP,
              "numpy_block": NUMPY_BLOCK}  # fmt: skip
    table = rows(entries, args.size)
    print(format_table(info, config, table))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": info, "config": config, "results": table}, f, indent=1)
    return 0
