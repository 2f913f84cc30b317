"""Reference optimizers: the executable specification of pyfastopt.

Every optimizer that pyfastopt implements in C++ is written here once more in
plain NumPy (float64), transcribed from the published algorithm and from the
documented semantics of ``torch.optim`` (2.x, single-tensor code path).  The C++
kernels are tested against these classes, so this module favours clarity over
speed: one small class per optimizer, one line of code per line of math.

Usage::

    from pyfastopt import reference as ref

    opt = ref.Adam([p1, p2], lr=1e-3, betas=(0.9, 0.999))
    opt.step([g1, g2])        # p1, p2 are float64 arrays, updated IN PLACE
    opt.state[0]["exp_avg"]   # per-parameter state, torch's key names

Conventions shared by all classes
---------------------------------
* ``params`` is a list of float64 ``np.ndarray``; ``step(grads)`` updates them in
  place.  ``grads`` is aligned with ``params``; a ``None`` grad skips that
  parameter entirely (its state does not change, its step count does not move).
* Each grad is copied to a fresh float64 array; the caller's grad is never
  modified.
* ``state[i]`` is an empty dict until parameter ``i`` receives its first grad.
  It then holds ``"step"`` (a Python int, 1 during the first update) and the
  optimizer's buffers under torch's names, as float64 arrays.
* Hyperparameters live in ``defaults`` and are read at every step, so a learning
  rate schedule is applied by assigning ``opt.defaults["lr"]``.
* ``t`` below is ``state["step"]`` after incrementing (1, 2, 3, ...).
* ``maximize=True`` negates the gradient first: ``g = -g`` (before weight decay).
* Coupled weight decay (L2 penalty): ``g = g + weight_decay * p``.
* Decoupled weight decay (AdamW style): ``p = p * (1 - lr * weight_decay)``
  before the update.
* All arithmetic is elementwise unless written as ``dot``.
* No hyperparameter validation happens here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "ADOPT",
    "ASGD",
    "LAMB",
    "LARS",
    "SGD",
    "SWATS",
    "AMSBound",
    "AdEMAMix",
    "AdaBelief",
    "AdaBound",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdamWScheduleFree",
    "Adamax",
    "Lion",
    "Muon",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SGDScheduleFree",
    "Yogi",
    "delay_tolerant_adagrad",
    "elastic",
]


class _Reference:
    """Base class: holds params, defaults and state; loops over params.

    Subclasses implement ``_init_state(p)`` (the buffers created on the first
    step of a parameter) and ``_update(i, p, g, state)`` (one update of one
    parameter, with ``state["step"]`` already incremented).
    """

    def __init__(self, params, **defaults):
        self.params = list(params)
        self.defaults = dict(defaults)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def step(self, grads) -> None:
        grads = list(grads)
        if len(grads) != len(self.params):
            msg = f"got {len(grads)} grads for {len(self.params)} params"
            raise ValueError(msg)
        for i, (p, grad) in enumerate(zip(self.params, grads)):
            if grad is None:
                continue
            g = np.array(grad, dtype=np.float64, copy=True)
            if g.shape != p.shape:
                msg = f"grad {i} has shape {g.shape}, param has shape {p.shape}"
                raise ValueError(msg)
            state = self.state[i]
            if not state:
                state["step"] = 0
                state.update(self._init_state(p))
            state["step"] += 1
            self._update(i, p, g, state)
            # NumPy turns the result of arithmetic on 0-d arrays into scalars;
            # keep every buffer a float64 ndarray (Python floats stay floats).
            for key, value in state.items():
                if isinstance(value, np.generic):
                    state[key] = np.asarray(value, dtype=np.float64)

    def _init_state(self, p: np.ndarray) -> dict:
        return {}

    def _update(self, i: int, p: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------
# SGD
# ---------------------------------------------------------------------------


class SGD(_Reference):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Source: torch.optim.SGD (Sutskever et al. 2013 formulation of momentum)::

        g = g + weight_decay * p
        if momentum != 0:
            buf = g                                        (first step, no dampening)
            buf = momentum * buf + (1 - dampening) * g     (later steps)
            d = g + momentum * buf    if nesterov
            d = buf                   otherwise
        else:
            d = g
        p = p - lr * d

    State: "momentum_buffer" (only when momentum != 0).
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        maximize=False,
    ):
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        momentum = self.defaults["momentum"]
        dampening = self.defaults["dampening"]
        weight_decay = self.defaults["weight_decay"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p

        if momentum != 0:
            if "momentum_buffer" not in state:
                buf = g.copy()
            else:
                buf = momentum * state["momentum_buffer"] + (1 - dampening) * g
            state["momentum_buffer"] = buf
            d = g + momentum * buf if self.defaults["nesterov"] else buf
        else:
            d = g

        p -= lr * d


# ---------------------------------------------------------------------------
# Adagrad
# ---------------------------------------------------------------------------


class Adagrad(_Reference):
    """Adagrad (Duchi, Hazan & Singer 2011), torch.optim.Adagrad semantics.

        g   = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g^2                      (sum starts at initial_accumulator_value)
        p   = p - clr * g / (sqrt(sum) + eps)          torch form (default)
        p   = p - clr * g / sqrt(sum + eps)            eps_inside_sqrt=True

    The eps_inside_sqrt form is the textbook one (Duchi et al.; Ruder 2016,
    "An overview of gradient descent optimization algorithms").

    State: "sum".
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        maximize=False,
        eps_inside_sqrt=False,
    ):
        super().__init__(
            params,
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
            eps_inside_sqrt=eps_inside_sqrt,
        )

    def _init_state(self, p):
        value = float(self.defaults["initial_accumulator_value"])
        return {"sum": np.full(p.shape, value, dtype=np.float64)}

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        eps = self.defaults["eps"]
        weight_decay = self.defaults["weight_decay"]
        t = state["step"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p

        clr = lr / (1 + (t - 1) * self.defaults["lr_decay"])
        state["sum"] = state["sum"] + g * g

        if self.defaults["eps_inside_sqrt"]:
            std = np.sqrt(state["sum"] + eps)
        else:
            std = np.sqrt(state["sum"]) + eps
        p -= clr * g / std


# ---------------------------------------------------------------------------
# Adadelta
# ---------------------------------------------------------------------------


class Adadelta(_Reference):
    """Adadelta (Zeiler 2012), torch.optim.Adadelta semantics (with an lr factor).

        g     = g + weight_decay * p
        sq    = rho * sq + (1 - rho) * g^2
        delta = sqrt(acc + eps) / sqrt(sq + eps) * g
        acc   = rho * acc + (1 - rho) * delta^2
        p     = p - lr * delta

    State: "square_avg" (sq), "acc_delta" (acc).
    """

    def __init__(
        self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False
    ):
        super().__init__(
            params,
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
        )

    def _init_state(self, p):
        return {
            "square_avg": np.zeros(p.shape, dtype=np.float64),
            "acc_delta": np.zeros(p.shape, dtype=np.float64),
        }

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        rho = self.defaults["rho"]
        eps = self.defaults["eps"]
        weight_decay = self.defaults["weight_decay"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p

        sq = rho * state["square_avg"] + (1 - rho) * g * g
        delta = np.sqrt(state["acc_delta"] + eps) / np.sqrt(sq + eps) * g
        acc = rho * state["acc_delta"] + (1 - rho) * delta * delta
        state["square_avg"] = sq
        state["acc_delta"] = acc

        p -= lr * delta


# ---------------------------------------------------------------------------
# RMSprop
# ---------------------------------------------------------------------------


class RMSprop(_Reference):
    """RMSprop (Hinton, Coursera lecture 6e; centered form: Graves 2013).

    torch.optim.RMSprop semantics::

        g   = g + weight_decay * p
        sq  = alpha * sq + (1 - alpha) * g^2
        if centered:
            ga  = alpha * ga + (1 - alpha) * g
            var = sq - ga^2
        else:
            var = sq
        avg = sqrt(var) + eps               torch form (default)
        avg = sqrt(var + eps)               eps_inside_sqrt=True (Hinton / Ruder form)
        if momentum > 0:
            buf = momentum * buf + g / avg
            p   = p - lr * buf
        else:
            p   = p - lr * g / avg

    State: "square_avg", "momentum_buffer" (if momentum > 0), "grad_avg" (if
    centered); which buffers exist is decided on the parameter's first step.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        maximize=False,
        eps_inside_sqrt=False,
    ):
        super().__init__(
            params,
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
            eps_inside_sqrt=eps_inside_sqrt,
        )

    def _init_state(self, p):
        state = {"square_avg": np.zeros(p.shape, dtype=np.float64)}
        if self.defaults["momentum"] > 0:
            state["momentum_buffer"] = np.zeros(p.shape, dtype=np.float64)
        if self.defaults["centered"]:
            state["grad_avg"] = np.zeros(p.shape, dtype=np.float64)
        return state

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        alpha = self.defaults["alpha"]
        eps = self.defaults["eps"]
        momentum = self.defaults["momentum"]
        weight_decay = self.defaults["weight_decay"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p

        sq = alpha * state["square_avg"] + (1 - alpha) * g * g
        state["square_avg"] = sq

        if self.defaults["centered"]:
            ga = alpha * state["grad_avg"] + (1 - alpha) * g
            state["grad_avg"] = ga
            var = sq - ga * ga
        else:
            var = sq

        avg = np.sqrt(var + eps) if self.defaults["eps_inside_sqrt"] else np.sqrt(var) + eps

        if momentum > 0:
            buf = momentum * state["momentum_buffer"] + g / avg
            state["momentum_buffer"] = buf
            p -= lr * buf
        else:
            p -= lr * g / avg


# ---------------------------------------------------------------------------
# Adam family
# ---------------------------------------------------------------------------


class Adam(_Reference):
    """Adam (Kingma & Ba 2015) and AMSGrad (Reddi, Kale & Kumar 2018).

    torch.optim.Adam semantics::

        g    = g + weight_decay * p            (coupled, default)
        p    = p * (1 - lr * weight_decay)     (decoupled_weight_decay=True)
        m    = b1 * m + (1 - b1) * g
        v    = b2 * v + (1 - b2) * g^2
        bc1  = 1 - b1^t,  bc2 = 1 - b2^t       (both 1 if bias_correction=False)
        vmax = max(vmax, v);  vhat = vmax      (amsgrad)
        vhat = v                               (otherwise)
        p    = p - (lr / bc1) * m / (sqrt(vhat) / sqrt(bc2) + eps)

    bias_correction=False with amsgrad=True is AMSGrad exactly as written in
    Reddi et al. (and in Ruder's overview), which has no bias correction.

    State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (vmax, if amsgrad).
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        maximize=False,
        decoupled_weight_decay=False,
        bias_correction=True,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
            bias_correction=bias_correction,
        )

    def _init_state(self, p):
        state = {
            "exp_avg": np.zeros(p.shape, dtype=np.float64),
            "exp_avg_sq": np.zeros(p.shape, dtype=np.float64),
        }
        if self.defaults["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros(p.shape, dtype=np.float64)
        return state

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        b1, b2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        weight_decay = self.defaults["weight_decay"]
        t = state["step"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            if self.defaults["decoupled_weight_decay"]:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p

        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        state["exp_avg"] = m
        state["exp_avg_sq"] = v

        if self.defaults["bias_correction"]:
            bc1 = 1 - b1**t
            bc2 = 1 - b2**t
        else:
            bc1 = 1.0
            bc2 = 1.0

        if self.defaults["amsgrad"]:
            vhat = np.maximum(state["max_exp_avg_sq"], v)
            state["max_exp_avg_sq"] = vhat
        else:
            vhat = v

        denom = np.sqrt(vhat) / math.sqrt(bc2) + eps
        p -= (lr / bc1) * m / denom


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019), torch.optim.AdamW semantics.

    Exactly ``Adam(..., decoupled_weight_decay=True)``::

        p = p * (1 - lr * weight_decay)
        then the Adam update of the class above (gradient not decayed).
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        maximize=False,
        bias_correction=True,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
            bias_correction=bias_correction,
        )


class Adamax(_Reference):
    """Adamax, the infinity-norm variant of Adam (Kingma & Ba 2015, sec. 7.1).

    torch.optim.Adamax semantics (eps inside the max)::

        g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        u = max(b2 * u, |g| + eps)
        p = p - lr / (1 - b1^t) * m / u

    State: "exp_avg" (m), "exp_inf" (u).
    """

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        maximize=False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
        )

    def _init_state(self, p):
        return {
            "exp_avg": np.zeros(p.shape, dtype=np.float64),
            "exp_inf": np.zeros(p.shape, dtype=np.float64),
        }

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        b1, b2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        weight_decay = self.defaults["weight_decay"]
        t = state["step"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p

        m = b1 * state["exp_avg"] + (1 - b1) * g
        u = np.maximum(b2 * state["exp_inf"], np.abs(g) + eps)
        state["exp_avg"] = m
        state["exp_inf"] = u

        p -= lr / (1 - b1**t) * m / u


class NAdam(_Reference):
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam").

    torch.optim.NAdam semantics, with the momentum schedule mu_t::

        g          = g + weight_decay * p            (coupled, default)
        p          = p * (1 - lr * weight_decay)     (decoupled_weight_decay=True)
        mu_t       = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))
        mu_next    = b1 * (1 - 0.5 * 0.96^((t + 1) * momentum_decay))
        mu_product = mu_product * mu_t               (mu_product starts at 1.0)
        m          = b1 * m + (1 - b1) * g
        v          = b2 * v + (1 - b2) * g^2
        denom      = sqrt(v / (1 - b2^t)) + eps
        p          = p - lr * (1 - mu_t) / (1 - mu_product) * g / denom
        p          = p - lr * mu_next / (1 - mu_product * mu_next) * m / denom

    simplified=True is the simplified Nadam of Ruder's overview (constant
    b1, no momentum schedule)::

        p = p - lr / denom * (b1 * m / (1 - b1^t) + (1 - b1) * g / (1 - b1^t))

    (mu_product is still tracked there, but unused.)

    State: "exp_avg" (m), "exp_avg_sq" (v), "mu_product" (a Python float).
    """

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        maximize=False,
        simplified=False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            simplified=simplified,
        )

    def _init_state(self, p):
        return {
            "exp_avg": np.zeros(p.shape, dtype=np.float64),
            "exp_avg_sq": np.zeros(p.shape, dtype=np.float64),
            "mu_product": 1.0,
        }

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        b1, b2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        weight_decay = self.defaults["weight_decay"]
        momentum_decay = self.defaults["momentum_decay"]
        t = state["step"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            if self.defaults["decoupled_weight_decay"]:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p

        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = float(state["mu_product"] * mu_t)
        state["mu_product"] = mu_product

        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        state["exp_avg"] = m
        state["exp_avg_sq"] = v

        denom = np.sqrt(v / (1 - b2**t)) + eps

        if self.defaults["simplified"]:
            bc1 = 1 - b1**t
            p -= lr / denom * (b1 * m / bc1 + (1 - b1) * g / bc1)
        else:
            p -= lr * (1 - mu_t) / (1 - mu_product) * g / denom
            p -= lr * mu_next / (1 - mu_product * mu_next) * m / denom


class RAdam(_Reference):
    """RAdam, rectified Adam (Liu et al. 2020), torch.optim.RAdam semantics::

        g       = g + weight_decay * p            (coupled, default)
        p       = p * (1 - lr * weight_decay)     (decoupled_weight_decay=True)
        m       = b1 * m + (1 - b1) * g
        v       = b2 * v + (1 - b2) * g^2
        mhat    = m / (1 - b1^t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t   = rho_inf - 2 * t * b2^t / (1 - b2^t)
        if rho_t > 5:
            rect = sqrt((rho_t - 4) (rho_t - 2) rho_inf
                        / ((rho_inf - 4) (rho_inf - 2) rho_t))
            p = p - lr * mhat * rect * sqrt(1 - b2^t) / (sqrt(v) + eps)
        else:
            p = p - lr * mhat                      (un-adapted momentum step)

    State: "exp_avg" (m), "exp_avg_sq" (v).
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
        maximize=False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )

    def _init_state(self, p):
        return {
            "exp_avg": np.zeros(p.shape, dtype=np.float64),
            "exp_avg_sq": np.zeros(p.shape, dtype=np.float64),
        }

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        b1, b2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        weight_decay = self.defaults["weight_decay"]
        t = state["step"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            if self.defaults["decoupled_weight_decay"]:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p

        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        state["exp_avg"] = m
        state["exp_avg_sq"] = v

        bc1 = 1 - b1**t
        bc2 = 1 - b2**t
        mhat = m / bc1

        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / bc2

        if rho_t > 5:
            rect = math.sqrt(
                (rho_t - 4)
                * (rho_t - 2)
                * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            p -= lr * mhat * rect * math.sqrt(bc2) / (np.sqrt(v) + eps)
        else:
            p -= lr * mhat


# ---------------------------------------------------------------------------
# Rprop
# ---------------------------------------------------------------------------


class Rprop(_Reference):
    """Rprop, resilient backpropagation (Riedmiller & Braun 1993), torch semantics.

    torch implements the iRprop- variant (Igel & Huesken 2000): no weight
    backtracking; after a sign change the step size shrinks and the gradient
    is zeroed, so that element does not move and is not penalised again.

        s         = sign(g * prev)
        step_size = step_size * etaplus    where s > 0
        step_size = step_size * etaminus   where s < 0
        step_size = clip(step_size, step_size_min, step_size_max)   (everywhere)
        g         = 0                      where s < 0
        p         = p - sign(g) * step_size
        prev      = g

    State: "prev" (starts at zeros), "step_size" (starts filled with lr, the lr
    at the parameter's first step; later lr changes have no effect).

    Note: torch 2.x finds the "s < 0" elements by testing factor == etaminus
    after the factors are set, which also zeroes elements with s == 0 when
    etaminus == 1, and elements with s > 0 when etaplus == etaminus.  This
    class follows the algorithm (s < 0); for etaminus < 1 < etaplus the two
    agree.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        maximize=False,
    ):
        super().__init__(
            params, lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize
        )

    def _init_state(self, p):
        return {
            "prev": np.zeros(p.shape, dtype=np.float64),
            "step_size": np.full(p.shape, float(self.defaults["lr"]), dtype=np.float64),
        }

    def _update(self, i, p, g, state):
        etaminus, etaplus = self.defaults["etas"]
        step_size_min, step_size_max = self.defaults["step_sizes"]

        if self.defaults["maximize"]:
            g = -g

        s = np.sign(g * state["prev"])
        factor = np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1.0))
        step_size = np.clip(state["step_size"] * factor, step_size_min, step_size_max)
        state["step_size"] = step_size

        g = np.where(s < 0, 0.0, g)

        p -= np.sign(g) * step_size
        state["prev"] = g


# ---------------------------------------------------------------------------
# AdaBound / AMSBound
# ---------------------------------------------------------------------------


class AdaBound(_Reference):
    """AdaBound / AMSBound (Luo, Xiong, Liu & Sun, ICLR 2019).

    Follows the official implementation (github.com/Luolc/AdaBound,
    adabound/adabound.py, class AdaBound)::

        g          = g + weight_decay * p
        m          = b1 * m + (1 - b1) * g
        v          = b2 * v + (1 - b2) * g^2
        vmax       = max(vmax, v); vhat = vmax          (amsbound)
        vhat       = v                                  (otherwise)
        denom      = sqrt(vhat) + eps
        step_size  = lr * sqrt(1 - b2^t) / (1 - b1^t)
        fl         = final_lr * lr / initial_lr
        lower      = fl * (1 - 1 / (gamma * t + 1))
        upper      = fl * (1 + 1 / (gamma * t))
        p          = p - clip(step_size / denom, lower, upper) * m

    ``initial_lr`` is the lr given at construction (stored in
    ``defaults["initial_lr"]``), so changing ``defaults["lr"]`` (a schedule)
    scales the bounds as well as the Adam step.  With ``initial_lr = 0`` (where
    the authors' code divides by zero) ``fl = 0``: both bounds are 0.

    State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (if amsbound).
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        final_lr=0.1,
        gamma=1e-3,
        eps=1e-8,
        weight_decay=0,
        amsbound=False,
        maximize=False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            final_lr=final_lr,
            gamma=gamma,
            eps=eps,
            weight_decay=weight_decay,
            amsbound=amsbound,
            maximize=maximize,
            initial_lr=lr,
        )

    def _init_state(self, p):
        state = {
            "exp_avg": np.zeros(p.shape, dtype=np.float64),
            "exp_avg_sq": np.zeros(p.shape, dtype=np.float64),
        }
        if self.defaults["amsbound"]:
            state["max_exp_avg_sq"] = np.zeros(p.shape, dtype=np.float64)
        return state

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        b1, b2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        gamma = self.defaults["gamma"]
        weight_decay = self.defaults["weight_decay"]
        t = state["step"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p

        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        state["exp_avg"] = m
        state["exp_avg_sq"] = v

        if self.defaults["amsbound"]:
            vhat = np.maximum(state["max_exp_avg_sq"], v)
            state["max_exp_avg_sq"] = vhat
        else:
            vhat = v

        denom = np.sqrt(vhat) + eps
        step_size = lr * math.sqrt(1 - b2**t) / (1 - b1**t)

        # The authors' code divides by initial_lr; lr = 0 at construction makes the
        # bounds 0 here (nothing moves), as pyfastopt.functional.adabound_ does.
        initial_lr = self.defaults["initial_lr"]
        final_lr = self.defaults["final_lr"] * lr / initial_lr if initial_lr > 0 else 0.0
        lower = final_lr * (1 - 1 / (gamma * t + 1))
        upper = final_lr * (1 + 1 / (gamma * t))

        p -= np.clip(step_size / denom, lower, upper) * m


class AMSBound(AdaBound):
    """AMSBound: ``AdaBound(..., amsbound=True)`` (Luo et al. 2019).

    The second-moment estimate is the running maximum
    vhat = max(vhat, v) (as in AMSGrad), otherwise identical to AdaBound.
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        final_lr=0.1,
        gamma=1e-3,
        eps=1e-8,
        weight_decay=0,
        maximize=False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            final_lr=final_lr,
            gamma=gamma,
            eps=eps,
            weight_decay=weight_decay,
            amsbound=True,
            maximize=maximize,
        )


# ---------------------------------------------------------------------------
# Lion
# ---------------------------------------------------------------------------


class Lion(_Reference):
    """Lion, EvoLved Sign Momentum (Chen et al. 2023, "Symbolic Discovery of
    Optimization Algorithms", Program 1 / Algorithm 2)::

        c = b1 * m + (1 - b1) * g
        p = p * (1 - lr * weight_decay) - lr * sign(c)
        m = b2 * m + (1 - b2) * g

    Weight decay is decoupled (applied to p, not folded into g).

    State: "exp_avg" (m).
    """

    def __init__(
        self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0, maximize=False
    ):
        super().__init__(
            params, lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize
        )

    def _init_state(self, p):
        return {"exp_avg": np.zeros(p.shape, dtype=np.float64)}

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        b1, b2 = self.defaults["betas"]
        weight_decay = self.defaults["weight_decay"]

        if self.defaults["maximize"]:
            g = -g

        m = state["exp_avg"]
        c = b1 * m + (1 - b1) * g
        p *= 1 - lr * weight_decay
        p -= lr * np.sign(c)
        state["exp_avg"] = b2 * m + (1 - b2) * g


# ---------------------------------------------------------------------------
# Yogi
# ---------------------------------------------------------------------------


class Yogi(_Reference):
    """Yogi (Zaheer et al. 2018, Algorithm 2), as optax.scale_by_yogi with bias correction,
    then decoupled weight decay and the learning rate (optax.yogi, with add_decayed_weights)::

        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * sign(v - g^2) * g^2
        u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t) + eps_root) + eps)
        p = p - lr * (u + weight_decay * p)

    State: "exp_avg" (m), "exp_avg_sq" (v), both starting at initial_accumulator_value.
    """

    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-3, weight_decay=0,
                 initial_accumulator_value=1e-6, eps_root=0.0, maximize=False):  # fmt: skip
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps_root=eps_root,
            maximize=maximize,
        )  # fmt: skip

    def _init_state(self, p):
        v0 = self.defaults["initial_accumulator_value"]
        return {"exp_avg": np.full(p.shape, v0), "exp_avg_sq": np.full(p.shape, v0)}

    def _update(self, i, p, g, state):
        d = self.defaults
        b1, b2 = d["betas"]
        t = state["step"]
        if d["maximize"]:
            g = -g
        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = state["exp_avg_sq"] - (1 - b2) * np.sign(state["exp_avg_sq"] - g * g) * (g * g)
        u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t) + d["eps_root"]) + d["eps"])
        p -= d["lr"] * (u + d["weight_decay"] * p)
        state["exp_avg"], state["exp_avg_sq"] = m, v


# ---------------------------------------------------------------------------
# ADOPT
# ---------------------------------------------------------------------------


class ADOPT(_Reference):
    """ADOPT (Taniguchi et al. 2024, Algorithm 2 with the clipping of their code), as
    optax.contrib.scale_by_adopt, then decoupled weight decay and the learning rate::

        first step: v = g^2, nothing else moves
        u = clip(g / max(sqrt(v), eps), -(t-1)^(1/4), (t-1)^(1/4))   (v: before this step)
        m = b1 * m + (1 - b1) * u
        p = p - lr * ((b1 * m + (1 - b1) * u if nesterov else m) + weight_decay * p)
        v = b2 * v + (1 - b2) * g^2

    State: "exp_avg" (m), "exp_avg_sq" (v).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.9999), eps=1e-6, weight_decay=0,
                 clipping=True, nesterov=False, maximize=False):  # fmt: skip
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, clipping=clipping,
            nesterov=nesterov, maximize=maximize,
        )  # fmt: skip

    def _init_state(self, p):
        return {"exp_avg": np.zeros(p.shape), "exp_avg_sq": np.zeros(p.shape)}

    def _update(self, i, p, g, state):
        d = self.defaults
        b1, b2 = d["betas"]
        t = state["step"]
        if d["maximize"]:
            g = -g
        if t == 1:
            p -= d["lr"] * d["weight_decay"] * p
            state["exp_avg_sq"] = g * g
            return
        u = g / np.maximum(np.sqrt(state["exp_avg_sq"]), d["eps"])
        if d["clipping"]:
            u = np.clip(u, -((t - 1) ** 0.25), (t - 1) ** 0.25)
        m = b1 * state["exp_avg"] + (1 - b1) * u
        direction = b1 * m + (1 - b1) * u if d["nesterov"] else m
        p -= d["lr"] * (direction + d["weight_decay"] * p)
        state["exp_avg"] = m
        state["exp_avg_sq"] = b2 * state["exp_avg_sq"] + (1 - b2) * g * g


