"""Adafactor's step on a model of matrices: pyfastopt (optim.Adafactor on NumPy arrays, and
pyfastopt.torch.Adafactor on tensors) against torch.optim.Adafactor (its default per-tensor
loop, ``foreach=False``, and ``foreach=True``), side by side in one interleaved run.

The model: ``--matrices`` matrices alternating (rows, cols) and (cols, rows), float32, with
fixed random gradients; every implementation steps its own copy of the parameters. The
floor: the 20 bytes an element that pyfastopt's two passes over a matrix move (read p and
g; read p and g, write p), moved by the simplest kernels of the same access pattern: a sum
of squares over p and g (``transforms.global_norm``) and a plain SGD step with lr = 0. Timing:
``pyfastopt._bench.measure.run_group`` (one step of every implementation per round, the
starting one rotating; medians), at each thread count (pyfastopt's and torch's alike).

Usage: ``python bench/bench_adafactor.py [--matrices 20] [--shape 512x2048] [--threads 1,2]
[--repeat 15]`` (needs torch).
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np
import torch

import pyfastopt
import pyfastopt.torch as pt
from pyfastopt import functional as F
from pyfastopt import optim, transforms
from pyfastopt._bench.measure import Entry, Timing, run_group
from pyfastopt._bench.report import machine_info


def model(count: int, rows: int, cols: int, seed: int = 0) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    shapes = [(rows, cols) if i % 2 == 0 else (cols, rows) for i in range(count)]
    params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    return params, grads


def entries(params: list[np.ndarray], grads: list[np.ndarray]) -> list[Entry]:
    out = []
    for foreach in (False, True):
        tensors = [torch.tensor(p) for p in params]
        for t, g in zip(tensors, grads):
            t.grad = torch.tensor(g)
        theirs = torch.optim.Adafactor(tensors, foreach=foreach)
        out.append(Entry(f"torch.optim.Adafactor(foreach={foreach})", theirs.step))
    tensors = [torch.tensor(p) for p in params]
    for t, g in zip(tensors, grads):
        t.grad = torch.tensor(g)
    out.append(Entry("pyfastopt.torch.Adafactor", pt.Adafactor(tensors).step))
    mine = optim.Adafactor([p.copy() for p in params])
    out.append(Entry("pyfastopt.optim.Adafactor", lambda: mine.step(grads)))
    floor = [(p.copy(), g) for p, g in zip(params, grads)]

    def floor_passes() -> None:
        for p, g in floor:
            transforms.global_norm([p, g])
            F.sgd_(p, g, step=1, lr=0.0)

    out.append(Entry("memory floor: a sum of squares and an SGD step a matrix", floor_passes))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrices", type=int, default=20)
    parser.add_argument("--shape", default="512x2048", help="ROWSxCOLS (alternated with COLSxROWS)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (default 15)")
    args = parser.parse_args()
    rows, cols = (int(x) for x in args.shape.lower().split("x"))
    thread_counts = [int(x) for x in args.threads.split(",")]
    if args.repeat < 1 or args.matrices < 1 or min(thread_counts) < 1:
        parser.error("--repeat, --matrices and --threads must be >= 1")
    params, grads = model(args.matrices, rows, cols)
    n = sum(p.size for p in params)
    info = machine_info(None)
    print(f"# Adafactor, {args.matrices} float32 matrices of {rows}x{cols} and {cols}x{rows} "
          f"({n} elements), medians of {args.repeat} interleaved steps; {info['cpu']}, "
          f"torch {torch.__version__}, {datetime.date.today()}")  # fmt: skip
    print("| threads | implementation | time/step | x torch (foreach=False) "
          "| x torch (foreach=True) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for threads in thread_counts:

        def setup(threads: int = threads) -> None:
            pyfastopt.set_num_threads(threads)
            torch.set_num_threads(threads)

        group = entries(params, grads)
        run_group(group, Timing(repeat=args.repeat), setup=setup)
        loop, foreach = group[0].median, group[1].median
        for e in group:
            print(f"| {threads} | {e.impl} | {e.median * 1e3:.2f} ms | {loop / e.median:.2f}x "
                  f"| {foreach / e.median:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
