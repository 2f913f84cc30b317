"""Storage configurations for ``pyfastopt bench --storage``: reduced-precision steps.

A configuration names how a step's arrays are stored (:mod:`pyfastopt.precision`): the
parameter's dtype, then optional parts joined by ``+``::

    PARAM[+master][+STATES-states][+GRADS-grads]     e.g. fp32+8bit-states, bf16+master

PARAM, STATES and GRADS are ``fp64``, ``fp32``, ``bf16``, ``fp16`` (states also ``8bit``:
blockwise, one float32 absmax per 256 elements); states and gradients default to the
parameter's dtype; ``master`` keeps float32 master weights beside 16-bit parameters. Each
configuration is timed as the optimizer classes call their rule: one native call
(``_core.<rule>``) over every array, the per-step coefficients computed each call.

Peers, where installed, beside the configuration that stores what they store:
``torch-fused`` (``torch.optim.<Name>(fused=True)``, whose states take the parameter's
dtype) beside the configurations of one dtype throughout; ``bnb-8bit`` (bitsandbytes'
``<Name>8bit`` on CPU tensors, blockwise 8-bit states) beside ``PARAM+8bit-states``. Both run
on views of the configuration's own parameter and gradient arrays.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .. import _core, optim
from ..precision import QUANT_BLOCK, bfloat16, quantize_8bit
from .optimizers import TIMED_STEP, TORCH_FUSED, Spec
from .workload import Size, placed_copy, test_arrays

#: Storage names and their bytes per element ("8bit": codes only; absmax counted apart).
ITEMSIZE = {"fp64": 8, "fp32": 4, "bf16": 2, "fp16": 2, "8bit": 1}
#: Mantissa bits (for the agreement check's rounding tolerance).
MANTISSA = {"fp64": 52, "fp32": 23, "bf16": 7, "fp16": 10}
#: What each parameter storage accepts (the table of :mod:`pyfastopt.precision`).
GRADS_FOR = {"fp64": ("fp64",), "fp32": ("fp32", "bf16", "fp16"), "bf16": ("bf16",),
             "fp16": ("fp16",)}  # fmt: skip
STATES_FOR = {"fp64": ("fp64",), "fp32": ("fp32", "bf16", "fp16", "8bit"),
              "bf16": ("fp32", "bf16", "fp16", "8bit"),
              "fp16": ("fp32", "bf16", "fp16", "8bit")}  # fmt: skip
#: ``--storage standard``: the configurations of docs/in_depth/precision.md's table.
STANDARD = ("fp32", "fp32+bf16-states", "fp32+8bit-states", "bf16", "bf16+master", "fp16")
#: The configuration every other is compared with, timed in every group.
BASELINE = "fp32"
#: bitsandbytes' 8-bit class of each optimizer it has (Nesterov, AdaDelta, ... it has not).
BNB_8BIT = {"sgd": "SGD8bit", "adagrad": "Adagrad8bit", "rmsprop": "RMSprop8bit",
            "adam": "Adam8bit", "adamw": "AdamW8bit", "lion": "Lion8bit"}  # fmt: skip


@dataclass(frozen=True)
class Storage:
    """How one step's arrays are stored."""

    param: str
    grad: str
    state: str
    master: bool = False

    @property
    def label(self) -> str:
        """The shortest name: parts equal to their default are left out."""
        parts = [self.param] + ["master"] * self.master
        if self.state != self.param:
            parts.append(f"{self.state}-states")
        if self.grad != self.param:
            parts.append(f"{self.grad}-grads")
        return "+".join(parts)

    def bytes_per_element(self, n_states: int) -> float:
        """Bytes a step with ``n_states`` state buffers moves per element, each array read
        and written once (STREAM's count): p read and written (with a master: the master
        read and written, p written), g read, each state read and written (8-bit: the codes,
        and the absmax of its block, 4 bytes per 256 elements)."""
        size = ITEMSIZE
        param = 2 * size["fp32"] + size[self.param] if self.master else 2 * size[self.param]
        state: float = 2 * size[self.state]
        if self.state == "8bit":
            state += 2 * 4 / QUANT_BLOCK
        return param + size[self.grad] + n_states * state

    def unsupported(self, spec: Spec) -> str | None:
        """Why ``spec`` cannot run in this storage, or None."""
        kept = getattr(optim, spec.cls)._param_like_states
        if kept and ITEMSIZE[self.state] < ITEMSIZE["fp32" if self.master else self.param]:
            return f"{spec.name} keeps {', '.join(kept)} in the precision of the updates"
        if self.state == "8bit" and kernel_rule(spec).kernel.__name__ not in _core.signed_states:
            return f"{spec.name} keeps no moments: no 8-bit states"
        return None