# ---------------------------------------------------------------------------
# AdaBelief
# ---------------------------------------------------------------------------


class AdaBelief(_Reference):
    """AdaBelief (Zhuang et al. 2020, Algorithm 2), as optax.scale_by_belief, then
    decoupled weight decay and the learning rate (optax.adabelief with add_decayed_weights)::

        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m)^2 + eps_root
        u = (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
        p = p - lr * (u + weight_decay * p)

    State: "exp_avg" (m), "exp_avg_var" (s).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0,
                 eps_root=1e-16, maximize=False):  # fmt: skip
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, eps_root=eps_root,
            maximize=maximize,
        )  # fmt: skip

    def _init_state(self, p):
        return {"exp_avg": np.zeros(p.shape), "exp_avg_var": np.zeros(p.shape)}

    def _update(self, i, p, g, state):
        d = self.defaults
        b1, b2 = d["betas"]
        t = state["step"]
        if d["maximize"]:
            g = -g
        # g - m as b1 (g - m_old), the same number (the kernel's form: no cancellation when b1
        # is small; an infinite g makes s inf where optax's g - m makes it NaN)
        surprise = b1 * (g - state["exp_avg"])
        m = b1 * state["exp_avg"] + (1 - b1) * g
        s = b2 * state["exp_avg_var"] + (1 - b2) * surprise**2 + d["eps_root"]
        u = (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + d["eps"])
        p -= d["lr"] * (u + d["weight_decay"] * p)
        state["exp_avg"], state["exp_avg_var"] = m, s


# ---------------------------------------------------------------------------
# AdEMAMix
# ---------------------------------------------------------------------------


class AdEMAMix(_Reference):
    """AdEMAMix (Pagliardini, Ablin & Grangier 2024, Algorithm 1), as
    optax.contrib.scale_by_ademamix, then decoupled weight decay and the learning rate::

        m1 = b1 * m1 + (1 - b1) * g;  m2 = b3 * m2 + (1 - b3) * g;  v = b2 * v + (1 - b2) * g^2
        u = (m1 / (1 - b1^t) + alpha * m2) / (sqrt(v / (1 - b2^t) + eps_root) + eps)
        p = p - lr * (u + weight_decay * p)

    with the paper's schedulers over s = t - 1 earlier steps when warm-ups are given:
    alpha_s = alpha * min(s / T_alpha, 1),
    b3_s = min(exp(ln b1 ln b3 / ((1 - s/T_3) ln b3 + (s/T_3) ln b1)), b3).

    State: "exp_avg_fast" (m1), "exp_avg_slow" (m2), "exp_avg_sq" (v).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), beta3=0.9999, alpha=5.0,
                 eps=1e-8, weight_decay=0, alpha_warmup=None, beta3_warmup=None, eps_root=0.0,
                 maximize=False):  # fmt: skip
        super().__init__(
            params, lr=lr, betas=betas, beta3=beta3, alpha=alpha, eps=eps,
            weight_decay=weight_decay, alpha_warmup=alpha_warmup, beta3_warmup=beta3_warmup,
            eps_root=eps_root, maximize=maximize,
        )  # fmt: skip

    def _init_state(self, p):
        return {k: np.zeros(p.shape) for k in ("exp_avg_fast", "exp_avg_slow", "exp_avg_sq")}

    def _update(self, i, p, g, state):
        d = self.defaults
        (b1, b2), b3 = d["betas"], d["beta3"]
        t = state["step"]
        s = t - 1
        alpha = d["alpha"]
        if d["alpha_warmup"]:
            alpha *= min(s / d["alpha_warmup"], 1.0)
        if d["beta3_warmup"]:
            f = min(s / d["beta3_warmup"], 1.0)
            b3 = min(np.exp(np.log(b1) * np.log(b3) / ((1 - f) * np.log(b3) + f * np.log(b1))),
                     b3)  # fmt: skip
        if d["maximize"]:
            g = -g
        m1 = b1 * state["exp_avg_fast"] + (1 - b1) * g
        m2 = b3 * state["exp_avg_slow"] + (1 - b3) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        denominator = np.sqrt(v / (1 - b2**t) + d["eps_root"]) + d["eps"]
        u = (m1 / (1 - b1**t) + alpha * m2) / denominator
        p -= d["lr"] * (u + d["weight_decay"] * p)
        state["exp_avg_fast"], state["exp_avg_slow"], state["exp_avg_sq"] = m1, m2, v


