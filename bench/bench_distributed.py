"""Distributed SGD on this machine: every mode of pyfastopt.distributed with 2 workers and 2
shards, on the threads and Ray backends, against single-process SGD: the full-data loss
against wall time and against examples processed (``--plot``), throughput, and the measured
costs that docs/in_depth/distributed.md's "Scaling beyond this machine" extrapolates from.

Problems: softmax regression (650 parameters) and an MLP 64-32-10 with tanh (2410) on
scikit-learn's bundled digits (1797 8x8 images, 10 classes, standardised); the whole set is
both the training and the evaluation set (the figure is about optimisation). Minibatches of
32; every run sees ``--steps`` x 32 examples per worker; single-process SGD (rate 0.1, in a
plain loop) sees as many examples as the two workers together.

Throughput: worker steps per second (each a gradient computed and used, summed over the
workers) and server updates per second (pushes applied, summed over the shards), over the
run's wall time (actors already started). Costs: a shard's push (Adagrad on its slice, in
process) against the slice's size; one Ray call's round trip between actors.

Ray runs in a network namespace that has loopback only (``isolate_network``, needs root),
on a local cluster of 2 CPUs. Usage::

    python bench/bench_distributed.py [--steps 600] [--backends threads,ray]
        [--plot docs/distributed.png]
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np

from pyfastopt import distributed as D
from pyfastopt import optim
from pyfastopt._bench.report import machine_info

HIDDEN = 32


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    return x, np.eye(10)[y]


def softmax_grad(w: np.ndarray, batch: tuple) -> tuple[float, np.ndarray]:
    """Softmax regression: w holds a 65 x 10 matrix (the last row the biases)."""
    x, t = batch
    a = w.reshape(65, 10)
    z = x @ a[:-1] + a[-1]
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(t * np.log(p + 1e-12), axis=1))
    d = (p - t) / len(t)
    g = np.concatenate([(x.T @ d).ravel(), d.sum(axis=0)])
    return float(loss), g.astype(w.dtype)


def mlp_grad(w: np.ndarray, batch: tuple) -> tuple[float, np.ndarray]:
    """MLP 64-32-10, tanh hidden layer, softmax output; w flat (W1, b1, W2, b2)."""
    x, t = batch
    n1 = 64 * HIDDEN
    w1, b1 = w[:n1].reshape(64, HIDDEN), w[n1 : n1 + HIDDEN]
    n2 = n1 + HIDDEN
    w2, b2 = w[n2 : n2 + HIDDEN * 10].reshape(HIDDEN, 10), w[n2 + HIDDEN * 10 :]
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(t * np.log(p + 1e-12), axis=1))
    dz = (p - t) / len(t)
    dh = (dz @ w2.T) * (1 - h * h)
    g = np.concatenate([(x.T @ dh).ravel(), dh.sum(0), (h.T @ dz).ravel(), dz.sum(0)])
    return float(loss), g.astype(w.dtype)


def mlp_init(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((64, HIDDEN)) / 8.0
    w2 = rng.standard_normal((HIDDEN, 10)) / np.sqrt(HIDDEN)
    return np.concatenate([w1.ravel(), np.zeros(HIDDEN), w2.ravel(), np.zeros(10)])


PROBLEMS = {
    "softmax": (softmax_grad, lambda: np.zeros(650)),
    "mlp": (mlp_grad, mlp_init),
}

MODES = {
    "sync": D.Sync(optimizer=partial(optim.SGD, lr=0.2)),
    "downpour": D.Downpour(optimizer=partial(optim.Adagrad, lr=0.05)),
    "easgd": D.EASGD(lr=0.1, rho=4.0, tau=2),
    "easgd-sync": D.EASGD(lr=0.1, rho=4.0, tau=2, synchronous=True),
    "eamsgd": D.EAMSGD(lr=0.02, rho=10.0, tau=2, momentum=0.9),
    "dt-adagrad": D.DelayTolerantAdagrad(lr=0.05),
}


def full_loss(grad_fn, data, w):
    return grad_fn(w, data)[0]


def single_process(grad_fn, w0, data, steps, batch):
    """Plain SGD (rate 0.1) on one core: (seconds, examples, params) every 20 steps."""
    w = w0.copy()
    opt = optim.SGD([w], lr=0.1)
    rng = np.random.default_rng(0)
    trace, start = [(0.0, 0, w.copy())], time.time()
    for t in range(1, steps + 1):
        rows = rng.integers(0, len(data[0]), batch)
        opt.step([grad_fn(w, (data[0][rows], data[1][rows]))[1]])
        if t % 10 == 0 or t == steps:
            trace.append((time.time() - start, t * batch, w.copy()))
    return trace


def examples_at(history, seconds):
    """Examples the workers had processed at each time (from their step logs)."""
    total = np.zeros(len(seconds))
    for log in history:
        if log:
            times = np.array([h[0] for h in log])
            seen = np.array([h[1] for h in log])
            total += np.interp(seconds, times, seen, left=0)
    return total


def push_cost(size: int, repeat: int = 7) -> float:
    """Seconds for one Adagrad push to an in-process shard of ``size`` float32 elements
    (median of ``repeat`` rounds of 20 pushes)."""
    shard = D.Shard(0, np.zeros(size, np.float32), D.Downpour())
    g = np.ones(size, np.float32)
    seq = 0
    rounds = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        for _ in range(20):
            shard.push(0, seq, g)
            seq += 1
        rounds.append((time.perf_counter() - start) / 20)
    return float(np.median(rounds[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--backends", default="threads,ray")
    parser.add_argument("--plot", default=None)
    args = parser.parse_args()
    backends = args.backends.split(",")
    data = digits()
    batch = 32
    info = machine_info()
    print(f"# pyfastopt.distributed on digits ({len(data[0])} rows), 2 workers, 2 shards, "
          f"{args.steps} steps of {batch} per worker; {info['cpu']}, {info['usable_cpus']} "
          f"CPUs, load {info['load_avg_1min']}, isa {info['build']['isa']}, "
          f"pyfastopt {info['pyfastopt']}")  # fmt: skip
    if "ray" in backends:
        import ray

        D.isolate_network()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1")  # fmt: skip
    curves: dict = {}
    print("\n| problem | mode | backend | final loss | seconds | worker steps/s | "
          "server updates/s |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for problem, (grad_fn, init) in PROBLEMS.items():
        w0 = init()
        full = partial(full_loss, grad_fn, data)
        trace = single_process(grad_fn, w0, data, 2 * args.steps, batch)
        seconds = trace[-1][0]
        curves[(problem, "single-process SGD", "")] = [
            (t, n, full(w)) for t, n, w in trace
        ]
        print(f"| {problem} | single-process SGD | - | {full(trace[-1][2]):.4f} | {seconds:.2f} "
              f"| {2 * args.steps / seconds:.0f} | {2 * args.steps / seconds:.0f} |")
        for backend in backends:
            for name, mode in MODES.items():
                every = 0.005 if backend == "threads" else 0.05  # about 50 reads a run
                r = D.train(w0, grad_fn, data, mode, steps=args.steps, workers=2, shards=2,
                            batch_size=batch, backend=backend, trace_every=every)  # fmt: skip
                times = np.array([t for t, _ in r.trace])
                seen = examples_at(r.history, times)
                curves[(problem, name, backend)] = [
                    (t, n, full(w)) for (t, w), n in zip(r.trace, seen)
                ]
                steps = sum(len(h) for h in r.history)
                pushes = sum(s["pushes"] for s in r.shards)
                print(f"| {problem} | {name} | {backend} | {full(r.params):.4f} | "
                      f"{r.seconds:.2f} | {steps / r.seconds:.0f} | {pushes / r.seconds:.0f} |")
    print("\nCosts for the scaling estimate (float32, Adagrad shard, in process):")
    for size in (10_000, 100_000, 1_000_000, 10_000_000):
        print(f"  push to a shard of {size:>10,} elements: {push_cost(size) * 1e3:8.3f} ms "
              f"({4 * size / 1e6:.2f} MB message)")  # fmt: skip
    if "ray" in backends:
        import ray

        @ray.remote(num_cpus=0)
        class Echo:
            def call(self, x):
                return x

        echo = Echo.remote()
        for size in (1_000, 1_000_000):
            x = np.zeros(size, np.float32)
            ray.get(echo.call.remote(x))
            start = time.perf_counter()
            for _ in range(100):
                ray.get(echo.call.remote(x))
            rt = (time.perf_counter() - start) / 100
            print(f"  Ray call round trip with {4 * size / 1e6:.3f} MB each way: {rt * 1e3:.3f} ms")
    if args.plot:
        plot(curves, args.plot)
        print(f"\nplot: {args.plot}")


def plot(curves: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({k[0] for k in curves}, reverse=True)
    fig, axes = plt.subplots(len(problems), 2, figsize=(11, 4.2 * len(problems)), squeeze=False)
    for row, problem in enumerate(problems):
        for (p, mode, backend), points in curves.items():
            if p != problem:
                continue
            t, n, loss = (np.array(c) for c in zip(*points))
            label = mode if not backend else f"{mode} ({backend})"
            style = {"color": "black", "lw": 2.5} if not backend else {
                "ls": "-" if backend == "threads" else "--", "lw": 1.2}  # fmt: skip
            axes[row, 0].plot(t[1:], loss[1:], label=label, **style)  # (log axis: not t = 0)
            axes[row, 1].plot(n, loss, label=label, **style)
        axes[row, 0].set_xscale("log")
        for col, xlabel in enumerate(("wall time (s)", "examples processed (all workers)")):
            ax = axes[row, col]
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{problem}: full-data loss")
            ax.grid(alpha=0.3)
        axes[row, 1].legend(fontsize=7, ncol=2)
    fig.suptitle("pyfastopt.distributed on digits: 2 workers, 2 shards, against single-process "
                 f"SGD ({os.cpu_count()}-core machine)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
