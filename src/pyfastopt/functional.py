"""In-place optimizer steps on NumPy arrays: the functional layer of pyfastopt.

Every function updates ``param`` and its state buffers in place, in one native call, and
returns nothing (unless it has scalar state to hand back). Each buffer argument is either
one ``numpy.ndarray`` or a list of them (one call then updates the whole list; the lists are
aligned). Arrays are float32 or float64 (all of one dtype), or in the reduced-precision
storages of :mod:`pyfastopt.precision` (bfloat16/float16 parameters and gradients, 16-bit or
8-bit states, float32 masters: pass ``master=`` and the other keywords through a rule's
``apply``). They are C-contiguous and distinct; parameters and states are writable. Nothing is
ever converted: bad input raises ``TypeError``/``ValueError`` naming the argument and leaves
every array unchanged.

A gradient may also be a :class:`pyfastopt.sparse.SparseRows` for one table: then only the
rows it names are updated (lazily, duplicates summed; see :mod:`pyfastopt.sparse`).

``step`` is the 1-based count of the update being made (1 on the first call). The per-step
scalars (bias corrections, schedules) are computed here in double precision; the element
rules are the C++ headers in ``pyfastopt/include/pyfastopt/rules``.

Notation in the docstrings: p parameter, g gradient, t step, and, before every rule,
g <- -g if ``maximize``; g <- g + weight_decay * p (coupled weight decay).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Union

import numpy as np

from . import _core
from . import _validate as check
from .sparse import SparseRows

Arrays = Union[np.ndarray, Sequence[np.ndarray]]

__all__ = [
    "SwatsState",
    "adabelief_",
    "adabound_",
    "adadelta_",
    "adafactor_",
    "adagrad_",
    "adam_",
    "adamax_",
    "adamw_",
    "ademamix_",
    "adopt_",
    "asgd_",
    "delay_tolerant_adagrad_",
    "elastic_",
    "lamb_",
    "lars_",
    "lion_",
    "muon_",
    "nadam_",
    "radam_",
    "rmsprop_",
    "rprop_",
    "schedule_free_adamw_",
    "schedule_free_eval_",
    "schedule_free_sgd_",
    "schedule_free_train_",
    "sgd_",
    "swats_",
    "yogi_",
]


def _run(kernel, param: Arrays, grad: Arrays, states: Sequence[Arrays], coeffs: tuple,
         **options: Any):  # fmt: skip
    """One native call; single arrays become lists of one. A SparseRows gradient updates
    the rows of one table it names (:mod:`pyfastopt.sparse`). ``options`` are the kernels'
    reduced-precision keywords (:mod:`pyfastopt.precision`): ``master``, ``grad_scale``,
    ``seed``, ``rounding_step`` (the kernels' ``step``: the stochastic-rounding key),
    ``first_tensor``; None values are left out."""
    options = {k: v for k, v in options.items() if v is not None}
    if "rounding_step" in options:
        options["step"] = options.pop("rounding_step")
    if "master" in options:  # the kernels' keyword is plural, for lists
        master = options.pop("master")
        single = not isinstance(param, (list, tuple))
        options["masters"] = [master] if single else master
    if isinstance(grad, SparseRows):
        if options:
            msg = f"grad: SparseRows gradients take no {', '.join(sorted(options))}"
            raise TypeError(msg)
        rows_kernel = getattr(_core, f"{kernel.__name__}_rows")
        return rows_kernel(param, grad.indices, grad.values, list(states), coeffs)
    if not isinstance(param, (list, tuple)):  # one array (or array-like)
        return kernel([param], [grad], [[s] for s in states], coeffs, **options)
    # (a grad that is no list is the kernel's to name, after it has checked param)
    if isinstance(grad, (list, tuple)) and any(isinstance(g, SparseRows) for g in grad):
        msg = "grad: a SparseRows gradient updates one table per call, not a list"
        raise TypeError(msg)
    return kernel(param, grad, list(states), coeffs, **options)


def _sign(maximize: bool) -> float:
    return -1.0 if maximize else 1.0


def _betas(beta1: float, beta2: float) -> tuple[float, float]:
    return check.unit("beta1", beta1), check.unit("beta2", beta2)


def _gradient_terms(
    maximize: bool, lr: float, weight_decay: float, decoupled: bool
) -> tuple[float, float, float]:
    """(grad_sign, weight_decay, decay): the L2 term goes into the gradient (coupled) or
    scales the parameter by 1 - lr * weight_decay (decoupled, AdamW)."""
    if decoupled:
        return _sign(maximize), 0.0, 1.0 - lr * weight_decay
    return _sign(maximize), weight_decay, 1.0


def _moments(beta1: float, beta2: float) -> tuple[float, float, float, float]:
    """The coefficients of rules::update_moments, in their Coeffs order."""
    return beta1, 1.0 - beta1, beta2, 1.0 - beta2


class Rule(NamedTuple):
    """An optimizer's hyperparameters, checked once, as what one step runs.

    ``coeffs(t)`` gives the per-step coefficients of the C++ rule (its ``Coeffs`` fields in
    order); ``kernel`` and ``plan`` are the rule's native one-shot call and its plan (params
    and states checked once, used by :mod:`pyfastopt.optim`); ``state_names`` are the state
    buffers the rule updates, in its order.
    """

    kernel: Callable[..., Any]
    plan: type
    state_names: tuple[str, ...]
    #: (t) -> coefficients; NAdam's, with scalar state: (t, mu_product) -> (coefficients,
    #: mu_product)
    coeffs: Callable[..., Any]

    @classmethod
    def of(cls, name: str, coeffs: Callable[..., Any]) -> Rule:
        """The rule of the kernel ``name`` (a rule of the C++ rule list, rules/all.hpp), its
        state names as the rule header declares them."""
        return cls(getattr(_core, name), getattr(_core, f"{name}_plan"), _core.state_names[name],
                   coeffs)  # fmt: skip

    def apply(
        self, param: Arrays, grad: Arrays, buffers: dict[str, Any], step: int, **options: Any
    ) -> None:
        """One step on arrays (or lists of arrays); buffers maps state names to them (an
        8-bit state is a tuple (codes, absmax)); options as :func:`_run`'s."""
        states = [buffers[name] for name in self.state_names]
        _run(self.kernel, param, grad, states, self.coeffs(check.step(step)), **options)


def sgd_(
    param: Arrays,
    grad: Arrays,
    momentum_buffer: Arrays | None = None,
    *,
    step: int,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> None:
    r"""SGD, with classical or Nesterov momentum (torch.optim.SGD semantics).

    .. math::
        b_t = \mu b_{t-1} + (1 - \tau) g_t \quad (b_1 = g_1), \qquad
        d_t = g_t + \mu b_t \text{ if nesterov else } b_t, \qquad
        p_t = p_{t-1} - \eta d_t

    With ``momentum=0`` this is vanilla SGD, :math:`p_t = p_{t-1} - \eta g_t`, and
    ``momentum_buffer`` is not used. ``b`` is torch's form of Ruder's
    :math:`v_t = \gamma v_{t-1} + \eta g_t` (equal for a constant learning rate), and the
    Nesterov form is Sutskever et al.'s reformulation of the look-ahead gradient.
    """
    rule = sgd_rule(
        lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
        nesterov=nesterov, maximize=maximize,
    )  # fmt: skip
    rule.apply(param, grad, {"momentum_buffer": momentum_buffer}, step)


def sgd_rule(*, lr, momentum, dampening, weight_decay, nesterov, maximize) -> Rule:
    """Checks SGD's hyperparameters once; the rule of :func:`sgd_`."""
    lr = check.nonneg("lr", lr)
    momentum = check.nonneg("momentum", momentum)
    dampening = check.closed_unit("dampening", dampening)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        msg = "nesterov: Nesterov momentum requires momentum > 0 and dampening = 0"
        raise ValueError(msg)
    sign = _sign(maximize)
    if momentum == 0:
        return Rule.of("sgd", lambda t: (sign, weight_decay, -lr))

    def coeffs(t):
        first = t == 1  # torch starts the buffer at the first gradient
        return (
            sign, weight_decay, 0.0 if first else momentum, 1.0 if first else 1.0 - dampening,
            1.0 if nesterov else 0.0, momentum, -lr,
        )  # fmt: skip

    return Rule.of("sgd_momentum", coeffs)


def adagrad_(
    param: Arrays,
    grad: Arrays,
    sum: Arrays,  # shadows the builtin: torch's state name
    *,
    step: int,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
    eps_inside_sqrt: bool = False,
) -> None:
    r"""Adagrad (Duchi et al. 2011; torch.optim.Adagrad).

    .. math::
        \eta_t = \frac{\eta}{1 + (t - 1)\,\mathrm{lr\_decay}}, \qquad
        s_t = s_{t-1} + g_t^2, \qquad
        p_t = p_{t-1} - \eta_t \frac{g_t}{\sqrt{s_t} + \epsilon}

    ``eps_inside_sqrt=True`` gives the textbook form :math:`g_t / \sqrt{s_t + \epsilon}`
    (Ruder's overview). ``sum`` starts at ``initial_accumulator_value`` (0 in torch).
    """
    rule = adagrad_rule(
        lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps, maximize=maximize,
        eps_inside_sqrt=eps_inside_sqrt,
    )  # fmt: skip
    rule.apply(param, grad, {"sum": sum}, step)


def adagrad_rule(*, lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt) -> Rule:
    """Checks Adagrad's hyperparameters once; the rule of :func:`adagrad_`."""
    lr = check.nonneg("lr", lr)
    lr_decay = check.nonneg("lr_decay", lr_decay)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    eps = check.nonneg("eps", eps)
    head = (_sign(maximize), weight_decay, *((eps, 0.0) if eps_inside_sqrt else (0.0, eps)))
    return Rule.of("adagrad", lambda t: (*head, -lr / (1.0 + (t - 1) * lr_decay)))


def delay_tolerant_adagrad_(
    param: Arrays,
    grad: Arrays,
    sum: Arrays,  # Adagrad's name (shadows the builtin)
    sum_max: Arrays,
    gbar: Arrays,
    gbar_at_read: Arrays,
    *,
    step: int,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
    eps_inside_sqrt: bool = False,
) -> None:
    r"""Delay-tolerant Adagrad (McMahan & Streeter 2014, AdaptiveRevision): the update a
    parameter-server shard applies when a worker pushes ``grad`` computed on parameters it
    read when the shard's running gradient sum was ``gbar_at_read``.

    .. math::
        \bar g_{bck} = \bar g - \bar g_{read}, \qquad
        z \mathrel{+}= g^2 + 2 g \bar g_{bck}, \qquad z' = \max(z', z), \qquad
        \eta = \frac{\eta_0}{\sqrt{z'} + \epsilon}, \\
        p \mathrel{-}= \eta g - (\eta_{old} - \eta) \bar g_{bck}, \qquad
        \bar g \mathrel{+}= g

    (:math:`\eta_{old}` from :math:`z'` before the update). ``sum`` is :math:`z`, and
    hyperparameters are :func:`adagrad_`'s: with ``gbar_at_read == gbar`` (no delay) the
    step is :func:`adagrad_`'s bit for bit. ``gbar_at_read`` is only read.
    """
    rule = delay_tolerant_adagrad_rule(
        lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps, maximize=maximize,
        eps_inside_sqrt=eps_inside_sqrt,
    )  # fmt: skip
    buffers = {"sum": sum, "sum_max": sum_max, "gbar": gbar, "gbar_at_read": gbar_at_read}
    rule.apply(param, grad, buffers, step)


def delay_tolerant_adagrad_rule(
    *, lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt
) -> Rule:
    """Checks the hyperparameters once; the rule of :func:`delay_tolerant_adagrad_`."""
    coeffs = adagrad_rule(
        lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps, maximize=maximize,
        eps_inside_sqrt=eps_inside_sqrt,
    ).coeffs  # fmt: skip
    return Rule.of("delay_tolerant_adagrad", coeffs)


def elastic_(param: Arrays, center: Arrays, diff: Arrays, *, alpha: float) -> None:
    r"""The elastic exchange of EASGD/EAMSGD (Zhang, Choromanska & LeCun 2015) on a worker's
    parameters, with ``center`` the server's center variable as just read:

    .. math::
        d = \alpha (x - c), \qquad x \mathrel{-}= d, \qquad \text{diff} = d

    ``diff`` is written (its old values are not read); the server adds it to the center.
    ``alpha`` (the moving rate, :math:`\eta\rho`) in [0, 1].
    """
    _run(_core.elastic, param, center, [diff], (check.closed_unit("alpha", alpha),))


def adadelta_(
    param: Arrays,
    grad: Arrays,
    square_avg: Arrays,
    acc_delta: Arrays,
    *,
    step: int,
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""Adadelta (Zeiler 2012; torch.optim.Adadelta).

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}} g_t,

        E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) \Delta_t^2, \qquad
        p_t = p_{t-1} - \eta \Delta_t

    With ``lr=1`` this is Zeiler's rule, which needs no learning rate.
    """
    rule = adadelta_rule(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
    rule.apply(param, grad, {"square_avg": square_avg, "acc_delta": acc_delta}, step)


def adadelta_rule(*, lr, rho, eps, weight_decay, maximize) -> Rule:
    """Checks Adadelta's hyperparameters once; the rule of :func:`adadelta_`."""
    lr = check.nonneg("lr", lr)
    rho = check.closed_unit("rho", rho)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    coeffs = (_sign(maximize), weight_decay, rho, 1.0 - rho, eps, -lr)
    return Rule.of("adadelta", lambda t: coeffs)


