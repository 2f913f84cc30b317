"""
The learning-rate range test
============================

Smith's range test (2017): one short training run whose learning rate grows exponentially,
step by step, from 1e-7 to 10, with the loss recorded until it blows up. The loss stays
flat while the rate is too small to move the weights, falls, then rises: a good fixed rate
lies on the falling part, and :func:`pyfastopt.lr_search.suggest_lr` picks the rate where
the smoothed loss falls fastest. Here on the digits MLP of ``pyfastopt demo`` with SGD and
momentum 0.9 (:func:`pyfastopt.lr_search.demo_range_test`; for your own model,
:func:`pyfastopt.lr_search.range_test` takes an optimizer factory and a training step).
"""

import functools

import matplotlib.pyplot as plt
import numpy as np

from pyfastopt.lr_search import demo_range_test, demo_trial, format_trials, grid_search

result = demo_range_test("Momentum", seed=0)
print(f"{len(result.rates)} steps, stopped early: {result.stopped_early}, "
      f"suggested lr: {result.suggested_lr:.3g}")

# %%
# Checking the suggestion
# -----------------------
# A small grid search (two rates per decade, 10 epochs each, :func:`grid_search` of
# :func:`pyfastopt.lr_search.demo_trial`) trains the same model at fixed rates; the
# suggested rate should train about as well as the grid's best.

train = functools.partial(demo_trial, optimizer="Momentum", epochs=10, seed=0)
search = grid_search(train, {"lr": np.logspace(-3, 0, 7)})
print(format_trials(search))
suggested = train(result.suggested_lr)["score"]
print(f"suggested lr {result.suggested_lr:.3g}: {suggested:.1f}% test accuracy; "
      f"grid's best lr {search.best['params']['lr']:.3g}: {search.best['score']:.1f}%")

fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
ax.plot(result.rates, result.losses, color="tab:blue", alpha=0.3, lw=1, label="loss")
ax.plot(result.rates, result.smoothed, color="tab:blue", lw=2.2, label="smoothed loss")
ax.axvline(result.suggested_lr, color="tab:red", ls="--",
           label=f"suggested lr {result.suggested_lr:.2g}")
ax.set_xscale("log")
finite = np.where(np.isfinite(result.smoothed), result.smoothed, np.nan)
lowest = int(np.nanargmin(finite))  # the flat start sets the scale, not the blow-up
ax.set_ylim(0.0, 1.3 * float(np.nanmax(finite[: lowest + 1])))
ax.set_xlabel("learning rate (log scale)")
ax.set_ylabel("training loss")
ax.grid(True, which="both", alpha=0.3)

trials = sorted(search.trials, key=lambda row: row["params"]["lr"])
twin = ax.twinx()
twin.plot([row["params"]["lr"] for row in trials], [row["score"] for row in trials], "o-",
          color="tab:green", label="grid search: test accuracy after 10 epochs (%)")
twin.set_ylabel("test accuracy (%)")
handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
ax.legend(handles=handles, loc="lower left", fontsize=9)
ax.set_title("LR range test of SGD with momentum 0.9 on the digits MLP")
