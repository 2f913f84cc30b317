"""L-BFGS's two-loop recursion: pyfastopt's native call (each pair's axpy fused with the next
dot product, one pass per pair and loop) against the same recursion in NumPy (a BLAS dot, a
multiply into scratch and a subtraction per pair and loop, as torch.optim.LBFGS writes it),
side by side in one interleaved run.

Timing: ``pyfastopt._bench.measure.run_group`` (medians), at each thread count (pyfastopt's;
NumPy's dots use OpenBLAS's own threads).

Usage: ``python bench/bench_lbfgs.py [--size 2^22] [--history 20] [--threads 1,2]
[--repeat 9]``.
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

import pyfastopt
from pyfastopt import _core
from pyfastopt._bench import parse_size
from pyfastopt._bench.measure import Entry, Timing, run_group
from pyfastopt._bench.report import machine_info


def numpy_two_loop(grad, dirs, stps, ro, rows, h_diag, scratch):
    """The recursion as torch.optim.LBFGS writes it, on NumPy arrays."""
    q = np.negative(grad)
    al = [0.0] * len(rows)
    for i in range(len(rows) - 1, -1, -1):
        al[i] = a = (stps[rows[i]] @ q) * ro[rows[i]]
        q -= np.multiply(dirs[rows[i]], a, out=scratch)
    q *= h_diag
    for i, row in enumerate(rows):
        be_i = (dirs[row] @ q) * ro[row]
        q += np.multiply(stps[row], al[i] - be_i, out=scratch)
    return q


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2^22", help="parameters (2^22, 4M, ...)")
    parser.add_argument("--history", type=int, default=20, help="pairs kept (default 20)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeat", type=int, default=9, help="timed rounds (default 9)")
    args = parser.parse_args()
    n = parse_size(args.size).total
    k = args.history
    rng = np.random.default_rng(0)
    dirs = rng.standard_normal((k, n), dtype=np.float32)
    stps = rng.standard_normal((k, n), dtype=np.float32)
    ro = np.full(k, 1.0 / n, np.float32)
    rows = np.arange(k, dtype=np.int64)
    grad = rng.standard_normal(n, dtype=np.float32)
    q, al, scratch = np.empty(n, np.float32), np.empty(k, np.float32), np.empty(n, np.float32)
    info = machine_info(None)
    print(f"# L-BFGS direction, float32, n = {n}, {k} pairs, medians of {args.repeat} "
          f"interleaved calls; {info['cpu']}, isa {info['build']['isa']}, "
          f"{datetime.date.today()}")  # fmt: skip
    print("| threads | implementation | time | GB/s (2k+1 passes of 3 arrays) | x NumPy |")
    print("|---|---|---|---|---|")
    moved = (2 * k + 1) * 3 * 4 * n  # bytes a fused pass moves: q read and written, one row
    for threads in (int(x) for x in args.threads.split(",")):
        group = [
            Entry("NumPy (BLAS dot, multiply, subtract)",
                  lambda: numpy_two_loop(grad, dirs, stps, ro, rows, np.float32(0.5), scratch)),
            Entry("pyfastopt native two-loop",
                  lambda: _core.lbfgs_direction(grad, dirs, stps, ro, rows, 0.5, q, al)),
        ]  # fmt: skip
        run_group(group, Timing(repeat=args.repeat),
                  setup=lambda t=threads: pyfastopt.set_num_threads(t))  # fmt: skip
        base = group[0].median
        for e in group:
            print(f"| {threads} | {e.impl} | {e.median * 1e3:.2f} ms | "
                  f"{moved / e.median / 1e9:.1f} | {base / e.median:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