def rmsprop_(
    param: Arrays,
    grad: Arrays,
    square_avg: Arrays,
    momentum_buffer: Arrays | None = None,
    grad_avg: Arrays | None = None,
    *,
    step: int,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
    eps_inside_sqrt: bool = False,
) -> None:
    r"""RMSprop (Hinton, lecture 6e; torch.optim.RMSprop).

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad
        \tilde v_t = v_t - \bar g_t^2 \text{ if centered } (\bar g_t = \alpha \bar g_{t-1}
        + (1-\alpha) g_t) \text{ else } v_t, \qquad
        a_t = \sqrt{\tilde v_t} + \epsilon

        b_t = \mu b_{t-1} + g_t / a_t,\; p_t = p_{t-1} - \eta b_t \text{ if momentum > 0,
        else } p_t = p_{t-1} - \eta g_t / a_t

    ``eps_inside_sqrt=True`` gives the lecture's :math:`a_t = \sqrt{\tilde v_t + \epsilon}`.
    ``momentum_buffer`` is needed when ``momentum > 0``, ``grad_avg`` when ``centered``.
    """
    rule = rmsprop_rule(
        lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
        centered=centered, maximize=maximize, eps_inside_sqrt=eps_inside_sqrt,
    )  # fmt: skip
    buffers = {"square_avg": square_avg, "momentum_buffer": momentum_buffer, "grad_avg": grad_avg}
    rule.apply(param, grad, buffers, step)


def rmsprop_rule(
    *, lr, alpha, eps, weight_decay, momentum, centered, maximize, eps_inside_sqrt
) -> Rule:
    """Checks RMSprop's hyperparameters once; the rule of :func:`rmsprop_`."""
    lr = check.nonneg("lr", lr)
    alpha = check.closed_unit("alpha", alpha)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    momentum = check.nonneg("momentum", momentum)
    eps_in, eps_out = (eps, 0.0) if eps_inside_sqrt else (0.0, eps)
    coeffs = (_sign(maximize), weight_decay, alpha, 1.0 - alpha, eps_in, eps_out, momentum, -lr)
    kernel = "rmsprop" + "_centered" * bool(centered) + "_momentum" * (momentum > 0)
    return Rule.of(kernel, lambda t: coeffs)


def adam_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    max_exp_avg_sq: Arrays | None = None,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    bias_correction: bool = True,
) -> None:
    r"""Adam (Kingma & Ba 2015), AdamW (Loshchilov & Hutter 2019) and AMSGrad (Reddi et al.
    2018), as torch.optim.Adam.

    .. math::
        p_{t-1} \leftarrow (1 - \eta\lambda) p_{t-1} \text{ if decoupled (no coupled decay)},

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
        \hat v_t = \max(\hat v_{t-1}, v_t) \text{ if amsgrad else } v_t,

        p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t}
              \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    ``bias_correction=False`` drops both :math:`1-\beta^t` factors: with ``amsgrad=True`` this
    is AMSGrad as Reddi et al. and Ruder's overview write it. ``max_exp_avg_sq`` is needed
    when ``amsgrad``.
    """
    rule = adam_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        bias_correction=bias_correction,
    )  # fmt: skip
    buffers = {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq, "max_exp_avg_sq": max_exp_avg_sq}
    rule.apply(param, grad, buffers, step)


def adam_rule(
    *, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay,
    bias_correction,
) -> Rule:  # fmt: skip
    """Checks Adam's hyperparameters once; the rule of :func:`adam_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    head = (*_gradient_terms(maximize, lr, weight_decay, decoupled_weight_decay),
            *_moments(beta1, beta2))  # fmt: skip

    def coeffs(t):
        if not bias_correction:
            return (*head, 1.0, eps, -lr)
        return (*head, 1.0 / math.sqrt(1.0 - beta2**t), eps, -lr / (1.0 - beta1**t))

    return Rule.of("adam_amsgrad" if amsgrad else "adam", coeffs)


def adamw_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    max_exp_avg_sq: Arrays | None = None,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
    bias_correction: bool = True,
) -> None:
    """AdamW: :func:`adam_` with ``decoupled_weight_decay=True`` (torch.optim.AdamW)."""
    adam_(
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=step, lr=lr, beta1=beta1,
        beta2=beta2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
        decoupled_weight_decay=True, bias_correction=bias_correction,
    )  # fmt: skip


def adamax_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_inf: Arrays,
    *,
    step: int,
    lr: float = 2e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""AdaMax, Adam with the infinity norm (Kingma & Ba 2015, sec. 7; torch.optim.Adamax).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \qquad
        p_t = p_{t-1} - \frac{\eta}{1-\beta_1^t} \frac{m_t}{u_t}
    """
    rule = adamax_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, maximize=maximize
    )
    rule.apply(param, grad, {"exp_avg": exp_avg, "exp_inf": exp_inf}, step)


def adamax_rule(*, lr, beta1, beta2, eps, weight_decay, maximize) -> Rule:
    """Checks AdaMax's hyperparameters once; the rule of :func:`adamax_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    head = (_sign(maximize), weight_decay, beta1, 1.0 - beta1, beta2, eps)
    return Rule.of("adamax", lambda t: (*head, -lr / (1.0 - beta1**t)))


def nadam_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    *,
    step: int,
    mu_product: float = 1.0,
    lr: float = 2e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    simplified: bool = False,
) -> float:
    r"""NAdam, Nesterov-accelerated Adam (Dozat 2016; torch.optim.NAdam).

    .. math::
        \mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi}), \qquad
        \Pi_t = \Pi_{t-1}\mu_t, \qquad
        m_t, v_t \text{ as Adam}, \qquad d_t = \sqrt{v_t / (1-\beta_2^t)} + \epsilon,

        p_t = p_{t-1} - \eta\frac{1-\mu_t}{1-\Pi_t}\frac{g_t}{d_t}
                      - \eta\frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\frac{m_t}{d_t}

    with :math:`\psi` = ``momentum_decay``. ``mu_product`` is :math:`\Pi_{t-1}` (1.0 before
    the first step); the new :math:`\Pi_t` is returned. ``simplified=True`` is the form of
    Ruder's overview: :math:`p_t = p_{t-1} - \frac{\eta}{d_t}\left(\beta_1 \hat m_t +
    \frac{(1-\beta_1) g_t}{1-\beta_1^t}\right)`, :math:`\hat m_t = m_t/(1-\beta_1^t)`.
    """
    rule = nadam_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
        maximize=maximize, simplified=simplified,
    )  # fmt: skip
    coeffs, mu_product = rule.coeffs(check.step(step), check_mu_product(mu_product))
    _run(rule.kernel, param, grad, (exp_avg, exp_avg_sq), coeffs)
    return mu_product


def check_mu_product(value: object, name: str = "mu_product") -> float:
    """NAdam's product of momentum coefficients: a number in [0, 1]."""
    return check.closed_unit(name, value)


def nadam_rule(
    *, lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize,
    simplified, product_dtype: type = float,
) -> Rule:  # fmt: skip
    """Checks NAdam's hyperparameters once; the rule of :func:`nadam_`. NAdam has scalar
    state: its ``coeffs(t, mu_product)`` returns (the coefficients of step t, the new
    mu_product), the product rounded to ``product_dtype`` (torch keeps it in a float32
    tensor)."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    momentum_decay = check.nonneg("momentum_decay", momentum_decay)
    head = (*_gradient_terms(maximize, lr, weight_decay, decoupled_weight_decay),
            *_moments(beta1, beta2))  # fmt: skip

    def coeffs(t: int, mu_product: float) -> tuple[tuple[float, ...], float]:
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = float(product_dtype(mu_product) * product_dtype(mu))
        if simplified:
            bc1 = 1.0 - beta1**t
            grad_coeff, avg_coeff = lr * (1.0 - beta1) / bc1, lr * beta1 / bc1
        else:
            grad_coeff = lr * (1.0 - mu) / (1.0 - mu_product)
            avg_coeff = lr * mu_next / (1.0 - mu_product * mu_next)
        step_coeffs = (*head, 1.0 / math.sqrt(1.0 - beta2**t), eps, -grad_coeff, -avg_coeff)
        return step_coeffs, mu_product

    return Rule.of("nadam", coeffs)


def radam_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> None:
    r"""RAdam, rectified Adam (Liu et al. 2020; torch.optim.RAdam).

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t}, \qquad
        \hat m_t = \frac{m_t}{1-\beta_1^t},

        p_t = p_{t-1} - \eta \hat m_t r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}
        \text{ if } \rho_t > 5 \text{ else } p_{t-1} - \eta \hat m_t,
        \qquad r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
                               {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}
    """
    rule = radam_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
    )  # fmt: skip
    rule.apply(param, grad, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}, step)


def radam_rule(*, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize) -> Rule:
    """Checks RAdam's hyperparameters once; the rule of :func:`radam_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    head = (*_gradient_terms(maximize, lr, weight_decay, decoupled_weight_decay),
            *_moments(beta1, beta2))  # fmt: skip
    rho_inf = 2.0 / (1.0 - beta2) - 1.0

    def coeffs(t):
        bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
        rho_t = rho_inf - 2.0 * t * beta2**t / bc2
        if rho_t <= 5.0:  # variance not yet tractable: SGD with momentum
            return (*head, 0.0, math.sqrt(bc2), eps, -lr / bc1)
        rect = math.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        return (*head, 1.0, math.sqrt(bc2), eps, -lr * rect / bc1)

    return Rule.of("radam", coeffs)


