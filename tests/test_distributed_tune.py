"""Choosing the learning rate with Ray Tune (pyfastopt.distributed.tuning): grid search and
log-uniform random search give each trial's result as the same training outside Tune gives
it, and population-based training copies pyfastopt state dicts from good trials to bad ones
(on the session's loopback-only Ray cluster)."""

from __future__ import annotations

import numpy as np
import pytest
from distributed_problem import loss_grad, make_data

from pyfastopt import optim
from pyfastopt.distributed.tuning import trainable

tune = pytest.importorskip("ray.tune", reason="Ray Tune is in the test extra")

DATA = make_data()
W0 = np.zeros(DATA[0].shape[1] + 1)
REPORT, SEED, BATCH = 10, 3, 32


def full_loss(w):
    return loss_grad(w, DATA)[0]


def direct_loss(lr: float, steps: int) -> float:
    """The documented trial, without Tune: SGD on the batches of rng([seed, step])."""
    w = W0.copy()
    opt = optim.SGD([w], lr=lr)
    for step in range(steps):
        rows = np.random.default_rng([SEED, step]).integers(0, len(DATA[1]), BATCH)
        opt.step([loss_grad(w, (DATA[0][rows], DATA[1][rows]))[1]])
    return full_loss(w)


def fit(tmp_path, param_space, iterations, **tune_config):
    run = trainable(loss_grad, full_loss, W0, DATA, optimizer=optim.SGD, batch_size=BATCH,
                    steps_per_report=REPORT, seed=SEED)  # fmt: skip
    tuner = tune.Tuner(
        run,
        param_space=param_space,
        tune_config=tune.TuneConfig(metric="loss", mode="min", **tune_config),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), verbose=0, stop={"training_iteration": iterations}
        ),
    )
    return tuner.fit()


def test_grid_search_trials_are_the_direct_runs(ray_cluster, tmp_path):
    grid = [0.003, 0.03, 0.3]
    results = fit(tmp_path, {"lr": tune.grid_search(grid)}, iterations=4)
    assert not results.errors
    losses = {r.config["lr"]: r.metrics["loss"] for r in results}
    assert losses == {lr: direct_loss(lr, 4 * REPORT) for lr in grid}
    assert results.get_best_result().config["lr"] == min(losses, key=losses.get)


def test_log_uniform_search_samples_in_range_and_reports_the_direct_runs(ray_cluster, tmp_path):
    from ray.tune.search import BasicVariantGenerator

    results = fit(tmp_path, {"lr": tune.loguniform(1e-3, 1.0)}, iterations=2, num_samples=4,
                  search_alg=BasicVariantGenerator(random_state=0))  # fmt: skip
    assert not results.errors
    lrs = [r.config["lr"] for r in results]
    assert len(set(lrs)) == 4
    assert all(1e-3 <= lr <= 1.0 for lr in lrs)
    for r in results:
        assert r.metrics["loss"] == direct_loss(r.config["lr"], 2 * REPORT)


# (a function trainable has no reset_config to reuse actors with)
@pytest.mark.filterwarnings("ignore:Consider boosting PBT performance")
def test_population_based_training_copies_state_dicts_to_the_bad_trials(ray_cluster, tmp_path):
    """Two trials start with a rate far too small to learn in 80 steps; PBT replaces them by
    copies of the good ones (parameters and optimizer state from the checkpoint) with a
    perturbed rate, so they end near the good trials and far below where their own rate
    would have taken them."""
    from ray.tune.schedulers import PopulationBasedTraining

    pbt = PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=2,
                                  hyperparam_mutations={"lr": [0.05, 0.1, 0.3]},
                                  quantile_fraction=0.5, resample_probability=0.0)  # fmt: skip
    grid = [1e-5, 2e-5, 0.1, 0.3]
    results = fit(tmp_path, {"lr": tune.grid_search(grid)}, iterations=8, scheduler=pbt)
    assert not results.errors
    stuck = direct_loss(1e-5, 8 * REPORT)  # where the small rate alone ends
    good = min(direct_loss(lr, 8 * REPORT) for lr in (0.1, 0.3))
    finals = sorted(r.metrics["loss"] for r in results)
    assert finals[-1] < stuck - 0.5 * (stuck - good)  # every trial, the rescued ones too
    assert all(r.metrics["step"] == 8 * REPORT for r in results)
    assert not {1e-5, 2e-5} & {r.config["lr"] for r in results}  # both were exploited
