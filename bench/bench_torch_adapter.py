"""pyfastopt.torch against torch.optim's fused and foreach CPU paths: ``opt.step()`` on a
2^22-parameter model (four bias-free Linear(1024, 1024) layers, float32), gradients set once.

Groups are named ``torch-adapter-<optimizer>-4M-t<threads>``; each benchmark asserts
afterwards that the parameters stayed finite and moved. For one interleaved run with a table
(the table of docs/in_depth/torch.md), use ``python bench/torch_adapter_vs_torch.py``.
"""

from __future__ import annotations

import pytest

import pyfastopt

torch = pytest.importorskip("torch")
pt = pytest.importorskip("pyfastopt.torch")

OPTIMIZERS = {"Adam": {}, "AdamW": {}, "SGD": {"lr": 0.01, "momentum": 0.9, "nesterov": True},
              "Adagrad": {}}  # fmt: skip
IMPLS = ("pyfastopt", "torch-fused", "torch-foreach")
THREADS = (1, 2)
LAYERS, WIDTH = 4, 1024  # 2^22 parameters


def _cases():
    for name in OPTIMIZERS:
        for threads in THREADS:
            group = f"torch-adapter-{name}-4M-t{threads}"
            for impl in IMPLS:
                yield pytest.param(name, threads, impl, id=f"{group}-{impl}",
                                   marks=pytest.mark.benchmark(group=group))  # fmt: skip


@pytest.fixture
def threads(request):
    """Sets pyfastopt's and torch's thread counts for one benchmark."""
    n = request.param
    before = pyfastopt.get_num_threads(), torch.get_num_threads()
    pyfastopt.set_num_threads(n)
    torch.set_num_threads(n)
    yield n
    pyfastopt.set_num_threads(before[0])
    torch.set_num_threads(before[1])


def _optimizer(name, impl, params):
    kwargs = OPTIMIZERS[name]
    if impl == "pyfastopt":
        return getattr(pt, name)(params, **kwargs)
    flag = {"torch-fused": {"fused": True}, "torch-foreach": {"foreach": True}}[impl]
    return getattr(torch.optim, name)(params, **kwargs, **flag)


@pytest.mark.parametrize(("name", "threads", "impl"), list(_cases()), indirect=["threads"])
def test_torch_adapter_step(benchmark, name, threads, impl):
    torch.manual_seed(0)
    params = [torch.randn(WIDTH, WIDTH, requires_grad=True) for _ in range(LAYERS)]
    for p in params:
        p.grad = torch.randn_like(p)
    start = [p.detach().clone() for p in params]
    opt = _optimizer(name, impl, params)
    opt.step()  # warm-up: the state is created
    benchmark.extra_info.update(impl=impl, threads=threads, elements=LAYERS * WIDTH * WIDTH)
    benchmark(opt.step)
    for p, p0 in zip(params, start):
        assert torch.isfinite(p).all()
        assert not torch.equal(p, p0)