def rprop_(
    param: Arrays,
    grad: Arrays,
    prev: Arrays,
    step_size: Arrays,
    *,
    step: int,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50.0),
    maximize: bool = False,
) -> None:
    r"""Rprop, resilient backpropagation (Riedmiller & Braun 1993; torch.optim.Rprop).

    .. math::
        s = \operatorname{sign}(g_t g_{t-1}), \qquad
        \Delta_t = \operatorname{clip}(\Delta_{t-1} \cdot (\eta^+ \text{ if } s > 0,\;
        \eta^- \text{ if } s < 0,\; 1 \text{ else}),\; \Delta_{\min}, \Delta_{\max}),

        g_t \leftarrow 0 \text{ where } s < 0, \qquad
        p_t = p_{t-1} - \operatorname{sign}(g_t) \Delta_t, \qquad g_{t-1} \leftarrow g_t

    ``prev`` starts at 0 and ``step_size`` at the learning rate. A NaN gradient makes its
    element NaN (sign(NaN) is NaN, as in NumPy); torch's sign(NaN) is 0, so torch.optim.Rprop
    leaves such an element where it was.
    """
    rule = rprop_rule(etas=etas, step_sizes=step_sizes, maximize=maximize)
    rule.apply(param, grad, {"prev": prev, "step_size": step_size}, step)


def rprop_rule(*, etas, step_sizes, maximize) -> Rule:
    """Checks Rprop's hyperparameters once; the rule of :func:`rprop_`."""
    eta_minus, eta_plus = check.pair("etas", etas)
    eta_minus = check.positive("etas[0]", eta_minus)
    eta_plus = check.positive("etas[1]", eta_plus)
    if not eta_minus < 1.0 < eta_plus:
        msg = f"Invalid etas: {etas!r} (need 0 < etaminus < 1 < etaplus)"
        raise ValueError(msg)
    step_min, step_max = check.pair("step_sizes", step_sizes)
    step_min = check.nonneg("step_sizes[0]", step_min)
    step_max = check.nonneg("step_sizes[1]", step_max)
    if step_min > step_max:
        msg = f"Invalid step_sizes: {step_sizes!r} (need min <= max)"
        raise ValueError(msg)
    coeffs = (_sign(maximize), eta_minus, eta_plus, step_min, step_max)
    return Rule.of("rprop", lambda t: coeffs)


def adabound_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    max_exp_avg_sq: Arrays | None = None,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsbound: bool = False,
    maximize: bool = False,
    initial_lr: float | None = None,
) -> None:
    r"""AdaBound and AMSBound (Luo et al. 2019, official implementation).

    .. math::
        m_t, v_t \text{ as Adam}, \quad \hat v_t = \max(\hat v_{t-1}, v_t) \text{ if amsbound
        else } v_t, \quad \eta^* = \mathrm{final\_lr} \cdot \eta / \eta_0,

        \eta_l = \eta^*\left(1 - \frac{1}{\gamma t + 1}\right), \quad
        \eta_u = \eta^*\left(1 + \frac{1}{\gamma t}\right), \quad
        p_t = p_{t-1} - \operatorname{clip}\left(\frac{\eta\sqrt{1-\beta_2^t}}{(1-\beta_1^t)
              (\sqrt{\hat v_t} + \epsilon)}, \eta_l, \eta_u\right) m_t

    :math:`\eta_0` is ``initial_lr`` (default: ``lr``), so a learning-rate schedule also
    scales the bounds, as in the authors' code.
    """
    rule = adabound_rule(
        lr=lr, beta1=beta1, beta2=beta2, final_lr=final_lr, gamma=gamma, eps=eps,
        weight_decay=weight_decay, amsbound=amsbound, maximize=maximize, initial_lr=initial_lr,
    )  # fmt: skip
    buffers = {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq, "max_exp_avg_sq": max_exp_avg_sq}
    rule.apply(param, grad, buffers, step)


def adabound_rule(
    *, lr, beta1, beta2, final_lr, gamma, eps, weight_decay, amsbound, maximize, initial_lr
) -> Rule:
    """Checks AdaBound's hyperparameters once; the rule of :func:`adabound_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    final_lr = check.nonneg("final_lr", final_lr)
    gamma = check.positive("gamma", gamma)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    initial_lr = lr if initial_lr is None else check.nonneg("initial_lr", initial_lr)
    if initial_lr == 0 and lr > 0:  # the bounds, final_lr * lr / initial_lr, are undefined
        msg = "initial_lr: must be > 0 when lr > 0 (the bounds scale final_lr by lr / initial_lr)"
        raise ValueError(msg)
    bound = final_lr * lr / initial_lr if initial_lr > 0 else 0.0
    head = (_sign(maximize), weight_decay, *_moments(beta1, beta2), eps)

    def coeffs(t):
        return (
            *head, lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t),
            bound * (1.0 - 1.0 / (gamma * t + 1.0)), bound * (1.0 + 1.0 / (gamma * t)),
        )  # fmt: skip

    return Rule.of("amsbound" if amsbound else "adabound", coeffs)


def lion_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    *,
    step: int,
    lr: float = 1e-4,
    beta1: float = 0.9,
    beta2: float = 0.99,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""Lion, evolved sign momentum (Chen et al. 2023), with decoupled weight decay.

    .. math::
        u_t = \operatorname{sign}(\beta_1 m_{t-1} + (1-\beta_1) g_t), \qquad
        p_t = (1 - \eta\lambda) p_{t-1} - \eta u_t, \qquad
        m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t
    """
    rule = lion_rule(
        lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, maximize=maximize
    )
    rule.apply(param, grad, {"exp_avg": exp_avg}, step)


def lion_rule(*, lr, beta1, beta2, weight_decay, maximize) -> Rule:
    """Checks Lion's hyperparameters once; the rule of :func:`lion_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    coeffs = (_sign(maximize), 1.0 - lr * weight_decay, *_moments(beta1, beta2), -lr)
    return Rule.of("lion", lambda t: coeffs)


def yogi_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    *,
    step: int,
    lr: float = 1e-2,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""Yogi (Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization"), as
    ``optax.yogi`` (whose defaults these are; ``lr`` is the paper's), with decoupled weight
    decay. The second moment moves towards g^2 additively, by at most (1-b2) g^2 a step,
    where Adam's moves multiplicatively:

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = v_{t-1} - (1-\beta_2) \operatorname{sign}(v_{t-1} - g_t^2) g_t^2, \\
        p_t = (1 - \eta\lambda) p_{t-1}
              - \eta \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t) + \epsilon_r} + \epsilon}

    optax starts both states at ``initial_accumulator_value`` = 1e-6 (so does
    :class:`pyfastopt.optim.Yogi`).
    """
    rule = yogi_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, eps_root=eps_root, weight_decay=weight_decay,
        maximize=maximize,
    )  # fmt: skip
    rule.apply(param, grad, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}, step)


def yogi_rule(*, lr, beta1, beta2, eps, eps_root, weight_decay, maximize) -> Rule:
    """Checks Yogi's hyperparameters once; the rule of :func:`yogi_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    eps_root = check.nonneg("eps_root", eps_root)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    head = (_sign(maximize), 1.0 - lr * weight_decay, beta1, 1.0 - beta1, 1.0 - beta2)

    def coeffs(t):
        return (*head, 1.0 / (1.0 - beta2**t), eps_root, eps, -lr / (1.0 - beta1**t))

    return Rule.of("yogi", coeffs)


def adopt_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.9999,
    eps: float = 1e-6,
    clipping: bool = True,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""ADOPT (Taniguchi et al. 2024, "ADOPT: Modified Adam Can Converge with Any
    :math:`\beta_2` with the Optimal Rate"), as ``optax.contrib.adopt`` (whose defaults these
    are; ``lr`` is the paper's), with decoupled weight decay. The gradient is normalised by
    the second moment of the *earlier* gradients, then averaged; the first step only sets
    :math:`v_1 = g_1^2` (the parameters move by the weight decay alone; optax computes
    :math:`0 \cdot u_1` there, NaN when ``eps = 0`` and a gradient is 0):

    .. math::
        u_t = \operatorname{clip}\Big(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)},
              -c_t, c_t\Big), \quad c_t = (t-1)^{1/4}, \qquad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) u_t, \\
        p_t = (1 - \eta\lambda) p_{t-1} - \eta m_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2

    ``clipping=False``: no clip (:math:`c_t = \infty`); ``nesterov=True``: the step is
    :math:`\beta_1 m_t + (1-\beta_1) u_t`.
    """
    rule = adopt_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, clipping=clipping, nesterov=nesterov,
        weight_decay=weight_decay, maximize=maximize,
    )  # fmt: skip
    rule.apply(param, grad, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}, step)