def parse_storage(text: str) -> Storage:
    """A configuration from its name (see the module docstring)."""
    parts = [x.strip() for x in text.strip().lower().split("+")]
    names = ", ".join(x for x in ITEMSIZE if x != "8bit")
    param = parts[0]
    if param not in GRADS_FOR:
        msg = f"invalid storage {text!r}: the parameter dtype comes first, one of {names}"
        raise ValueError(msg)
    given: dict[str, str] = {}  # "master", "states", "grads" -> value
    for part in parts[1:]:
        kind, _, value = ("master", "", "") if part == "master" else part.rpartition("-")[::-1]
        if kind not in ("master", "states", "grads") or kind in given:
            msg = (f"invalid storage {text!r}: {part!r} is not master, X-states or X-grads "
                   f"(each at most once)")  # fmt: skip
            raise ValueError(msg)
        given[kind] = value
    master = "master" in given
    storage = Storage(param, given.get("grads", param), given.get("states", param), master)
    if storage.state not in STATES_FOR[param]:
        msg = (f"invalid storage {text!r}: {param} parameters take states in "
               f"{', '.join(STATES_FOR[param])}, not {storage.state!r}")  # fmt: skip
        raise ValueError(msg)
    if storage.grad not in GRADS_FOR[param]:
        msg = (f"invalid storage {text!r}: {param} parameters take gradients in "
               f"{', '.join(GRADS_FOR[param])}, not {storage.grad!r}")  # fmt: skip
        raise ValueError(msg)
    if master and param not in ("bf16", "fp16"):
        msg = f"invalid storage {text!r}: a float32 master is for bf16 or fp16 parameters"
        raise ValueError(msg)
    return storage


def parse_storages(text: str) -> list[Storage]:
    """A comma list of configurations (``standard``: :data:`STANDARD`), without repeats,
    with :data:`BASELINE` first (added if missing): every ratio is against it."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        msg = "empty storage list"
        raise ValueError(msg)
    names: list[str] = []
    for item in items:
        names.extend(STANDARD if item.lower() == "standard" else [item])
    storages = [parse_storage(BASELINE)] + [parse_storage(x) for x in names]
    return list(dict.fromkeys(storages))


def dtype_of(name: str) -> np.dtype:
    """The NumPy dtype of a storage name (not "8bit")."""
    if name == "bf16":
        if bfloat16 is None:
            msg = "bf16 storage needs ml_dtypes (pip install 'pyfastopt[bf16]')"
            raise RuntimeError(msg)
        return np.dtype(bfloat16)
    return np.dtype({"fp64": np.float64, "fp32": np.float32, "fp16": np.float16}[name])


# --------------------------------------------------------------------------------------
# Arrays and calls


def kernel_rule(spec: Spec) -> Any:
    """The :class:`pyfastopt.functional.Rule` the optimizer class builds from spec.kwargs."""
    opt = getattr(optim, spec.cls)([np.zeros(1, np.float32)], **spec.kwargs)
    return opt._rule(opt.param_groups[0])


class Arrays:
    """One optimizer's arrays in one storage: params (and masters) from float values,
    gradients, and the state buffers as the class fills them (``_state_fill``: zero, Rprop's
    step sizes at lr), in the rule's order: ``states[k][i]`` is state k of array i.

    Every array is placed as pyfastopt.optim places its state arenas
    (:func:`~pyfastopt.optim._common.staggered_bytes`), one slot after another, so that all
    configurations lie alike in memory: where two arrays start relative to each other
    changes a DRAM-bound step by up to 2x, and NumPy's own placement is luck."""

    def __init__(self, spec: Spec, storage: Storage, params: Sequence[np.ndarray],
                 grads: Sequence[np.ndarray], rule: Any) -> None:  # fmt: skip
        slots = itertools.count()  # one slot per role: params, masters, grads, each state

        def placed(values: Sequence[np.ndarray], dtype: Any, fill: float | None = None) -> list:
            slot = next(slots)
            return [placed_copy(x, slot, dtype, fill) for x in values]

        self.params = placed(params, dtype_of(storage.param))
        self.masters = placed(params, np.float32) if storage.master else None
        self.grads = placed(grads, dtype_of(storage.grad))
        self.states: list[list[Any]] = []
        opt = getattr(optim, spec.cls)([np.zeros(1)], **spec.kwargs)
        for k, name in enumerate(rule.state_names):
            fill = opt._state_fill(name, opt.param_groups[0])
            if storage.state == "8bit":  # quantized as the class quantizes a new state
                signed = _core.signed_states[rule.kernel.__name__][k]
                codes, absmax = zip(*(quantize_8bit(np.full(p.shape, fill, np.float32), signed)
                                      for p in params))  # fmt: skip
                self.states.append(list(zip(placed(codes, np.uint8), absmax)))
            else:
                self.states.append(placed(params, dtype_of(storage.state), fill))


