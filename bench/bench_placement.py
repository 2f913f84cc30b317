"""Where arrays start changes a DRAM-bound step: Adam in float32 and bfloat16 on one
tensor whose four arrays (param, grad, two moments) start at chosen distances apart.

Each layout lies in one allocation aligned to 2 MiB (a huge page, which NumPy asks the
kernel for on large arrays), array k at ``k * stride + k * gap`` with ``stride`` the array's
size rounded up to 2 MiB, so that ``gap`` is the distance between consecutive arrays' starts
modulo 2 MiB:

* ``gap 0``: every array at one offset modulo 2 MiB (what back-to-back allocations of
  2 MiB multiples give);
* ``gap 64 B``, ``1 KiB + 64 B``, ``4 KiB + 64 B``: staggered within a page or two;
* ``gap SPREAD``: as pyfastopt.optim starts its state arenas
  (``pyfastopt.optim._common.SPREAD``).

Timing: ``pyfastopt._bench.measure.run_group`` (one step of every layout per round, the
starting one rotating; medians), the rule called as ``pyfastopt.optim`` calls it.

Usage: ``python bench/bench_placement.py [--size 2^26] [--threads 2] [--repeat 9]``
(needs ml_dtypes for bfloat16).
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

import pyfastopt
from pyfastopt._bench import BY_NAME, parse_size
from pyfastopt._bench.measure import Entry, Timing, run_group
from pyfastopt._bench.report import machine_info
from pyfastopt._bench.storage import kernel_rule
from pyfastopt.optim._common import SPREAD
from pyfastopt.precision import bfloat16

HUGE_PAGE = 2 << 20
GAPS = {
    "0": 0,
    "64 B": 64,
    "1 KiB + 64 B": 1088,
    "4 KiB + 64 B": 4160,
    f"SPREAD ({SPREAD} B)": SPREAD,
}


def layout(n: int, dtype: np.dtype, gap: int) -> list[np.ndarray]:
    """Four arrays of n elements, array k starting k * gap bytes past a 2 MiB boundary."""
    size = n * dtype.itemsize
    stride = -(-size // HUGE_PAGE) * HUGE_PAGE
    raw = np.empty(4 * stride + 4 * gap + HUGE_PAGE, np.uint8)
    base = -raw.ctypes.data % HUGE_PAGE
    arrays = [raw[base + k * (stride + gap) :][:size].view(dtype) for k in range(4)]
    for a in arrays:
        a[...] = 0
    arrays[1][...] = 1e-3  # the gradient
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2^26", help="elements (2^26, 1<<26, 64M, ...)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=9, help="timed rounds (default 9)")
    args = parser.parse_args()
    if args.repeat < 1 or args.threads < 1:
        parser.error("--repeat and --threads >= 1")
    n = parse_size(args.size).total
    dtypes = [np.dtype(np.float32)] + ([np.dtype(bfloat16)] if bfloat16 is not None else [])
    rule = kernel_rule(BY_NAME["adam"])
    coeffs = rule.coeffs(10)
    entries = []
    for dtype in dtypes:
        for label, gap in GAPS.items():
            p, g, m, v = layout(n, dtype, gap)

            def step(p=p, g=g, m=m, v=v) -> None:
                rule.kernel([p], [g], [[m], [v]], coeffs)

            entries.append(Entry(f"{dtype.name} gap {label}", step))
    threads = args.threads
    run_group(entries, Timing(repeat=args.repeat), setup=lambda: pyfastopt.set_num_threads(threads))
    info = machine_info(None)
    print(f"# Adam, one tensor of {n} elements, {threads} threads, medians of {args.repeat} "
          f"interleaved steps; {info['cpu']}, isa {info['build']['isa']}, "
          f"{datetime.date.today()}")  # fmt: skip
    print("| dtype | gap between array starts (mod 2 MiB) | time/step | x the gap-0 layout |")
    print("|---|---|---|---|")
    for dtype in dtypes:
        rows = [e for e in entries if e.impl.startswith(dtype.name + " ")]
        for e in rows:
            label = e.impl[len(dtype.name) + 5 :]
            ratio = rows[0].median / e.median
            print(f"| {dtype.name} | {label} | {e.median * 1e3:.1f} ms | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
