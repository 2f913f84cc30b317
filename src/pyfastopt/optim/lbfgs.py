r"""L-BFGS (Nocedal 1980; Liu & Nocedal 1989), as torch.optim.LBFGS."""

from __future__ import annotations

import copy
import numbers
from typing import Any, Callable

import numpy as np

from .. import _core
from .. import _validate as check
from .._buffers import as_array
from ..line_search import lbfgs_strong_wolfe
from .optimizer import Optimizer

#: The state keys torch.optim.LBFGS keeps (on its first parameter: here ``state[0]``).
STATE_KEYS = ("func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
              "prev_flat_grad", "prev_loss", "al")  # fmt: skip
LINE_SEARCHES = (None, "strong_wolfe")


class _History:
    """The last ``size`` curvature pairs: rows of two preallocated 2-D arrays used as a
    ring (the oldest row is overwritten, nothing is shifted), and ``ro`` = 1 / (y's).
    ``saved`` keeps the rows a step overwrites, so that a failed step can be undone."""

    def __init__(self, size: int, n: int, dtype: np.dtype) -> None:
        self.dirs = np.empty((size, n), dtype)  # y: gradient differences
        self.stps = np.empty((size, n), dtype)  # s: steps
        self.ro = np.empty(size, dtype)
        self.start = self.count = 0
        self.saved: dict[int, tuple[np.ndarray, np.ndarray, Any]] | None = None
        self.views: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])

    def rows(self) -> list[int]:
        """The rows in use, oldest first."""
        size = len(self.ro)
        return [(self.start + k) % size for k in range(self.count)]

    def next_row(self) -> int:
        """The row the next pair goes to (the oldest one when full), made current."""
        size = len(self.ro)
        row = (self.start + self.count) % size
        if self.count == size:
            if self.saved is not None and row not in self.saved:
                self.saved[row] = (self.dirs[row].copy(), self.stps[row].copy(), self.ro[row])
            self.start = (self.start + 1) % size
        else:
            self.count += 1
        return row

    def publish(self, state: dict[str, Any]) -> None:
        """torch's layout in ``state``: lists, oldest first, of views of the rows."""
        rows = self.rows()
        self.views = ([self.dirs[r] for r in rows], [self.stps[r] for r in rows])
        state["old_dirs"], state["old_stps"] = list(self.views[0]), list(self.views[1])
        state["ro"] = [self.ro[r] for r in rows]

    def published_in(self, state: dict[str, Any]) -> bool:
        """Whether ``state``'s lists are still the views :meth:`publish` wrote."""
        for key, views in zip(("old_dirs", "old_stps"), self.views):
            found = state.get(key)
            if not isinstance(found, list) or len(found) != len(views) or \
                    any(a is not b for a, b in zip(found, views)):  # fmt: skip
                return False
        return True


