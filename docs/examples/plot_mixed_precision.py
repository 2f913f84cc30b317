"""
Mixed precision against float32
===============================

A bfloat16 model keeps its weights and gradients in 16 bits; its optimizer keeps a float32
master copy of each weight and its moments in bfloat16 or in blockwise 8 bits, and writes the
bfloat16 weights from the master in the same pass (:class:`pyfastopt.precision.Precision`).
Here the digits MLP of ``pyfastopt demo`` is trained with Adam in float32 and in those two
mixed configurations (:data:`pyfastopt.demo.MIXED_PRECISIONS`), from the same initial
weights and the same batches: the curves should lie on top of each other.
"""

import matplotlib.pyplot as plt
import numpy as np

from pyfastopt.demo import MIXED_PRECISIONS, REGRESSION_RUNS, bf16_regression, run_demo
from pyfastopt.precision import Precision

EPOCHS = 20
runs = {"float32": None, **{f"bfloat16 model, {k}": p for k, p in MIXED_PRECISIONS.items()}}
rows = {label: run_demo(["Adam"], epochs=EPOCHS, seed=0, out=None, precision=precision)[0]
        for label, precision in runs.items()}  # fmt: skip
for label, row in rows.items():
    print(f"{label:34} training loss {row['train_loss']:.4f}, "
          f"test accuracy {100 * row['test_accuracy']:.2f}%")

# %%
# How the optimizer is told
# -------------------------
# The storage is an attribute of the optimizer, set before its first step
# (``opt.precision = precision``); the states are created in it. With 8-bit states each
# state is a ``uint8`` array of codes and a float32 ``absmax`` per block of 256 (tensors
# under ``min_8bit_size`` elements keep float32 states).

precision = Precision(master_weights=True, state_dtype="8bit", min_8bit_size=256)
print(precision == MIXED_PRECISIONS["8-bit states"], precision)

# %%
# Pure bfloat16: stochastic rounding
# ----------------------------------
# Without a master copy the update is rounded into bfloat16 at every step. Between 0.5 and 1
# its values are 2**-8 apart: rounded to nearest, every update below half that spacing is
# lost and the loss stalls; rounded stochastically (``Precision(stochastic_rounding=True)``)
# each store is exact on average and the run follows float32 (SGD on a linear regression,
# :func:`pyfastopt.demo.bf16_regression`).

curves = bf16_regression(steps=2000)
for label in REGRESSION_RUNS:
    print(f"{label:30} final loss {curves[label][-1]:.3g}")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
for (label, row), color in zip(rows.items(), ("black", "tab:orange", "tab:blue")):
    left.plot(np.arange(len(row["losses"])), row["losses"], color=color,
              lw=2.5 if label == "float32" else 1.5, ls="-" if label == "float32" else "--",
              label=f"{label}: {100 * row['test_accuracy']:.1f}% test")  # fmt: skip
left.set_yscale("log")
left.set_xlabel("epoch")
left.set_ylabel("training loss")
left.set_title(f"digits MLP, Adam, {EPOCHS} epochs")
left.legend(fontsize=8)
left.grid(True, which="both", alpha=0.3)

for label, color in zip(REGRESSION_RUNS, ("black", "tab:red", "tab:blue")):
    right.plot(curves[label], color=color, lw=2.5 if label == "float32" else 1.5,
               ls="--" if "stochastic" in label else "-",
               label=f"{label} (final {curves[label][-1]:.2g})")  # fmt: skip
right.set_yscale("log")
right.set_xlabel("step")
right.set_ylabel("training loss")
right.set_title("bfloat16 weights without a master copy: SGD")
right.legend(fontsize=8)
right.grid(True, which="both", alpha=0.3)
