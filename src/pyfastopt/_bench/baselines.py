"""NumPy formulations of every optimizer step: the peers a NumPy user would write.

Each is the fastest in-place NumPy we know for the step: whole-array ufuncs with ``out=``
everywhere, preallocated scratch, scalars folded in double precision then rounded once to the
dtype (as pyfastopt's Python layer does), and no temporary allocated inside a step. The
passes follow the C++ rule's order of operations where that costs nothing, so results agree
with pyfastopt to rounding (``pyfastopt bench`` checks each against pyfastopt before timing).

``block=`` runs the same passes over cache-sized blocks of each array (views precomputed), so
the scratch and the block's buffers stay in cache between passes: the best NumPy can do on
arrays larger than the cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

#: Elements per block of the blocked formulations: 128 Ki (512 KiB per float32 array). On
#: the reference machine 2^17-2^18 were the fastest of 2^12 ... 2^18 for Adam, SGD and
#: Rprop at 2^20 and 2^23 elements (smaller blocks pay NumPy's per-call cost once more).
NUMPY_BLOCK = 1 << 17

class Formulation(NamedTuple):
    """How NumPy runs one optimizer's step."""

    passes: int  #: whole-array ufunc passes per step (each reads/writes the arrays again)
    scratch: str  #: one letter per scratch array: "f" (the dtype) or "b" (bool)
    coeffs: Callable[[dict[str, Any], int, dict[str, Any]], tuple[float, ...]]
    #: (hparams, step, memo) -> per-step scalars (memo carries scalar state, NAdam's mu product)
    body: Callable[..., None]  #: (p, g, states, scratch, c): one step on (views of) arrays


# --------------------------------------------------------------------------------------
# Shared pieces


def _betas(hp):
    return hp.get("betas", (0.9, 0.999))