def adopt_rule(*, lr, beta1, beta2, eps, clipping, nesterov, weight_decay, maximize) -> Rule:
    """Checks ADOPT's hyperparameters once; the rule of :func:`adopt_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    sign, decay = _sign(maximize), 1.0 - lr * weight_decay

    def coeffs(t):
        # the first step: m stays (b1 = 1) and v becomes g^2 (b2 = 0)
        b1, b2 = (1.0, 0.0) if t == 1 else (beta1, beta2)
        clip = (t - 1.0) ** 0.25 if clipping else math.inf
        return (sign, decay, b1, 1.0 - b1, b2, 1.0 - b2, eps, clip, float(nesterov), -lr)

    return Rule.of("adopt", coeffs)


def adabelief_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_var: Arrays,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the
    Belief in Observed Gradients"), as ``optax.adabelief`` (whose defaults these are; ``lr``
    is the paper's), with decoupled weight decay. Adam, but the second moment is the
    variance of the gradient around its prediction m: a step is large where the gradient
    is as expected, small where it surprises.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1-\beta_2) (g_t - m_t)^2 + \epsilon_r, \\
        p_t = (1 - \eta\lambda) p_{t-1}
              - \eta \frac{m_t / (1-\beta_1^t)}{\sqrt{s_t / (1-\beta_2^t)} + \epsilon}
    """
    rule = adabelief_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, eps_root=eps_root, weight_decay=weight_decay,
        maximize=maximize,
    )  # fmt: skip
    rule.apply(param, grad, {"exp_avg": exp_avg, "exp_avg_var": exp_avg_var}, step)


def adabelief_rule(*, lr, beta1, beta2, eps, eps_root, weight_decay, maximize) -> Rule:
    """Checks AdaBelief's hyperparameters once; the rule of :func:`adabelief_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    eps_root = check.nonneg("eps_root", eps_root)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    head = (_sign(maximize), 1.0 - lr * weight_decay, *_moments(beta1, beta2), eps_root)

    def coeffs(t):
        return (*head, 1.0 / (1.0 - beta2**t), eps, -lr / (1.0 - beta1**t))

    return Rule.of("adabelief", coeffs)


def ademamix_(
    param: Arrays,
    grad: Arrays,
    exp_avg_fast: Arrays,
    exp_avg_slow: Arrays,
    exp_avg_sq: Arrays,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    beta3: float = 0.9999,
    alpha: float = 5.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    alpha_warmup: int | None = None,
    beta3_warmup: int | None = None,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""AdEMAMix (Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better,
    Faster, Older"), as ``optax.contrib.ademamix`` (whose defaults these are; ``lr`` is
    AdamW's), with decoupled weight decay: Adam plus a slow momentum that remembers
    gradients for ~1/(1-b3) steps, mixed in with weight alpha:

    .. math::
        m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t, \quad
        m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        p_t = (1 - \eta\lambda) p_{t-1} - \eta \frac{m^{(1)}_t / (1-\beta_1^t)
              + \alpha m^{(2)}_t}{\sqrt{v_t / (1-\beta_2^t) + \epsilon_r} + \epsilon}

    The paper's warm-ups, over ``alpha_warmup`` and ``beta3_warmup`` steps (None: none),
    with :math:`s = t - 1` as optax counts: :math:`\alpha_s = \alpha \min(s/T_\alpha, 1)` and
    :math:`\beta_{3,s} = \min\big(\exp\frac{\ln\beta_1 \ln\beta_3}{(1 - s/T_3)\ln\beta_3
    + (s/T_3)\ln\beta_1}, \beta_3\big)`.
    """
    rule = ademamix_rule(
        lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, alpha=alpha, eps=eps, eps_root=eps_root,
        alpha_warmup=alpha_warmup, beta3_warmup=beta3_warmup, weight_decay=weight_decay,
        maximize=maximize,
    )  # fmt: skip
    buffers = {"exp_avg_fast": exp_avg_fast, "exp_avg_slow": exp_avg_slow,
               "exp_avg_sq": exp_avg_sq}  # fmt: skip
    rule.apply(param, grad, buffers, step)


def ademamix_rule(
    *, lr, beta1, beta2, beta3, alpha, eps, eps_root, alpha_warmup, beta3_warmup, weight_decay,
    maximize,
) -> Rule:  # fmt: skip
    """Checks AdEMAMix's hyperparameters once; the rule of :func:`ademamix_`."""
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    beta3 = check.unit("beta3", beta3)
    alpha = check.nonneg("alpha", alpha)
    eps = check.nonneg("eps", eps)
    eps_root = check.nonneg("eps_root", eps_root)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    warmups = {}
    for name, steps in (("alpha_warmup", alpha_warmup), ("beta3_warmup", beta3_warmup)):
        if steps is not None:
            warmups[name] = check.integer(name, steps, 1)
    if "beta3_warmup" in warmups and not 0 < beta1 <= beta3:
        msg = "beta3_warmup: the warm-up goes from beta1 to beta3, which need 0 < beta1 <= beta3"
        raise ValueError(msg)
    head = (_sign(maximize), 1.0 - lr * weight_decay, *_moments(beta1, beta2))

    def coeffs(t):
        s = t - 1  # optax's count of earlier steps
        mixing = alpha
        if "alpha_warmup" in warmups:
            mixing *= min(s / warmups["alpha_warmup"], 1.0)
        b3 = beta3
        if "beta3_warmup" in warmups and beta3 > 0:
            f = min(s / warmups["beta3_warmup"], 1.0)
            ln1, ln3 = math.log(beta1), math.log(beta3)
            b3 = min(math.exp(ln1 * ln3 / ((1.0 - f) * ln3 + f * ln1)), beta3)
        return (*head, b3, 1.0 - b3, 1.0 / (1.0 - beta1**t), mixing, 1.0 / (1.0 - beta2**t),
                eps_root, eps, -lr)  # fmt: skip

    return Rule.of("ademamix", coeffs)


