"""Training with reduced precision (issue 13's acceptance experiments).

1. A bfloat16 model trained with float32 master weights follows the float32 run: the demo's
   digits MLP reaches a test accuracy within 0.5 percentage points of float32's with
   bfloat16 and with 8-bit optimizer states (Adam and AdamW, 50 epochs).
2. Pure bfloat16 (no master copy) stalls when rounded to nearest, and follows float32 when
   rounded stochastically: the 2000-step regression of docs/bf16_stochastic_rounding.png.

The reference is float32 training of the same model from the same initial weights and
batches, so the differences measured are the storage's alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt import optim
from pyfastopt.demo import (
    HIDDEN,
    MIXED_PRECISIONS,
    REGRESSION_RUNS,
    _Model,
    bf16_regression,
    run_mixed,
)
from pyfastopt.precision import Precision, bfloat16

#: The acceptance margin, in accuracy (0.5 percentage points).
MARGIN = 0.005


def test_mixed_runs_store_what_they_claim():
    """The bfloat16 model's optimizers keep float32 masters; with "8-bit states" both weight
    matrices of the MLP (64 x 64 and 64 x 10) get codes and absmax, the biases float32."""
    net = _Model(64, 10, HIDDEN, seed=0).copy(bfloat16)
    X = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    grads = net.gradients(X, np.arange(8))
    assert [g.dtype for g in grads] == [bfloat16] * 4
    opt = optim.Adam(net.params, lr=1e-3)
    opt.precision = MIXED_PRECISIONS["8-bit states"]
    opt.step(grads)
    kinds = [(s["exp_avg"].dtype, s["exp_avg_sq"].dtype, s["master"].dtype)
             for s in (opt.state[i] for i in range(4))]  # fmt: skip
    u8, f4 = np.dtype(np.uint8), np.dtype(np.float32)
    assert kinds == [(u8, u8, f4), (f4, f4, f4), (u8, u8, f4), (f4, f4, f4)]


@pytest.fixture(scope="module")
def digits():
    """Test accuracy (mean of seeds 0, 1, 2: each a split, initial weights and batch order;
    450 test images, 0.22 points each) by (optimizer, storage), 50 epochs."""
    rows = run_mixed(("Adam", "AdamW"), seeds=(0, 1, 2),
                     precisions={**MIXED_PRECISIONS, "pure": PURE_BF16})  # fmt: skip
    return {(r["optimizer"], r["precision"]): r["test_accuracy"] for r in rows}


#: A bfloat16 model updated in place (no master copy), states bfloat16, rounded to nearest.
PURE_BF16 = Precision(state_dtype="bfloat16")


@pytest.mark.parametrize("optimizer", ["Adam", "AdamW"])
@pytest.mark.parametrize("storage", list(MIXED_PRECISIONS))
def test_bf16_model_with_master_weights_reaches_float32_accuracy(digits, optimizer, storage):
    """Measured: float32 97.33% for both optimizers; bf16 states 97.26% (one image fewer on
    seed 2), 8-bit states 97.33% (the same predictions on all three test sets): 0.07 of
    the 0.5 points at most. Without master weights the same comparison fails (the next
    test), so the check is not vacuous."""
    fp32 = digits[optimizer, "float32"]
    assert fp32 > 0.96  # float32 itself learns the digits
    assert abs(digits[optimizer, storage] - fp32) <= MARGIN


@pytest.mark.parametrize("optimizer", ["Adam", "AdamW"])
def test_pure_bf16_adam_falls_short_of_float32(digits, optimizer):
    """The negative control of the test above: Adam updating the bfloat16 weights in place,
    rounded to nearest, loses every step below half the spacing of the weight it updates;
    its steps are about lr (2e-3 decayed to 2e-4), and half the spacing is 2e-3 from 0.5
    on, 2.4e-4 from 0.0625 on (the hidden layer's initial weights are about 0.18). Measured
    96.37% against 97.33% for both: 0.96 points below."""
    assert digits[optimizer, "pure"] < digits[optimizer, "float32"] - MARGIN


@pytest.mark.parametrize("seed", [0, 1])
def test_pure_bf16_regression_stalls_unless_rounded_stochastically(seed):
    """SGD (lr 2e-3, 2000 steps) on a noiseless 512 x 32 least-squares problem. Seed 0 is
    docs/bf16_stochastic_rounding.png; over seeds 0-9 (measured) float32 ends at 3e-4..2e-3 of its
    initial loss, round-to-nearest is frozen from step 1000 on (no store changes a weight)
    225-895 times above float32's final loss, and the stochastically rounded run stays
    within 0.71-1.58 times float32's loss at every step. The thresholds: nearest frozen and
    50 times above float32, stochastic within a factor 2 at every step."""
    curves = bf16_regression(seed=seed)
    fp32, nearest, stochastic = (curves[k] for k in REGRESSION_RUNS)
    assert all(len(c) == 2001 for c in (fp32, nearest, stochastic))
    assert fp32[0] == nearest[0] == stochastic[0]  # all start from w = 0
    assert fp32[-1] < 1e-2 * fp32[0]
    assert (nearest[1000:] == nearest[-1]).all()
    assert nearest[-1] > 50.0 * fp32[-1]
    ratio = stochastic / fp32
    assert ratio.min() > 0.5
    assert ratio.max() < 2.0


# --- the command line ------------------------------------------------------------------------


def test_demo_mixed_prints_each_storage_against_float32():
    from click.testing import CliRunner

    from pyfastopt._commands import demo

    result = CliRunner().invoke(demo, ["--mixed", "--optimizers", "adam", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["optimizer", "precision", "train", "loss", "test", "acc", "vs",
                                "fp32", "per", "seed"]  # fmt: skip
    assert [line.split()[1] for line in lines[2:]] == ["float32", "bf16", "8-bit"]
    assert "+0.00 pp" in lines[2]


def test_demo_bf16_regression_draws_the_three_curves(tmp_path):
    import matplotlib.image
    from click.testing import CliRunner

    from pyfastopt._commands import demo

    out = tmp_path / "sr.png"
    result = CliRunner().invoke(demo, ["--bf16-regression", str(out)])
    assert result.exit_code == 0, result.output
    assert all(label in result.output for label in REGRESSION_RUNS)
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (500, 800)
    assert pixels.std() > 0.05  # not a blank canvas
