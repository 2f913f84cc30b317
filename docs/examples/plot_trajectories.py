"""
Optimizer trajectories on the Beale function and a saddle
=========================================================

The pictures of Ruder's survey (after Alec Radford's animations), drawn by pyfastopt's own
optimizers: each one starts from the same point and minimises a 2-D function, and its path
is drawn over the function's contours. :mod:`pyfastopt.plot` holds the functions, their
gradients and each optimizer's hyperparameters for them (:data:`pyfastopt.plot.BEALE`,
:data:`pyfastopt.plot.SADDLE`); :func:`pyfastopt.plot.surface_paths` runs the optimizers and
returns their paths. ``pyfastopt plot`` draws the full set of pictures.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from pyfastopt import plot


def draw(ax, surface, paths, title):
    """Contours of ``surface`` and one line per path, ending in a dot."""
    xs = np.linspace(*surface.xlim, 200)
    ys = np.linspace(*surface.ylim, 200)
    X, Y = np.meshgrid(xs, ys)
    Z = surface.f(X, Y)
    if surface.log_levels:
        levels = np.logspace(np.log10(max(Z.min(), 1e-3)), np.log10(Z.max()), 30)
        ax.contourf(X, Y, Z, levels=levels, norm=LogNorm(), cmap="Greys_r", alpha=0.3)
    else:
        ax.contourf(X, Y, Z, levels=30, cmap="RdBu_r", alpha=0.3)
    for name, path in paths.items():
        (line,) = ax.plot(path[:, 0], path[:, 1], lw=2, label=name)
        ax.plot(path[-1, 0], path[-1, 1], "o", color=line.get_color())
    ax.plot(*surface.start, "ko", ms=7, label="start")
    for label, point in surface.marks.items():
        ax.plot(*point, "*", color="gold", mec="k", ms=15, label=label)
    ax.set_xlim(*surface.xlim)
    ax.set_ylim(*surface.ylim)
    ax.set_title(title)
    ax.legend(fontsize=8, loc=surface.legend)


# %%
# The Beale function
# ------------------
# :math:`f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`, minimum 0
# at (3, 0.5), 500 steps from (1, 1.5). Its gradient is about 100 at the start and about 1
# near the minimum: plain SGD needs a small rate, while the adaptive rules move about
# ``lr`` per step whatever the scale.

classics = ["SGD", "Momentum", "NAG", "Adagrad", "Adadelta", "RMSprop"]
adams = ["Adam", "AdamW", "AMSGrad", "Adamax", "NAdam", "RAdam"]
panels = plot.surface_paths(plot.BEALE, classics + adams)

fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), layout="constrained")
for ax, (title, paths) in zip(axes, panels.items()):
    draw(ax, plot.BEALE, paths, title)
fig.suptitle(f"Beale function: {plot.BEALE.steps} steps of each optimizer")

for paths in panels.values():
    for name, path in paths.items():
        end = path[-1]
        print(f"{name:9s} ends at ({end[0]:6.3f}, {end[1]:6.3f}), "
              f"f = {plot.beale(*end):.2e}")

# %%
# The saddle
# ----------
# :math:`f(x, y) = x^2 - y^2`, started just off the ridge at (1, 0.001). Gradient descent
# first slides down to the saddle point and only slowly escapes along y; the adaptive
# rules scale up the tiny y gradient and leave at once.

paths = plot.surface_paths(plot.SADDLE, classics)["The survey's classics"]
fig, ax = plt.subplots(figsize=(6, 5.2), layout="constrained")
draw(ax, plot.SADDLE, paths, f"Saddle $x^2 - y^2$: {plot.SADDLE.steps} steps")
