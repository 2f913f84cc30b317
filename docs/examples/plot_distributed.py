"""
Distributed training: the parameter-server modes
================================================

:func:`pyfastopt.distributed.train` runs data-parallel SGD with workers that pull parameters
from sharded servers and push back what they computed: synchronous SGD, Downpour (asynchronous
pushes, Adagrad on the server), EASGD and EAMSGD (elastic averaging: each worker keeps its own
parameters, tied to a center variable), and delay-tolerant Adagrad. Here logistic regression
on scikit-learn's digits (is the digit 5 or more?) with 2 workers and 2 shards on the
``"threads"`` backend (this process); ``backend="ray"`` runs the same code with Ray actors.
The full-data loss is drawn against the examples all workers have processed, beside
single-process SGD.
"""

from functools import partial

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from pyfastopt import distributed, optim

x, digit = load_digits(return_X_y=True)
x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
data = (np.hstack([x, np.ones((len(x), 1))]).astype(np.float32),  # a constant for the bias
        np.where(digit >= 5, 1.0, -1.0).astype(np.float32))  # fmt: skip


def loss_and_grad(w, batch):
    """Logistic regression (is the digit 5 or more?): the mean loss and its gradient."""
    inputs, y = batch
    margin = -y * (inputs @ w)
    return float(np.mean(np.logaddexp(0, margin))), inputs.T @ (-y / (1 + np.exp(-margin))) / len(y)


w0 = np.zeros(65, np.float32)
STEPS, BATCH = 300, 32
modes = {
    "synchronous SGD": distributed.Sync(optimizer=partial(optim.SGD, lr=0.2)),
    "Downpour (Adagrad)": distributed.Downpour(optimizer=partial(optim.Adagrad, lr=0.05)),
    "EASGD": distributed.EASGD(lr=0.1, rho=4.0, tau=2),
    "EAMSGD": distributed.EAMSGD(lr=0.02, rho=10.0, tau=2, momentum=0.9),
    "delay-tolerant Adagrad": distributed.DelayTolerantAdagrad(lr=0.05),
}

curves = {}
for name, mode in modes.items():
    result = distributed.train(w0, loss_and_grad, data, mode, steps=STEPS, workers=2,
                               shards=2, batch_size=BATCH, trace_every=0.002)  # fmt: skip
    # examples processed by all workers at each read of the server's parameters
    times = np.array([t for t, _ in result.trace] + [result.seconds])
    seen = sum(np.interp(times, [h[0] for h in log], [h[1] for h in log], left=0)
               for log in result.history)  # fmt: skip
    losses = [loss_and_grad(w, data)[0] for _, w in result.trace]
    curves[name] = (seen, [*losses, loss_and_grad(result.params, data)[0]])
    print(f"{name:24} final loss {curves[name][1][-1]:.4f} after {result.seconds:.2f} s")

# %%
# The single-process baseline: plain SGD seeing as many examples as both workers together.

w = w0.copy()
opt = optim.SGD([w], lr=0.1)
rng = np.random.default_rng(0)
single = ([0], [loss_and_grad(w, data)[0]])
for step in range(1, 2 * STEPS + 1):
    rows = rng.integers(0, len(digit), BATCH)
    opt.step([loss_and_grad(w, (data[0][rows], data[1][rows]))[1]])
    if step % 20 == 0:
        single[0].append(step * BATCH)
        single[1].append(loss_and_grad(w, data)[0])
print(f"{'single-process SGD':24} final loss {single[1][-1]:.4f}")

fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
ax.plot(*single, color="black", lw=2.5, label="single-process SGD")
for name, (seen, losses) in curves.items():
    ax.plot(seen, losses, lw=1.5, label=name)
ax.set_yscale("log")
ax.set_xlabel("examples processed (all workers)")
ax.set_ylabel("full-data loss")
ax.set_title("Logistic regression on digits: 2 workers, 2 shards (threads backend)")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