def rule_stepper(rule: Any, spec: Spec, a: Arrays, *, step: int | None) -> Callable[[], None]:
    """One native call of the rule over every array of ``a`` (steps 1, 2, ... if ``step``
    is None, else always ``step``); scalar state (NAdam's momentum product, ASGD's rate)
    starts as the class starts it and is carried from call to call."""
    kw = {} if a.masters is None else {"masters": a.masters}
    opt = getattr(optim, spec.cls)([np.zeros(1)], **spec.kwargs)
    start = opt._init_state(np.zeros(1), opt.param_groups[0])
    memo: dict[str, Any] = {"t": 0, "scalars": tuple(start[k] for k in opt._scalar_state)}

    def call() -> None:
        memo["t"] += 1
        coeffs, memo["scalars"] = opt._step_coeffs(rule, step or memo["t"], memo["scalars"])
        rule.kernel(a.params, a.grads, a.states, coeffs, **kw)

    return call


def _torch_view(torch: ModuleType, x: np.ndarray) -> Any:
    """A torch tensor sharing ``x``'s memory (bfloat16 through its bits)."""
    if bfloat16 is not None and x.dtype == bfloat16:
        return torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(x)


def peer_names(spec: Spec, storage: Storage) -> list[str]:
    """The peers that store what ``storage`` stores, for this optimizer."""
    peers = []
    same = storage.param == storage.grad == storage.state and not storage.master
    if same and storage.param != "fp64" and spec.torch in TORCH_FUSED:
        peers.append("torch-fused")
    if (storage.state == "8bit" and storage.grad == storage.param and not storage.master
            and spec.name in BNB_8BIT):  # fmt: skip
        peers.append("bnb-8bit")
    return peers


def peer_stepper(name: str, spec: Spec, a: Arrays, *, torch: ModuleType,
                 bnb: ModuleType | None) -> Callable[[], Any]:  # fmt: skip
    """The peer's ``step`` over tensors viewing ``a``'s params and gradients (its own
    states), after one step that creates them."""
    tensors = []
    for p, g in zip(a.params, a.grads):
        t = _torch_view(torch, p)
        t.grad = _torch_view(torch, g)
        tensors.append(t)
    if name == "torch-fused":
        assert spec.torch is not None
        opt = getattr(torch.optim, spec.torch)(tensors, **spec.kwargs, fused=True)
    else:
        assert bnb is not None, "bnb-8bit needs bitsandbytes"
        # min_8bit_size=0: bitsandbytes keeps tensors under 4096 elements in float32 otherwise
        opt = getattr(bnb.optim, BNB_8BIT[spec.name])(tensors, **spec.kwargs, min_8bit_size=0)
    return opt.step


class StorageWorkload:
    """One optimizer at one size class in several storages: a call per storage (the rule,
    at step :data:`~.optimizers.TIMED_STEP`, after a first step) and per peer. ``meta``
    maps each call's name to (storage label, peer or None); a peer's name is
    ``"<peer> <label>"``; peers named in ``exclude`` (that failed the check) are left out."""

    def __init__(self, spec: Spec, size: Size, storages: Sequence[Storage], *,
                 torch: ModuleType | None = None, bnb: ModuleType | None = None,
                 exclude: Collection[str] = (), seed: int = 1) -> None:  # fmt: skip
        self.spec, self.size = spec, size
        rule = kernel_rule(spec)
        wide = np.float64 if any(s.param == "fp64" for s in storages) else np.float32
        params, grads = test_arrays(size.count, size.numel, wide, seed=seed)
        self.calls: dict[str, Callable[[], Any]] = {}
        self.notes: dict[str, str] = {}
        self.meta: dict[str, tuple[str, str | None]] = {}
        self.skipped: dict[str, str] = {}
        self.arrays: dict[str, Arrays] = {}  #: by storage label
        for storage in storages:
            why = storage.unsupported(spec)
            if why:
                self.skipped[storage.label] = why
                continue
            a = self.arrays[storage.label] = Arrays(spec, storage, params, grads, rule)
            rule_stepper(rule, spec, a, step=None)()  # the first step (SGD fills its buffer)
            self.calls[storage.label] = rule_stepper(rule, spec, a, step=TIMED_STEP)
            self.notes[storage.label] = f"_core.{rule.kernel.__name__}"
            self.meta[storage.label] = (storage.label, None)
            for peer in peer_names(spec, storage):
                impl = f"{peer} {storage.label}"
                if torch is None or (peer == "bnb-8bit" and bnb is None) or impl in exclude:
                    continue
                step = peer_stepper(peer, spec, a, torch=torch, bnb=bnb)
                step()
                self.calls[impl] = step
                self.notes[impl] = (f"torch.optim.{spec.torch}(fused=True)" if peer == "torch-fused"
                                    else f"bitsandbytes.optim.{BNB_8BIT[spec.name]}")  # fmt: skip
                self.meta[impl] = (storage.label, peer)