# ---------------------------------------------------------------------------
# Muon
# ---------------------------------------------------------------------------


class Muon(_Reference):
    """Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural
    networks"), transcribed from torch.optim.Muon (2.13) but all in float64 (torch runs
    the Newton-Schulz iteration in bfloat16). Parameters are matrices (r, c).

        buf = buf + (1 - momentum) * (g - buf)
        u = g + momentum * (buf - g)    if nesterov
        u = buf                         otherwise
        X = u (transposed if r > c);  X = X / max(||X||_F, eps)
        ns_steps times:  A = X X^T;  B = b A + c A A;  X = a X + B X
        (transposed back)
        lr' = lr * sqrt(max(1, r / c))           adjust_lr_fn None or "original"
        lr' = 0.2 * lr * sqrt(max(r, c))         "match_rms_adamw" (Moonshot)
        p = p * (1 - lr * weight_decay) - lr' * X

    State: "momentum_buffer".
    """

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7, ns_steps=5,
                 adjust_lr_fn=None):  # fmt: skip
        super().__init__(
            params, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )  # fmt: skip

    def _init_state(self, p):
        return {"momentum_buffer": np.zeros(p.shape)}

    def _update(self, i, p, g, state):
        d = self.defaults
        mu = d["momentum"]
        buf = state["momentum_buffer"] + (1 - mu) * (g - state["momentum_buffer"])
        state["momentum_buffer"] = buf
        u = g + mu * (buf - g) if d["nesterov"] else buf
        rows, cols = p.shape
        x = u.T if rows > cols else u
        x = x / max(np.sqrt(np.sum(x * x)), d["eps"])
        a, b, c = d["ns_coefficients"]
        for _ in range(d["ns_steps"]):
            gram = x @ x.T
            x = a * x + (b * gram + c * gram @ gram) @ x
        x = x.T if rows > cols else x
        if d["adjust_lr_fn"] == "match_rms_adamw":
            lr = 0.2 * d["lr"] * math.sqrt(max(rows, cols))
        else:
            lr = d["lr"] * math.sqrt(max(1, rows / cols))
        p *= 1 - d["lr"] * d["weight_decay"]
        p -= lr * x


