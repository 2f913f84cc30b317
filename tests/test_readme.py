"""README's examples run and reach what their comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def run_example(index):
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)[index]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})  # noqa: S102  (README's own examples)
    return float(out.getvalue())


def test_training_loop_example_fits_its_linear_target():
    assert run_example(0) < 1e-4


def test_schedules_clipping_early_stopping_example_reaches_the_noise_floor():
    """The target has noise of variance 0.01: the best validation MSE is about that."""
    assert 0.005 < run_example(1) < 0.02


def test_sparse_rows_example_touches_only_the_named_rows():
    assert run_example(2) == 2


def test_mixed_precision_example_fits_its_target_from_bfloat16_weights():
    """bfloat16 weights, float32 master and 8-bit moments: the master reaches the exact
    linear target (noise-free) to a small MSE (the targets' variance is about 64)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    index = next(i for i, code in enumerate(blocks) if "opt.precision = Precision(" in code)
    assert run_example(index) < 1e-3


def test_distributed_example_fits_its_logistic_regression():
    """Downpour with an Adagrad server on separable data: the mean logistic loss falls from
    log 2 = 0.69 to about 0.11."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    index = next(i for i, code in enumerate(blocks) if "distributed.train(" in code)
    assert run_example(index) < 0.15


def test_conjugate_gradient_example_reaches_rosenbrocks_minimum():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    index = next(i for i, code in enumerate(blocks) if "minimize_cg(" in code)
    assert run_example(index) < 1e-6


def test_lbfgs_example_reaches_rosenbrocks_minimum():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    index = next(i for i, code in enumerate(blocks) if "LBFGS(" in code)
    assert run_example(index) < 1e-6