# --------------------------------------------------------------------------------------
# Agreement before timing


def check_values(n: int, steps: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A start and gradients that every storage holds exactly (bfloat16 values inside
    float16's normal range), so that the storages differ only in how they round the step."""
    rng = np.random.default_rng(seed)

    def exact(x: np.ndarray) -> np.ndarray:
        x = np.where(np.abs(x) < 1e-3, np.copysign(1e-3, x), x)
        return x.astype(np.float32).astype(dtype_of("bf16")).astype(np.float64)

    p0 = exact(rng.standard_normal(n) * 0.1)
    grads = [exact(rng.standard_normal(n) * rng.choice([0.1, 1.0, 3.0])) for _ in range(steps)]
    grads[3] = -grads[2]  # sign flips, for Rprop
    return p0, grads


def parameter_change(spec: Spec, storage: Storage, peer: str | None, p0: np.ndarray,
            grads: list[np.ndarray], torch: ModuleType | None,
            bnb: ModuleType | None) -> np.ndarray:  # fmt: skip
    """The parameter's change after len(grads) steps of ``storage`` (or its peer), float64."""
    rule = kernel_rule(spec)
    a = Arrays(spec, storage, [p0], [grads[0]], rule)
    if peer is None:
        call = rule_stepper(rule, spec, a, step=None)
    else:
        assert torch is not None
        call = peer_stepper(peer, spec, a, torch=torch, bnb=bnb)
    g_dtype = dtype_of(storage.grad)
    for g in grads:
        a.grads[0][...] = g.astype(g_dtype)
        call()
    return a.params[0].astype(np.float64) - p0


def _ulp(storage: str, x: np.ndarray) -> np.ndarray:
    return np.exp2(np.floor(np.log2(np.maximum(np.abs(x), 1e-30))) - MANTISSA[storage])


#: The share of the largest fp32 update by which a state storage may change an update over
#: the check's 8 steps. Measured on the check's values, 99th percentile: 16-bit states under
#: 0.006 for every optimizer here; 8-bit under 0.04, but Lion 0.25: one flipped sign moves an
#: element by 2 lr, a quarter of 8 steps' update.
STATE_SLACK = {"fp64": 1e-4, "fp32": 1e-4, "bf16": 0.02, "fp16": 0.02, "8bit": 0.3}


def check_storage(spec: Spec, storages: Sequence[Storage], torch: ModuleType | None = None,
                  bnb: ModuleType | None = None, *, n: int = 1003,
                  steps: int = 8) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """Runs every storage of ``storages`` and its peers for ``steps`` steps from the same
    start and gradients (values every storage holds exactly) and compares each parameter
    update with the all-float32 rule's. An element agrees within the storage's rounding:
    one ulp of the parameter storage per step (one in all with a master), plus
    :data:`STATE_SLACK` of the largest update for the states' storage; at most 1% of the
    elements may differ more (where rounding flipped a sign: Lion, Rprop).

    Returns (pyfastopt's disagreements, the peers that disagree: {call name: why}); a
    peer that disagrees is left out of the timing, not the run (torch 2.13's fused SGD
    leaves most 16-bit parameters unchanged)."""
    p0, grads = check_values(n, steps, seed=11)
    ref = parameter_change(spec, parse_storage(BASELINE), None, p0, grads, torch, bnb)
    scale = float(np.abs(ref).max())
    problems: list[str] = []
    peers: dict[str, str] = {}
    for storage in storages:
        if storage.unsupported(spec):
            continue
        runs: list[str | None] = [None]
        if torch is not None:
            runs += [x for x in peer_names(spec, storage) if x != "bnb-8bit" or bnb is not None]
        rounding = _ulp(storage.param, p0 + ref) * (1 if storage.master else steps)
        tol = rounding + STATE_SLACK[storage.state] * scale + 1e-5 * scale
        for peer in runs:
            name = f"{spec.name} {storage.label}" + (f" {peer}" if peer else "")
            try:
                delta = parameter_change(spec, storage, peer, p0, grads, torch, bnb)
            except Exception as exc:  # noqa: BLE001  (reported, then not timed)
                why = f"{name}: {type(exc).__name__}: {exc}"
            else:
                bad = np.count_nonzero(~(np.abs(delta - ref) <= tol))
                if bad <= n // 100:
                    continue
                err = float(np.abs(delta - ref).max()) / max(scale, math.ulp(1.0))
                why = (f"{name}: {bad} of {n} updates differ from the fp32 step's beyond the "
                       f"storage's rounding (largest by {err:.2e} of the largest update)")
            if peer is None:
                problems.append(why)
            else:
                peers[f"{peer} {storage.label}"] = why
    return problems, peers
