"""The Optimizer base class: parameter groups, lazily created state, and state dicts with
torch.optim's structure. Subclasses say how to create a parameter's state and how to update
a list of parameters that share a step (one native call through pyfastopt.functional).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from .. import _validate as check
from .. import functional as F
from .._buffers import as_array, check_disjoint, written_array
from ..precision import Precision, bfloat16, dequantize_8bit, quantize_8bit
from ..sparse import SparseRows, check_rows
from ..transforms import GradientNoise, global_norm
from ._common import state_buffers

#: Parameter dtypes that may have a float32 master copy.
_SIXTEEN_BIT = tuple(d for d in (np.dtype(np.float16), bfloat16) if d is not None)
#: Parameter dtypes (16-bit ones compute in float32).
_PARAM_DTYPES = (np.dtype("f4"), np.dtype("f8"), *_SIXTEEN_BIT)
#: Array dtypes a state buffer may have (8-bit codes are uint8, with float32 absmax).
_STATE_DTYPES = (*_PARAM_DTYPES, np.dtype("u1"))


def _absmax_key(name: str) -> str:
    """The state key of the absmax of 8-bit state ``name``."""
    return name + "_absmax"


def state_arg(state: dict[str, Any], name: str) -> Any:
    """State buffer ``name`` as a kernel takes it: the array, or (codes, absmax)."""
    absmax = state.get(_absmax_key(name))
    return state[name] if absmax is None else (state[name], absmax)


@dataclass
class _Plan:
    """The native plan of a one-group optimizer: valid while the group's rule and params
    are the ones it was built for (``native.same_params`` compares the objects). Replace
    state buffers only through load_state_dict. It counts steps (and the optimizer's scalar
    state) itself; ``synced`` is the step last written to the states' dicts."""

    rule: F.Rule
    states: list[dict[str, Any]]
    step: int
    scalars: tuple[Any, ...]
    native: Any
    synced: int
    mixed: bool  #: built for the mixed-storage path (grad_scale and seed need it)


