"""PyTorch adapter: ``torch.optim`` optimizers whose step is one pyfastopt native call.

``pyfastopt.torch.Adam`` is a subclass of ``torch.optim.Adam`` (and so of
``torch.optim.Optimizer``): the constructor, its argument checks and defaults, parameter
groups, ``zero_grad``, hooks, ``state_dict`` / ``load_state_dict`` and learning-rate
schedulers are torch's own. Only :meth:`step` differs: the parameters, gradients and state
tensors are viewed as NumPy arrays (CPU tensors share their memory, nothing is copied) and
each (parameter group, dtype) is updated by one call of the pyfastopt kernel of
:mod:`pyfastopt.functional`. State entries have torch's keys, shapes and dtypes (``step`` a
0-dim float32 tensor, ``exp_avg``, ...), so a state dict loads into the matching
``torch.optim`` class and back.

Supported: CPU, dense (strided), contiguous float32, float64, bfloat16 and float16
parameters and gradients. Anything else raises TypeError (device, layout, dtype) or
ValueError (layout in memory) when the parameter is added or when its gradient is stepped;
nothing is ever updated through a copy. ``foreach`` is accepted and ignored (it picks one of
torch's implementations; ours is always the fused native one); ``fused=True``,
``capturable=True`` and ``differentiable=True`` are rejected. ``load_state_dict`` of a state
saved by a fused or capturable torch optimizer works: those implementation flags are reset
to ours.

bfloat16 and float16 parameters keep torch's state dtypes (buffers in the parameter's
dtype, ``step`` float32); the kernel computes in float32 and rounds each stored value once,
to nearest even (torch's single-tensor path rounds every intermediate to 16 bits; its fused
Adam computes mostly in float32). A state buffer of another dtype than its parameter's is a
TypeError, as in torch's own step (``load_state_dict`` casts the state to the parameters'
dtypes). bfloat16 tensors are viewed through ``ml_dtypes`` (``pip install ml_dtypes``;
without it a bfloat16 parameter raises ImportError when it is added); float16 needs nothing
more.

``torch.amp.GradScaler`` works as with torch's fused optimizers
(``_step_supports_amp_scaling``): ``scaler.step(optimizer)`` does not unscale the gradients
but sets ``optimizer.grad_scale`` and ``optimizer.found_inf``; a nonzero ``found_inf``
skips the whole step (parameters, state and step counts unchanged), else the kernel divides
each gradient by ``grad_scale`` as it loads it (the gradients stay scaled; float64 gradients,
whose kernels compute only in float64, are divided into temporaries). Float16 gradients are
fine (torch's own ``unscale_`` refuses them). ``scaler.unscale_(optimizer)`` before the step
(to clip gradients, say) also works: the step then gets no ``grad_scale``.

A group's native plan (the NumPy views of its parameters and state, checked once) is cached
and rebuilt when a parameter's storage (``data_ptr``), a state tensor, the state dict or the
set of parameters with gradients changes; each step then checks only the gradients.
``pyfastopt.set_num_threads`` sets the kernels' threads (torch's setting is separate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, ClassVar, cast

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    msg = (
        "pyfastopt.torch needs PyTorch; install it with the extra: pip install 'pyfastopt[torch]'"
    )
    raise ImportError(msg) from exc

from . import _validate as check
from . import functional as F
from . import optim
from ._buffers import check_disjoint
from .optim._common import betas as _check_betas
from .precision import bfloat16 as _BF16

__all__ = [
    "ASGD",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Muon",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
]

_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
#: group keys that pick one of torch's implementations, not the update
_IMPLEMENTATION_KEYS = ("foreach", "fused", "capturable", "differentiable")


def _scalar_dtype() -> torch.dtype:
    """The dtype torch gives scalar state (``step``, ``mu_product``): float64 under a
    float64 default dtype, float32 otherwise (torch.optim.optimizer._get_scalar_dtype)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check_tensor(t: object, what: str) -> None:
    """A tensor pyfastopt can update in place, or a TypeError/ValueError naming it."""
    if not isinstance(t, torch.Tensor):
        msg = f"{what} must be a torch.Tensor, got {type(t).__name__}"
        raise TypeError(msg)
    if t.device.type != "cpu":
        msg = f"{what} is on {t.device}: pyfastopt.torch updates CPU tensors only"
        raise TypeError(msg)
    if t.layout is not torch.strided:
        msg = f"{what} has layout {t.layout}: pyfastopt.torch updates dense tensors only"
        raise TypeError(msg)
    if t.dtype not in _DTYPES:
        msg = (f"{what} has dtype {t.dtype}, expected torch.float32, torch.float64, "
               "torch.bfloat16 or torch.float16")  # fmt: skip
        raise TypeError(msg)
    if t.dtype == torch.bfloat16 and _BF16 is None:
        msg = (f"{what} is torch.bfloat16: pyfastopt updates bfloat16 tensors through "
               "ml_dtypes, which is not installed (pip install ml_dtypes)")  # fmt: skip
        raise ImportError(msg)
    if not t.is_contiguous():
        msg = f"{what} must be contiguous (updates are made in place, never on a copy)"
        raise ValueError(msg)


