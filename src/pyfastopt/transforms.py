"""Gradient transforms and parameter averaging, in C++, in place, one native call per list.

These follow torch's utilities where torch has one (``torch.nn.utils.clip_grad_norm_``,
``clip_grad_value_``, ``torch.optim.swa_utils``): pass the list of gradients (or averages)
and they are modified in place. Every list shares one dtype; checks as in
:mod:`pyfastopt.functional` (nothing is written if one fails).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

from . import _core
from . import _validate as check
from ._buffers import check_disjoint, written_array

__all__ = [
    "EMA",
    "GradientNoise",
    "add_gradient_noise_",
    "clip_grad_norm_",
    "clip_grad_value_",
    "ema_",
    "global_norm",
]

#: A list or tuple of arrays; any other object is taken as one array.
Arrays = Union[list[np.ndarray], tuple[np.ndarray, ...]]


def _as_list(arrays: np.ndarray | Arrays) -> list[np.ndarray]:
    return list(arrays) if isinstance(arrays, (list, tuple)) else [arrays]


def clip_grad_value_(grads: np.ndarray | Arrays, clip_value: float) -> None:
    """Clamps every gradient element to [-clip_value, clip_value], in place."""
    c = check.nonneg("clip_value", clip_value)
    _core.scale_clamp(_as_list(grads), (1.0, -c, c))


def global_norm(grads: np.ndarray | Arrays) -> float:
    """The L2 norm of all elements of all arrays, as one vector.

    Sums of squares are taken in double over fixed blocks and added in a fixed order, so the
    result has the same bits for any thread count.
    """
    sums = _core.sum_squares(_as_list(grads), (0.0,))
    return math.sqrt(float(sum(sums[:, 0].tolist())))


def clip_grad_norm_(grads: np.ndarray | Arrays, max_norm: float, eps: float = 1e-6) -> float:
    r"""Scales all gradients by :math:`\min(1, \mathrm{max\_norm} / (\lVert g \rVert + \epsilon))`
    in place, as ``torch.nn.utils.clip_grad_norm_``; returns the norm before clipping."""
    max_norm = check.nonneg("max_norm", max_norm)
    eps = check.nonneg("eps", eps)
    grads = _as_list(grads)
    total = global_norm(grads)
    coef = max_norm / (total + eps)
    if not coef >= 1.0:  # a NaN norm makes every gradient NaN, as torch's clipping does
        _core.scale_clamp(grads, (coef, -math.inf, math.inf))
    return total


@dataclass(frozen=True)
class GradientNoise:
    r"""Annealed Gaussian gradient noise (Neelakantan et al. 2015, "Adding Gradient Noise
    Improves Learning for Very Deep Networks"): :math:`g_t \leftarrow g_t + N(0, \sigma_t^2)`,
    :math:`\sigma_t^2 = \eta / (1 + t)^\gamma` (the paper uses
    :math:`\eta \in \{0.01, 0.3, 1\}`, :math:`\gamma = 0.55`).

    The noise is drawn by Philox4x32-10 from (seed, t, array index, element index): a run is
    reproducible and independent of the thread count. Set it on any optimizer with
    ``opt.gradient_noise = GradientNoise(eta=0.01, seed=0)``: each ``step(grads)`` then
    updates with noisy copies of ``grads`` (the caller's arrays are not modified), with t
    the optimizer's step count.
    """

    eta: float
    gamma: float = 0.55
    seed: int = 0

    def __post_init__(self) -> None:
        check.nonneg("eta", self.eta)
        check.nonneg("gamma", self.gamma)
        check.seed(self.seed)

    def sigma(self, step: int) -> float:
        """The standard deviation at step t."""
        # (1 + t) ** -gamma underflows to 0 where (1 + t) ** gamma would overflow
        return math.sqrt(self.eta * (1.0 + check.step(step)) ** -self.gamma)

    def add_(self, grads: np.ndarray | Arrays, step: int) -> None:
        """Adds the step's noise to grads in place; array i of the list draws stream i.
        Every array is checked before the first is written (mixed dtypes take a call each)."""
        grads = [written_array(g, f"grad[{i}]") for i, g in enumerate(_as_list(grads))]
        check_disjoint([(f"grad[{i}]", g) for i, g in enumerate(grads)], [])
        sigma = self.sigma(step)
        if len({g.dtype for g in grads}) <= 1:
            _core.gradient_noise(grads, self.seed, step, sigma)
        else:  # one call per array, each keyed by its index in the list
            for i, g in enumerate(grads):
                _core.gradient_noise([g], self.seed, step, sigma, i)


def add_gradient_noise_(
    grads: np.ndarray | Arrays, *, step: int, eta: float, gamma: float = 0.55, seed: int = 0
) -> None:
    """Adds :class:`GradientNoise` to gradients in place (one dtype per call)."""
    GradientNoise(eta, gamma, seed).add_(grads, step)


def ema_(averages: np.ndarray | Arrays, params: np.ndarray | Arrays, decay: float) -> None:
    r""":math:`a \leftarrow \text{decay}\, a + (1 - \text{decay})\, p`, in place, fused."""
    decay = check.closed_unit("decay", decay)
    _core.ema(_as_list(averages), _as_list(params), [], (decay, 1.0 - decay))


class EMA:
    """Averaged copies of parameters, updated after each optimizer step.

    ``EMA(params, decay=0.999)`` keeps an exponential moving average (Keras' ``use_ema``);
    ``EMA(params, decay=None)`` keeps the Polyak (uniform) average of all updates seen, as
    ``torch.optim.swa_utils.AveragedModel`` does by default. ``update()`` after each step;
    ``averages`` holds the averaged arrays; ``copy_to(params)`` writes them into arrays.
    """

    def __init__(self, params: Arrays, decay: float | None = 0.999) -> None:
        self.params = _as_list(params)
        self.decay = None if decay is None else check.closed_unit("decay", decay)
        self.averages = [np.array(p, order="C", copy=True) for p in self.params]
        self.count = 0  # updates averaged so far (the copy above counts as the first)

    def update(self) -> None:
        """Folds the parameters' current values into the averages (call after each step)."""
        self.count += 1
        decay = self.decay if self.decay is not None else self.count / (self.count + 1)
        ema_(self.averages, self.params, decay)

    def copy_to(self, params: Arrays) -> None:
        """Writes the averages into ``params`` (one array per average, each checked first)."""
        targets = _as_list(params)
        if len(targets) != len(self.averages):
            msg = f"params: expected {len(self.averages)} arrays, got {len(targets)}"
            raise ValueError(msg)
        targets = [written_array(t, f"params[{i}]", like=a)
                   for i, (t, a) in enumerate(zip(targets, self.averages))]  # fmt: skip
        check_disjoint([(f"params[{i}]", t) for i, t in enumerate(targets)], [])
        for target, avg in zip(targets, self.averages):
            np.copyto(target, avg)
