"""Acceptance benchmark: pyfastopt's 8-bit Adam against bitsandbytes' 8-bit Adam on CPU.

Both keep float32 parameters and gradients and the two Adam moments as blockwise 8-bit
states (uint8 codes into a 256-entry dynamic map, one float32 absmax per 256 elements):
pyfastopt's ``_core.adam`` on ``(codes, absmax)`` states (the ``fp32+8bit-states``
configuration of ``pyfastopt bench --storage``) and ``bitsandbytes.optim.Adam8bit``
(``min_8bit_size=0``) on CPU tensors. The all-fp32 pyfastopt step is timed beside them for
scale. Each implementation owns its copy of the same 2^24 parameters and gradients.

Before timing, the agreement: from one start and 8 gradients that every storage holds
exactly, each 8-bit implementation's parameter change must match the all-fp32 step's within
8-bit rounding (``pyfastopt._bench.storage.check_storage``), on ``--check-size`` elements;
the relative L2 differences (each against fp32, and pyfastopt against bitsandbytes) are
printed. A disagreement stops the script: a speed-up of a wrong step means nothing.

Timing: ``pyfastopt._bench.measure.run_group``: a warm-up call each, then ``--repeat``
rounds, one step of each implementation per round (the starting one rotating); medians.
``--threads`` sets pyfastopt's and torch's thread counts (bitsandbytes' CPU path runs on
torch ops and its own library).

Usage: ``python bench/bench_8bit_vs_bitsandbytes.py [--size 2^24] [--threads 1,2]
[--repeat 7] [--optimizers adam] [--check-size 65536]`` (needs torch and bitsandbytes).
"""

from __future__ import annotations

import argparse
import datetime
import sys

import bitsandbytes as bnb
import numpy as np
import torch

import pyfastopt
from pyfastopt._bench import BY_NAME, parse_size
from pyfastopt._bench.measure import Entry, Timing, run_group
from pyfastopt._bench.optimizers import TIMED_STEP
from pyfastopt._bench.report import machine_info
from pyfastopt._bench.storage import (
    BASELINE,
    BNB_8BIT,
    Arrays,
    check_storage,
    check_values,
    kernel_rule,
    parameter_change,
    parse_storage,
    peer_stepper,
    rule_stepper,
)
from pyfastopt._bench.workload import test_arrays

EIGHT_BIT = parse_storage("fp32+8bit-states")


def agreement(name: str, n: int) -> tuple[list[str], str]:
    """(problems, a line of relative L2 differences) of 8 steps on n elements."""
    spec = BY_NAME[name]
    ours, peers = check_storage(spec, [EIGHT_BIT], torch, bnb, n=n)
    p0, grads = check_values(n, 8, seed=11)
    ref = parameter_change(spec, parse_storage(BASELINE), None, p0, grads, None, None)
    mine = parameter_change(spec, EIGHT_BIT, None, p0, grads, None, None)
    theirs = parameter_change(spec, EIGHT_BIT, "bnb-8bit", p0, grads, torch, bnb)
    norm = float(np.linalg.norm(ref))

    def rel(a: np.ndarray, b: np.ndarray) -> str:
        return f"{np.linalg.norm(a - b) / norm:.3g}"

    line = (f"{name}: parameter change after 8 steps on {n} elements, relative L2 difference: "
            f"pyfastopt 8-bit vs fp32 {rel(mine, ref)}, bitsandbytes vs fp32 {rel(theirs, ref)}, "
            f"pyfastopt vs bitsandbytes {rel(mine, theirs)}")  # fmt: skip
    return ours + list(peers.values()), line


def medians(name: str, n: int, threads: int, repeat: int) -> dict[str, float]:
    """Median seconds per step of pyfastopt 8-bit, bitsandbytes 8-bit and pyfastopt fp32."""
    spec = BY_NAME[name]
    rule = kernel_rule(spec)
    (p,), (g,) = test_arrays(1, n, np.float32, seed=1)
    mine = Arrays(spec, EIGHT_BIT, [p], [g], rule)
    theirs = Arrays(spec, EIGHT_BIT, [p], [g], rule)  # (its states unused: bnb keeps its own)
    fp32 = Arrays(spec, parse_storage(BASELINE), [p], [g], rule)
    for a in (mine, fp32):
        rule_stepper(rule, spec, a, step=None)()  # the first step
    entries = [
        Entry("pyfastopt 8-bit", rule_stepper(rule, spec, mine, step=TIMED_STEP)),
        Entry(f"bitsandbytes {BNB_8BIT[name]}",
              peer_stepper("bnb-8bit", spec, theirs, torch=torch, bnb=bnb)),
        Entry("pyfastopt fp32", rule_stepper(rule, spec, fp32, step=TIMED_STEP)),
    ]  # fmt: skip

    def setup() -> None:
        pyfastopt.set_num_threads(threads)
        torch.set_num_threads(threads)

    run_group(entries, Timing(repeat=repeat), setup=setup)
    for a in (mine, theirs, fp32):
        assert np.isfinite(a.params[0]).all(), "a parameter became non-finite"
    return {e.impl: e.median for e in entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2^24", help="elements (2^24, 1<<24, 16M, ...)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--optimizers", default="adam",
                        help=f"comma list of: {', '.join(BNB_8BIT)}")  # fmt: skip
    parser.add_argument("--check-size", type=int, default=1 << 16)
    args = parser.parse_args()
    n = parse_size(args.size).total
    names = [x.strip().lower() for x in args.optimizers.split(",") if x.strip()]
    unknown = [x for x in names if x not in BNB_8BIT]
    if unknown or args.repeat < 1 or args.check_size < 1:
        parser.error(f"optimizers from {', '.join(BNB_8BIT)}; --repeat and --check-size >= 1")
    info = machine_info(torch)
    b = info["build"]
    print(f"# pyfastopt 8-bit {', '.join(names)} vs bitsandbytes on CPU: one step on {n} "
          f"float32 parameters ({n / 2**20:g} Mi), both moments in blockwise 8 bits")
    print(f"# {info['cpu']}, {info['usable_cpus']}/{info['logical_cpus']} logical CPUs "
          f"usable, load {info['load_avg_1min']}; pyfastopt {info['pyfastopt']} (isa {b['isa']}, "
          f"openmp {'on' if b['openmp'] else 'off'}), bitsandbytes {bnb.__version__}, torch "
          f"{torch.__version__}, {datetime.date.today()}; medians of {args.repeat} interleaved "
          f"steps after one warm-up step each")  # fmt: skip
    failed = False
    for name in names:
        problems, line = agreement(name, args.check_size)
        print(f"# {line}")
        for msg in problems:
            print(f"# DISAGREES: {msg}")
        failed |= bool(problems)
    if failed:
        sys.exit("the implementations disagree: not timed")
    print()
    print("| optimizer | threads | pyfastopt 8-bit | bitsandbytes 8-bit | x faster | "
          "pyfastopt fp32 | 8-bit / fp32 time |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in names:
        for threads in (int(t) for t in args.threads.split(",")):
            med = medians(name, n, threads, args.repeat)
            ours, fp32 = med["pyfastopt 8-bit"], med["pyfastopt fp32"]
            theirs = med[f"bitsandbytes {BNB_8BIT[name]}"]
            print(f"| {name} | {threads} | {ours * 1e3:.2f} ms | {theirs * 1e3:.1f} ms | "
                  f"{theirs / ours:.1f} | {fp32 * 1e3:.2f} ms | {ours / fp32:.2f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