def _view(t: torch.Tensor) -> np.ndarray:
    """The NumPy array sharing ``t``'s memory; a bfloat16 tensor, which NumPy cannot take,
    becomes an ml_dtypes.bfloat16 array over the same bits (through int16, same size)."""
    if t.requires_grad:
        t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(_BF16)
    return t.numpy()


def _grad_scale(value: Any) -> float | None:
    """GradScaler's ``optimizer.grad_scale`` as the kernels' ``grad_scale`` (None: the
    gradients are not scaled), or a ValueError naming it; checked before any update."""
    if value is None:
        return None
    scale = float(value)
    with np.errstate(over="ignore"):
        ok = math.isfinite(scale) and scale > 0 and 0 < np.float32(1 / scale) < np.inf
    if not ok:
        msg = f"grad_scale = {scale} must be positive and finite (and its inverse a float32)"
        raise ValueError(msg)
    return None if scale == 1.0 else scale


def _unscaled(
    dtype: torch.dtype, grads: list[np.ndarray], scale: float | None
) -> tuple[list[np.ndarray], float | None]:
    """(grads, grad_scale) for one native call. The float64 kernels take no grad_scale
    (the kernels that do compute in float32): float64 gradients are divided into
    temporaries instead, after they are checked (as torch's fused kernels divide them)."""
    if scale is not None and dtype == torch.float64:
        return [g / scale for g in grads], None
    return grads, scale


def _number(value: Any) -> Any:
    """Hyperparameters as plain numbers: torch allows 1-element tensors for some."""
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_number(v) for v in value)
    return value


@dataclass
class _Call:
    """One native call of a step: the parameters of a group sharing a dtype and cohort."""

    native: Any  #: the rule's plan over these parameters and their state buffers
    index: list[int]  #: positions in the group's parameter list
    scalars: list[list[np.ndarray]]  #: per scalar key, the 0-dim views of each parameter's
    cohort: tuple  #: the scalar state shared by these parameters (step, ...)
    #: builds this call's mixed-storage plan, the only kind that takes a grad_scale (needed
    #: for float32 parameters; 16-bit ones have no other plan)
    remake: Callable[[], Any]
    scaled: Any = None  #: that plan, once a step has had a grad_scale


@dataclass
class _Plan:
    """The native calls of one group, valid while everything it was built from is."""

    group: dict[str, Any]
    state: Any  #: the optimizer's state dict object it was built from
    kernel: Callable[..., Any]
    params: list[torch.Tensor]
    ptrs: list[int]
    #: each parameter's state dict (None: state-free SGD keeps no entry, as torch)
    entries: list[dict[str, Any] | None]
    tensors: list[tuple[dict[str, Any], str, torch.Tensor]]  #: state tensors, by identity
    calls: list[_Call] = field(default_factory=list)


