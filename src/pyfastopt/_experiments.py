"""The bfloat16 stochastic-rounding experiment of the README (``pyfastopt demo
--bf16-regression PNG``): SGD on a linear regression whose parameters are stored in bfloat16
without a float32 master copy.

bfloat16 keeps 8 significant bits: between 0.5 and 1 its values are 2**-8 apart, between 1
and 2, 2**-7. A store rounded to nearest loses every update smaller than half that spacing,
so with ``lr = 2e-3`` a weight near 1 stops moving once its gradient is below about 1, and
the loss stalls far above the float32 run's. Rounded stochastically (up with probability
the fraction of the spacing the exact result passes), each store is exact on average and
the bfloat16 run follows the float32 one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import optim
from .precision import Precision, bfloat16

__all__ = [
    "FEATURES",
    "LR",
    "REGRESSION_RUNS",
    "SAMPLES",
    "STEPS",
    "bf16_regression",
    "format_regression",
    "plot_bf16_regression",
]

#: The defaults of :func:`bf16_regression`.
STEPS, LR, SAMPLES, FEATURES = 2000, 2e-3, 512, 32

#: The runs of :func:`bf16_regression`: how the parameters are stored, by label.
REGRESSION_RUNS = ("float32", "bfloat16, round to nearest", "bfloat16, stochastic rounding")


def bf16_regression(steps: int = STEPS, lr: float = LR, samples: int = SAMPLES,
                    features: int = FEATURES, seed: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    """Full-batch SGD on a noiseless least-squares problem, ``0.5 * mean((X w - y)**2)``
    with ``X`` and the true weights standard normal (from ``seed``) and ``y = X w_true``,
    from ``w = 0``, once per storage of :data:`REGRESSION_RUNS`. The gradient is computed
    in float32 from the stored weights and handed over in their dtype (a bfloat16 model's
    gradients are bfloat16). The stochastic rounding's seed is ``seed`` too.

    Returns the loss (float64, the optimum is 0) before each step and after the last,
    ``steps + 1`` values, by run label.
    """
    if bfloat16 is None:
        msg = "bfloat16 parameters need ml_dtypes: pip install 'pyfastopt[bf16]'"
        raise ImportError(msg)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, features)).astype(np.float32)
    y = X @ rng.standard_normal(features).astype(np.float32)
    storages = {
        REGRESSION_RUNS[0]: (np.float32, Precision()),
        REGRESSION_RUNS[1]: (bfloat16, Precision()),
        REGRESSION_RUNS[2]: (bfloat16, Precision(stochastic_rounding=True, seed=seed)),
    }
    curves = {}
    for label, (dtype, precision) in storages.items():
        w = np.zeros(features, dtype)
        opt = optim.SGD([w], lr=lr)
        opt.precision = precision
        losses = np.empty(steps + 1)
        for t in range(steps + 1):
            r = X @ w.astype(np.float32) - y
            losses[t] = 0.5 * np.mean(np.square(r, dtype=np.float64))
            if t < steps:
                opt.step([((X.T @ r) / np.float32(samples)).astype(dtype)])
        curves[label] = losses
    return curves


def format_regression(curves: dict[str, np.ndarray]) -> str:
    """The loss of each run at a few steps, as a plain-text table."""
    steps = len(next(iter(curves.values()))) - 1
    marks = sorted({0, steps // 4, steps // 2, steps})
    width = max(len(label) for label in curves)
    lines = ["run".ljust(width) + "".join(f"{f'step {m}':>12}" for m in marks)]
    lines += [label.ljust(width) + "".join(f"{c[m]:12.4g}" for m in marks)
              for label, c in curves.items()]  # fmt: skip
    return "\n".join(lines)


def plot_bf16_regression(curves: dict[str, np.ndarray], out: str | Path,
                         title: str = "") -> Path:  # fmt: skip
    """Saves the loss curves (log scale) as a PNG."""
    from .demo import _require

    _require("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    styles: dict[str, Any] = {
        REGRESSION_RUNS[0]: {"color": "black", "lw": 2.5},
        REGRESSION_RUNS[1]: {"color": "tab:red", "lw": 1.8},
        REGRESSION_RUNS[2]: {"color": "tab:blue", "lw": 1.8, "linestyle": "--"},
    }
    for label, losses in curves.items():
        ax.plot(range(len(losses)), losses, label=f"{label} (final {losses[-1]:.2g})",
                **styles.get(label, {}))  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlim(0, len(next(iter(curves.values()))) - 1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title or f"Linear regression ({SAMPLES} samples, {FEATURES} weights), "
                 f"full-batch SGD, lr {LR:g}, no master weights", fontsize=10)  # fmt: skip
    fig.savefig(out, dpi=100)
    return out