class Optimizer:
    """Base class of the optimizers in :mod:`pyfastopt.optim`.

    Args:
        params: a list of writable, C-contiguous float32/float64 arrays, or a list of
            parameter-group dicts ``{"params": [...], "lr": ..., ...}`` whose missing
            hyperparameters default to ``defaults``.
        defaults: the hyperparameters of the optimizer.

    The state of parameter ``i`` (counted across groups in order) is ``self.state[i]``, a
    dict with torch's key names, created on its first update.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._plan: _Plan | None = None
        self.state = {}
        self._rules: dict[int, tuple[dict[str, Any], dict[str, Any], F.Rule | None]] = {}
        self._step_count = 0  # step() calls that updated, for the gradient-noise schedule
        #: Optional :class:`pyfastopt.GradientNoise` added to each step's gradients.
        self.gradient_noise: GradientNoise | None = None
        #: How parameters and states are stored (:class:`pyfastopt.precision.Precision`):
        #: torch's default (states in the parameter's dtype) until set, before the first step.
        self.precision = Precision()
        groups = list(params)
        if not groups:
            msg = "params: optimizer got an empty parameter list"
            raise ValueError(msg)
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- subclass interface -------------------------------------------------------------

    def _rule(self, group: dict[str, Any]) -> F.Rule | None:
        """The group's hyperparameters as a checked :class:`pyfastopt.functional.Rule`.
        SWATS, whose per-array phase switch is no single rule, returns None and overrides
        _update."""
        return None

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """The scalar state of a parameter before its first update. Its buffers are made
        by _add_buffers on first use (as torch creates them)."""
        return {"step": 0}

    def _state_fill(self, name: str, group: dict[str, Any]) -> float:
        """The initial value of state buffer ``name``."""
        return 0.0

    def _update(
        self,
        group: dict[str, Any],
        params: list[np.ndarray],
        grads: list[np.ndarray],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        """Updates params (same dtype, same cohort) in one native call."""
        rule = self._checked_rule(group)
        assert rule is not None  # SWATS, which has no rule, overrides _update
        if self._scalar_state:  # (such optimizers take no SparseRows)
            scalars = tuple(states[0][k] for k in self._scalar_state)  # (one cohort)
            coeffs, new = self._step_coeffs(rule, step, scalars)
            columns = [[state_arg(s, n) for s in states] for n in rule.state_names]
            F._run(rule.kernel, params, grads, columns, coeffs, **self._options(states, step))
            for s in states:
                s.update(zip(self._scalar_state, new))
            return
        dense = []
        for i, g in enumerate(grads):
            if isinstance(g, SparseRows):  # one call per sparse table
                rule.apply(params[i], g, {n: state_arg(states[i], n) for n in rule.state_names},
                           step)  # fmt: skip
            else:
                dense.append(i)
        buffers = {name: [state_arg(states[i], name) for i in dense] for name in rule.state_names}
        rule.apply([params[i] for i in dense], [grads[i] for i in dense], buffers, step,
                   **self._options([states[i] for i in dense], step))  # fmt: skip

    def _options(self, states: list[dict[str, Any]], step: int) -> dict[str, Any]:
        """The kernel's reduced-precision keywords for a call on these states: masters,
        this step's grad_scale, the stochastic-rounding key."""
        options: dict[str, Any] = {"grad_scale": self._grad_scale}
        if states and "master" in states[0]:
            options["master"] = [s["master"] for s in states]
        if self.precision.stochastic_rounding:
            first = self._index_of.get(id(states[0]), 0) if states else 0
            options.update(seed=self.precision.seed, rounding_step=step, first_tensor=first)
        return options

    #: The grad_scale of the step being taken (None: 1).
    _grad_scale: float | None = None
    #: id(state) -> parameter index, for the general path's calls (the stochastic-rounding
    #: key of a call starts at its first parameter's index).
    _index_of: dict[int, int] = {}  # noqa: RUF012  (replaced, never mutated in place)

    def _add_buffers(
        self,
        group: dict[str, Any],
        params: list[np.ndarray],
        states: list[dict[str, Any]],
        names: Sequence[str],
    ) -> None:
        """Creates the missing state buffers ``names`` in the storage ``self.precision``
        asks for: one allocation per (name, dtype) for all the params that lack it; 8-bit
        states as codes and absmax; float32 masters of 16-bit params."""
        rule = self._checked_rule(group)
        signed = _core.signed_states.get(rule.kernel.__name__) if rule is not None else None
        for slot, name in enumerate(names):
            missing = [i for i, s in enumerate(states) if name not in s]
            if not missing:
                continue
            fill = self._state_fill(name, group)
            by_storage: dict[Any, list[int]] = {}
            for i in missing:
                storage = self.precision.state_dtype_for(params[i], signed is not None)
                by_storage.setdefault(storage, []).append(i)
            for storage, members in by_storage.items():
                if storage == "8bit":
                    assert signed is not None
                    for i in members:
                        full = np.full(params[i].shape, fill, np.float32)
                        states[i][name], states[i][_absmax_key(name)] = quantize_8bit(
                            full, signed[slot])
                    continue
                new = state_buffers([params[i] for i in members], slot, fill, storage)
                for i, buffer in zip(members, new):
                    states[i][name] = buffer
        if self.precision.master_weights:
            members = [i for i, (p, state) in enumerate(zip(params, states))
                       if "master" not in state and p.dtype in _SIXTEEN_BIT]  # fmt: skip
            masters = state_buffers([params[i] for i in members], len(names), dtype=np.float32)
            for i, master in zip(members, masters):
                master[...] = params[i]
                states[i]["master"] = master

    def _cohort(self, state: dict[str, Any]) -> Hashable:
        """Parameters whose states agree on this key share one native call."""
        if self._scalar_state:
            return (state.get("step"), *(state.get(k) for k in self._scalar_state))
        return state.get("step")

    # -- checked hyperparameters and the native plan -----------------------------------

    def _checked_rule(self, group: dict[str, Any]) -> F.Rule | None:
        """The group's rule, rebuilt (and so re-checked) only when a value has changed."""
        cached = self._rules.get(id(group))
        # dict equality compares identical values by identity: ~0.1 us for a group
        if cached is None or cached[0] is not group or cached[1] != group:
            cached = (group, dict(group), self._rule(group))
            self._rules[id(group)] = cached
        return cached[2]

    def _validate(self, group: dict[str, Any]) -> None:
        """Checks the group's hyperparameters (building its rule checks them)."""
        if self._checked_rule(group) is None:
            self._update(group, [], [], [], 1)  # a dry run checks the hyperparameters

    def _fast_step(self, grads: Sequence[np.ndarray | SparseRows | None]) -> bool:
        """One group, one dtype, every parameter at the same step: one native call whose
        params and states were checked when the plan was built. False if not applicable
        (the general path then runs); nothing is written before every check passed."""
        group = self.param_groups[0]
        rule = self._checked_rule(group)
        if rule is None:
            return False
        params = group["params"]
        plan = self._plan
        mixed = self._grad_scale is not None or self.precision.stochastic_rounding
        if (plan is None or plan.rule is not rule or (mixed and not plan.mixed)
                or not plan.native.same_params(params)):  # fmt: skip
            plan = self._plan = self._build_plan(rule, params, mixed)
            if plan is None:
                return False
        step = plan.step + 1
        coeffs, scalars = self._step_coeffs(rule, step, plan.scalars)
        seed = self.precision.seed if self.precision.stochastic_rounding else None
        if not plan.native.step(grads, coeffs, self._grad_scale, seed, step):
            return False  # a None gradient, or one that is not an ndarray
        plan.step, plan.scalars = step, scalars
        return True

    #: Scalar state (besides "step") that a rule's coefficients depend on: NAdam's
    #: mu_product. Such optimizers take no SparseRows gradients (their scalar is per table).
    _scalar_state: tuple[str, ...] = ()

    def _step_coeffs(self, rule: F.Rule, step: int, scalars: tuple) -> tuple[tuple, tuple]:
        """The coefficients of step ``step`` and the new values of ``_scalar_state``: a
        rule with scalar state computes both, ``coeffs(t, *scalars)``."""
        if not self._scalar_state:
            return rule.coeffs(step), scalars
        coeffs, new = rule.coeffs(step, *scalars)
        return coeffs, new if isinstance(new, tuple) else (new,)

    @property
    def state(self) -> dict[int, dict[str, Any]]:
        """The state of each parameter, by index. Reading it brings every "step" up to
        date: the native path counts steps in its plan, not in one dict per parameter
        (90 us a step for 2000 tensors), so read steps through ``opt.state``."""
        self._sync_plan()
        return self._state

    @state.setter
    def state(self, value: dict[int, dict[str, Any]]) -> None:
        self._state = value

    def _sync_plan(self) -> None:
        """Writes the plan's step count and scalar state to the per-parameter dicts."""
        plan = self._plan
        if plan is not None and plan.synced != plan.step:
            for state in plan.states:
                state["step"] = plan.step
                state.update(zip(self._scalar_state, plan.scalars))
            plan.synced = plan.step

    def _drop_plan(self) -> None:
        self._sync_plan()
        self._plan = None

    def _build_plan(self, rule: F.Rule, params: list[np.ndarray], mixed: bool) -> _Plan | None:
        found = [self.state.get(i) for i in range(len(params))]
        states = [s for s in found if s is not None]
        if not params or len(states) < len(found) or any(any(n not in s for n in rule.state_names)
                                                         for s in states):  # fmt: skip
            return None  # the first step creates the state through the general path
        masters = [s.get("master") for s in states]
        if self.precision.master_weights and any(
            m is None and p.dtype in _SIXTEEN_BIT for m, p in zip(masters, params)
        ):
            return None  # the general path creates the masters
        keys = ("step", *self._scalar_state)
        if len({tuple(s[k] for k in keys) for s in states}) != 1 or \
                len({p.dtype for p in params}) != 1:  # fmt: skip
            return None
        self._check_state(states[0], "state[0]")  # the others share its step and scalars
        buffers = [[state_arg(s, name) for s in states] for name in rule.state_names]
        if any(m is None for m in masters) and any(m is not None for m in masters):
            return None  # a mix of params with and without masters: the general path
        native = rule.plan(params, buffers, None if masters[0] is None else masters, mixed)
        step, *scalars = (states[0][k] for k in keys)
        return _Plan(rule, states, step, tuple(scalars), native, synced=step, mixed=mixed)

    # -- torch.optim API ----------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group; its hyperparameters default to the optimizer's."""
        if not isinstance(param_group, dict):
            msg = f"param_group must be a dict, got {type(param_group).__name__}"
            raise TypeError(msg)
        params = param_group["params"]
        single = isinstance(params, np.ndarray) or hasattr(params, "__dlpack__")
        params = [params] if single else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            params[i] = written_array(p, f"params[{len(seen) + i}]", dtypes=_PARAM_DTYPES)
            if id(p) in seen or id(params[i]) in seen:
                msg = "params: some parameters appear more than once"
                raise ValueError(msg)
            seen.add(id(params[i]))
        group = {**self.defaults, **param_group, "params": params}
        self._validate(group)
        self.param_groups.append(group)

    def step(
        self,
        grads: Sequence[np.ndarray | SparseRows | None],
        *,
        grad_scale: float | None = None,
        found_inf: Any = None,
    ) -> None:
        """One update of every parameter, in place.

        Args:
            grads: one gradient per parameter, in parameter-group order; ``None`` skips a
                parameter (its state is unchanged), as a missing ``.grad`` does in torch; a
                :class:`pyfastopt.sparse.SparseRows` updates only the rows of a table it
                names (lazily, as torch.optim.SparseAdam; not NAdam and SWATS).
            grad_scale: the gradients are divided by it as they are loaded (the loss scale
                of mixed-precision training; a power of two divides exactly).
            found_inf: torch's fused-optimizer contract: if true (a bool, number or one-element
                array), the whole step is skipped: no parameter, state or step count changes.

        Everything is checked before anything is written: on error no array changes.
        """
        if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
            msg = "grads must be a list with one gradient (or None) per parameter"
            raise TypeError(msg)
        if grad_scale is not None:
            grad_scale = check.positive("grad_scale", grad_scale)
        if found_inf is not None and bool(np.asarray(found_inf).reshape(-1).any()):
            self._check_grads(grads)  # bad input is still an error
            return
        if self.precision.skip_nonfinite:
            dense = [g for g in self._check_grads(grads) if isinstance(g, np.ndarray)]
            if dense and not np.isfinite(global_norm(dense)):
                return
        self._grad_scale = None if grad_scale == 1.0 else grad_scale
        try:
            self._step(grads)
        finally:
            self._grad_scale = None

    #: States that hold a sequence of parameters rather than a moment (schedule-free's z):
    #: no narrower than the precision the updates are made in (float32 with a master copy,
    #: else the parameter's dtype), so such optimizers take no 16- or 8-bit ``state_dtype``.
    _param_like_states: tuple[str, ...] = ()

    def _step(self, grads: Sequence[np.ndarray | SparseRows | None]) -> None:
        if self._param_like_states:
            self._check_param_like_storage()
        if self.gradient_noise is not None:
            # (_check_grads refuses SparseRows gradients when there is gradient noise)
            grads = [g.copy() if isinstance(g, np.ndarray) else g for g in self._check_grads(grads)]
            self.gradient_noise.add_([g for g in grads if isinstance(g, np.ndarray)],
                                     self._step_count + 1)  # fmt: skip
        if (len(self.param_groups) == 1 and len(grads) == len(self.param_groups[0]["params"])
                and self._fast_step(grads)):  # fmt: skip
            self._step_count += 1
            return
        self._drop_plan()  # the general path moves steps on: the plan is rebuilt next time
        checked = self._check_grads(grads)
        for group in self.param_groups:
            self._validate(group)
        calls = self._calls(checked)
        for group, params, grads_, states, step in calls:
            self._update(group, params, grads_, states, step)
            for state in states:
                state["step"] = step
        self._step_count += 1

    def _check_param_like_storage(self) -> None:
        """TypeError if ``precision`` would store a state of ``_param_like_states`` in fewer
        bits than the updates are made in (float32 with a master copy, else the param's)."""
        for p in (p for group in self.param_groups for p in group["params"]):
            master = self.precision.master_weights and p.dtype in _SIXTEEN_BIT
            storage = self.precision.state_dtype_for(p, quantizable=False)
            if np.dtype(storage).itemsize < (4 if master else p.dtype.itemsize):
                msg = (f"precision: {type(self).__name__} keeps "
                       f"{', '.join(map(repr, self._param_like_states))} in the precision of "
                       f"the updates ({'float32' if master else p.dtype}), not in "
                       f"{np.dtype(storage)}: set state_dtype")  # fmt: skip
                raise TypeError(msg)

    def _calls(self, grads: list[Any]) -> list[tuple[dict, list, list, list, int]]:
        """The native calls of a general step, one per (group, dtype, cohort), after every
        check that one of them could fail: nothing is written before all have passed. New
        states and their buffers are created last (fresh buffers need no check)."""
        calls, new_states = [], {}
        index = 0
        for group in self.param_groups:
            cohorts: dict[Hashable, tuple[list, list, list]] = {}
            for p in group["params"]:
                g = grads[index]
                if g is not None:
                    state = self.state.get(index)
                    if state is None:
                        state = new_states[index] = self._init_state(p, group)
                    else:
                        self._check_state(state, f"state[{index}]")
                    members = cohorts.setdefault((p.dtype.char, self._cohort(state)), ([], [], []))
                    members[0].append(p)
                    members[1].append(g)
                    members[2].append((index, state))
                index += 1
            for ps, gs, states in cohorts.values():
                calls.append((group, ps, gs, states, states[0][1]["step"] + 1))
        if self.precision.stochastic_rounding:  # the only reader (_options)
            self._index_of = {id(s): i for *_, states, _ in calls for i, s in states}
        if len(calls) > 1 or any(isinstance(g, SparseRows) for g in grads):
            self._check_buffers(calls)  # else the one native call checks them itself
            for group, ps, _, states, step in calls:
                self._check_call(group, ps[0].dtype, [s for _, s in states], step)
        for _, ps, *_ in calls:
            for p in ps:  # a storage the parameter cannot have fails here, before any write
                self.precision.state_dtype_for(p, quantizable=True)
        self.state.update(new_states)
        calls = [(group, ps, gs, [s for _, s in states], step)
                 for group, ps, gs, states, step in calls]  # fmt: skip
        for group, ps, _, states, _ in calls:
            self._add_buffers(group, ps, states, self._buffer_names(group))
        return calls

    def _check_buffers(self, calls: list) -> None:
        """The checks each native call makes of its arrays, across all the calls of a step:
        the layout of every written array, and that none shares memory with another or with
        a gradient (a gradient that is another group's parameter, say)."""
        written, read = [], []
        for group, ps, gs, states, _ in calls:
            names = self._buffer_names(group)
            for p, g, (i, state) in zip(ps, gs, states):
                written.append((f"params[{i}]", written_array(p, f"params[{i}]",
                                                              dtypes=_PARAM_DTYPES)))
                for key in (*names, "master"):
                    if key in state:
                        name = f"state[{i}][{key!r}]"
                        written.append((name, written_array(state[key], name, like=p,
                                                            dtypes=_STATE_DTYPES)))
                    if _absmax_key(key) in state:
                        name = f"state[{i}][{_absmax_key(key)!r}]"
                        written.append((name, written_array(state[_absmax_key(key)], name,
                                                            dtypes=(np.dtype("f4"),))))
                if isinstance(g, SparseRows):
                    read += [(f"grads[{i}].indices", as_array(g.indices, "indices")),
                             (f"grads[{i}].values", as_array(g.values, "values"))]  # fmt: skip
                else:
                    read.append((f"grads[{i}]", g))
        check_disjoint(written, read)

    def _buffer_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The state buffers an update of ``group`` uses."""
        rule = self._checked_rule(group)
        assert rule is not None  # SWATS, which has no rule, overrides _buffer_names
        return rule.state_names

    def _check_state(self, state: dict[str, Any], name: str) -> None:
        """A parameter's scalar state (as loaded, or as a user left it), checked before it
        is used: "step" and ``_scalar_state``."""
        step = state.get("step")
        if type(step) is not int or not 0 <= step < check.MAX_STEP:  # (the common case, fast)
            check.steps_taken(f"{name}['step']", step)
        for key in self._scalar_state:
            self._check_scalar(key, state.get(key), f"{name}[{key!r}]")

    def _check_scalar(self, key: str, value: object, name: str) -> None:
        """One entry ``key`` of ``_scalar_state`` (subclasses with scalar state check it)."""

    def _check_call(self, group: dict[str, Any], dtype: np.dtype, states: list, step: int) -> None:
        """What a native call would reject beyond its arrays: a per-step coefficient beyond
        the range of ``dtype`` (hyperparameters near float32's largest value)."""
        rule = self._checked_rule(group)
        if rule is not None:
            scalars = tuple(states[0][k] for k in self._scalar_state)
            compute = np.float64 if dtype == np.float64 else np.float32  # 16-bit: in float32
            check.coeffs_fit(self._step_coeffs(rule, step, scalars)[0], compute)

    def _check_grads(self, grads: Sequence[Any]) -> list[np.ndarray | SparseRows | None]:
        """The gradients' count, types, dtypes, shapes and layout, before anything runs;
        returns them with array-likes as ndarray views."""
        groups = [group for group in self.param_groups for _ in group["params"]]
        params = [p for group in self.param_groups for p in group["params"]]
        if len(grads) != len(params):
            msg = f"grads: expected {len(params)} gradients (one per parameter), got {len(grads)}"
            raise ValueError(msg)
        checked = list(grads)
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                continue
            if isinstance(g, SparseRows):
                rule = self._checked_rule(groups[i])
                if rule is None or self._scalar_state or self.gradient_noise is not None:
                    msg = f"grads[{i}]: {type(self).__name__} takes no SparseRows gradients"
                    msg += " with gradient noise" if self.gradient_noise is not None else ""
                    raise TypeError(msg)
                check_rows(p, g, f"grads[{i}]")
                continue
            a = checked[i] = as_array(g, f"grads[{i}]")
            check.like_param(f"grads[{i}]", a.dtype, a.shape, p.dtype, p.shape)
            if not (a.flags.c_contiguous and a.flags.aligned):
                msg = f"grads[{i}] must be C-contiguous and aligned"
                raise ValueError(msg)
        return checked

    def zero_grad(self) -> None:
        """Nothing to do: gradients are passed to :meth:`step`, not stored (torch parity)."""

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the state, keyed by parameter index, and of the groups (whose
        "params" hold indices), as torch.optim.Optimizer.state_dict()."""
        groups, start = [], 0
        for group in self.param_groups:
            entry = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            entry["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(entry)
        return {"state": copy.deepcopy(self.state), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a :meth:`state_dict` (copied: later steps do not touch it). Everything
        is checked first (TypeError/ValueError naming the entry); a failed load changes
        nothing."""
        if not (isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict)
                and isinstance(state_dict.get("param_groups"), (list, tuple))):  # fmt: skip
            msg = "state_dict must be a dict with a 'state' dict and a 'param_groups' list"
            raise TypeError(msg)
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            msg = "state_dict: the number of parameter groups differs"
            raise ValueError(msg)
        new_groups: list[dict[str, Any]] = []
        group_of: dict[Any, tuple[int, dict[str, Any]]] = {}
        params: list[np.ndarray] = []
        for j, (saved, group) in enumerate(zip(groups, self.param_groups)):
            where = f"state_dict['param_groups'][{j}]"
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                msg = f"{where} must be a dict with a 'params' list"
                raise TypeError(msg)
            if len(saved["params"]) != len(group["params"]):
                msg = "state_dict: a parameter group has a different number of parameters"
                raise ValueError(msg)
            missing = [k for k in group if k != "params" and k not in saved]
            if missing:
                msg = f"{where} lacks {', '.join(map(repr, missing))}"
                raise ValueError(msg)
            new_group = copy.deepcopy({k: v for k, v in saved.items() if k != "params"})
            new_group["params"] = group["params"]
            self._validate(new_group)
            new_groups.append(new_group)
            for old, p in zip(saved["params"], group["params"]):
                group_of[old] = (len(params), new_group)
                params.append(p)
        state: dict[int, dict[str, Any]] = {}
        arrays: dict[tuple[int, str], list[tuple[int, np.ndarray, dict[str, Any]]]] = {}
        for old, entry in state_dict["state"].items():
            where = f"state_dict['state'][{old!r}]"
            integral = isinstance(old, numbers.Integral) and not isinstance(old, bool)
            if not integral or old not in group_of:
                msg = f"state_dict: {where} names no parameter of its param_groups"
                raise ValueError(msg)
            if not isinstance(entry, dict):
                msg = f"{where} must be a dict, got {type(entry).__name__}"
                raise TypeError(msg)
            self._check_state(entry, where)
            i, group = group_of[old]
            stepped = entry["step"] > 0  # then it has every buffer of its rule
            lacking = [k for k in self._buffer_names(group) if (stepped or k in entry)
                       and not isinstance(entry.get(k), np.ndarray)]  # fmt: skip
            if lacking:
                msg = f"{where} lacks the state array(s) {', '.join(map(repr, lacking))}"
                raise ValueError(msg)
            state[i] = {}
            for slot, (key, value) in enumerate(entry.items()):
                if isinstance(value, np.ndarray):
                    self._check_saved_array(f"{where}[{key!r}]", key, value, entry, params[i])
                    if not key.endswith("_absmax"):
                        arrays.setdefault((slot, key), []).append((i, value, entry))
                else:
                    state[i][key] = copy.deepcopy(value)
        group_at = dict(group_of.values())
        for (slot, key), saved in arrays.items():
            self._load_arrays(slot, key, saved, params, state, group_at)
        self.param_groups = new_groups
        self._plan = None
        self.state = state

    def _load_arrays(self, slot, key, saved, params, state, group_at) -> None:
        """Loads state arrays ``key`` in the storage this optimizer gives new states
        (torch casts loaded states to the parameter's dtype; here ``self.precision`` says):
        8-bit states are quantized or dequantized as needed, masters stay float32."""
        by_target: dict[Any, list[tuple[int, np.ndarray]]] = {}
        for i, saved_value, entry in saved:
            value = saved_value
            rule = self._checked_rule(group_at[i])
            signed = _core.signed_states.get(rule.kernel.__name__) if rule is not None else None
            names = rule.state_names if rule is not None else ()
            is_signed = signed[names.index(key)] if signed and key in names else True
            if key == "master":
                target: Any = np.dtype(np.float32)
            elif key in names or rule is None:
                target = self.precision.state_dtype_for(params[i], signed is not None)
            else:
                target = params[i].dtype
            if value.dtype == np.uint8:
                absmax = entry[_absmax_key(key)]
                if target == "8bit":  # as saved (quantizing again would not be lossless)
                    state[i][key], state[i][_absmax_key(key)] = value.copy(), absmax.copy()
                    continue
                value = dequantize_8bit(value, absmax, is_signed)  # their float32 values
            # a finite value that the storage turns into inf is an error, not a silent cast
            storage = np.dtype(np.float32) if target == "8bit" else np.dtype(target)
            with np.errstate(over="raise"):
                try:
                    value = np.asarray(value, storage)
                except FloatingPointError:
                    msg = (f"state_dict: state {key!r} of parameter {i} holds values beyond "
                           f"{storage}'s range")  # fmt: skip
                    raise ValueError(msg) from None
            if target == "8bit":
                codes, absmax = quantize_8bit(value, is_signed)
                state[i][key], state[i][_absmax_key(key)] = codes, absmax
            else:
                by_target.setdefault(target, []).append((i, value))
        for target, members in by_target.items():
            buffers = state_buffers([params[i] for i, _ in members], slot, dtype=target)
            for (i, value), buffer in zip(members, buffers):
                buffer[...] = value
                state[i][key] = buffer

    @staticmethod
    def _check_saved_array(
        where: str, key: str, value: np.ndarray, entry: dict[str, Any], param: np.ndarray
    ) -> None:
        """A state array of a state dict, before it is loaded: a storage the kernels take,
        the parameter's shape; 8-bit codes with their absmax (float32, one per block)."""
        if key.endswith("_absmax"):
            codes = entry.get(key[: -len("_absmax")])
            blocks = -(-param.size // 256)
            if not (isinstance(codes, np.ndarray) and codes.dtype == np.uint8):
                msg = f"{where}: an absmax without its 8-bit state {key[:-7]!r}"
                raise ValueError(msg)
            if value.dtype != np.float32 or value.shape != (blocks,):
                msg = (f"{where} has dtype {value.dtype} and shape {value.shape}, expected "
                       f"float32 of shape ({blocks},)")  # fmt: skip
                raise ValueError(msg)
            return
        if value.dtype not in _STATE_DTYPES:
            msg = f"{where} has dtype {value.dtype}, expected one of the state storages"
            raise TypeError(msg)
        if value.shape != param.shape:
            msg = f"{where} has shape {value.shape}"
            raise ValueError(msg)
        if value.dtype == np.uint8 and not isinstance(entry.get(_absmax_key(key)), np.ndarray):
            msg = f"{where}: 8-bit codes without {_absmax_key(key)!r}"
            raise ValueError(msg)
        if key == "master" and value.dtype != np.float32:
            msg = f"{where} has dtype {value.dtype}, expected float32"
            raise TypeError(msg)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        lines.append(")")
        return "\n".join(lines)