class _Adapter(torch.optim.Optimizer):
    """The shared machinery; each subclass mixes in its torch.optim class and says how a
    group becomes a :class:`pyfastopt.functional.Rule` and how a parameter's state starts.

    Subclass interface: ``_rule(group)``, ``_init_state(param, group)``; ``_scalar_keys``
    (scalar state tensors, read into the cohort and written after a step), and for
    optimizers whose coefficients need more than the step, ``_cohort`` and ``_advance``.
    """

    _scalar_keys: ClassVar[tuple[str, ...]] = ("step",)
    #: torch.amp.GradScaler then sets ``grad_scale`` and ``found_inf`` on the optimizer
    #: for step() instead of unscaling the gradients itself (as for torch's fused Adam)
    _step_supports_amp_scaling = True

    # -- subclass interface -------------------------------------------------------------

    def _rule(self, group: dict[str, Any]) -> F.Rule:
        raise NotImplementedError

    def _init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state torch creates before a parameter's first update (buffers the rule
        names and this omits are created as zeros)."""
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype())}

    def _cohort(self, state: dict[str, Any]) -> tuple:
        """The scalar state of a parameter; parameters that agree share a native call."""
        return tuple(float(state[k]) for k in self._scalar_keys)

    def _advance(self, rule: F.Rule, cohort: tuple) -> tuple[tuple[float, ...], tuple]:
        """(the kernel's coefficients, the new scalar state) for one step from ``cohort``;
        a rule with scalar state beyond the step computes both, ``coeffs(t, *scalars)``."""
        step = int(cohort[0]) + 1
        if len(cohort) == 1:
            return rule.coeffs(step), (float(step),)
        coeffs, new = rule.coeffs(step, *cohort[1:])
        return coeffs, (float(step), *(new if isinstance(new, tuple) else (new,)))

    # -- torch.optim.Optimizer ----------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's add_param_group, then the checks of this adapter: CPU, dense,
        contiguous float32/float64 parameters, and no option it does not implement."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._check_options(group)
            for i, p in enumerate(group["params"]):
                _check_tensor(p, f"params[{i}] of parameter group {len(self.param_groups) - 1}")
        except (TypeError, ValueError, ImportError):
            self.param_groups.pop()
            raise

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's load_state_dict; a state saved by a fused or capturable torch optimizer
        loads too (the implementation flags are reset to this optimizer's)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for key in ("fused", "capturable", "differentiable"):
                if key in group:
                    group[key] = self.defaults.get(key, False)
        self._plans().clear()
        self.__dict__["_pfo_rules"].clear()

    def _check_options(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for key in ("fused", "capturable", "differentiable"):
            if group.get(key):
                msg = (
                    f"{name}: {key}=True is not supported by pyfastopt.torch (its step is "
                    f"always one fused native call on CPU tensors); use torch.optim.{name} "
                    f"for {key}=True"
                )
                raise ValueError(msg)

    def _plans(self) -> dict[int, _Plan]:
        plans = self.__dict__.get("_pfo_plans")
        if plans is None:
            plans = self.__dict__["_pfo_plans"] = {}
            self.__dict__["_pfo_rules"] = {}
        return plans

    # -- the step -------------------------------------------------------------------------

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient (``p.grad is None`` skips
        one, as in torch). ``closure`` re-evaluates the model and returns the loss; it is
        called first, with gradients enabled. (The update itself runs on NumPy views,
        outside autograd; the parameters' version counters are bumped as torch's in-place
        updates bump them.)

        Under ``torch.amp.GradScaler.step`` (the attributes ``grad_scale`` and
        ``found_inf`` it sets): a nonzero ``found_inf`` skips the whole step (parameters,
        state and step counts unchanged); else the kernels divide the gradients by
        ``grad_scale`` as they load them (the gradients themselves stay scaled)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        found_inf = getattr(self, "found_inf", None)
        if found_inf is not None and float(found_inf) != 0:
            return loss
        scale = _grad_scale(getattr(self, "grad_scale", None))
        plans = self._plans()
        calls: list[_Prepared] = []
        for j, group in enumerate(self.param_groups):
            rule = self._checked_rule(group)
            where = f"param_groups[{j}]['params']"
            plan = plans.get(id(group))
            if plan is None or not self._plan_valid(plan, group, rule):
                plan = self._build_plan(group, rule)
                if plan is None:
                    plans.pop(id(group), None)
                else:
                    plans[id(group)] = plan
            fast = None if plan is None else self._fast_calls(plan, rule, where, scale)
            if fast is None:
                plans.pop(id(group), None)
                fast = self._general_calls(group, rule, where, scale)
            calls += fast
        if len(calls) > 1:  # every check of every call before the first writes
            check_disjoint([w for c in calls for w in c.written()],
                           [r for c in calls for r in c.read()])  # fmt: skip
            for c in calls:
                check.coeffs_fit(c.coeffs, c.compute_dtype)
        for c in calls:
            c.run()
        updated = [p for c in calls for p in c.params]
        if updated:
            torch.autograd.graph.increment_version(updated)
        return loss

    def _checked_rule(self, group: dict[str, Any]) -> F.Rule:
        """The group's rule, rebuilt (and so re-checked) only when a value has changed."""
        rules = self.__dict__["_pfo_rules"]
        values = tuple(_number(v) for k, v in group.items() if k != "params")
        cached = rules.get(id(group))
        if cached is None or cached[0] is not group or cached[1] != values:
            self._check_options(group)
            cached = (group, values, self._rule({k: _number(v) for k, v in group.items()}))
            rules[id(group)] = cached
        return cached[2]

    def _plan_valid(self, plan: _Plan, group: dict[str, Any], rule: F.Rule) -> bool:
        params = group["params"]
        return (
            plan.group is group
            and plan.state is self.state
            and plan.kernel is rule.kernel
            and len(params) == len(plan.params)
            and [p.data_ptr() for p in params] == plan.ptrs
            and all(a is b for a, b in zip(params, plan.params))
            and all(self.state.get(p) is e for p, e in zip(params, plan.entries))
            and all(e.get(k) is t for e, k, t in plan.tensors)
        )

    def _build_plan(self, group: dict[str, Any], rule: F.Rule) -> _Plan | None:
        """A plan when every parameter of the group has its full state (after its first
        step) and each dtype's parameters share a cohort; else None (general path)."""
        params = list(group["params"])
        keys = (*rule.state_names, *self._scalar_keys)
        entries = [self.state.get(p) for p in params]
        if not params or any(e is None or any(k not in e for k in keys) for e in entries
                             if keys or e is not None):  # fmt: skip
            return None
        for i, (p, e) in enumerate(zip(params, entries)):
            _check_tensor(p, f"params[{i}]")
            if e is not None:
                self._check_param_state(p, e, rule, i)
        tensors = [(e, k, e[k]) for e in entries if e is not None for k in keys]
        states = [{} if e is None else e for e in entries]  # None only if there are no keys
        plan = _Plan(group, self.state, rule.kernel, params, [p.data_ptr() for p in params],
                     entries, tensors)  # fmt: skip
        by_dtype: dict[torch.dtype, list[int]] = {}
        for i, p in enumerate(params):
            by_dtype.setdefault(p.dtype, []).append(i)
        for index in by_dtype.values():
            cohorts = {self._cohort(states[i]) for i in index}
            if len(cohorts) != 1:
                return None
            views = (
                [_view(params[i]) for i in index],
                [[_view(states[i][k]) for i in index] for k in rule.state_names],
            )
            scalars = [[_view(states[i][k]) for i in index] for k in self._scalar_keys]
            remake = partial(rule.plan, *views, mixed=True)
            plan.calls.append(_Call(rule.plan(*views), index, scalars, cohorts.pop(), remake))
        return plan

    def _check_param_state(
        self, p: torch.Tensor, state: dict[str, Any], rule: F.Rule, i: int
    ) -> None:
        """A parameter and its state buffers as the kernels need them. A state buffer that
        is not (e.g. loaded non-contiguous) is replaced by a contiguous copy: the state is
        the optimizer's own, unlike the parameter."""
        _check_tensor(p, f"params[{i}]")
        for k in rule.state_names:
            t = state[k]
            if t.shape != p.shape:
                msg = (f"state of params[{i}]: {k!r} has shape {tuple(t.shape)}, "
                       f"expected {tuple(p.shape)}")  # fmt: skip
                raise ValueError(msg)
            if t.dtype != p.dtype:  # torch's own steps refuse it too; load_state_dict casts
                msg = (f"state of params[{i}]: {k!r} has dtype {t.dtype}, expected "
                       f"{p.dtype} (its parameter's)")  # fmt: skip
                raise TypeError(msg)
            if t.device != p.device or not t.is_contiguous():
                state[k] = t.to(device=p.device, memory_format=torch.contiguous_format,
                                copy=True)  # fmt: skip
        for k in self._scalar_keys:
            if not (isinstance(state[k], torch.Tensor) and state[k].device.type == "cpu"):
                state[k] = torch.tensor(float(state[k]), dtype=_scalar_dtype())
            elif not state[k].is_contiguous():
                state[k] = state[k].clone()

    def _fast_calls(
        self, plan: _Plan, rule: F.Rule, where: str, scale: float | None
    ) -> list[_Prepared] | None:
        """The plan's calls of this step; None (nothing written) if a gradient is None."""
        maybe: list[torch.Tensor | None] = [p.grad for p in plan.params]
        if any(g is None for g in maybe):
            return None
        grads = cast("list[torch.Tensor]", maybe)
        views = []
        dtypes = [plan.params[call.index[0]].dtype for call in plan.calls]
        for call, dtype in zip(plan.calls, dtypes):
            gs = []
            try:
                if dtype == torch.bfloat16:
                    gs = [_view(grads[i]) for i in call.index]
                else:  # the common case inline: this runs for every gradient of every step
                    gs = [g.numpy() if not g.requires_grad else g.detach().numpy()
                          for g in (grads[i] for i in call.index)]  # fmt: skip
            except (RuntimeError, TypeError, AttributeError):
                self._check_grads(plan.params, grads)  # names the gradient
                raise
            views.append(gs)
        # several native calls, or temporaries: check every gradient before the first call
        if len(plan.calls) > 1 or (scale is not None and torch.float64 in dtypes):
            self._check_grads(plan.params, grads)
        prepared = []
        for call, gs, dtype in zip(plan.calls, views, dtypes):
            coeffs, cohort = self._advance(rule, call.cohort)
            native = call.native
            if scale is not None and dtype == torch.float32:
                if call.scaled is None:
                    call.scaled = call.remake()
                native = call.scaled

            def run(call=call, gs=gs, coeffs=coeffs, cohort=cohort, dtype=dtype,
                    native=native) -> None:  # fmt: skip
                grads_, scale_ = _unscaled(dtype, gs, scale)
                try:  # the call checks the gradients, then writes
                    native.step(grads_, coeffs, grad_scale=scale_)
                except (TypeError, ValueError):
                    self._check_grads(plan.params, grads)  # the same error, named as torch's
                    raise
                call.cohort = cohort
                for value, arrays in zip(cohort, call.scalars):
                    for a in arrays:
                        a[()] = value

            names = [f"{where}[{i}]" for i in call.index]
            params = [plan.params[i] for i in call.index]
            states = [plan.entries[i] for i in call.index]
            prepared.append(_Prepared(run, coeffs, names, params, states, gs, rule.state_names))
        return prepared

    @staticmethod
    def _check_grads(params: list[torch.Tensor], grads: Sequence[torch.Tensor | None]) -> None:
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                continue
            _check_tensor(g, f"params[{i}].grad")
            check.like_param(f"params[{i}].grad", g.dtype, tuple(g.shape), p.dtype,
                             tuple(p.shape))

    def _general_calls(
        self, group: dict[str, Any], rule: F.Rule, where: str, scale: float | None
    ) -> list[_Prepared]:
        """Any mix of missing gradients, new state, dtypes and cohorts: everything checked,
        one native call per (dtype, cohort), to run after the step's other checks."""
        params = group["params"]
        grads = [p.grad for p in params]
        for i, p in enumerate(params):
            if grads[i] is not None:
                _check_tensor(p, f"params[{i}]")
        self._check_grads(params, grads)
        cohorts: dict[tuple[torch.dtype, tuple], list[int]] = {}
        for i, p in enumerate(params):
            if grads[i] is None:
                continue
            state = self.state.get(p)
            if state is None or not state:
                state = self._init_state(p, group)
                if state or rule.state_names:  # torch keeps no entry for state-free SGD
                    self.state[p] = state
            cohort = self._cohort(state)  # before missing buffers are added (SGD's first)
            for k in rule.state_names:
                if k not in state:
                    state[k] = _zeros(p)
            self._check_param_state(p, state, rule, i)
            cohorts.setdefault((p.dtype, cohort), []).append(i)
        prepared = []
        for (_, cohort), index in cohorts.items():
            states = [self.state.get(params[i], {}) for i in index]
            coeffs, new = self._advance(rule, cohort)

            def run(index=index, states=states, coeffs=coeffs, new=new) -> None:
                dtype = params[index[0]].dtype
                grads_, scale_ = _unscaled(dtype, [_view(grads[i]) for i in index], scale)
                rule.kernel(
                    [_view(params[i]) for i in index],
                    grads_,
                    [[_view(s[k]) for s in states] for k in rule.state_names],
                    coeffs,
                    grad_scale=scale_,
                )
                for key, value in zip(self._scalar_keys, new):
                    for s in states:
                        s[key].fill_(value)

            names = [f"{where}[{i}]" for i in index]
            ps = [params[i] for i in index]
            gs = [_view(grads[i]) for i in index]
            prepared.append(_Prepared(run, coeffs, names, ps, states, gs, rule.state_names))
        return prepared


@dataclass
class _Prepared:
    """One checked native call of a step, not yet run: a step checks all its calls (their
    memory and coefficients) before it runs the first."""

    run: Callable[[], None]
    coeffs: tuple[float, ...]
    names: list[str]  #: of the parameters, as "param_groups[j]['params'][i]"
    params: list[torch.Tensor]
    states: list[dict[str, Any] | None]  #: None: SGD without momentum keeps no state
    grads: list[np.ndarray]
    state_names: tuple[str, ...]

    @property
    def compute_dtype(self) -> type:
        """float64 for float64 parameters; float32 (the kernels' arithmetic) otherwise."""
        return np.float64 if self.params[0].dtype == torch.float64 else np.float32

    def written(self) -> list[tuple[str, np.ndarray]]:
        out = [(n, _view(p)) for n, p in zip(self.names, self.params)]
        out += [(f"state {k!r} of {n}", _view(s[k]))
                for n, s in zip(self.names, self.states) if s is not None
                for k in self.state_names]  # fmt: skip
        return out

    def read(self) -> list[tuple[str, np.ndarray]]:
        return [(f"{n}.grad", g) for n, g in zip(self.names, self.grads)]


def _zeros(p: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(p, memory_format=torch.contiguous_format)


class Adam(_Adapter, torch.optim.Adam):
    """torch.optim.Adam stepped by :func:`pyfastopt.functional.adam_` (and AMSGrad, and
    AdamW through ``decoupled_weight_decay=True``)."""

    _rule = optim.Adam._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        state = {"step": torch.tensor(0.0, dtype=_scalar_dtype()), "exp_avg": _zeros(param),
                 "exp_avg_sq": _zeros(param)}  # fmt: skip
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _zeros(param)
        return state


class AdamW(Adam, torch.optim.AdamW):
    """torch.optim.AdamW stepped by :func:`pyfastopt.functional.adamw_`."""


class SGD(_Adapter, torch.optim.SGD):
    """torch.optim.SGD (momentum, dampening, Nesterov) stepped by
    :func:`pyfastopt.functional.sgd_`. As torch's, it keeps no ``step``: the momentum
    buffer is created from the first gradient."""

    _scalar_keys = ()

    _rule = optim.SGD._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        return {}

    def _cohort(self, state):
        return ("momentum_buffer" in (state or ()),)  # torch's first step: buffer = grad

    def _advance(self, rule, cohort):
        return rule.coeffs(2 if cohort[0] else 1), (True,)  # no scalar state to write


class Adagrad(_Adapter, torch.optim.Adagrad):
    """torch.optim.Adagrad stepped by :func:`pyfastopt.functional.adagrad_`."""

    _rule = optim.Adagrad._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        value = _number(group["initial_accumulator_value"])
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()),
                "sum": torch.full_like(param, value,
                                       memory_format=torch.contiguous_format)}  # fmt: skip