def asgd_(
    param: Arrays,
    grad: Arrays,
    ax: Arrays,
    *,
    step: int,
    eta: float | None = None,
    mu: float = 1.0,
    lr: float = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> tuple[float, float]:
    r"""Averaged SGD (Polyak & Juditsky 1992) with the decaying rate of Bottou 2012
    ("Stochastic Gradient Descent Tricks"), as torch.optim.ASGD:

    .. math::
        p_t = (1 - \lambda\eta_{t-1}) p_{t-1} - \eta_{t-1} g_t, \qquad
        \bar p_t = \bar p_{t-1} + \mu_{t-1} (p_t - \bar p_{t-1}), \\
        \eta_t = \frac{\eta_0}{(1 + \lambda\eta_0 t)^\alpha}, \qquad
        \mu_t = \frac{1}{\max(1, t - t_0)}

    with :math:`\eta_0` = ``lr``, :math:`\lambda` = ``lambd``; :math:`\bar p` is ``ax``, the
    average to evaluate with (a copy of p while :math:`\mu = 1`, before step t0). ``eta`` and
    ``mu`` are the previous step's (None: ``lr``, and 1, before the first step); the new
    (eta, mu) are returned.
    """
    rule = asgd_rule(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                     maximize=maximize)  # fmt: skip
    eta = check.nonneg("eta", lr if eta is None else eta)
    coeffs, scalars = rule.coeffs(check.step(step), eta, check.closed_unit("mu", mu))
    _run(rule.kernel, param, grad, (ax,), coeffs)
    return scalars


def asgd_rule(*, lr, lambd, alpha, t0, weight_decay, maximize, scalar_dtype: type = float) -> Rule:
    """Checks ASGD's hyperparameters once; the rule of :func:`asgd_`. ASGD has scalar state:
    its ``coeffs(t, eta, mu)`` returns (the coefficients of step t, the new (eta, mu)), both
    rounded to ``scalar_dtype`` (torch keeps them in float32 tensors)."""
    lr = check.nonneg("lr", lr)
    lambd = check.nonneg("lambd", lambd)
    alpha = check.nonneg("alpha", alpha)
    t0 = check.nonneg("t0", t0)
    head = (_sign(maximize), check.nonneg("weight_decay", weight_decay))

    def coeffs(t: int, eta: float, mu: float) -> tuple[tuple[float, ...], tuple[float, float]]:
        new_eta = float(scalar_dtype(lr / (1.0 + lambd * lr * t) ** alpha))
        new_mu = float(scalar_dtype(1.0 / max(1.0, t - t0)))
        return (*head, 1.0 - lambd * eta, -eta, mu, math.nan), (new_eta, new_mu)

    return Rule.of("asgd", coeffs)


def _interpolation(name: str, beta: object) -> float:
    """Schedule-free's interpolation weight, in (0, 1) (x is y's extrapolation by 1/beta)."""
    x = check.real(name, beta)
    if not 0.0 < x < 1.0:
        msg = f"Invalid {name}: {beta!r} (must be in (0, 1))"
        raise ValueError(msg)
    return x


def _schedule_free_weights(lr, warmup_steps, r, weight_lr_power):
    """The per-step scalars of schedule-free SGD and AdamW (the authors' schedulefree 1.4):
    ``weights(t, lr_max, weight_sum)`` gives (the warmed-up rate, ckp1 = this step's weight
    in the average, and the new lr_max and weight_sum)."""
    lr = check.nonneg("lr", lr)
    warmup_steps = check.integer("warmup_steps", warmup_steps, 0)
    r = check.real("r", r)
    weight_lr_power = check.real("weight_lr_power", weight_lr_power)

    def weights(t: int, lr_max: float, weight_sum: float) -> tuple[float, float, float, float]:
        lr_t = lr * t / warmup_steps if t <= warmup_steps else lr
        lr_max = max(lr_t, check.real("lr_max", lr_max))
        weight = t**r * lr_max**weight_lr_power
        weight_sum = check.nonneg("weight_sum", weight_sum) + weight
        return lr_t, weight / weight_sum if weight_sum else 0.0, lr_max, weight_sum

    return weights


def schedule_free_sgd_(
    param: Arrays,
    grad: Arrays,
    z: Arrays,
    *,
    step: int,
    lr_max: float = -1.0,
    weight_sum: float = 0.0,
    lr: float = 1.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    maximize: bool = False,
) -> tuple[float, float]:
    r"""Schedule-free SGD (Defazio et al. 2024, "The Road Less Scheduled"), as the authors'
    ``schedulefree.SGDScheduleFree`` (its defaults). The parameter holds :math:`y_t`, where
    gradients are taken; ``z`` the base sequence (it starts as a copy of the parameter: at
    step 1 its contents are ignored); the average :math:`x_t` to evaluate with is
    :func:`schedule_free_eval_`'s:

    .. math::
        \eta_t = \eta \min(1, t / t_\text{warmup}), \quad
        c_t = \frac{t^r \eta_{\max,t}^{p}}{\sum_{i \le t} i^r \eta_{\max,i}^{p}}, \quad
        u_t = g(y_{t-1}) + \lambda y_{t-1}, \\
        y_t = (1 - c_t) y_{t-1} + c_t z_{t-1} + \eta_t (\beta (1 - c_t) - 1) u_t, \quad
        z_t = z_{t-1} - \eta_t u_t

    with :math:`\beta` = ``momentum``, :math:`p` = ``weight_lr_power``, :math:`\eta_{\max}`
    the largest rate so far. ``lr_max`` and ``weight_sum`` are the scalar state before the
    step (-1 and 0 before the first); the new ones are returned.
    """
    rule = schedule_free_sgd_rule(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                  warmup_steps=warmup_steps, r=r,
                                  weight_lr_power=weight_lr_power, maximize=maximize)  # fmt: skip
    coeffs, scalars = rule.coeffs(check.step(step), lr_max, weight_sum)
    _run(rule.kernel, param, grad, (z,), coeffs)
    return scalars


def schedule_free_sgd_rule(*, lr, momentum, weight_decay, warmup_steps, r, weight_lr_power,
                           maximize) -> Rule:  # fmt: skip
    """Checks schedule-free SGD's hyperparameters once; the rule of
    :func:`schedule_free_sgd_`, whose ``coeffs(t, lr_max, weight_sum)`` also returns the new
    (lr_max, weight_sum)."""
    weights = _schedule_free_weights(lr, warmup_steps, r, weight_lr_power)
    beta = _interpolation("momentum", momentum)
    head = (_sign(maximize), check.nonneg("weight_decay", weight_decay))

    def coeffs(t: int, lr_max: float, weight_sum: float) -> tuple[tuple, tuple[float, float]]:
        lr_t, ckp1, lr_max, weight_sum = weights(t, lr_max, weight_sum)
        step = (float(t == 1), ckp1, lr_t * (beta * (1 - ckp1) - 1), -lr_t)
        return (*head, *step), (lr_max, weight_sum)

    return Rule.of("schedule_free_sgd", coeffs)


def schedule_free_adamw_(
    param: Arrays,
    grad: Arrays,
    z: Arrays,
    exp_avg_sq: Arrays,
    *,
    step: int,
    lr_max: float = -1.0,
    weight_sum: float = 0.0,
    lr: float = 0.0025,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    maximize: bool = False,
) -> tuple[float, float]:
    r"""Schedule-free AdamW (Defazio et al. 2024), as the authors'
    ``schedulefree.AdamWScheduleFree`` (its defaults): :func:`schedule_free_sgd_` with the
    gradient normalised as Adam's, without a first moment (:math:`\beta_1` is the
    interpolation's), and the weight decay added after the normalisation, at :math:`y`:

    .. math::
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        u_t = \frac{g_t}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon} + \lambda y_{t-1}, \\
        y_t = (1 - c_t) y_{t-1} + c_t z_{t-1} + \eta_t (\beta_1 (1 - c_t) - 1) u_t, \quad
        z_t = z_{t-1} - \eta_t u_t
    """
    rule = schedule_free_adamw_rule(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power, maximize=maximize,
    )  # fmt: skip
    coeffs, scalars = rule.coeffs(check.step(step), lr_max, weight_sum)
    _run(rule.kernel, param, grad, (z, exp_avg_sq), coeffs)
    return scalars


def schedule_free_adamw_rule(*, lr, beta1, beta2, eps, weight_decay, warmup_steps, r,
                             weight_lr_power, maximize) -> Rule:  # fmt: skip
    """Checks schedule-free AdamW's hyperparameters once; the rule of
    :func:`schedule_free_adamw_` (``coeffs(t, lr_max, weight_sum)``, as SGD's)."""
    weights = _schedule_free_weights(lr, warmup_steps, r, weight_lr_power)
    beta1, beta2 = _interpolation("beta1", beta1), check.unit("beta2", beta2)
    eps = check.nonneg("eps", eps)
    head = (_sign(maximize), check.nonneg("weight_decay", weight_decay))

    def coeffs(t: int, lr_max: float, weight_sum: float) -> tuple[tuple, tuple[float, float]]:
        lr_t, ckp1, lr_max, weight_sum = weights(t, lr_max, weight_sum)
        step = (float(t == 1), ckp1, lr_t * (beta1 * (1 - ckp1) - 1), -lr_t)
        adam = (beta2, 1 - beta2, 1 / (1 - beta2**t), eps)
        return (*head, *step, *adam), (lr_max, weight_sum)

    return Rule.of("schedule_free_adamw", coeffs)


def schedule_free_eval_(params: Arrays, z: Arrays, *, beta: float) -> None:
    r"""Moves schedule-free parameters from y (training) to the average x (evaluation):
    :math:`x = y + (1 - 1/\beta)(z - y)`, torch's lerp as the authors' ``eval()``. ``beta``
    is the optimizer's momentum (SGD) or ``beta1`` (AdamW). Arrays: one each or aligned
    lists, checked before anything is written."""
    _schedule_free_lerp(params, z, 1.0 - 1.0 / _interpolation("beta", beta))


def schedule_free_train_(params: Arrays, z: Arrays, *, beta: float) -> None:
    r"""The inverse of :func:`schedule_free_eval_`, as the authors' ``train()``:
    :math:`y = x + (1 - \beta)(z - x)`."""
    _schedule_free_lerp(params, z, 1.0 - _interpolation("beta", beta))


def _schedule_free_lerp(params: Any, zs: Any, weight: float) -> None:
    from ._buffers import as_array, check_disjoint, written_array

    _, lists = _aligned_lists(params=params, z=zs)
    pairs = []
    for i, (param, z) in enumerate(zip(lists["params"], lists["z"])):
        p = written_array(param, f"params[{i}]", dtypes=None)
        zz = as_array(z, f"z[{i}]")
        if zz.shape != p.shape:
            msg = f"z[{i}] has shape {zz.shape}, expected {p.shape} (its parameter's)"
            raise ValueError(msg)
        pairs.append((p, zz))
    check_disjoint([(f"params[{i}]", p) for i, (p, _) in enumerate(pairs)],
                   [(f"z[{i}]", z) for i, (_, z) in enumerate(pairs)])  # fmt: skip
    for p, z in pairs:
        _lerp_(p, p, z.astype(p.dtype, copy=False), weight, np.empty_like(p))


class SwatsState(NamedTuple):
    """SWATS's scalar state for one parameter array."""

    phase: str = "adam"  #: "adam", then "sgd" once switched
    lambda_: float = 0.0  #: running average of the projected SGD rate
    sgd_lr: float = 0.0  #: the SGD learning rate chosen at the switch


def check_swats_state(state: SwatsState, name: str = "state") -> None:
    """A SwatsState as loaded or passed in: a known phase and finite rates."""
    if not isinstance(state, SwatsState):
        msg = f"{name} must be a SwatsState, got {type(state).__name__}"
        raise TypeError(msg)
    if state.phase not in ("adam", "sgd"):
        msg = f"{name}: phase must be 'adam' or 'sgd', got {state.phase!r}"
        raise ValueError(msg)
    lam = state.lambda_
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        msg = f"{name}: lambda must be a real number, got {type(lam).__name__}"
        raise TypeError(msg)
    if not (isinstance(lam, float) and math.isnan(lam)):  # what NaN gradients leave
        check.real(f"{name}: lambda", lam)
    check.real(f"{name}: sgd_lr", state.sgd_lr)


def swats_(
    param: Arrays,
    grad: Arrays,
    exp_avg: Arrays,
    exp_avg_sq: Arrays,
    momentum_buffer: Arrays,
    *,
    step: int,
    state: SwatsState | Sequence[SwatsState] = SwatsState(),  # noqa: B008  (immutable)
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-9,
    weight_decay: float = 0.0,
    maximize: bool = False,
    **options: Any,
) -> SwatsState | list[SwatsState]:
    r"""SWATS, switching from Adam to SGD (Keskar & Socher 2017, Algorithm 1).

    Adam phase (per parameter array):

    .. math::
        q_t = -\eta \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} \frac{m_t}{\sqrt{v_t} + \epsilon},
        \quad p_t = p_{t-1} + q_t, \quad
        \gamma_t = \frac{q_t^\top q_t}{-q_t^\top g_t}, \quad
        \lambda_t = \beta_2 \lambda_{t-1} + (1-\beta_2)\gamma_t \;\; (q_t^\top g_t \ne 0)

    switching to SGD with rate :math:`\Lambda = \lambda_t / (1-\beta_2^t)` once
    :math:`t > 1` and :math:`|\Lambda - \gamma_t| < \epsilon`. SGD phase:
    :math:`b_t = \beta_1 b_{t-1} + g_t`, :math:`p_t = p_{t-1} - (1-\beta_1)\Lambda b_t`.

    ``state`` is each array's :class:`SwatsState` (a list for a list call, all in the same
    phase); the new state is returned the same way. ``options``: the reduced-precision
    keywords of :class:`Rule`'s ``apply``.
    """
    lr = check.nonneg("lr", lr)
    beta1, beta2 = _betas(beta1, beta2)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    t = check.step(step)
    if isinstance(state, SwatsState):
        single, states = True, [state]
    else:
        single, states = False, list(state)
    arrays = 1 if not isinstance(param, (list, tuple)) else len(param)
    if len(states) != arrays:
        msg = f"state: expected {arrays} SwatsState (one per array), got {len(states)}"
        raise ValueError(msg)
    for i, s in enumerate(states):
        check_swats_state(s, "state" if single else f"state[{i}]")
    if not states:
        return []
    phases = {s.phase for s in states}
    if len(phases) > 1:
        msg = f"state: every array of one call must be in the same phase, got {phases}"
        raise ValueError(msg)
    if phases == {"sgd"}:
        rates = {s.sgd_lr for s in states}
        if len(rates) > 1:
            msg = "state: every array of one SGD-phase call must share sgd_lr"
            raise ValueError(msg)
        sgd_coeffs = (_sign(maximize), weight_decay, beta1, 1.0, 0.0, 0.0,
                      -(1.0 - beta1) * rates.pop())  # fmt: skip
        _run(_core.sgd_momentum, param, grad, (momentum_buffer,), sgd_coeffs, **options)
        return states[0] if single else states
    bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
    coeffs = (
        _sign(maximize),
        weight_decay,
        *_moments(beta1, beta2),
        eps,
        -lr * math.sqrt(bc2) / bc1,
    )
    sums = _run(_core.swats_adam, param, grad, (exp_avg, exp_avg_sq), coeffs, **options)
    new = []
    for s, (qq, qg) in zip(states, sums.tolist()):
        if qg == 0.0:
            new.append(s)
            continue
        gamma = qq / -qg
        lam = beta2 * s.lambda_ + (1.0 - beta2) * gamma
        if t > 1 and abs(lam / bc2 - gamma) < eps:
            new.append(SwatsState("sgd", lam, lam / bc2))
        else:
            new.append(SwatsState("adam", lam, s.sgd_lr))
    return new[0] if single else new


# --- Muon: an update of whole matrices (no element-wise rule) ---------------------------------

#: Muon's defaults, as torch.optim.Muon's (Jordan et al. 2024): the quintic Newton-Schulz
#: coefficients (a, b, c), the number of iterations, and the norm's floor.
MUON_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
MUON_NS_STEPS = 5
MUON_EPS = 1e-7
#: torch's names for the learning-rate adjustments (None is "original").
MUON_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


class MuonHyperparameters(NamedTuple):
    """Muon's hyperparameters, checked (:func:`check_muon`)."""

    lr: float
    weight_decay: float
    momentum: float
    nesterov: bool
    ns_coefficients: tuple[float, float, float]
    eps: float
    ns_steps: int
    adjust_lr_fn: str | None


def check_muon(
    *, lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn
) -> MuonHyperparameters:
    """Checks Muon's hyperparameters: torch.optim.Muon's checks (lr, momentum, weight_decay
    >= 0, a known adjust_lr_fn; at its step: three coefficients, fewer than 100 steps), and
    finite numbers, eps >= 0 and ns_steps >= 0; TypeError/ValueError naming the argument."""
    try:
        coefficients = tuple(ns_coefficients)
    except TypeError:
        msg = f"ns_coefficients must be a tuple of 3 numbers, got {type(ns_coefficients).__name__}"
        raise TypeError(msg) from None
    if len(coefficients) != 3:
        msg = f"ns_coefficients must hold exactly 3 values (a, b, c), got {len(coefficients)}"
        raise ValueError(msg)
    a, b, c = (check.real(f"ns_coefficients[{i}]", x) for i, x in enumerate(coefficients))
    if not isinstance(nesterov, (bool, np.bool_)):
        msg = f"nesterov must be a bool, got {type(nesterov).__name__}"
        raise TypeError(msg)
    if adjust_lr_fn not in MUON_ADJUST_LR_FNS:
        msg = (f"adjust_lr_fn: {adjust_lr_fn!r} is not supported (None, 'original' or "
               "'match_rms_adamw')")  # fmt: skip
        raise ValueError(msg)
    return MuonHyperparameters(
        lr=check.nonneg("lr", lr), weight_decay=check.nonneg("weight_decay", weight_decay),
        momentum=check.nonneg("momentum", momentum), nesterov=bool(nesterov),
        ns_coefficients=(a, b, c), eps=check.nonneg("eps", eps),
        ns_steps=check.integer("ns_steps", ns_steps, 0, 99), adjust_lr_fn=adjust_lr_fn,
    )  # fmt: skip


def muon_adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """The learning rate of a (rows, cols) matrix: Keller Jordan's ``original``
    lr * sqrt(max(1, rows / cols)), or Moonshot's ``match_rms_adamw`` 0.2 * lr *
    sqrt(max(rows, cols)) (Liu et al. 2025), which gives the update AdamW's RMS."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(max(1.0, rows / cols))


class _MuonScratch:
    """The temporaries of one (shape, dtype): kept by the caller between steps so that a
    step allocates no full-size array (parameters of one shape share them)."""

    def __init__(self, shape: tuple[int, int], dtype: np.dtype) -> None:
        rows, cols = shape
        m, n = min(rows, cols), max(rows, cols)  # the iteration runs on the wide form
        self.u = np.empty(shape, dtype)  # the update before orthogonalisation
        self.x, self.y = np.empty((m, n), dtype), np.empty((m, n), dtype)
        self.gram, self.poly = np.empty((m, m), dtype), np.empty((m, m), dtype)


def _lerp_(out: np.ndarray, start: np.ndarray, end: np.ndarray, weight: float,
           tmp: np.ndarray) -> None:  # fmt: skip
    """out = start + weight * (end - start), with torch's two formulas (the one exact at
    weight 0 below 0.5, the one exact at 1 above); ``out`` may be ``start``."""
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        np.add(start, tmp, out=out)
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=out)


def _muon_one(p: np.ndarray, g: np.ndarray, buf: np.ndarray, hp: MuonHyperparameters,
              grad_scale: float | None, ws: _MuonScratch) -> None:  # fmt: skip
    """One Muon step of one matrix, in place, through the scratch ``ws``. The element-wise
    passes are NumPy ufuncs (they could become a native rule); the products are BLAS's."""
    tall = p.shape[0] > p.shape[1]
    if grad_scale is not None:  # the unscaled gradient, in the iteration's spare buffer
        unscaled = ws.y.reshape(p.shape)
        np.divide(g, grad_scale, out=unscaled)
        g = unscaled
    _lerp_(buf, buf, g, 1.0 - hp.momentum, ws.u)  # B = mu B + (1 - mu) g
    if hp.nesterov:
        update = ws.u
        _lerp_(update, g, buf, hp.momentum, ws.x.reshape(p.shape))  # g + mu (B - g)
    else:
        update = buf
    flat = update.reshape(-1)
    norm = math.sqrt(float(np.dot(flat, flat)))
    x, y = ws.x, ws.y
    np.divide(update.T if tall else update, max(norm, hp.eps), out=x)  # spectral norm <= 1
    a, b, c = hp.ns_coefficients
    gram, poly = ws.gram, ws.poly
    for _ in range(hp.ns_steps):  # X <- a X + (b A + c A^2) X, A = X X^T
        np.matmul(x, x.T, out=gram)
        np.matmul(gram, gram, out=poly)
        poly *= c
        gram *= b
        poly += gram
        np.matmul(poly, x, out=y)
        x *= a
        y += x
        x, y = y, x
    decay = 1.0 - hp.lr * hp.weight_decay
    if decay != 1.0:
        p *= decay
    x *= muon_adjusted_lr(hp.lr, hp.adjust_lr_fn, p.shape)
    np.subtract(p, x.T if tall else x, out=p)


