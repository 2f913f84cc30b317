"""The arrays of one benchmark and every implementation of one step on them.

A :class:`Workload` holds one optimizer's parameters and gradients at one size class (one
array, or a model of many arrays) and builds, over the same arrays, the zero-argument calls
that are timed: the :mod:`pyfastopt.optim` class (``opt.step(grads)``), the functional call,
the NumPy formulations and the ``torch.optim`` modes (tensors from ``torch.from_numpy``, so
every implementation updates the same memory). :func:`check_implementations` runs each one a
few steps on a small array before anything is timed and compares it with pyfastopt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .. import _core, optim
from ..optim._common import staggered_bytes
from .baselines import FORMULATIONS, NUMPY_BLOCK, numpy_stepper
from .optimizers import OPTIMIZERS, TIMED_STEP, Spec

#: Implementations, in table order. "pyfastopt" is the optimizer class (what users call).
IMPLS = ("pyfastopt", "functional", "one-array", "numpy", "numpy-blocked",
         "torch-forloop", "torch-foreach", "torch-fused")  # fmt: skip
#: The peers each pyfastopt result is compared with ("numpy": the faster of the two).
PEERS = ("numpy", "torch-forloop", "torch-foreach", "torch-fused")


# --------------------------------------------------------------------------------------
# Size classes and the caches


@dataclass(frozen=True)
class Size:
    """``count`` arrays of ``numel`` elements: one array, or a model of many small ones."""

    count: int
    numel: int

    @property
    def total(self) -> int:
        return self.count * self.numel

    @property
    def label(self) -> str:
        if self.count > 1:
            return f"{self.count}x{self.numel}"
        k = self.numel.bit_length() - 1
        return f"2^{k}" if self.numel == 1 << k else f"{self.numel}"


def parse_size(text: str) -> Size:
    """'2^20', '1<<20', '1048576', '1M' (Mi elements), '64k', or 'COUNTxN' (a model of COUNT
    arrays of N elements, N in any of the forms before)."""
    s = text.strip().lower().replace("_", "").replace(" ", "")
    count, n = 1, 0
    try:
        if "x" in s:
            head, s = s.split("x", 1)
            count = int(head)
        if "^" in s:
            base, exp = s.split("^")
            n = int(base) ** int(exp)
        elif "<<" in s:
            base, shift = s.split("<<")
            n = int(base) << int(shift)
        elif re.fullmatch(r"\d+[kmg]", s):
            n = int(s[:-1]) << {"k": 10, "m": 20, "g": 30}[s[-1]]
        else:
            n = int(s)
    except ValueError:
        msg = f"invalid size {text!r}: expected 2^k, 1<<k, an integer, 64k/1M, or COUNTxN"
        raise ValueError(msg) from None
    if n < 1 or count < 1:
        msg = f"invalid size {text!r}: must be >= 1"
        raise ValueError(msg)
    return Size(count, n)


def cache_sizes() -> dict[str, int]:
    """Data-cache bytes per level as one core sees them (sysfs; defaults if unreadable):
    L1 and L2 are per core, L3 shared."""
    sizes = {"L1": 32 << 10, "L2": 512 << 10, "L3": 32 << 20}
    try:
        for d in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
            if (d / "type").read_text().strip() == "Instruction":
                continue
            level, size = int((d / "level").read_text()), (d / "size").read_text().strip()
            mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
            sizes[f"L{level}"] = int(size.rstrip("KMG")) * mult
    except (OSError, ValueError):
        pass
    return sizes


def cache_level(working_set: int, caches: dict[str, int]) -> str:
    """The smallest cache that holds ``working_set`` bytes, else "DRAM"."""
    for name in ("L1", "L2", "L3"):
        if name in caches and working_set <= caches[name]:
            return name
    return "DRAM"


# --------------------------------------------------------------------------------------
# Arrays


def test_arrays(count: int, n: int, dtype, *,
                seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:  # fmt: skip
    """Parameters in [0.5, 1.5) and gradients of both signs with |g| in [0.5, 1.5): no
    denormal, zero or NaN however many steps run. Cut or tiled from 128 Ki random values (fast
    to make at any size); each array is its own allocation, touched now. All parameters are
    allocated before all gradients, as in a training program (the model is built, then
    backward makes the gradients): allocating them in pairs would interleave each
    parameter with its gradient in memory, a layout no framework produces."""
    rng = np.random.default_rng(seed)
    k = 1 << 16
    base_p = (rng.random(2 * k) + 0.5).astype(dtype)
    base_g = ((rng.random(2 * k) + 0.5) * rng.choice([-1.0, 1.0], 2 * k)).astype(dtype)

    def arrays(base: np.ndarray) -> list[np.ndarray]:
        if n <= k:
            return [base[(i * 7919) % k :][:n].copy() for i in range(count)]
        return [np.resize(base[i % k :], n) for i in range(count)]

    params = arrays(base_p)
    return params, arrays(base_g)


# --------------------------------------------------------------------------------------
# Implementations


def torch_stepper(torch: ModuleType, spec: Spec, mode: str, params, grads) -> Callable[[], Any]:
    """``torch.optim.<spec.torch>(...).step`` over tensors sharing the arrays' memory.
    mode: "forloop" (foreach=False, torch's CPU default), "foreach" or "fused"."""
    tensors = []
    for p, g in zip(params, grads):
        t = torch.from_numpy(p)
        t.grad = torch.from_numpy(g)
        tensors.append(t)
    kwargs = dict(spec.kwargs)
    if mode == "fused":
        kwargs["fused"] = True
    else:
        kwargs["foreach"] = mode == "foreach"
    assert spec.torch is not None  # (spec.torch_modes is empty otherwise)
    return getattr(torch.optim, spec.torch)(tensors, **kwargs).step


def functional_stepper(spec: Spec, params, grads, states, *, step: int | None) -> Callable[[], Any]:
    """One :mod:`pyfastopt.functional` call over every array (lists when several)."""
    memo: dict[str, Any] = {}
    counter = [0]
    if len(params) == 1:
        p, g, s = params[0], grads[0], states[0]
    else:
        p, g, s = list(params), list(grads), [list(col) for col in zip(*states)]

    def call() -> None:
        counter[0] += 1
        spec.functional(p, g, s, step or counter[0], memo)

    return call


def _initial_state(spec: Spec, p: np.ndarray) -> list[np.ndarray]:
    """The state buffers before the first step, filled as the optimizer class fills them."""
    opt = getattr(optim, spec.cls)([np.zeros(1, p.dtype)], **spec.kwargs)
    group = opt.param_groups[0]
    return [np.full_like(p, opt._state_fill(name, group)) for name in spec.states]


class Workload:
    """One optimizer at one size class: the arrays and a call per implementation.

    The class makes one step on construction (creating its state); the functional and NumPy
    calls then work on the class's own state buffers, at the fixed step
    :data:`~.optimizers.TIMED_STEP`. torch keeps its own state. Only arrays larger than
    ``block`` get a numpy-blocked call; torch modes only where torch has the optimizer.
    """

    def __init__(self, spec: Spec, size: Size, dtype, *, torch: ModuleType | None = None,
                 block: int = NUMPY_BLOCK, seed: int = 1) -> None:  # fmt: skip
        self.spec, self.size, self.dtype = spec, size, np.dtype(dtype)
        self.params, self.grads = test_arrays(size.count, size.numel, self.dtype, seed=seed)
        self.opt = getattr(optim, spec.cls)(self.params, **spec.kwargs)
        self.opt.step(self.grads)  # creates the state
        self.states = [[self.opt.state[i][n] for n in spec.states] for i in range(size.count)]
        self.calls: dict[str, Callable[[], Any]] = {}
        self.notes: dict[str, str] = {}
        opt, grads = self.opt, self.grads
        self.calls["pyfastopt"] = lambda: opt.step(grads)
        self.notes["pyfastopt"] = f"optim.{spec.cls}.step"
        self.calls["functional"] = functional_stepper(
            spec, self.params, self.grads, self.states, step=TIMED_STEP
        )
        if size.count > 1:  # the model's elements as one array, timed beside it
            (p1,), (g1,) = test_arrays(1, size.total, self.dtype, seed=seed)
            one = getattr(optim, spec.cls)([p1], **spec.kwargs)
            one.step([g1])
            self.calls["one-array"] = lambda: one.step([g1])
            self.notes["one-array"] = f"optim.{spec.cls}.step on one array of {size.total}"
        form = FORMULATIONS.get(spec.name)  # optimizers added after the survey's have none
        if form is not None:
            args = (spec.name, spec.kwargs, self.params, self.grads, self.states)
            self.calls["numpy"] = numpy_stepper(*args, step=TIMED_STEP)
            per = "per array, " if size.count > 1 else ""
            self.notes["numpy"] = f"{per}{form.passes} passes"
            if size.numel > block:
                self.calls["numpy-blocked"] = numpy_stepper(*args, step=TIMED_STEP, block=block)
                self.notes["numpy-blocked"] = f"{form.passes} passes, blocks of {block}"
        if torch is not None:
            for mode in spec.torch_modes:
                self.calls[f"torch-{mode}"] = torch_stepper(
                    torch, spec, mode, self.params, self.grads
                )
                self.notes[f"torch-{mode}"] = f"torch.optim.{spec.torch}"

    def moved_against_gradient(self, p0: Sequence[np.ndarray], threshold: float = 0.1) -> bool:
        """Every parameter finite, and moved against the sign of its (constant) gradient
        where |g| > threshold: what every optimizer here does from any state."""
        for p, p_start, g in zip(self.params, p0, self.grads):
            mask = np.abs(g) > threshold
            if not np.isfinite(p).all():
                return False
            if not (np.sign(p_start - p)[mask] == np.sign(g[mask])).all():
                return False
        return True


def staggered(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Copies of ``arrays`` placed as pyfastopt.optim places its state arenas
    (:func:`~pyfastopt.optim._common.staggered_bytes`, one slot each): large ones start
    SPREAD bytes apart modulo 64 KiB.

    NumPy's large arrays land at one offset in their pages, a page or a few apart; streams
    placed so wait on each other (4K aliasing) and on the same DRAM banks
    (``bench/bench_placement.py``: float32 Adam at 2^26 up to 2.2x slower). The roofline's
    arrays are placed this way, so that it is the machine's ceiling; the optimizer rows'
    arrays are left as NumPy allocates them, as users' arrays are.
    """
    return [placed_copy(a, slot) for slot, a in enumerate(arrays)]


def placed_copy(x: np.ndarray, slot: int, dtype: Any = None, value: Any = None) -> np.ndarray:
    """``x`` (or ``value`` broadcast to x's shape) as ``dtype`` (default x's) in fresh
    memory from :func:`~pyfastopt.optim._common.staggered_bytes` (anchor 0, ``slot``)."""
    dtype = np.dtype(x.dtype if dtype is None else dtype)
    y = staggered_bytes(x.size * dtype.itemsize, 0, slot).view(dtype).reshape(x.shape)
    y[...] = x if value is None else value
    return y


class Roofline:
    """The bandwidth kernels at one size class, on arrays of their own.

    * ``triad``: the STREAM triad a = b + s c over the same number of elements (one array);
    * ``adam_pattern``: the Adam memory pattern (read 4 arrays, write 3; zero coefficients,
      so values never change) over arrays shaped as the optimizers' (one, or the model's
      many), called as the optimizer classes call their rule: through a native plan whose
      arrays were checked once (the one-shot call if this build has no plan);
    * ``adam_pattern_aliased``: the same on one array each at NumPy's common page offset.

    Single arrays are :func:`staggered` (a model's small arrays are placed by malloc).
    """

    def __init__(self, size: Size, dtype) -> None:
        dtype = np.dtype(dtype)
        (a,), (b,) = test_arrays(1, size.total, dtype, seed=2)
        self.triad_arrays = staggered([a, b, a])
        p, g = test_arrays(size.count, size.numel, dtype, seed=3)
        m, v = [x.copy() for x in p], [x.copy() for x in g]
        self.adam_pattern = self._pattern(*self._stagger(p, g, m, v))
        self.adam_pattern_aliased = None
        if size.count == 1:
            self.adam_pattern_aliased = self._pattern(p, g, m, v)

    @staticmethod
    def _stagger(*arrays: list[np.ndarray]) -> list[list[np.ndarray]]:
        if len(arrays[0]) > 1:
            return list(arrays)
        return [[x] for x in staggered([a[0] for a in arrays])]

    @staticmethod
    def _pattern(p, g, m, v) -> Callable[[], Any]:
        states, coeffs = [m, v], (0.0, 0.0, 0.0)
        try:
            plan = _core._adam_pattern_plan(p, states)
            plan.step(g, coeffs)
        except (AttributeError, TypeError, ValueError):
            return lambda: _core._adam_pattern(p, g, states, coeffs)
        return lambda: plan.step(g, coeffs)

    def triad(self) -> None:
        a, b, c = self.triad_arrays
        _core._triad(a, b, c, 3.0)


# --------------------------------------------------------------------------------------
# Checks before timing


def check_roofline(dtype, n: int = 4099) -> None:
    """The roofline kernels compute what they claim."""
    dtype = np.dtype(dtype)
    (a, b), _ = test_arrays(2, n, dtype, seed=4)
    c = b[::-1].copy()
    _core._triad(a, b, c, 3.0)
    assert np.array_equal(a, b + dtype.type(3.0) * c), "triad"
    (p, g, m, v), _ = test_arrays(4, n, dtype, seed=5)
    p0, m0, v0 = p.copy(), m.copy(), v.copy()
    _core._adam_pattern([p], [g], [[m], [v]], (1.0, 2.0, 3.0))
    for x, x0, k in ((p, p0, 1.0), (m, m0, 2.0), (v, v0, 3.0)):
        assert np.array_equal(x, x0 + dtype.type(k) * g), "adam pattern"


def check_implementations(spec: Spec, dtype, torch: ModuleType | None = None, *,
                          n: int = 1003, steps: int = 8) -> list[str]:  # fmt: skip
    """Runs every implementation of ``spec`` for ``steps`` steps (new gradients each step)
    from the same start and compares each parameter update with pyfastopt's class. Returns
    the disagreements (empty: all agree within float rounding)."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(7)
    p_init = (rng.random(n) + 0.5).astype(dtype)
    grads = [(rng.standard_normal(n) * rng.choice([0.1, 1.0, 3.0])).astype(dtype)
             for _ in range(steps)]  # fmt: skip
    grads[3] = -grads[2]  # sign flips, for Rprop

    Maker = Callable[[np.ndarray, np.ndarray, list[np.ndarray]], Callable[[], Any]]

    def run(make: Maker):
        p, g = p_init.copy(), np.empty_like(p_init)
        call = make(p, g, _initial_state(spec, p))
        for k in range(steps):
            g[...] = grads[k]
            call()
        return p - p_init

    def cls(p, g, _s):
        opt = getattr(optim, spec.cls)([p], **spec.kwargs)
        return lambda: opt.step([g])

    makers: dict[str, Maker] = {
        "functional": lambda p, g, s: functional_stepper(spec, [p], [g], [s], step=None),
    }
    if spec.name in FORMULATIONS:
        makers["numpy"] = lambda p, g, s: numpy_stepper(spec.name, spec.kwargs, [p], [g], [s])
        makers["numpy-blocked"] = lambda p, g, s: numpy_stepper(
            spec.name, spec.kwargs, [p], [g], [s], block=256
        )

    def torch_maker(torch: ModuleType, mode: str) -> Maker:
        return lambda p, g, s: torch_stepper(torch, spec, mode, [p], [g])

    if torch is not None:
        for mode in spec.torch_modes:
            makers[f"torch-{mode}"] = torch_maker(torch, mode)
    ref = run(cls)
    rtol = 1e-3 if dtype == np.float32 else 1e-7  # torch keeps NAdam's mu product in float32
    atol = rtol * float(np.abs(ref).max())
    problems = []
    for name, make in makers.items():
        try:
            delta = run(make)
        except Exception as exc:  # noqa: BLE001  (reported, then not timed)
            problems.append(f"{spec.name} {name}: {type(exc).__name__}: {exc}")
            continue
        if not np.allclose(delta, ref, rtol=rtol, atol=atol):
            err = np.abs(delta - ref).max() / max(float(np.abs(ref).max()), math.ulp(1.0))
            problems.append(f"{spec.name} {name}: update differs from pyfastopt by {err:.2e} "
                            f"(relative to the largest update)")  # fmt: skip
    return problems


def check_all(specs: Sequence[Spec] = OPTIMIZERS, dtype=np.float32, torch=None) -> list[str]:
    check_roofline(dtype)
    return [msg for spec in specs for msg in check_implementations(spec, dtype, torch)]
