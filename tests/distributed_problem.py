"""The example problem of the distributed tests: L2-regularised logistic regression on a
generated data set (fixed seed), with its optimum found by full-batch gradient descent."""

from __future__ import annotations

import numpy as np

ROWS, FEATURES, L2 = 4000, 20, 1e-3


def make_data(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS, FEATURES))
    w_true = rng.standard_normal(FEATURES)
    y = np.where(x @ w_true + 0.5 * rng.standard_normal(ROWS) > 0, 1.0, -1.0)
    return x, y


def loss_grad(w: np.ndarray, batch: tuple) -> tuple[float, np.ndarray]:
    """Mean logistic loss plus L2 / 2 |w|^2 (not the bias, w[-1]), and its gradient."""
    x, y = batch
    margin = -y * (x @ w[:-1] + w[-1])
    loss = float(np.mean(np.logaddexp(0.0, margin)) + 0.5 * L2 * (w[:-1] @ w[:-1]))
    s = -y / (1.0 + np.exp(-margin))
    grad = np.empty_like(w)
    grad[:-1] = x.T @ s / len(y) + L2 * w[:-1]
    grad[-1] = s.mean()
    return loss, grad.astype(w.dtype)


def optimum(data: tuple) -> float:
    """The minimum of the full-data loss (3000 full-batch gradient steps of rate 1)."""
    w = np.zeros(FEATURES + 1)
    for _ in range(3000):
        w -= loss_grad(w, data)[1]
    return loss_grad(w, data)[0]