def _aligned_lists(**lists: Any) -> tuple[bool, dict[str, list]]:
    """The argument lists of a call that takes one array each (the first argument is not
    a list: a list of one each is returned) or aligned lists (TypeError/ValueError naming
    the argument that is not a list or has another length)."""
    first, *others = lists
    if not isinstance(lists[first], (list, tuple)):
        return True, {k: [v] for k, v in lists.items()}
    for name in others:
        value = lists[name]
        if not isinstance(value, (list, tuple)):
            msg = f"{name} must be a list ({first} is one), got {type(value).__name__}"
            raise TypeError(msg)
        if len(value) != len(lists[first]):
            msg = f"{name}: expected {len(lists[first])} entries (one per parameter), got " \
                  f"{len(value)}"  # fmt: skip
            raise ValueError(msg)
    return False, {k: list(v) for k, v in lists.items()}


def _muon_arrays(params: Any, grads: Any, momentum_buffers: Any
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """The (param, grad, buffer) triples of a Muon call as ndarray views, checked: float32/
    float64 2-D parameters, gradients and buffers of their dtype and shape, C-contiguous,
    parameters and buffers writable and distinct from each other and from the gradients."""
    from ._buffers import as_array, check_disjoint, check_layout, written_array

    single, lists = _aligned_lists(params=params, grads=grads, momentum_buffers=momentum_buffers)
    out, written, read = [], [], []
    for i, (param, grad, momentum_buffer) in enumerate(zip(*lists.values())):
        at = "" if single else f"[{i}]"
        p = written_array(param, f"params{at}")
        if p.ndim != 2:
            msg = f"params{at}: Muon only supports 2-D parameters, got shape {p.shape}"
            raise ValueError(msg)
        g = as_array(grad, f"grads{at}")
        if g.dtype != p.dtype:
            msg = f"grads{at} has dtype {g.dtype}, expected {p.dtype} (its parameter's)"
            raise TypeError(msg)
        if g.shape != p.shape:
            msg = f"grads{at} has shape {g.shape}, expected {p.shape} (its parameter's)"
            raise ValueError(msg)
        check_layout(g, f"grads{at}")
        buf = written_array(momentum_buffer, f"momentum_buffers{at}", like=p)
        out.append((p, g, buf))
        written += [(f"params{at}", p), (f"momentum_buffers{at}", buf)]
        read.append((f"grads{at}", g))
    check_disjoint(written, read)
    return out


def muon_(
    params: Arrays,
    grads: Arrays,
    momentum_buffers: Arrays,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = MUON_NS_COEFFICIENTS,
    eps: float = MUON_EPS,
    ns_steps: int = MUON_NS_STEPS,
    adjust_lr_fn: str | None = None,
    grad_scale: float | None = None,
    workspace: dict | None = None,
) -> None:
    r"""Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks"),
    as torch.optim.Muon: momentum, then each 2-D update orthogonalised by a quintic
    Newton-Schulz iteration, then decoupled weight decay.

    .. math::
        B_t = \mu B_{t-1} + (1-\mu) g_t, \quad
        U_t = g_t + \mu (B_t - g_t) \text{ if nesterov else } B_t, \\
        X_0 = U_t / \max(\lVert U_t \rVert_F, \epsilon), \quad
        X_{k+1} = a X_k + (b A_k + c A_k^2) X_k, \; A_k = X_k X_k^\top \quad (k < n_s), \\
        p_t = (1 - \eta \lambda) p_{t-1} - \eta' X_{n_s}

    with the iteration on the transpose of a tall matrix, and :math:`\eta'` the adjusted
    rate of :func:`muon_adjusted_lr` (``adjust_lr_fn``: None or "original",
    :math:`\eta \sqrt{\max(1, r/c)}`; "match_rms_adamw", Moonshot's
    :math:`0.2 \eta \sqrt{\max(r, c)}` from Liu et al. 2025, "Muon is Scalable for LLM
    Training"). The iteration drives the singular values to about 0.7..1.2, not to 1.

    Unlike torch, which runs the iteration in bfloat16, this runs it in the parameter's
    precision (float32 or float64), the matrix products through NumPy's BLAS; the
    element-wise parts are NumPy ufuncs over scratch buffers (``workspace``: a dict the
    caller keeps between calls so that a step allocates no full-size temporary; None: this
    call's own). ``grad_scale`` divides the gradients (mixed-precision loss scaling).

    Arrays (one each, or aligned lists): float32/float64, C-contiguous, parameters 2-D
    (else ValueError, as torch), gradients and buffers of their dtype and shape. Everything
    is checked before anything is written.
    """
    hp = check_muon(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                    ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                    adjust_lr_fn=adjust_lr_fn)  # fmt: skip
    if grad_scale is not None:
        grad_scale = check.positive("grad_scale", grad_scale)
    if workspace is not None and not isinstance(workspace, dict):
        msg = f"workspace must be a dict or None, got {type(workspace).__name__}"
        raise TypeError(msg)
    triples = _muon_arrays(params, grads, momentum_buffers)
    scratch = {} if workspace is None else workspace
    for p, g, buf in triples:
        if p.size == 0:  # nothing to update (and no aspect ratio to adjust lr by)
            continue
        key = (p.shape, p.dtype.str)
        ws = scratch.get(key)
        if ws is None:
            ws = scratch[key] = _MuonScratch(p.shape, p.dtype)
        _muon_one(p, g, buf, hp, grad_scale, ws)


# ---------------------------------------------------------------------------
# Adafactor
# ---------------------------------------------------------------------------


class AdafactorHyperparameters(NamedTuple):
    """Adafactor's hyperparameters, checked (:func:`check_adafactor`); ``eps1`` None: the
    parameter dtype's machine epsilon."""

    lr: float
    beta2_decay: float
    eps1: float | None
    eps2: float
    d: float
    weight_decay: float
    maximize: bool


def check_adafactor(*, lr, beta2_decay, eps, d, weight_decay, maximize) -> AdafactorHyperparameters:
    """Adafactor's hyperparameters with torch's ranges (TypeError/ValueError naming one)."""
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        msg = f"eps must be a pair (eps1 or None, eps2), got {eps!r}"
        raise TypeError(msg)
    beta2_decay = check.real("beta2_decay", beta2_decay)
    if beta2_decay > 0:
        msg = f"Invalid beta2_decay: {beta2_decay!r} (must be <= 0)"
        raise ValueError(msg)
    d = check.real("d", d)
    if d < 1:
        msg = f"Invalid d: {d!r} (must be >= 1)"
        raise ValueError(msg)
    return AdafactorHyperparameters(
        check.nonneg("lr", lr), beta2_decay,
        None if eps[0] is None else check.nonneg("eps[0]", eps[0]), check.nonneg("eps[1]", eps[1]),
        d, check.nonneg("weight_decay", weight_decay), bool(maximize),
    )  # fmt: skip


def adafactor_state_shapes(shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """The state arrays of a parameter of ``shape``, as torch's: the row and column factors
    of a tensor of 2 or more dimensions (its last two), the full variance of a vector."""
    if len(shape) < 2:
        return {"variance": shape}
    return {"row_var": (*shape[:-1], 1), "col_var": (*shape[:-2], 1, shape[-1])}


def _adafactor_arrays(params: Any, grads: Any, row_vars: Any, col_vars: Any, variances: Any
                      ) -> list[tuple[np.ndarray, np.ndarray, list[np.ndarray]]]:  # fmt: skip
    """The (param, grad, factors) of an Adafactor call as ndarray views, checked: float32/
    float64 parameters; gradients and states of their dtype; states of the shapes of
    :func:`adafactor_state_shapes` (None where a parameter has no such state); all
    C-contiguous, written arrays writable and sharing no memory."""
    from ._buffers import as_array, check_disjoint, check_layout, written_array

    single, lists = _aligned_lists(params=params, grads=grads, row_vars=row_vars,
                                   col_vars=col_vars, variances=variances)  # fmt: skip
    out, written, read = [], [], []
    for i, (param, grad, *states) in enumerate(zip(*lists.values())):
        at = "" if single else f"[{i}]"
        p = written_array(param, f"params{at}")
        g = as_array(grad, f"grads{at}")
        if g.dtype != p.dtype or g.shape != p.shape:
            msg = f"grads{at} has dtype {g.dtype} and shape {g.shape}, expected {p.dtype} " \
                  f"and {p.shape} (its parameter's)"  # fmt: skip
            raise (TypeError if g.dtype != p.dtype else ValueError)(msg)
        check_layout(g, f"grads{at}")
        shapes = adafactor_state_shapes(p.shape)
        factors = []
        for key, state in zip(("row_var", "col_var", "variance"), states):
            name = f"{key}s{at}"
            if key not in shapes:
                if state is not None:
                    msg = f"{name} must be None for a parameter of shape {p.shape}"
                    raise ValueError(msg)
                continue
            if state is None:
                msg = f"{name} is None, but a parameter of shape {p.shape} needs one"
                raise ValueError(msg)
            a = written_array(state, name, dtypes=(p.dtype,))
            if a.shape != shapes[key]:
                msg = f"{name} has shape {a.shape}, expected {shapes[key]}"
                raise ValueError(msg)
            factors.append(a)
            written.append((name, a))
        out.append((p, g, factors))
        written.append((f"params{at}", p))
        read.append((f"grads{at}", g))
    check_disjoint(written, read)
    return out


def adafactor_(
    params: Arrays,
    grads: Arrays,
    row_vars: Any,
    col_vars: Any,
    variances: Any,
    *,
    step: int,
    lr: float = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
    maximize: bool = False,
    grad_scale: float | None = None,
) -> None:
    r"""Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost"), as torch.optim.Adafactor: the second moment of an (r, c) matrix is kept
    as its row and column means, r + c numbers, the step size is relative to the
    parameter's RMS, and the update is clipped by its own RMS.

    .. math::
        \hat\beta_{2,t} = 1 - t^{\beta_{2,\text{decay}}}, \quad
        \rho_t = \min(\eta, 1/\sqrt t), \quad
        \alpha_t = \max(\epsilon_2, \mathrm{RMS}(p_{t-1}))\,\rho_t, \\
        R_t = \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_{\text{cols}}(g_t^2),
        \quad
        C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_{\text{rows}}(g_t^2),
        \\
        \hat V_t = R_t C_t / \max(\mathrm{mean}(R_t), \epsilon_1) \quad
        (\text{a vector: } \hat V_t = \hat\beta_{2,t} \hat V_{t-1} + (1-\hat\beta_{2,t}) g_t^2),
        \\
        U_t = g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}, \quad
        p_t = (1 - \eta\lambda)\,p_{t-1} - \frac{\alpha_t}{\max(1, \mathrm{RMS}(U_t)/d)} U_t

    A tensor of more than two dimensions is a batch of matrices over its last two. As in
    torch, there is no first moment and ``lr`` caps the relative step size :math:`\rho_t`.
    ``eps[0]`` (None: the dtype's machine epsilon, as torch) floors the variance estimate,
    ``eps[1]`` the parameter's RMS. ``step`` is t, the 1-based count of this update (the same
    for every array of the call). ``grad_scale`` divides the gradients as they are read.

    Arrays (one each, or aligned lists, None where a parameter has no such state):
    float32/float64, C-contiguous; ``row_vars`` of shape ``shape[:-1] + (1,)`` and
    ``col_vars`` of ``shape[:-2] + (1, shape[-1])`` for parameters of two or more
    dimensions, ``variances`` of the parameter's shape for the others (torch's state
    shapes). Everything is checked before anything is written. Each array is reduced in
    fixed blocks, in order: the result is the same for any thread count.
    """
    hp = check_adafactor(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                         weight_decay=weight_decay, maximize=maximize)  # fmt: skip
    step = check.step(step)
    scale = 1.0 if grad_scale is None else check.positive("grad_scale", grad_scale)
    for p, g, factors in _adafactor_arrays(params, grads, row_vars, col_vars, variances):
        _adafactor_step(p, g, factors, hp, step, scale)


def _adafactor_step(p: np.ndarray, g: np.ndarray, factors: list[np.ndarray],
                    hp: AdafactorHyperparameters, step: int, grad_scale: float = 1.0) -> None:
    """One native Adafactor step on arrays and hyperparameters already checked."""
    t = float(step)
    eps1 = float(np.finfo(p.dtype).eps) if hp.eps1 is None else hp.eps1
    coeffs = ((-1.0 if hp.maximize else 1.0) / grad_scale, t**hp.beta2_decay, eps1, hp.eps2,
              min(hp.lr, 1 / t**0.5), 1.0 - hp.lr * hp.weight_decay, hp.d)  # fmt: skip
    _core.adafactor(p, g, factors, coeffs)


# ---------------------------------------------------------------------------
# LAMB and LARS: layer-wise trust ratios (a norm per array, no element-wise rule)
# ---------------------------------------------------------------------------

#: Elements per chunk of the float64 norms and of the scaled additions below (a 512 KiB
#: temporary at most): no full-size temporary beyond the call's one scratch array.
_CHUNK = 1 << 16


def _norm(a: np.ndarray) -> float:
    """The L2 norm of the C-contiguous ``a``, summed in float64: a float64 array by one dot
    product, a float32 one in chunks converted to float64."""
    flat = a.reshape(-1)
    if flat.dtype == np.float64:
        return math.sqrt(float(np.dot(flat, flat)))
    total = 0.0
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start : start + _CHUNK].astype(np.float64)
        total += float(np.dot(chunk, chunk))
    return math.sqrt(total)


def _add_scaled_(out: np.ndarray, scale: float, x: np.ndarray) -> None:
    """out += scale * x (both C-contiguous, of one shape), in chunks through a small
    temporary."""
    flat_out, flat_x = out.reshape(-1), x.reshape(-1)
    tmp = np.empty(min(flat_out.size, _CHUNK), out.dtype)
    for start in range(0, flat_out.size, _CHUNK):
        n = min(_CHUNK, flat_out.size - start)
        np.multiply(flat_x[start : start + n], scale, out=tmp[:n])
        flat_out[start : start + n] += tmp[:n]


def _trust_ratio(param_norm: float, update_norm: float, coefficient: float, eps: float
                 ) -> float:  # fmt: skip
    """optax's scale_by_trust_ratio (min_norm 0): coefficient * ||p|| / (||u|| + eps), and
    1 where either norm is 0 (a parameter that would otherwise never move)."""
    if param_norm == 0.0 or update_norm == 0.0:
        return 1.0
    return coefficient * param_norm / (update_norm + eps)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        msg = f"{name} must be a bool, got {type(value).__name__}"
        raise TypeError(msg)
    return bool(value)


def _grad_factor(maximize: bool, grad_scale: float | None) -> float:
    """What the gradients are multiplied by as they are read: -1 to maximize, 1/grad_scale
    to undo a loss scale (exact for a power of two)."""
    factor = -1.0 if maximize else 1.0
    if grad_scale is not None:
        factor /= check.positive("grad_scale", grad_scale)
    return factor


def _layerwise_arrays(params: Any, grads: Any, **states: Any
                      ) -> list[tuple[np.ndarray, np.ndarray, list[np.ndarray]]]:  # fmt: skip
    """The (param, grad, states) of a LAMB or LARS call as ndarray views, checked: float32/
    float64 parameters of any shape, gradients and states of their dtype and shape, all
    C-contiguous, parameters and states writable and sharing no memory with each other or
    with a gradient."""
    from ._buffers import as_array, check_disjoint, check_layout, written_array

    single, lists = _aligned_lists(params=params, grads=grads, **states)
    out, written, read = [], [], []
    for i, (param, grad, *buffers) in enumerate(zip(*lists.values())):
        at = "" if single else f"[{i}]"
        p = written_array(param, f"params{at}")
        g = as_array(grad, f"grads{at}")
        if g.dtype != p.dtype or g.shape != p.shape:
            msg = f"grads{at} has dtype {g.dtype} and shape {g.shape}, expected {p.dtype} " \
                  f"and {p.shape} (its parameter's)"  # fmt: skip
            raise (TypeError if g.dtype != p.dtype else ValueError)(msg)
        check_layout(g, f"grads{at}")
        arrays = []
        for key, buffer in zip(states, buffers):
            a = written_array(buffer, f"{key}{at}", like=p)
            arrays.append(a)
            written.append((f"{key}{at}", a))
        out.append((p, g, arrays))
        written.append((f"params{at}", p))
        read.append((f"grads{at}", g))
    check_disjoint(written, read)
    return out


def _scratch(arrays: list[tuple[np.ndarray, np.ndarray, list[np.ndarray]]]
             ) -> dict[np.dtype, np.ndarray]:  # fmt: skip
    """One flat scratch array per dtype of the call, as large as its largest parameter."""
    sizes: dict[np.dtype, int] = {}
    for p, _, _ in arrays:
        sizes[p.dtype] = max(sizes.get(p.dtype, 0), p.size)
    return {dtype: np.empty(size, dtype) for dtype, size in sizes.items()}


class LambHyperparameters(NamedTuple):
    """LAMB's hyperparameters, checked (:func:`check_lamb`)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    eps_root: float
    weight_decay: float
    trust_ratio: bool
    maximize: bool


def check_lamb(*, lr, beta1, beta2, eps, eps_root, weight_decay, trust_ratio, maximize
               ) -> LambHyperparameters:  # fmt: skip
    """LAMB's hyperparameters: finite, lr, eps, eps_root and weight_decay >= 0, betas in
    [0, 1), trust_ratio a bool (TypeError/ValueError naming the argument)."""
    beta1, beta2 = _betas(beta1, beta2)
    return LambHyperparameters(
        check.nonneg("lr", lr), beta1, beta2, check.nonneg("eps", eps),
        check.nonneg("eps_root", eps_root), check.nonneg("weight_decay", weight_decay),
        _flag("trust_ratio", trust_ratio), bool(maximize),
    )  # fmt: skip


def lamb_(
    params: Arrays,
    grads: Arrays,
    exp_avgs: Arrays,
    exp_avg_sqs: Arrays,
    *,
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    trust_ratio: bool = True,
    maximize: bool = False,
    grad_scale: float | None = None,
) -> None:
    r"""LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes"), as optax.lamb: Adam's direction plus weight decay, rescaled per array so
    that its step is ``lr`` times the parameter's norm.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        u_t = \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}}
              + \epsilon} + \lambda p_{t-1}, \quad
        r_t = \frac{\lVert p_{t-1} \rVert}{\lVert u_t \rVert}, \quad
        p_t = p_{t-1} - \eta\, r_t u_t

    with the L2 norms of each whole array, and :math:`r_t = 1` where either norm is 0 (a
    zero-initialised parameter takes a plain step) or ``trust_ratio`` is False (the
    parameter is excluded, as optax's masks exclude biases and norms: then the update is
    AdamW's, :math:`p_t = (1-\eta\lambda) p_{t-1} - \eta\,\hat m_t / (\sqrt{\hat v_t}
    + \epsilon)`). Defaults are optax's (``eps`` 1e-6, outside the root; ``eps_root``
    inside it); ``lr`` has none in optax: 1e-3 here, the paper's scale (each array moves by
    about ``lr`` times its norm per step). ``step`` is t, the 1-based count of this update.
    ``grad_scale`` divides the gradients as they are read; ``maximize`` negates them.

    Arrays (one each, or aligned lists): float32/float64 parameters of any shape,
    gradients and states of their dtype and shape, C-contiguous. Everything is checked
    before anything is written. The element-wise passes are NumPy ufuncs over one scratch
    array per call; the norms are summed in float64.
    """
    hp = check_lamb(lr=lr, beta1=beta1, beta2=beta2, eps=eps, eps_root=eps_root,
                    weight_decay=weight_decay, trust_ratio=trust_ratio,
                    maximize=maximize)  # fmt: skip
    t = check.step(step)
    factor = _grad_factor(hp.maximize, grad_scale)
    arrays = _layerwise_arrays(params, grads, exp_avgs=exp_avgs, exp_avg_sqs=exp_avg_sqs)
    scratch = _scratch(arrays)
    for p, g, (m, v) in arrays:
        u = scratch[p.dtype][: p.size].reshape(p.shape)
        _lamb_one(p, g, m, v, u, hp, factor, (1.0 - hp.beta1**t, 1.0 - hp.beta2**t))


def _lamb_one(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, u: np.ndarray,
              hp: LambHyperparameters, factor: float, bias: tuple[float, float]
              ) -> None:  # fmt: skip
    """One LAMB step of one array, in place, through the scratch ``u`` of its shape."""
    np.multiply(g, (1.0 - hp.beta1) * factor, out=u)  # m = b1 m + (1 - b1) g
    m *= hp.beta1
    m += u
    np.square(g, out=u)  # v = b2 v + (1 - b2) g^2
    u *= (1.0 - hp.beta2) * factor * factor
    v *= hp.beta2
    v += u
    np.divide(v, bias[1], out=u)  # u = (m / bias1) / (sqrt(v / bias2 + eps_root) + eps)
    if hp.eps_root:
        u += hp.eps_root
    np.sqrt(u, out=u)
    u += hp.eps
    np.divide(m, u, out=u)
    u /= bias[0]
    if hp.weight_decay:
        _add_scaled_(u, hp.weight_decay, p)
    ratio = _trust_ratio(_norm(p), _norm(u), 1.0, 0.0) if hp.trust_ratio else 1.0
    u *= hp.lr * ratio
    p -= u


class LarsHyperparameters(NamedTuple):
    """LARS's hyperparameters, checked (:func:`check_lars`)."""

    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    trust_coefficient: float
    eps: float
    trust_ratio: bool
    maximize: bool


def check_lars(*, lr, momentum, nesterov, weight_decay, trust_coefficient, eps, trust_ratio,
               maximize) -> LarsHyperparameters:  # fmt: skip
    """LARS's hyperparameters: finite, lr, weight_decay, trust_coefficient and eps >= 0,
    momentum in [0, 1), nesterov and trust_ratio bools (TypeError/ValueError naming the
    argument)."""
    return LarsHyperparameters(
        check.nonneg("lr", lr), check.unit("momentum", momentum), _flag("nesterov", nesterov),
        check.nonneg("weight_decay", weight_decay),
        check.nonneg("trust_coefficient", trust_coefficient), check.nonneg("eps", eps),
        _flag("trust_ratio", trust_ratio), bool(maximize),
    )  # fmt: skip


def lars_(
    params: Arrays,
    grads: Arrays,
    momentum_buffers: Arrays,
    *,
    lr: float = 1.0,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio: bool = True,
    maximize: bool = False,
    grad_scale: float | None = None,
) -> None:
    r"""LARS (You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional
    Networks"), as optax.lars: SGD whose step, per array, is ``trust_coefficient`` times
    the parameter's norm over the gradient's, then momentum.

    .. math::
        u_t = g_t + \lambda p_{t-1}, \quad
        r_t = \frac{\tau \lVert p_{t-1} \rVert}{\lVert u_t \rVert + \epsilon}, \\
        B_t = \mu B_{t-1} + \eta\, r_t u_t, \quad
        p_t = p_{t-1} - (\eta\, r_t u_t + \mu B_t \text{ if nesterov else } B_t)

    with the L2 norms of each whole array, :math:`\tau` the ``trust_coefficient``, and
    :math:`r_t = 1` where either norm is 0 or ``trust_ratio`` is False (optax's
    ``trust_ratio_mask``; with it False, LARS is SGD with momentum and coupled weight decay,
    the rate inside the buffer). Note the zero-norm rule of optax: a zero-initialised
    parameter (a bias, say) takes the plain step :math:`\eta u_t`, not
    :math:`\tau`-scaled, until it is nonzero; exclude such parameters with
    ``trust_ratio=False`` and a suitable rate, or give them their own group. As in optax the
    rate is applied before the momentum (the buffer holds steps, optax's ``trace`` with the
    opposite sign: here the step is subtracted). Defaults are optax's; ``lr`` has none in
    optax: 1.0 here, so that an array moves by ``trust_coefficient`` = 0.1% of its norm per
    step before momentum (LAMB's relative step at its lr 1e-3). ``grad_scale`` divides the
    gradients as they are read; ``maximize`` negates them.

    Arrays (one each, or aligned lists): float32/float64 parameters of any shape,
    gradients and buffers of their dtype and shape, C-contiguous. Everything is checked
    before anything is written. The element-wise passes are NumPy ufuncs over one scratch
    array per call; the norms are summed in float64.
    """
    hp = check_lars(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                    trust_coefficient=trust_coefficient, eps=eps, trust_ratio=trust_ratio,
                    maximize=maximize)  # fmt: skip
    factor = _grad_factor(hp.maximize, grad_scale)
    arrays = _layerwise_arrays(params, grads, momentum_buffers=momentum_buffers)
    scratch = _scratch(arrays)
    for p, g, (buf,) in arrays:
        _lars_one(p, g, buf, scratch[p.dtype][: p.size].reshape(p.shape), hp, factor)


def _lars_one(p: np.ndarray, g: np.ndarray, buf: np.ndarray, u: np.ndarray,
              hp: LarsHyperparameters, factor: float) -> None:  # fmt: skip
    """One LARS step of one array, in place, through the scratch ``u`` of its shape."""
    np.multiply(g, factor, out=u)  # u = g + weight_decay * p
    if hp.weight_decay:
        _add_scaled_(u, hp.weight_decay, p)
    if hp.trust_ratio:
        ratio = _trust_ratio(_norm(p), _norm(u), hp.trust_coefficient, hp.eps)
    else:
        ratio = 1.0
    u *= hp.lr * ratio
    buf *= hp.momentum  # B = mu B + lr r u
    buf += u
    if hp.nesterov:  # p -= lr r u + mu B
        p -= u
        np.multiply(buf, hp.momentum, out=u)
        p -= u
    else:
        p -= buf
