"""
Hogwild! against scikit-learn's SGDClassifier
=============================================

:func:`pyfastopt.hogwild.train` fits a sparse linear model with lock-free SGD on several
threads (Niu et al. 2011). Here L2-regularised logistic regression on a synthetic sparse data
set (200,000 rows, 20,000 features, about 20 non-zeros per row), the same objective, epochs
and learning-rate schedule as scikit-learn's ``SGDClassifier(learning_rate="optimal")``:
scikit-learn's rate ``1 / (alpha (t0 + t))`` is pyfastopt's
:func:`~pyfastopt.schedules.time_based_decay_schedule`. ``bench/hogwild_vs_sklearn.py``
runs the same comparison at a million rows with repetitions and medians.
"""

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import SGDClassifier

from pyfastopt import hogwild, schedules

ROWS, FEATURES, NNZ, EPOCHS, ALPHA = 200_000, 20_000, 20, 5, 1e-5
rng = np.random.default_rng(0)
n_all = ROWS + ROWS // 10  # the last tenth is held out
X_all = sp.random_array((n_all, FEATURES), density=NNZ / FEATURES, format="csr",
                        dtype=np.float32, rng=rng, data_sampler=rng.standard_normal)  # fmt: skip
margin = X_all @ rng.standard_normal(FEATURES) + 0.3 * rng.standard_normal(n_all)
y_all = np.where(margin > 0, 1.0, -1.0)
X, y, X_test, y_test = X_all[:ROWS], y_all[:ROWS], X_all[ROWS:], y_all[ROWS:]

# scikit-learn's first "optimal" rate for the log loss (Bottou's heuristic), and its decay
typw = math.sqrt(1.0 / math.sqrt(ALPHA))
eta0 = typw / max(1.0, 1.0 / (1.0 + math.exp(-typw)))
lr = schedules.time_based_decay_schedule(eta0, ALPHA * eta0)

fits = {}
for threads in (1, 2):
    start = time.perf_counter()
    model = hogwild.train(X, y, loss="logistic", alpha=ALPHA, lr=lr, epochs=EPOCHS,
                          n_threads=threads, history="objective")  # fmt: skip
    fits[f"pyfastopt, {threads} thread{'s' * (threads > 1)}"] = (
        time.perf_counter() - start, model.coef, model.intercept, model.loss_history)

start = time.perf_counter()
sk = SGDClassifier(loss="log_loss", alpha=ALPHA, learning_rate="optimal", max_iter=EPOCHS,
                   tol=None, random_state=0).fit(X, y)  # fmt: skip
fits["scikit-learn"] = (time.perf_counter() - start, sk.coef_[0].astype(np.float32),
                        float(sk.intercept_[0]), None)  # fmt: skip

print(f"{'trainer':22} {'seconds':>8} {'objective':>10} {'held-out accuracy':>18}")
results = {}
for name, (seconds, coef, intercept, _) in fits.items():
    objective = hogwild.objective(X, y, coef, intercept, loss="logistic", alpha=ALPHA)
    accuracy = np.mean(np.where(hogwild.decision_function(X_test, coef, intercept) > 0, 1.0,
                                -1.0) == y_test)  # fmt: skip
    results[name] = (seconds, objective, accuracy)
    print(f"{name:22} {seconds:8.3f} {objective:10.5f} {100 * accuracy:17.2f}%")

# %%
# The picture: the objective after each epoch (pyfastopt records it with
# ``history="objective"``; scikit-learn's final value as a line), and the wall times. The
# times are of one run at this small size on the machine that built these pages: see the
# benchmark script for figures with repetitions.

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
colors = {"pyfastopt, 1 thread": "tab:blue", "pyfastopt, 2 threads": "tab:orange",
          "scikit-learn": "black"}  # fmt: skip
for name, (_, _, _, history) in fits.items():
    if history is not None:
        left.plot(np.arange(1, EPOCHS + 1), history, "o-", color=colors[name], label=name)
left.axhline(results["scikit-learn"][1], color="black", ls="--", label="scikit-learn, final")
left.set_xlabel("epoch")
left.set_ylabel("objective: mean log loss + alpha/2 |w|^2")
left.set_title(f"{ROWS:,} rows x {FEATURES:,} features, ~{NNZ} non-zeros per row")
left.legend()
left.grid(alpha=0.3)
names = list(results)
right.barh(names, [results[n][0] for n in names], color=[colors[n] for n in names])
for i, n in enumerate(names):
    right.text(results[n][0], i, f" {results[n][0]:.2f} s, {100 * results[n][2]:.1f}% held out",
               va="center", fontsize=9)  # fmt: skip
right.set_xlim(0, 1.6 * max(r[0] for r in results.values()))
right.set_xlabel(f"wall time of {EPOCHS} epochs (s)")
right.invert_yaxis()