def _moments(g, m, v, t, b1, omb1, b2, omb2) -> None:
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2  (7 passes, scratch t)."""
    np.multiply(m, b1, out=m)
    np.multiply(g, omb1, out=t)
    np.add(m, t, out=m)
    np.multiply(v, b2, out=v)
    np.multiply(g, g, out=t)
    np.multiply(t, omb2, out=t)
    np.add(v, t, out=v)


# --------------------------------------------------------------------------------------
# The formulations


def _sgd_coeffs(hp, step, memo):
    first = step == 1  # torch starts the buffer at the first gradient
    return (0.0 if first else hp["momentum"], hp["momentum"], -hp["lr"])


def _sgd_body(p, g, s, tmp, c) -> None:
    (b,), (t,) = s, tmp
    decay, _, neg_lr = c
    np.multiply(b, decay, out=b)  # b = mu b + g   (dampening 0)
    np.add(b, g, out=b)
    np.multiply(b, neg_lr, out=t)  # p = p - lr b
    np.add(p, t, out=p)


def _nesterov_body(p, g, s, tmp, c) -> None:
    (b,), (t,) = s, tmp
    decay, mu, neg_lr = c
    np.multiply(b, decay, out=b)
    np.add(b, g, out=b)
    np.multiply(b, mu, out=t)  # d = g + mu b
    np.add(t, g, out=t)
    np.multiply(t, neg_lr, out=t)
    np.add(p, t, out=p)


def _adagrad_coeffs(hp, step, memo):
    return (hp.get("eps", 1e-10), -hp["lr"] / (1.0 + (step - 1) * hp.get("lr_decay", 0.0)))


def _adagrad_body(p, g, s, tmp, c) -> None:
    (acc,), (t,) = s, tmp
    eps, neg_clr = c
    np.multiply(g, g, out=t)  # sum += g^2
    np.add(acc, t, out=acc)
    np.sqrt(acc, out=t)  # p -= clr g / (sqrt(sum) + eps)
    np.add(t, eps, out=t)
    np.divide(g, t, out=t)
    np.multiply(t, neg_clr, out=t)
    np.add(p, t, out=p)


def _adadelta_coeffs(hp, step, memo):
    rho = hp["rho"]
    return (rho, 1.0 - rho, hp["eps"], -hp["lr"])


def _adadelta_body(p, g, s, tmp, c) -> None:
    (sq, acc), (t, u) = s, tmp
    rho, omr, eps, neg_lr = c
    np.multiply(g, g, out=t)  # sq = rho sq + (1-rho) g^2
    np.multiply(t, omr, out=t)
    np.multiply(sq, rho, out=sq)
    np.add(sq, t, out=sq)
    np.add(acc, eps, out=t)  # delta = sqrt((acc + eps) / (sq + eps)) g  (one root fewer)
    np.add(sq, eps, out=u)
    np.divide(t, u, out=t)
    np.sqrt(t, out=t)
    np.multiply(t, g, out=t)
    np.multiply(t, t, out=u)  # acc = rho acc + (1-rho) delta^2
    np.multiply(u, omr, out=u)
    np.multiply(acc, rho, out=acc)
    np.add(acc, u, out=acc)
    np.multiply(t, neg_lr, out=t)  # p -= lr delta
    np.add(p, t, out=p)


def _rmsprop_coeffs(hp, step, memo):
    a = hp["alpha"]
    return (a, 1.0 - a, hp["eps"], -hp["lr"])


def _rmsprop_body(p, g, s, tmp, c) -> None:
    (sq,), (t,) = s, tmp
    a, oma, eps, neg_lr = c
    np.multiply(g, g, out=t)  # sq = a sq + (1-a) g^2
    np.multiply(t, oma, out=t)
    np.multiply(sq, a, out=sq)
    np.add(sq, t, out=sq)
    np.sqrt(sq, out=t)  # p -= lr g / (sqrt(sq) + eps)
    np.add(t, eps, out=t)
    np.divide(g, t, out=t)
    np.multiply(t, neg_lr, out=t)
    np.add(p, t, out=p)


def _adam_coeffs(hp, step, memo):
    b1, b2 = _betas(hp)
    lr = hp["lr"]
    decay = 1.0 - lr * hp.get("weight_decay", 0.0) if hp.get("decoupled") else 1.0
    bc1, bc2 = 1.0 - b1**step, 1.0 - b2**step
    return (decay, b1, 1.0 - b1, b2, 1.0 - b2, 1.0 / math.sqrt(bc2), hp["eps"], -lr / bc1)


def _adam_body(p, g, s, tmp, c) -> None:
    (m, v), (t,) = s, tmp
    decay, b1, omb1, b2, omb2, inv_sqrt_bc2, eps, neg_step = c
    if decay != 1:  # AdamW: p = (1 - lr wd) p
        np.multiply(p, decay, out=p)
    _moments(g, m, v, t, b1, omb1, b2, omb2)
    np.sqrt(v, out=t)  # p -= lr/bc1 m / (sqrt(v)/sqrt(bc2) + eps)
    np.multiply(t, inv_sqrt_bc2, out=t)
    np.add(t, eps, out=t)
    np.divide(m, t, out=t)
    np.multiply(t, neg_step, out=t)
    np.add(p, t, out=p)


def _adamw_coeffs(hp, step, memo):
    return _adam_coeffs({**hp, "decoupled": True}, step, memo)


def _adamax_coeffs(hp, step, memo):
    b1, b2 = _betas(hp)
    return (b1, 1.0 - b1, b2, hp["eps"], -hp["lr"] / (1.0 - b1**step))


def _adamax_body(p, g, s, tmp, c) -> None:
    (m, u), (t,) = s, tmp
    b1, omb1, b2, eps, neg_clr = c
    np.multiply(m, b1, out=m)  # m = b1 m + (1-b1) g
    np.multiply(g, omb1, out=t)
    np.add(m, t, out=m)
    np.multiply(u, b2, out=u)  # u = max(b2 u, |g| + eps)
    np.absolute(g, out=t)
    np.add(t, eps, out=t)
    np.maximum(u, t, out=u)
    np.divide(m, u, out=t)  # p -= lr/bc1 m / u
    np.multiply(t, neg_clr, out=t)
    np.add(p, t, out=p)


def _nadam_coeffs(hp, step, memo):
    b1, b2 = _betas(hp)
    lr, psi = hp["lr"], hp.get("momentum_decay", 4e-3)
    mu = b1 * (1.0 - 0.5 * 0.96 ** (step * psi))
    mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
    prod = memo.get("mu_product", 1.0) * mu
    memo["mu_product"] = prod
    return (b1, 1.0 - b1, b2, 1.0 - b2, 1.0 - b2**step, hp["eps"],
            -lr * (1.0 - mu) / (1.0 - prod), -lr * mu_next / (1.0 - prod * mu_next))  # fmt: skip


def _nadam_body(p, g, s, tmp, c) -> None:
    (m, v), (t, u) = s, tmp
    b1, omb1, b2, omb2, bc2, eps, neg_gc, neg_ac = c
    _moments(g, m, v, t, b1, omb1, b2, omb2)
    np.divide(v, bc2, out=t)  # d = sqrt(v / bc2) + eps
    np.sqrt(t, out=t)
    np.add(t, eps, out=t)
    np.divide(g, t, out=u)  # p += a_g g / d + a_m m / d
    np.multiply(u, neg_gc, out=u)
    np.add(p, u, out=p)
    np.divide(m, t, out=u)
    np.multiply(u, neg_ac, out=u)
    np.add(p, u, out=p)


def _radam_coeffs(hp, step, memo):
    b1, b2 = _betas(hp)
    lr = hp["lr"]
    bc1, bc2 = 1.0 - b1**step, 1.0 - b2**step
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho_t = rho_inf - 2.0 * step * b2**step / bc2
    head = (b1, 1.0 - b1, b2, 1.0 - b2)
    if rho_t <= 5.0:
        return (*head, 0.0, math.sqrt(bc2), hp["eps"], -lr / bc1)
    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return (*head, 1.0, math.sqrt(bc2), hp["eps"], -lr * rect / bc1)


def _radam_body(p, g, s, tmp, c) -> None:
    (m, v), (t,) = s, tmp
    b1, omb1, b2, omb2, rectified, sqrt_bc2, eps, neg_step = c
    _moments(g, m, v, t, b1, omb1, b2, omb2)
    if rectified:  # p -= lr r_t/bc1 m sqrt(bc2) / (sqrt(v) + eps)
        np.sqrt(v, out=t)
        np.add(t, eps, out=t)
        np.divide(sqrt_bc2, t, out=t)
        np.multiply(t, m, out=t)
        np.multiply(t, neg_step, out=t)
    else:  # warm-up: SGD with momentum
        np.multiply(m, neg_step, out=t)
    np.add(p, t, out=p)


def _rprop_coeffs(hp, step, memo):
    (eta_minus, eta_plus), (lo, hi) = hp["etas"], hp["step_sizes"]
    return (eta_minus, eta_plus, lo, hi)


def _rprop_body(p, g, s, tmp, c) -> None:
    (prev, size), (t, pos, neg) = s, tmp
    eta_minus, eta_plus, lo, hi = c
    np.multiply(g, prev, out=t)  # agreement of the signs
    np.greater(t, 0, out=pos)
    np.less(t, 0, out=neg)
    np.multiply(size, eta_plus, out=size, where=pos)  # step size up, down, or kept
    np.multiply(size, eta_minus, out=size, where=neg)
    np.clip(size, lo, hi, out=size)
    np.copyto(prev, g)  # g <- 0 where the sign flipped; prev <- g
    np.copyto(prev, 0, where=neg)
    np.sign(prev, out=t)  # p -= sign(g) step
    np.multiply(t, size, out=t)
    np.subtract(p, t, out=p)


def _adabound_coeffs(hp, step, memo):
    b1, b2 = _betas(hp)
    lr, gamma = hp["lr"], hp["gamma"]
    bound = hp["final_lr"]  # lr / initial_lr = 1: no schedule
    return (b1, 1.0 - b1, b2, 1.0 - b2, hp["eps"],
            lr * math.sqrt(1.0 - b2**step) / (1.0 - b1**step),
            bound * (1.0 - 1.0 / (gamma * step + 1.0)),
            bound * (1.0 + 1.0 / (gamma * step)))  # fmt: skip


def _adabound_body(p, g, s, tmp, c) -> None:
    (m, v), (t,) = s, tmp
    b1, omb1, b2, omb2, eps, step_size, lower, upper = c
    _moments(g, m, v, t, b1, omb1, b2, omb2)
    np.sqrt(v, out=t)  # rate = clip(step_size / (sqrt(v) + eps), lower, upper)
    np.add(t, eps, out=t)
    np.divide(step_size, t, out=t)
    np.clip(t, lower, upper, out=t)
    np.multiply(t, m, out=t)  # p -= rate m
    np.subtract(p, t, out=p)


def _lion_coeffs(hp, step, memo):
    b1, b2 = _betas(hp)
    lr = hp["lr"]
    return (1.0 - lr * hp.get("weight_decay", 0.0), b1, 1.0 - b1, b2, 1.0 - b2, -lr)


def _lion_body(p, g, s, tmp, c) -> None:
    (m,), (t, u) = s, tmp
    decay, b1, omb1, b2, omb2, neg_lr = c
    np.multiply(m, b1, out=t)  # u = sign(b1 m + (1-b1) g)
    np.multiply(g, omb1, out=u)
    np.add(t, u, out=t)
    np.sign(t, out=t)
    if decay != 1:
        np.multiply(p, decay, out=p)
    np.multiply(t, neg_lr, out=t)  # p -= lr u
    np.add(p, t, out=p)
    np.multiply(m, b2, out=m)  # m = b2 m + (1-b2) g
    np.multiply(g, omb2, out=u)
    np.add(m, u, out=m)


#: Every optimizer of :data:`.optimizers.OPTIMIZERS`, by name.
FORMULATIONS: dict[str, Formulation] = {
    "sgd": Formulation(4, "f", _sgd_coeffs, _sgd_body),
    "nesterov": Formulation(6, "f", _sgd_coeffs, _nesterov_body),
    "adagrad": Formulation(7, "f", _adagrad_coeffs, _adagrad_body),
    "adadelta": Formulation(15, "ff", _adadelta_coeffs, _adadelta_body),
    "rmsprop": Formulation(9, "f", _rmsprop_coeffs, _rmsprop_body),
    "adam": Formulation(13, "f", _adam_coeffs, _adam_body),
    "adamw": Formulation(14, "f", _adamw_coeffs, _adam_body),
    "adamax": Formulation(10, "f", _adamax_coeffs, _adamax_body),
    "nadam": Formulation(16, "ff", _nadam_coeffs, _nadam_body),
    "radam": Formulation(12, "f", _radam_coeffs, _radam_body),
    "rprop": Formulation(11, "fbb", _rprop_coeffs, _rprop_body),
    "adabound": Formulation(12, "f", _adabound_coeffs, _adabound_body),
    "lion": Formulation(9, "ff", _lion_coeffs, _lion_body),
}


# --------------------------------------------------------------------------------------
# Driver


def numpy_stepper(
    name: str,
    hparams: dict[str, Any],
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    states: Sequence[Sequence[np.ndarray]],
    *,
    block: int | None = None,
    step: int | None = None,
) -> Callable[[], None]:
    """A zero-argument call running one NumPy step of optimizer ``name`` on every array.

    ``states[i]`` holds parameter i's state buffers (torch's names, functional order).
    ``step`` fixes the step number of every call (the per-step scalars are still computed
    each call); None counts 1, 2, 3, ... ``block`` splits arrays larger than it into blocks.
    Scratch and every view are made here, once.
    """
    form = FORMULATIONS[name]
    dtype = np.dtype(params[0].dtype)
    longest = max(p.size for p in params)
    width = longest if block is None else min(block, longest)
    pool = [np.zeros(width, dtype if kind == "f" else np.bool_) for kind in form.scratch]
    work = []  # (p, g, states, scratch) views: one per array, or one per block
    for param, grad, state in zip(params, grads, states):
        p, g, s = param.reshape(-1), grad.reshape(-1), [x.reshape(-1) for x in state]
        n = p.size
        edges = [0, n] if block is None or n <= block else [*range(0, n, block), n]
        for lo, hi in zip(edges, edges[1:]):
            work.append((p[lo:hi], g[lo:hi], [x[lo:hi] for x in s], [t[: hi - lo] for t in pool]))
    body = form.body
    memo: dict[str, Any] = {}
    counter = [0]
    cast = dtype.type

    def call() -> None:
        counter[0] += 1
        c = tuple(cast(x) for x in form.coeffs(hparams, step or counter[0], memo))
        for p, g, s, t in work:
            body(p, g, s, t, c)

    return call