# ---------------------------------------------------------------------------
# Adafactor
# ---------------------------------------------------------------------------


class Adafactor(_Reference):
    """Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost"), transcribed from torch.optim.Adafactor (2.13). For a tensor of two or
    more dimensions the second moment is factored over its last two (rows r, columns c);
    a vector keeps it whole::

        g = -g if maximize
        beta2t = t ** beta2_decay                     (the weight of this step's statistics)
        rho = min(lr, 1 / sqrt(t))
        alpha = max(eps2, sqrt(mean(p * p))) * rho    (before the decay)
        p = p * (1 - lr * weight_decay)
        matrix:  row_var = row_var + beta2t * (mean(g * g, cols) - row_var)
                 col_var = col_var + beta2t * (mean(g * g, rows) - col_var)
                 v = row_var * col_var / max(mean(row_var, rows), eps1)
        vector:  variance = variance + beta2t * (g * g - variance);  v = variance
        u = g / sqrt(max(v, eps1 ** 2))
        p = p - alpha / max(1, sqrt(mean(u * u)) / d) * u

    eps = (eps1, eps2); eps1 None is the machine epsilon of float32 (torch takes the
    parameter's dtype: pass it explicitly to compare float64 runs). State: "row_var" and
    "col_var" (shapes (..., r, 1) and (..., 1, c)), or "variance".
    """

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, maximize=False):  # fmt: skip
        super().__init__(params, lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                         weight_decay=weight_decay, maximize=maximize)  # fmt: skip

    def _init_state(self, p):
        if p.ndim < 2:
            return {"variance": np.zeros(p.shape)}
        return {"row_var": np.zeros((*p.shape[:-1], 1)),
                "col_var": np.zeros((*p.shape[:-2], 1, p.shape[-1]))}  # fmt: skip

    def _update(self, i, p, g, state):
        d = self.defaults
        if d["maximize"]:
            g = -g
        t = state["step"]
        eps1 = float(np.finfo(np.float32).eps) if d["eps"][0] is None else d["eps"][0]
        beta2t = t ** d["beta2_decay"]
        rho = min(d["lr"], 1 / math.sqrt(t))
        alpha = max(d["eps"][1], math.sqrt(np.mean(p * p)) if p.size else 0.0) * rho
        p *= 1 - d["lr"] * d["weight_decay"]
        if p.ndim >= 2:
            state["row_var"] += beta2t * (np.mean(g * g, axis=-1, keepdims=True) - state["row_var"])
            state["col_var"] += beta2t * (np.mean(g * g, axis=-2, keepdims=True) - state["col_var"])
            row_mean = np.mean(state["row_var"], axis=-2, keepdims=True)
            v = state["row_var"] * state["col_var"] / np.maximum(row_mean, eps1)
        else:
            state["variance"] += beta2t * (g * g - state["variance"])
            v = state["variance"]
        u = g / np.sqrt(np.maximum(v, eps1 * eps1))
        p -= alpha / max(1.0, math.sqrt(np.mean(u * u)) / d["d"]) * u


