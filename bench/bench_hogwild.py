"""Hogwild! training (pyfastopt.hogwild.train): one run of a few epochs on a synthetic sparse
classification problem, at 1 and 2 threads, and scikit-learn's SGDClassifier with the same
loss, penalty, epochs and learning-rate schedule, in the same pytest-benchmark group.

Groups are named ``hogwild-<loss>-<rows>``: 200k rows x 20k features, ~20 non-zeros per row
(the acceptance run at 1M x 100k is ``python bench/hogwild_vs_sklearn.py``). Each benchmark
asserts that the model learnt (training accuracy above 85%). SGDClassifier is skipped when
scikit-learn (or SciPy) is not installed.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from pyfastopt import hogwild, schedules

sys.path.insert(0, str(Path(__file__).parent))
from hogwild_vs_sklearn import make_problem, sklearn_eta0

HAVE_SKLEARN = all(importlib.util.find_spec(m) for m in ("sklearn", "scipy"))
ROWS, FEATURES, NNZ, EPOCHS, ALPHA = 200_000, 20_000, 20, 3, 1e-6
LOSSES = {"hinge": "hinge", "logistic": "log_loss"}  # ours -> sklearn's name


@pytest.fixture(scope="module")
def problem():
    return make_problem(ROWS, FEATURES, NNZ, seed=0)


def _cases():
    for loss in LOSSES:
        group = f"hogwild-{loss}-{ROWS // 1000}k"
        mark = pytest.mark.benchmark(group=group)
        for impl in ("pyfastopt-t1", "pyfastopt-t2", "sklearn"):
            yield pytest.param(loss, impl, id=f"{group}-{impl}", marks=mark)


@pytest.mark.parametrize(("loss", "impl"), list(_cases()))
def test_hogwild(benchmark, problem, loss, impl):
    X, y = problem
    eta0 = sklearn_eta0(LOSSES[loss], ALPHA)
    if impl == "sklearn":
        if not HAVE_SKLEARN:  # the peer is optional: the [bench] extra does not pull it in
            pytest.skip("scikit-learn / SciPy not installed")
        import scipy.sparse as sp
        from sklearn.linear_model import SGDClassifier

        Xs = sp.csr_matrix((X[0], X[1], X[2]), shape=(ROWS, FEATURES))

        def fit():
            m = SGDClassifier(loss=LOSSES[loss], alpha=ALPHA, max_iter=EPOCHS, tol=None,
                              random_state=0).fit(Xs, y)  # fmt: skip
            return m.coef_[0].astype(np.float32), float(m.intercept_[0])
    else:
        threads = int(impl[-1])
        lr = schedules.time_based_decay_schedule(eta0, ALPHA * eta0)

        def fit():
            r = hogwild.train(X, y, loss=loss, alpha=ALPHA, lr=lr, epochs=EPOCHS,
                              n_threads=threads, n_features=FEATURES)  # fmt: skip
            return r.coef, r.intercept

    benchmark.extra_info.update(rows=ROWS, features=FEATURES, epochs=EPOCHS, impl=impl)
    with np.errstate(all="ignore"):
        coef, b = benchmark.pedantic(fit, rounds=3, iterations=1, warmup_rounds=0)
    acc = float(np.mean(np.where(hogwild.decision_function(X, coef, b) > 0, 1.0, -1.0) == y))
    benchmark.extra_info["train_accuracy"] = acc
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["examples_per_s"] = ROWS * EPOCHS / benchmark.stats.stats.median
    assert math.isfinite(b), f"{impl}: intercept {b}"
    assert acc > 0.85, f"{impl}: accuracy {acc}"