class RMSprop(_Adapter, torch.optim.RMSprop):
    """torch.optim.RMSprop (centered, momentum) stepped by
    :func:`pyfastopt.functional.rmsprop_`."""

    _rule = optim.RMSprop._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        state = {"step": torch.tensor(0.0, dtype=_scalar_dtype()), "square_avg": _zeros(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros(param)
        if group["centered"]:
            state["grad_avg"] = _zeros(param)
        return state


class Adadelta(_Adapter, torch.optim.Adadelta):
    """torch.optim.Adadelta stepped by :func:`pyfastopt.functional.adadelta_`."""

    _rule = optim.Adadelta._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()), "square_avg": _zeros(param),
                "acc_delta": _zeros(param)}  # fmt: skip


class Adamax(_Adapter, torch.optim.Adamax):
    """torch.optim.Adamax stepped by :func:`pyfastopt.functional.adamax_`."""

    _rule = optim.Adamax._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()), "exp_avg": _zeros(param),
                "exp_inf": _zeros(param)}  # fmt: skip


class RAdam(_Adapter, torch.optim.RAdam):
    """torch.optim.RAdam stepped by :func:`pyfastopt.functional.radam_`."""

    _rule = optim.RAdam._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()), "exp_avg": _zeros(param),
                "exp_avg_sq": _zeros(param)}  # fmt: skip