# ---------------------------------------------------------------------------
# Schedule-free SGD and AdamW
# ---------------------------------------------------------------------------


class SGDScheduleFree(_Reference):
    """Schedule-free SGD (Defazio et al. 2024, "The Road Less Scheduled", Algorithm 1 with
    the warm-up and weighting of the authors' package schedulefree 1.4). The parameter
    holds y; the average x, which the paper's form needs, is y's interpolation with z,
    x = (y - (1 - beta) * z) / beta.

        lr_t = lr * min(1, t / warmup_steps)
        lr_max = max(lr_max, lr_t)
        weight = t ** r * lr_max ** weight_lr_power;  weight_sum += weight
        c = weight / weight_sum                 (0 if weight_sum == 0)
        g = -g if maximize;  g = g + weight_decay * y
        z = z - lr_t * g                        (z starts as y at step 1)
        x = (1 - c) * x + c * z                 (x starts as y)
        y = (1 - beta) * z + beta * x           (beta = momentum)

    eval(): the parameter becomes x; train(): y again. State: "z", "lr_max", "weight_sum".
    """

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                 weight_lr_power=2.0, maximize=False):  # fmt: skip
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                         maximize=maximize)  # fmt: skip
        self.training = True

    def _beta(self):
        return self.defaults["momentum"]

    def _init_state(self, p):
        return {"z": np.zeros(p.shape), "lr_max": -1.0, "weight_sum": 0.0}

    def _direction(self, p, g, state):
        return g + self.defaults["weight_decay"] * p

    def _update(self, i, p, g, state):
        d = self.defaults
        assert self.training, "step in eval mode"
        if d["maximize"]:
            g = -g
        t = state["step"]
        lr = d["lr"] * min(1.0, t / d["warmup_steps"]) if d["warmup_steps"] else d["lr"]
        state["lr_max"] = max(state["lr_max"], lr)
        weight = t ** d["r"] * state["lr_max"] ** d["weight_lr_power"]
        state["weight_sum"] += weight
        c = weight / state["weight_sum"] if state["weight_sum"] else 0.0
        if t == 1:  # z starts as y, whatever the buffer held
            state["z"] = p.copy()
        beta = self._beta()
        x = (p - (1 - beta) * state["z"]) / beta
        u = self._direction(p, g, state)
        state["z"] = state["z"] - lr * u
        x = (1 - c) * x + c * state["z"]
        p[...] = (1 - beta) * state["z"] + beta * x

    def eval(self):
        """Moves the parameters to the average x (for evaluation)."""
        if self.training:
            beta = self._beta()
            for p, state in zip(self.params, self.state):
                if state:
                    p[...] = (p - (1 - beta) * state["z"]) / beta
        self.training = False

    def train(self):
        """Moves the parameters back to y (for training steps)."""
        if not self.training:
            beta = self._beta()
            for p, state in zip(self.params, self.state):
                if state:
                    p[...] = (1 - beta) * state["z"] + beta * p
        self.training = True


