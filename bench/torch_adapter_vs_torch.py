"""pyfastopt.torch against torch.optim's own CPU paths, on a 2^22-parameter model.

Times ``opt.step()`` alone, with the gradients already set (they stay the same for every
step), for ``pyfastopt.torch.<Name>`` and ``torch.optim.<Name>`` with ``fused=True`` (where
torch has a fused CPU kernel), ``foreach=True`` and ``foreach=False`` (torch's CPU default).
Each implementation owns an identical copy of the model: four bias-free
``Linear(1024, 1024)`` layers, 2^22 float32 parameters. The implementations are timed
round-robin, one step each per round, after a warm-up; the table shows medians, per thread
count (``torch.set_num_threads`` and ``pyfastopt.set_num_threads`` both set). Before timing,
every implementation's first step is checked against torch's for-loop.

Usage: ``python bench/torch_adapter_vs_torch.py [--optimizers Adam,AdamW,SGD,Adagrad]
[--threads 1,2] [--steps 30] [--warmup 5] [--layers 4] [--width 1024]``
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch

import pyfastopt
import pyfastopt.torch as pt

#: constructor arguments per optimizer (SGD: Nesterov momentum, as in the tests)
KWARGS = {"SGD": {"lr": 0.01, "momentum": 0.9, "nesterov": True}}


def model(layers: int, width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(*(torch.nn.Linear(width, width, bias=False) for _ in range(layers)))
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    return net


def replica(net: torch.nn.Module) -> list[torch.Tensor]:
    """A copy of ``net``'s parameters with copies of their gradients (deepcopy drops them)."""
    params = [p.detach().clone().requires_grad_() for p in net.parameters()]
    for p, q in zip(params, net.parameters()):
        p.grad = q.grad.clone()
    return params


def implementations(name: str, net: torch.nn.Module) -> dict[str, torch.optim.Optimizer]:
    """pyfastopt and every torch CPU mode that accepts this optimizer, each on its own copy
    of ``net`` (gradients included)."""
    kwargs = KWARGS.get(name, {})
    impls = {"pyfastopt": getattr(pt, name)(replica(net), **kwargs)}
    for mode in ("fused", "foreach", "for-loop"):
        flags = {"fused": {"fused": True}, "foreach": {"foreach": True},
                 "for-loop": {"foreach": False}}[mode]  # fmt: skip
        try:
            opt = getattr(torch.optim, name)(replica(net), **kwargs, **flags)
            opt.step()  # torch checks fused support at the first step; undone by the reset
        except (RuntimeError, TypeError, ValueError):
            continue
        impls[f"torch {mode}"] = opt
    return impls


def params_of(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def run(name: str, threads: int, args) -> dict[str, float]:
    """Median seconds per step of each implementation at this thread count."""
    torch.set_num_threads(threads)
    pyfastopt.set_num_threads(threads)
    net = model(args.layers, args.width)
    impls = implementations(name, net)
    # same start for all (the probe step above moved torch's copies): reset params, grads
    # (torch's foreach Nesterov SGD adds the momentum into p.grad) and state
    for opt in impls.values():
        with torch.no_grad():
            for p, q in zip(params_of(opt), net.parameters()):
                p.copy_(q)
                p.grad.copy_(q.grad)
        opt.state.clear()
    for opt in impls.values():  # one step from the same start: all must agree
        opt.step()
    moved = params_of(impls["pyfastopt"])[0].detach() - next(net.parameters()).detach()
    assert moved.abs().max() > 0, "pyfastopt did not move the parameters"
    ref = params_of(impls["torch for-loop"])
    for impl, opt in impls.items():
        for p, q in zip(params_of(opt), ref):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6,
                                       msg=lambda m, i=impl: f"{i}: {m}")  # fmt: skip
    # (from here on torch's foreach Nesterov SGD drifts from the others through its p.grad)
    for _ in range(args.warmup):
        for opt in impls.values():
            opt.step()
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(args.steps):
        for impl, opt in impls.items():
            t0 = time.perf_counter()
            opt.step()
            times[impl].append(time.perf_counter() - t0)
    return {impl: statistics.median(ts) for impl, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", default="Adam")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=1024)
    args = parser.parse_args()
    numel = args.layers * args.width**2
    print(f"# pyfastopt.torch vs torch.optim: opt.step() on {args.layers} x Linear({args.width}, "
          f"{args.width}) = {numel} float32 parameters ({numel / 2**20:g} Mi)")  # fmt: skip
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
          f"threads available; torch {torch.__version__}, pyfastopt {pyfastopt.__version__}, "
          f"{datetime.date.today()}; medians of {args.steps} interleaved steps after "
          f"{args.warmup} warm-up steps")  # fmt: skip
    print()
    print("| optimizer | threads | pyfastopt | torch fused | torch foreach | torch for-loop "
          "| x fastest torch |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in args.optimizers.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            med = run(name, threads, args)
            torch_best = min(v for k, v in med.items() if k.startswith("torch"))
            impls = ("pyfastopt", "torch fused", "torch foreach", "torch for-loop")
            cells = [f"{med[k] * 1e3:.2f} ms" if k in med else "-" for k in impls]
            print(f"| {name} | {threads} | " + " | ".join(cells) +
                  f" | {torch_best / med['pyfastopt']:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