class Rprop(_Adapter, torch.optim.Rprop):
    """torch.optim.Rprop stepped by :func:`pyfastopt.functional.rprop_`; each element's
    step size starts at ``lr``."""

    _rule = optim.Rprop._rule  # the same group keys as torch's

    def _init_state(self, param, group):
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()), "prev": _zeros(param),
                "step_size": torch.full_like(param, _number(group["lr"]),
                                             memory_format=torch.contiguous_format)}  # fmt: skip


class ASGD(_Adapter, torch.optim.ASGD):
    """torch.optim.ASGD stepped by the kernel of :func:`pyfastopt.functional.asgd_`.

    ``eta`` and ``mu`` are state, as in torch: scalar tensors of the scalar dtype (float32),
    rounded there after each step as torch rounds them.
    """

    _scalar_keys = ("step", "eta", "mu")

    def _rule(self, group):
        scalar_dtype = np.float64 if _scalar_dtype() == torch.float64 else np.float32
        return F.asgd_rule(
            lr=group["lr"], lambd=group["lambd"], alpha=group["alpha"], t0=group["t0"],
            weight_decay=group["weight_decay"], maximize=group["maximize"],
            scalar_dtype=scalar_dtype,
        )  # fmt: skip

    def _init_state(self, param, group):
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()),
                "eta": torch.tensor(_number(group["lr"]), dtype=_scalar_dtype()),
                "mu": torch.tensor(1.0, dtype=_scalar_dtype()), "ax": _zeros(param)}  # fmt: skip