class AdamWScheduleFree(SGDScheduleFree):
    """Schedule-free AdamW (Defazio et al. 2024; the authors' AdamWScheduleFree): schedule-free
    SGD with beta = betas[0] and the direction normalised as Adam's (no first moment)::

        v = beta2 * v + (1 - beta2) * g * g
        u = g / (sqrt(v / (1 - beta2 ** t)) + eps) + weight_decay * y

    State: as SGDScheduleFree's, and "exp_avg_sq".
    """

    def __init__(self, params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 warmup_steps=0, r=0.0, weight_lr_power=2.0, maximize=False):  # fmt: skip
        _Reference.__init__(self, params, lr=lr, betas=betas, eps=eps,
                            weight_decay=weight_decay, warmup_steps=warmup_steps, r=r,
                            weight_lr_power=weight_lr_power, maximize=maximize)  # fmt: skip
        self.training = True

    def _beta(self):
        return self.defaults["betas"][0]

    def _init_state(self, p):
        return {**super()._init_state(p), "exp_avg_sq": np.zeros(p.shape)}

    def _direction(self, p, g, state):
        d = self.defaults
        beta2 = d["betas"][1]
        state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
        bc2 = 1 - beta2 ** state["step"]
        return g / (np.sqrt(state["exp_avg_sq"] / bc2) + d["eps"]) + d["weight_decay"] * p


