"""The optimizer table every test iterates: (class name, constructor kwargs), covering each
option that changes the math. Learning rates are raised where the default would move the
parameters too little for a comparison to mean anything."""

from __future__ import annotations

CASES = [
    ("SGD", {"lr": 0.01}),
    ("SGD", {"lr": 0.01, "momentum": 0.9}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "dampening": 0.1, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.1}),
    ("Adagrad", {"lr": 0.1, "eps": 1e-3, "eps_inside_sqrt": True, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.95, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9, "weight_decay": 0.01}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "maximize": True}),
    ("RMSprop", {"eps": 1e-4, "eps_inside_sqrt": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "bias_correction": False}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adamax", {}),
    ("Adamax", {"weight_decay": 0.1, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"simplified": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1, "maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
    ("AdaBound", {"lr": 0.01}),
    ("AdaBound", {"lr": 0.01, "final_lr": 0.05, "gamma": 0.1, "weight_decay": 0.1}),
    ("AMSBound", {"lr": 0.01, "maximize": True}),
    ("Lion", {"lr": 1e-3}),
    ("Lion", {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.5, "maximize": True}),
    ("Yogi", {}),
    ("Yogi", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "eps_root": 1e-8,
              "weight_decay": 0.1, "initial_accumulator_value": 0.0, "maximize": True}),
    ("ADOPT", {"lr": 0.01}),
    ("ADOPT", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-3, "nesterov": True,
               "weight_decay": 0.1, "maximize": True}),
    ("ADOPT", {"lr": 0.01, "clipping": False}),
    ("AdaBelief", {"lr": 0.01}),
    ("AdaBelief", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-8, "eps_root": 0.0,
                   "weight_decay": 0.1, "maximize": True}),
    ("AdEMAMix", {"lr": 0.01}),
    ("AdEMAMix", {"lr": 0.01, "betas": (0.8, 0.99), "beta3": 0.999, "alpha": 2.0,
                  "alpha_warmup": 3, "beta3_warmup": 4, "weight_decay": 0.1, "maximize": True}),
    ("ASGD", {"lr": 0.05}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 3, "weight_decay": 0.1,
              "maximize": True}),
    ("SGDScheduleFree", {"lr": 0.1}),
    ("SGDScheduleFree", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.1, "warmup_steps": 5,
                         "r": 1.0, "weight_lr_power": 1.0, "maximize": True}),
    ("AdamWScheduleFree", {"lr": 0.01}),
    ("AdamWScheduleFree", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1,
                           "warmup_steps": 4, "r": 0.5, "maximize": True}),
    ("SWATS", {"lr": 0.01}),
    ("SWATS", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
]  # fmt: skip

NAMES = sorted({name for name, _ in CASES})


def has_scalar_state(name: str) -> bool:
    """Optimizers with scalar state besides the step count (NAdam's mu_product, SWATS's
    phase and rates): one value per array, so dense gradients only and no device twin."""
    from pyfastopt import optim

    cls = getattr(optim, name)
    return bool(cls._scalar_state) or name not in optim.element_wise()


#: The optimizers of :func:`has_scalar_state`.
SCALAR_STATE = {name for name in NAMES if has_scalar_state(name)}


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


IDS = [case_id(c) for c in CASES]