class NAdam(_Adapter, torch.optim.NAdam):
    """torch.optim.NAdam stepped by the kernel of :func:`pyfastopt.functional.nadam_`.

    ``mu_product`` is state, as in torch: a scalar tensor of the scalar dtype (float32),
    rounded there after each step as torch's ``mu_product *= mu`` rounds it.
    """

    _scalar_keys = ("step", "mu_product")

    def _rule(self, group):
        beta1, beta2 = _check_betas(group["betas"])
        product_dtype = np.float64 if _scalar_dtype() == torch.float64 else np.float32
        return F.nadam_rule(
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"], simplified=False, product_dtype=product_dtype,
        )  # fmt: skip

    def _init_state(self, param, group):
        return {"step": torch.tensor(0.0, dtype=_scalar_dtype()),
                "mu_product": torch.tensor(1.0, dtype=_scalar_dtype()),
                "exp_avg": _zeros(param), "exp_avg_sq": _zeros(param)}  # fmt: skip



class _FullPrecision:
    """Mixin of the adapters whose update is no element-wise rule (Muon, Adafactor): CPU,
    dense, contiguous float32/float64 parameters; each step checks every group's arrays,
    then updates."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's add_param_group, then this adapter's checks: CPU, dense, contiguous
        float32/float64 parameters."""
        super().add_param_group(param_group)  # type: ignore[misc]
        groups = self.param_groups  # type: ignore[attr-defined]
        try:
            for i, p in enumerate(groups[-1]["params"]):
                self._check_float(p, f"params[{i}] of parameter group {len(groups) - 1}")
        except (TypeError, ValueError, ImportError):
            groups.pop()
            raise

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient (``p.grad is None`` skips
        one). ``closure`` re-evaluates the model and returns the loss; it is called first.
        Everything is checked before any tensor is written."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        updated = self._update_all()
        if updated:
            torch.autograd.graph.increment_version(updated)
        return loss

    def _update_all(self) -> list[torch.Tensor]:
        """Checks every group's arrays, then updates them; returns the updated params."""
        raise NotImplementedError

    def _check_float(self, t: object, what: str) -> None:
        _check_tensor(t, what)
        assert isinstance(t, torch.Tensor)  # (checked)
        if t.dtype not in (torch.float32, torch.float64):
            msg = f"{what} has dtype {t.dtype}: {type(self).__name__} updates float32 and " \
                  "float64 tensors"  # fmt: skip
            raise TypeError(msg)


