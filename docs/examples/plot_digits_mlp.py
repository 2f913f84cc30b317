"""
A NumPy MLP on the digits, with several optimizers
==================================================

The model of ``pyfastopt demo``: a one-hidden-layer MLP (64 inputs, 64 ReLU units, 10
softmax outputs) written in NumPy, trained on scikit-learn's bundled digits (no download)
with mini-batches of 64, a cosine-decayed learning rate and gradients clipped to a global
norm of 5. Every optimizer starts from the same weights and sees the same batches.
:func:`pyfastopt.demo.run_demo` trains it once per optimizer; here at 10 epochs (the demo's
default is 50, with every optimizer: ``run_demo(optimizers=None)``).
"""

import matplotlib.pyplot as plt
import numpy as np

from pyfastopt.demo import format_table, load_data, run_demo

# %%
# The data
# --------
# :func:`pyfastopt.demo.load_data` splits the 1797 8x8 images 75/25 (stratified, seeded)
# and standardises them with the training set's statistics.

X_train, y_train, X_test, y_test = load_data(seed=0)
print(f"train {X_train.shape}, test {X_test.shape}, classes {np.unique(y_train)}")

fig, axes = plt.subplots(1, 8, figsize=(10, 1.6), layout="constrained")
for ax, image, label in zip(axes, X_train, y_train):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")

# %%
# Training
# --------
# Each optimizer at the demo's learning rate for it (:data:`pyfastopt.demo.LEARNING_RATES`),
# chosen for the demo's 50 epochs: in 10, Lion's small rate has not got far yet.

optimizers = ["SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adam", "AdamW", "Lion"]
rows = run_demo(optimizers, epochs=10, seed=0, out=None)
print(format_table(rows))

fig, (ax, bars) = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=[2, 1],
                               layout="constrained")
for row in rows:
    ax.plot(row["losses"], lw=1.8, label=f"{row['optimizer']} (lr {row['lr']:g})")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (cross-entropy)")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
ax.set_title("Training loss per epoch")

accuracy = [100.0 * row["test_accuracy"] for row in rows]
bars.barh([row["optimizer"] for row in rows], accuracy, color="tab:blue")
bars.set_xlim(max(0.0, min(accuracy) - 5.0), 100.0)
bars.set_xlabel("test accuracy (%)")
bars.set_title("After 10 epochs")
