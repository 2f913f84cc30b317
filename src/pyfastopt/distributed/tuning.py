"""Choosing the learning rate at scale with Ray Tune (the notes' grid search, random search on
a log scale, and population-based training), with pyfastopt optimizers in the trials and
their state dicts as the checkpoints that PBT copies from trial to trial.

:func:`trainable` turns a NumPy problem into a Tune function trainable::

    from ray import tune
    from pyfastopt import optim
    from pyfastopt.distributed.tuning import trainable

    run = trainable(grad_fn, loss_fn, w0, (X, y), optimizer=optim.SGD)
    tuner = tune.Tuner(run, param_space={"lr": tune.loguniform(1e-3, 1.0)},
                       tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=8),
                       run_config=tune.RunConfig(stop={"training_iteration": 20}))
    best = tuner.fit().get_best_result()

A trial is deterministic: its minibatches come from ``seed`` and the step it is at, so a
trial run twice, or restored from a checkpoint at step k, draws the same batches.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._worker import GradFn

__all__ = ["STATE_FILE", "trainable"]

#: the file of a trial's checkpoint directory: {"params", "optimizer" (state_dict), "step"}
STATE_FILE = "pyfastopt_state.pkl"


def trainable(
    grad_fn: GradFn,
    loss_fn: Callable[[np.ndarray], float],
    params: np.ndarray,
    data: tuple,
    *,
    optimizer: Callable[..., Any],
    batch_size: int = 32,
    steps_per_report: int = 20,
    seed: int = 0,
) -> Callable[[dict], None]:
    """A Ray Tune function trainable: trains a copy of ``params`` on minibatches of ``data``
    with ``optimizer([params], **config)`` (a ``pyfastopt.optim`` class; the trial's config
    holds its hyperparameters, e.g. ``lr``), and every ``steps_per_report`` steps reports
    ``{"loss": loss_fn(params), "step": steps}`` with a checkpoint of the parameters and
    ``optimizer.state_dict()``. A trial started from a checkpoint (Tune's restore, PBT's
    exploit) loads it, then takes the hyperparameters of its own config (PBT's mutation).
    Stop it with Tune's ``stop`` (e.g. ``{"training_iteration": 20}``)."""

    def run(config: dict) -> None:
        from ray import tune

        w = np.array(params, copy=True)
        opt = optimizer([w], **config)
        step = 0
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as folder, (Path(folder) / STATE_FILE).open("rb") as f:
                state = pickle.load(f)
            w[...] = state["params"]
            opt.load_state_dict(state["optimizer"])
            for group in opt.param_groups:  # the trial's own hyperparameters
                group.update(config)
            step = state["step"]
        rows = len(data[0])
        while True:
            for _ in range(steps_per_report):
                take = np.random.default_rng([seed, step]).integers(0, rows, batch_size)
                opt.step([grad_fn(w, tuple(a[take] for a in data))[1]])
                step += 1
            with tempfile.TemporaryDirectory() as folder:
                state = {"params": w, "optimizer": opt.state_dict(), "step": step}
                with (Path(folder) / STATE_FILE).open("wb") as f:
                    pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
                tune.report({"loss": float(loss_fn(w)), "step": step},
                            checkpoint=tune.Checkpoint.from_directory(folder))  # fmt: skip

    return run