class Muon(_FullPrecision, torch.optim.Muon):
    """torch.optim.Muon stepped by :func:`pyfastopt.functional.muon_`: torch's constructor
    (its checks, defaults and ValueError for a parameter that is not 2-D), parameter groups,
    ``state_dict`` / ``load_state_dict`` (state ``momentum_buffer`` only, as torch's) and
    schedulers; the step views the CPU float32/float64 tensors as NumPy arrays and runs
    the Newton-Schulz iteration in their precision (torch: bfloat16), so trajectories agree
    with torch's to bfloat16's rounding. Not on the rule machinery of the other classes
    (Muon is no element-wise rule): every group's arrays are checked, then each group is
    one call. Under ``torch.amp.GradScaler`` the scaler unscales the gradients first, as for
    torch's Muon."""

    def _workspace(self) -> dict:
        """functional.muon_'s scratch, kept between steps (outside torch's state)."""
        return self.__dict__.setdefault("_pfo_workspace", {})

    def _update_all(self) -> list[torch.Tensor]:
        calls = []
        for j, group in enumerate(self.param_groups):
            hp = F.check_muon(nesterov=bool(group["nesterov"]), **{k: _number(group[k]) for k in (
                "lr", "weight_decay", "momentum", "ns_coefficients", "eps", "ns_steps",
                "adjust_lr_fn")})  # fmt: skip  (torch takes any truthy nesterov)
            where = f"param_groups[{j}]['params']"
            params = [p for p in group["params"] if p.grad is not None]
            index = [i for i, p in enumerate(group["params"]) if p.grad is not None]
            for i, p in zip(index, params):
                self._check_float(p, f"{where}[{i}]")
                self._check_float(p.grad, f"{where}[{i}].grad")
                check.like_param(f"{where}[{i}].grad", p.grad.dtype, tuple(p.grad.shape),
                                 p.dtype, tuple(p.shape))  # fmt: skip
                buf = self.state.get(p, {}).get("momentum_buffer")  # (state: a defaultdict)
                if buf is not None:
                    self._check_float(buf, f"state 'momentum_buffer' of {where}[{i}]")
                    check.like_param(f"state 'momentum_buffer' of {where}[{i}]", buf.dtype,
                                     tuple(buf.shape), p.dtype, tuple(p.shape))  # fmt: skip
            calls.append((hp, index, params, where))
        written, read = [], []
        for _, index, params, where in calls:
            for i, p in zip(index, params):
                written.append((f"{where}[{i}]", _view(p)))
                read.append((f"{where}[{i}].grad", _view(p.grad)))
                if "momentum_buffer" in self.state.get(p, {}):
                    written.append((f"state 'momentum_buffer' of {where}[{i}]",
                                    _view(self.state[p]["momentum_buffer"])))  # fmt: skip
        check_disjoint(written, read)
        for hp, _, params, _ in calls:
            if not params:
                continue
            for p in params:  # torch's lazily created state, after every check passed
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = _zeros(p)
            F.muon_([_view(p) for p in params], [_view(p.grad) for p in params],
                    [_view(self.state[p]["momentum_buffer"]) for p in params],
                    workspace=self._workspace(), **hp._asdict())  # fmt: skip
        return [p for _, _, params, _ in calls for p in params]