# ---------------------------------------------------------------------------
# LAMB and LARS (optax's trust-ratio chains)
# ---------------------------------------------------------------------------


def _trust_ratio(p, u, trust_coefficient=1.0, eps=0.0):
    """optax.scale_by_trust_ratio (min_norm 0), for one array: the factor of u."""
    param_norm = math.sqrt(np.sum(p * p))
    update_norm = math.sqrt(np.sum(u * u))
    if param_norm == 0.0 or update_norm == 0.0:
        return 1.0
    return trust_coefficient * param_norm / (update_norm + eps)


class LAMB(_Reference):
    """LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes"), transcribed from optax.lamb (0.2.x): chain(scale_by_adam(b1, b2, eps,
    eps_root), add_decayed_weights(weight_decay), scale_by_trust_ratio(),
    scale_by_learning_rate(lr)), its updates added to p. Per array::

        g = -g if maximize
        m = (1 - b1) * g + b1 * m                       (scale_by_adam)
        v = (1 - b2) * g^2 + b2 * v
        m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t)
        u = m_hat / (sqrt(v_hat + eps_root) + eps)
        u = u + weight_decay * p                        (add_decayed_weights)
        r = ||p|| / ||u||, 1 if either is 0             (scale_by_trust_ratio; L2 norms of
        r = 1 if not trust_ratio                         the whole array; optax's mask)
        u = -lr * r * u                                 (scale_by_learning_rate)
        p = p + u                                       (apply_updates)

    State: "exp_avg" (optax's mu), "exp_avg_sq" (nu).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0,
                 weight_decay=0.0, trust_ratio=True, maximize=False):  # fmt: skip
        super().__init__(params, lr=lr, betas=betas, eps=eps, eps_root=eps_root,
                         weight_decay=weight_decay, trust_ratio=trust_ratio,
                         maximize=maximize)  # fmt: skip

    def _init_state(self, p):
        return {"exp_avg": np.zeros(p.shape), "exp_avg_sq": np.zeros(p.shape)}

    def _update(self, i, p, g, state):
        d = self.defaults
        b1, b2 = d["betas"]
        t = state["step"]
        if d["maximize"]:
            g = -g
        state["exp_avg"] = (1 - b1) * g + b1 * state["exp_avg"]
        state["exp_avg_sq"] = (1 - b2) * g**2 + b2 * state["exp_avg_sq"]
        m_hat = state["exp_avg"] / (1 - b1**t)
        v_hat = state["exp_avg_sq"] / (1 - b2**t)
        u = m_hat / (np.sqrt(v_hat + d["eps_root"]) + d["eps"])
        u = u + d["weight_decay"] * p
        r = _trust_ratio(p, u) if d["trust_ratio"] else 1.0
        u = -d["lr"] * (r * u)
        p += u


class LARS(_Reference):
    """LARS (You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks"),
    transcribed from optax.lars (0.2.x): chain(add_decayed_weights(weight_decay),
    masked(scale_by_trust_ratio(trust_coefficient, eps), trust_ratio_mask),
    scale_by_learning_rate(lr), trace(momentum, nesterov)), its updates added to p. Per
    array::

        g = -g if maximize
        u = g + weight_decay * p                              (add_decayed_weights)
        r = trust_coefficient * ||p|| / (||u|| + eps),
            1 if ||p|| or ||u|| is 0, 1 if not trust_ratio    (scale_by_trust_ratio)
        u = -lr * r * u                                       (scale_by_learning_rate)
        trace = u + momentum * trace                          (trace)
        u = u + momentum * trace if nesterov else trace
        p = p + u                                             (apply_updates)

    State: "momentum_buffer" = -trace (pyfastopt subtracts its steps: p = p - buffer).
    """

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0, nesterov=False,
                 trust_coefficient=0.001, eps=0.0, trust_ratio=True, maximize=False):  # fmt: skip
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov, trust_coefficient=trust_coefficient, eps=eps,
                         trust_ratio=trust_ratio, maximize=maximize)  # fmt: skip

    def _init_state(self, p):
        return {"momentum_buffer": np.zeros(p.shape)}

    def _update(self, i, p, g, state):
        d = self.defaults
        if d["maximize"]:
            g = -g
        u = g + d["weight_decay"] * p
        if d["trust_ratio"]:
            u = _trust_ratio(p, u, d["trust_coefficient"], d["eps"]) * u
        u = -d["lr"] * u
        trace = u + d["momentum"] * -state["momentum_buffer"]
        state["momentum_buffer"] = -trace
        u = u + d["momentum"] * trace if d["nesterov"] else trace
        p += u


# ---------------------------------------------------------------------------
# SWATS
# ---------------------------------------------------------------------------


class SWATS(_Reference):
    """SWATS, switching from Adam to SGD (Keskar & Socher 2017, "Improving
    Generalization Performance by Switching from Adam to SGD", Algorithm 1).

    Applied to each parameter array independently (each array has its own
    phase, lambda and SGD learning rate).  Phase "adam" first::

        g      = g + weight_decay * p                        (both phases)
        m      = b1 * m + (1 - b1) * g
        v      = b2 * v + (1 - b2) * g^2
        pk     = -lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
        p      = p + pk
        if dot(pk, g) != 0:
            gamma  = dot(pk, pk) / (-dot(pk, g))
            lambda = b2 * lambda + (1 - b2) * gamma
            if t > 1 and |lambda / (1 - b2^t) - gamma| < eps:
                phase  = "sgd"
                sgd_lr = lambda / (1 - b2^t)                 (Lambda in the paper)
        (otherwise lambda is unchanged)

    Phase "sgd" (momentum buffer starts at zero at the switch)::

        buf = b1 * buf + g
        p   = p - (1 - b1) * sgd_lr * buf

    Notes on the paper's Algorithm 1:

    * The paper has no weight decay; here the L2 term is added to the gradient
      in both phases, since it belongs to the objective, not to Adam.
    * The paper uses the single eps (1e-9) both in Adam's denominator and as
      the switching threshold; so does this class.
    * Algorithm 1 is written for one parameter vector w.  Here each parameter
      array is its own SWATS instance (its own criterion, phase and Lambda);
      implementations that switch all arrays together when one of them
      fires behave differently.

    State: "exp_avg", "exp_avg_sq", "momentum_buffer" (zeros), "phase"
    ("adam" or "sgd"), "lambda" (float, starts 0.0), "sgd_lr" (float, 0.0
    until the switch).
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-9,
        weight_decay=0,
        maximize=False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
        )

    def _init_state(self, p):
        return {
            "exp_avg": np.zeros(p.shape, dtype=np.float64),
            "exp_avg_sq": np.zeros(p.shape, dtype=np.float64),
            "momentum_buffer": np.zeros(p.shape, dtype=np.float64),
            "phase": "adam",
            "lambda": 0.0,
            "sgd_lr": 0.0,
        }

    def _update(self, i, p, g, state):
        lr = self.defaults["lr"]
        b1, b2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        weight_decay = self.defaults["weight_decay"]
        t = state["step"]

        if self.defaults["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p

        if state["phase"] == "sgd":
            buf = b1 * state["momentum_buffer"] + g
            state["momentum_buffer"] = buf
            p -= (1 - b1) * state["sgd_lr"] * buf
            return

        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        state["exp_avg"] = m
        state["exp_avg_sq"] = v

        bc1 = 1 - b1**t
        bc2 = 1 - b2**t
        pk = -lr * math.sqrt(bc2) / bc1 * m / (np.sqrt(v) + eps)
        p += pk

        pk_dot_g = float(np.dot(pk.ravel(), g.ravel()))
        if pk_dot_g != 0:
            gamma = float(np.dot(pk.ravel(), pk.ravel())) / (-pk_dot_g)
            lam = float(b2 * state["lambda"] + (1 - b2) * gamma)
            state["lambda"] = lam
            if t > 1 and abs(lam / bc2 - gamma) < eps:
                state["phase"] = "sgd"
                state["sgd_lr"] = float(lam / bc2)


# Distributed SGD (pyfastopt.distributed): the updates that are not an optimizer's step.


def delay_tolerant_adagrad(p, g, state, gbar_at_read, lr=1e-2, eps=1e-10):
    """One push to a delay-tolerant AdaGrad shard (McMahan & Streeter 2014, AdaptiveRevision),
    in place on ``p`` and ``state`` ("sum" z, "sum_max" z', "gbar"), as the paper writes it::

        g_bck   = gbar - gbar_at_read        (the gradients applied since the worker read)
        eta_old = lr / (sqrt(z') + eps)
        z       = z + g^2 + 2 g g_bck
        z'      = max(z', z)
        eta     = lr / (sqrt(z') + eps)
        p       = p - (eta g - (eta_old - eta) g_bck)
        gbar    = gbar + g
    """
    g_bck = state["gbar"] - gbar_at_read
    eta_old = lr / (np.sqrt(state["sum_max"]) + eps)
    state["sum"] = state["sum"] + g * g + 2 * g * g_bck
    state["sum_max"] = np.maximum(state["sum_max"], state["sum"])
    eta = lr / (np.sqrt(state["sum_max"]) + eps)
    p -= eta * g - (eta_old - eta) * g_bck
    state["gbar"] = state["gbar"] + g


def elastic(x, center, alpha):
    """The elastic exchange of EASGD (Zhang, Choromanska & LeCun 2015): the worker moves
    toward the center by d = alpha (x - center), in place on ``x``; returns d, which the
    server adds to the center."""
    d = alpha * (x - center)
    x -= d
    return d



# ---------------------------------------------------------------------------
# ASGD
# ---------------------------------------------------------------------------


class ASGD(_Reference):
    """Averaged SGD (Polyak & Juditsky 1992) with Bottou's decaying rate, as torch.optim.ASGD::

        g   = g + weight_decay * p
        p   = p * (1 - lambd * eta) - eta * g
        ax  = p                      if mu == 1   (before averaging starts)
        ax  = ax + mu * (p - ax)     otherwise
        eta = lr / (1 + lambd * lr * t)^alpha      (for the next step)
        mu  = 1 / max(1, t - t0)

    State: "ax" (the average, starting at 0), "eta" (starting at lr) and "mu" (starting at 1),
    Python floats.
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 maximize=False):  # fmt: skip
        super().__init__(params, lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                         weight_decay=weight_decay, maximize=maximize)  # fmt: skip

    def _init_state(self, p):
        return {"ax": np.zeros(p.shape), "eta": float(self.defaults["lr"]), "mu": 1.0}

    def _update(self, i, p, g, state):
        d = self.defaults
        t = state["step"]
        if d["maximize"]:
            g = -g
        g = g + d["weight_decay"] * p
        eta, mu = state["eta"], state["mu"]
        p *= 1 - d["lambd"] * eta
        p -= eta * g
        state["ax"] = p.copy() if mu == 1 else state["ax"] + mu * (p - state["ax"])
        state["eta"] = d["lr"] / (1 + d["lambd"] * d["lr"] * t) ** d["alpha"]
        state["mu"] = 1 / max(1, t - d["t0"])