class LBFGS(Optimizer):
    r"""L-BFGS, as torch.optim.LBFGS: its algorithm, arguments, defaults and state, over
    NumPy arrays updated in place.

    **The closure.** pyfastopt's optimizers take gradients explicitly, and L-BFGS must
    evaluate the objective several times per step, so ``step(closure)`` takes a function
    that re-evaluates it at the current parameters and returns ``(loss, grads)``: the loss
    (a real scalar) and a list with one gradient per parameter (its shape and dtype, or
    None for zeros, as a missing ``.grad`` in torch) -- the NumPy analogue of torch's
    closure and of SciPy's ``jac=True``. ``step`` returns the loss at the first evaluation.

    **The algorithm.** With :math:`g` the flat gradient of all parameters, each of up to
    ``max_iter`` iterations of a step:

    1. stores the pair :math:`s = t d` (the last step), :math:`y = g - g_{prev}` if
       :math:`y^\top s > 10^{-10}` (else the pair would spoil the curvature model), keeping
       the last ``history_size`` pairs, and scales the initial inverse Hessian by
       :math:`H_0 = y^\top s / y^\top y` (``H_diag``);
    2. computes the direction :math:`d = -H g` by the two-loop recursion (Nocedal 1980):
       :math:`q = -g`; newest to oldest :math:`\alpha_i = \rho_i s_i^\top q`,
       :math:`q \mathrel{-}= \alpha_i y_i`; then :math:`r = H_0 q`; oldest to newest
       :math:`\beta_i = \rho_i y_i^\top r`, :math:`r \mathrel{+}= (\alpha_i - \beta_i) s_i`,
       with :math:`\rho_i = 1 / y_i^\top s_i` (the first iteration of all: :math:`d = -g`);
    3. steps by :math:`t d` with :math:`t =` ``lr`` (the very first iteration:
       :math:`\min(1, 1/\|g\|_1)\,` ``lr``), or, with ``line_search_fn="strong_wolfe"``,
       with the ``t`` that torch's strong Wolfe search finds from there
       (:func:`pyfastopt.line_search.lbfgs_strong_wolfe`: c1 = 1e-4, c2 = 0.9).

    Stopping rules, as torch's: a step returns at once if
    :math:`\|g\|_\infty \le` ``tolerance_grad``; iterations stop after ``max_iter`` of them,
    after ``max_eval`` evaluations, when :math:`\|g\|_\infty \le` ``tolerance_grad``, when
    the slope :math:`g^\top d > -`\ ``tolerance_change``, the step
    :math:`\|t d\|_\infty \le` ``tolerance_change`` or the change of loss
    :math:`<`\ ``tolerance_change``. Without a line search the last iteration of a step
    does not re-evaluate the objective (the next step starts with an evaluation).

    Sources: J. Nocedal, "Updating quasi-Newton matrices with limited storage" (Math.
    Comp. 1980); D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large
    scale optimization" (Math. Prog. 1989). The model of this implementation, whose
    decisions (and so iterates) it follows, is torch.optim.LBFGS (itself after Schmidt's
    minFunc).

    **State.** As torch, one parameter group only (ValueError otherwise), all parameters
    of one dtype (float32 or float64), and the state on the first parameter:
    ``self.state[0]`` holds torch's keys -- ``func_evals``, ``n_iter`` (ints), ``d``,
    ``prev_flat_grad`` (flat arrays), ``t``, ``H_diag``, ``prev_loss`` (scalars),
    ``old_dirs``, ``old_stps`` (lists of flat arrays, oldest first), ``ro``, ``al`` (lists of
    scalars) -- with NumPy arrays and scalars where torch has tensors, so that a state dict
    converts to and from torch's one value at a time. Scalars that torch keeps as 0-d
    tensors are NumPy scalars of the parameters' dtype, whose arithmetic (NumPy >= 2)
    rounds as torch's does.

    **Cost.** The history lives in two preallocated ``(history_size, n)`` arrays used as a
    ring (``old_dirs`` and ``old_stps`` are views of their rows), so that no step
    reallocates or shifts it; the two-loop recursion is one native call that makes each
    pair's axpy and the next pair's dot product in one pass (``2 history_size + 1`` passes
    over ``n`` per iteration, against three a pair through NumPy), its sums in double in a
    fixed order (the same bits for any thread count).
    Memory: ``2 (history_size + 3) n`` elements of the parameters' dtype.

    Bad input -- a closure that is not callable, or that returns the wrong number of
    gradients, or one of the wrong shape or dtype; invalid hyperparameters -- raises a
    TypeError/ValueError naming it, and changes no parameter and no state (a closure that
    fails during a step has the parameters and state restored).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if max_eval is None and isinstance(max_iter, numbers.Integral):
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)  # fmt: skip
        self._history: _History | None = None
        super().__init__(params, defaults)

    # -- hyperparameters and parameters ---------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds the one parameter group; a second raises ``ValueError``, as torch's LBFGS."""
        if self.param_groups:
            msg = "LBFGS doesn't support per-parameter options (parameter groups)"
            raise ValueError(msg)
        super().add_param_group(param_group)

    def _validate(self, group: dict[str, Any]) -> None:
        check.nonneg("lr", group["lr"])
        check.integer("max_iter", group["max_iter"], 1)
        check.integer("max_eval", group["max_eval"], 1)
        check.nonneg("tolerance_grad", group["tolerance_grad"])
        check.nonneg("tolerance_change", group["tolerance_change"])
        check.integer("history_size", group["history_size"], 1)
        fn = group["line_search_fn"]
        if fn is not None and not isinstance(fn, str):
            msg = f"line_search_fn must be None or a str, got {type(fn).__name__}"
            raise TypeError(msg)
        if fn not in LINE_SEARCHES:
            msg = f"Invalid line_search_fn: {fn!r} (must be None or 'strong_wolfe')"
            raise ValueError(msg)
        dtypes = {p.dtype for p in group["params"]}
        if len(dtypes) > 1 or not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
            msg = "params: LBFGS takes float32 or float64 parameters, all of one dtype"
            raise TypeError(msg)

    def _params(self) -> tuple[list[np.ndarray], np.dtype, int]:
        params = self.param_groups[0]["params"]
        return params, params[0].dtype, sum(p.size for p in params)

    def _evaluate(self, closure: Callable[[], Any]) -> tuple[float, np.ndarray]:
        """``closure()`` checked: the loss as a float, the gradients as one flat array."""
        params, dtype, n = self._params()
        out = closure()
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            msg = "closure must return a pair (loss, grads)"
            raise TypeError(msg)
        loss, grads = out
        value = np.asarray(loss)
        if value.size != 1 or value.dtype.kind not in "biuf":
            msg = f"closure: the loss must be a real scalar, got {type(loss).__name__}"
            raise TypeError(msg)
        if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
            msg = "grads (the closure's) must be a list with one gradient per parameter"
            raise TypeError(msg)
        if len(grads) != len(params):
            msg = f"grads: expected {len(params)} gradients (one per parameter), got {len(grads)}"
            raise ValueError(msg)
        flat = np.empty(n, dtype)
        start = 0
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                flat[start : start + p.size] = 0
            else:
                a = as_array(g, f"grads[{i}]")
                check.like_param(f"grads[{i}]", a.dtype, a.shape, p.dtype, p.shape)
                flat[start : start + p.size] = a.reshape(-1)
            start += p.size
        return float(value.reshape(())), flat

    def _add(self, t: Any, d: np.ndarray, scratch: np.ndarray) -> None:
        """params += t d, in place (t rounded to the parameters' dtype, as torch's alpha)."""
        params, dtype, _ = self._params()
        np.multiply(d, dtype.type(t), out=scratch)
        start = 0
        for p in params:
            np.add(p, scratch[start : start + p.size].reshape(p.shape), out=p)
            start += p.size

    def _set(self, flat: np.ndarray) -> None:
        params, _, _ = self._params()
        start = 0
        for p in params:
            p[...] = flat[start : start + p.size].reshape(p.shape)
            start += p.size

    def _flat_params(self) -> np.ndarray:
        params, _, _ = self._params()
        return np.concatenate([p.reshape(-1) for p in params])

    # -- the step --------------------------------------------------------------------------

    def step(self, closure: Callable[[], Any]) -> float:  # type: ignore[override]
        """Up to ``max_iter`` L-BFGS iterations; returns the loss at the first evaluation.

        Args:
            closure: ``closure() -> (loss, grads)`` at the current parameters (see the
                class's docstring).
        """
        if not callable(closure):
            msg = f"closure must be callable, got {type(closure).__name__}"
            raise TypeError(msg)
        if self.gradient_noise is not None:
            msg = "gradient_noise: LBFGS takes no gradient noise (a full-batch method)"
            raise ValueError(msg)
        group = self.param_groups[0]
        self._validate(group)
        state = self.state.get(0)
        if state is not None:
            self._check_lbfgs_state(state, "state[0]")
        history = self._history_for(state, group["history_size"])
        orig_loss, flat_grad = self._evaluate(closure)  # before anything is written
        start = self._flat_params()
        saved_state = None if state is None else {
            k: (v.copy() if isinstance(v, np.ndarray) else copy.copy(v))
            for k, v in state.items()}  # fmt: skip
        saved_ring = (history.start, history.count, history.ro.copy())
        history.saved = {}
        try:
            self._iterate(closure, group, orig_loss, flat_grad, history)
        except BaseException:
            self._set(start)
            for row, (y, s, _) in history.saved.items():
                history.dirs[row], history.stps[row] = y, s
            history.start, history.count, history.ro[...] = saved_ring
            if saved_state is None:
                self.state.pop(0, None)
            else:
                self.state[0] = saved_state
                if "old_dirs" in saved_state:  # views of the restored rows again
                    history.publish(saved_state)
            raise
        finally:
            history.saved = None
        return orig_loss

    def _history_for(self, state: dict[str, Any] | None, size: int) -> _History:
        """The ring holding ``state``'s pairs: the current one, or one rebuilt from the
        state's lists (a loaded or edited state, a changed history_size)."""
        _, dtype, n = self._params()
        ring = self._history
        if ring is not None and len(ring.ro) == size and ring.dirs.dtype == dtype and (
                ring.count == 0 if state is None else ring.published_in(state)):  # fmt: skip
            if state is not None:  # ro is a list of scalars: take the state's
                ring.ro[ring.rows()] = np.asarray(state["ro"], dtype)
            return ring
        ring = self._history = _History(size, n, dtype)
        if state is not None and state.get("old_dirs") is not None:
            pairs = list(zip(state["old_dirs"], state["old_stps"], state["ro"]))[-size:]
            for y, s, ro in pairs:  # the newest history_size pairs
                row = ring.next_row()
                ring.dirs[row], ring.stps[row], ring.ro[row] = y, s, ro
            ring.publish(state)
        return ring

    def _iterate(self, closure: Callable[[], Any], group: dict[str, Any], orig_loss: float,
                 flat_grad: np.ndarray, history: _History) -> None:  # fmt: skip
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        _, dtype, n = self._params()
        state = self.state.setdefault(0, {"func_evals": 0, "n_iter": 0})
        state["func_evals"] += 1
        evals = 1
        loss = orig_loss
        if np.abs(flat_grad).max() <= tol_grad:
            return
        d, t, H_diag = state.get("d"), state.get("t"), state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        scratch = np.empty(n, dtype)
        iters = 0
        while iters < max_iter:
            iters += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = np.negative(flat_grad)
                history.start = history.count = 0
                H_diag = 1
            else:
                assert d is not None
                assert prev_flat_grad is not None
                H_diag = self._remember(history, flat_grad, prev_flat_grad, d, t, H_diag)
                d = self._direction(history, state, flat_grad, H_diag)
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss
            # the first step of all is at most lr long in the l1 sense
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad @ d
            if gtd > -tol_change:  # not downhill enough to go on
                break
            used = 0
            if group["line_search_fn"] is not None:
                loss, flat_grad, t, used = self._line_search(
                    closure, t, d, loss, flat_grad, gtd, max_eval - evals, scratch)
                self._add(t, d, scratch)
                done = np.abs(flat_grad).max() <= tol_grad
            else:
                self._add(t, d, scratch)
                done = False
                if iters != max_iter:  # the next step evaluates the last point anyway
                    loss, flat_grad = self._evaluate(closure)
                    done = np.abs(flat_grad).max() <= tol_grad
                    used = 1
            evals += used
            state["func_evals"] += used
            if iters == max_iter or evals >= max_eval or done:
                break
            np.multiply(d, dtype.type(t), out=scratch)
            if np.abs(scratch).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break  # no progress
        state.update(d=d, t=t, H_diag=H_diag, prev_flat_grad=prev_flat_grad,
                     prev_loss=prev_loss)  # fmt: skip
        history.publish(state)

    @staticmethod
    def _remember(history: _History, flat_grad: np.ndarray, prev_flat_grad: np.ndarray,
                  d: np.ndarray, t: Any, H_diag: Any) -> Any:  # fmt: skip
        """Stores the last pair (s, y) if its curvature y's is positive; the new H_diag."""
        y = np.subtract(flat_grad, prev_flat_grad)
        s = np.multiply(d, d.dtype.type(t))
        ys = y @ s
        if not ys > 1e-10:  # no positive curvature: the pair would spoil the model
            return H_diag
        row = history.next_row()
        history.dirs[row], history.stps[row] = y, s
        history.ro[row] = 1.0 / ys
        return ys / (y @ y)

    @staticmethod
    def _direction(history: _History, state: dict[str, Any], flat_grad: np.ndarray,
                   H_diag: Any) -> np.ndarray:  # fmt: skip
        """-H g by the two-loop recursion over the ring's rows: one native call, one pass
        over memory per pair and loop (each axpy fused with the next dot product)."""
        size = len(history.ro)
        al = state.get("al")
        if not isinstance(al, list) or len(al) != size:
            al = state["al"] = [None] * size
        rows = history.rows()
        q, coefficients = np.empty_like(flat_grad), np.empty(size, flat_grad.dtype)
        _core.lbfgs_direction(flat_grad, history.dirs, history.stps, history.ro,
                              np.asarray(rows, np.int64), float(H_diag), q,
                              coefficients)  # fmt: skip
        al[: len(rows)] = coefficients[: len(rows)]  # (NumPy scalars of the dtype)
        return q

    def _line_search(self, closure: Callable[[], Any], t: Any, d: np.ndarray, loss: float,
                     flat_grad: np.ndarray, gtd: Any, max_ls: int,
                     scratch: np.ndarray) -> tuple[float, np.ndarray, Any, int]:  # fmt: skip
        """torch's strong Wolfe search along d from the current parameters (restored)."""
        x = self._flat_params()

        def line(step: Any) -> tuple[float, np.ndarray, Any]:
            self._add(step, d, scratch)
            try:
                value, grad = self._evaluate(closure)
            finally:
                self._set(x)
            return value, grad, grad @ d

        return lbfgs_strong_wolfe(line, t, loss, flat_grad, gtd, d_norm=np.abs(d).max(),
                                  tolerance_change=self.param_groups[0]["tolerance_change"],
                                  max_ls=max_ls)  # fmt: skip

    # -- state ------------------------------------------------------------------------------

    def _check_lbfgs_state(self, state: Any, name: str) -> None:
        """A state as a step or load_state_dict takes it: torch's keys and layout, flat
        arrays of the parameters' size."""
        _, _, n = self._params()
        if not isinstance(state, dict):
            msg = f"{name} must be a dict, got {type(state).__name__}"
            raise TypeError(msg)
        unknown = [k for k in state if k not in STATE_KEYS]
        if unknown:
            msg = f"{name} has unknown key(s) {', '.join(map(repr, unknown))}"
            raise ValueError(msg)
        for key in ("func_evals", "n_iter"):
            check.steps_taken(f"{name}[{key!r}]", state.get(key))

        def scalar(value: Any, where: str) -> None:
            if not (isinstance(value, (numbers.Real, np.ndarray, np.generic))
                    and np.asarray(value).shape == () and np.asarray(value).dtype.kind in "biuf"
                    and not isinstance(value, bool)):  # fmt: skip
                msg = f"{where} must be a real scalar, got {type(value).__name__}"
                raise TypeError(msg)

        def flat(value: Any, where: str) -> None:
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                msg = f"{where} must be a float array, got {type(value).__name__}"
                raise TypeError(msg)
            if value.shape != (n,):
                msg = f"{where} has shape {value.shape}, expected ({n},)"
                raise ValueError(msg)

        started = state["n_iter"] > 0
        for key in ("d", "prev_flat_grad"):
            if started or state.get(key) is not None:
                flat(state.get(key), f"{name}[{key!r}]")
        for key in ("t", "H_diag", "prev_loss"):
            if started or state.get(key) is not None:
                scalar(state.get(key), f"{name}[{key!r}]")
        lists = [state.get(k) for k in ("old_dirs", "old_stps", "ro")]
        count = 0
        if started or any(v is not None for v in lists):
            for key, value in zip(("old_dirs", "old_stps", "ro"), lists):
                if not isinstance(value, list):
                    msg = f"{name}[{key!r}] must be a list, got {type(value).__name__}"
                    raise TypeError(msg)
                count = len(value) if key == "old_dirs" else count
                if len(value) != count:
                    msg = f"{name}[{key!r}] has {len(value)} entries, 'old_dirs' {count}"
                    raise ValueError(msg)
                for j, v in enumerate(value):
                    where = f"{name}[{key!r}][{j}]"
                    scalar(v, where) if key == "ro" else flat(v, where)
        al = state.get("al")
        if al is not None:
            if not isinstance(al, list):
                msg = f"{name}['al'] must be a list, got {type(al).__name__}"
                raise TypeError(msg)
            for j, v in enumerate(al):
                if v is not None:
                    scalar(v, f"{name}['al'][{j}]")

    def _converted(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A checked state entry in this optimizer's storage: arrays copied in the
        parameters' dtype, 0-d arrays and scalars as scalars of that dtype."""
        _, dtype, _ = self._params()

        def value(v: Any) -> Any:
            if isinstance(v, np.ndarray) and v.ndim == 1:
                return np.array(v, dtype=dtype)
            if isinstance(v, (np.ndarray, np.floating)):
                return dtype.type(np.asarray(v).reshape(()))
            return v  # None, ints, Python floats (as torch keeps them)

        out: dict[str, Any] = {}
        for key, v in entry.items():
            out[key] = [value(x) for x in v] if isinstance(v, list) else value(v)
        return out

    def state_dict(self) -> dict[str, Any]:
        """torch's structure: ``{"state": {0: {...}}, "param_groups": [{..., "params":
        [0, ..., n - 1]}]}``, a deep copy (lists of independent arrays)."""
        return super().state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a :meth:`state_dict`, or a torch.optim.LBFGS one whose tensors were
        made NumPy arrays (0-d ones may be arrays or scalars). Everything is checked first;
        a failed load changes nothing."""
        if not (isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict)
                and isinstance(state_dict.get("param_groups"), (list, tuple))):  # fmt: skip
            msg = "state_dict must be a dict with a 'state' dict and a 'param_groups' list"
            raise TypeError(msg)
        groups = state_dict["param_groups"]
        if len(groups) != 1:
            msg = "state_dict: LBFGS has one parameter group"
            raise ValueError(msg)
        saved = groups[0]
        params = self.param_groups[0]["params"]
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
            msg = "state_dict['param_groups'][0] must be a dict with a 'params' list"
            raise TypeError(msg)
        if len(saved["params"]) != len(params):
            msg = "state_dict: the parameter group has a different number of parameters"
            raise ValueError(msg)
        missing = [k for k in self.defaults if k not in saved]
        if missing:
            msg = f"state_dict['param_groups'][0] lacks {', '.join(map(repr, missing))}"
            raise ValueError(msg)
        group = {k: copy.deepcopy(saved[k]) for k in self.defaults}
        group["params"] = params
        self._validate(group)
        entries = state_dict["state"]
        first = saved["params"][0]
        if any(k != first for k in entries):
            msg = "state_dict: LBFGS keeps its state on the first parameter only"
            raise ValueError(msg)
        state = {}
        if first in entries:
            self._check_lbfgs_state(entries[first], f"state_dict['state'][{first!r}]")
            state[0] = self._converted(entries[first])
        self.param_groups = [group]
        self.state = state
        self._history = None  # rebuilt from the loaded lists at the next step