class Adafactor(_FullPrecision, torch.optim.Adafactor):
    """torch.optim.Adafactor stepped by :func:`pyfastopt.functional.adafactor_`: torch's
    constructor (its checks and defaults), parameter groups, ``state_dict`` /
    ``load_state_dict`` (state ``step``, ``row_var`` and ``col_var`` or ``variance``, as
    torch's) and schedulers. Each tensor is one native call of two passes (rarely three) over
    memory, where torch makes about a dozen and allocates temporaries. ``eps[0]`` None is
    each parameter's machine epsilon (torch takes the first parameter's for all). Under
    ``torch.amp.GradScaler`` the scaler unscales the gradients first, as for torch's."""

    def _update_all(self) -> list[torch.Tensor]:
        calls, fresh = [], {}
        for j, group in enumerate(self.param_groups):
            hp = F.check_adafactor(maximize=bool(group["maximize"]), **{k: _number(group[k])
                                   for k in ("lr", "beta2_decay", "eps", "d", "weight_decay")})
            where = f"param_groups[{j}]['params']"
            for i, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                self._check_float(p, f"{where}[{i}]")
                self._check_float(p.grad, f"{where}[{i}].grad")
                state = self.state.get(p)
                if not state:  # torch's lazily created state, stored after every check
                    state = fresh[p] = {"step": torch.tensor(0.0, dtype=_scalar_dtype())}
                    for key, shape in F.adafactor_state_shapes(tuple(p.shape)).items():
                        state[key] = p.new_zeros(shape)
                for key in _ADAFACTOR_KEYS:
                    if key in state:
                        self._check_float(state[key], f"state {key!r} of {where}[{i}]")
                step = float(state["step"])
                if not (step.is_integer() and 0 <= step < check.MAX_STEP):
                    msg = f"state 'step' of {where}[{i}] must count the steps taken, got {step}"
                    raise ValueError(msg)
                calls.append((hp, p, state, int(step) + 1))
        views = [[_view(state[k]) if k in state else None for _, _, state, _ in calls]
                 for k in _ADAFACTOR_KEYS]  # fmt: skip
        arrays = F._adafactor_arrays([_view(p) for _, p, _, _ in calls],
                                     [_view(p.grad) for _, p, _, _ in calls], *views)  # fmt: skip
        self.state.update(fresh)
        for (hp, _, state, step), (p, g, factors) in zip(calls, arrays):
            F._adafactor_step(p, g, factors, hp, step)
            state["step"] += 1
        return [p for _, p, _, _ in calls]


_ADAFACTOR_KEYS = ("row_var", "col_var", "variance")
