"""The documentation's Python examples (README.md and the long-form pages of docs/in_depth/)
run and reach what their comments say. Each test finds its example by a string it contains,
so that moving an example between the pages does not break the test."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "in_depth").glob("*.md"))]


def run_example(marker: str) -> float:
    """Runs the Python block of the pages that contains ``marker`` (an example shown on two
    pages must be the same on both); returns what it printed, as a number."""
    found = [(page, code) for page in PAGES
             for code in re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL)
             if marker in code]  # fmt: skip
    assert found, f"{marker!r}: no example contains it"
    assert len({code for _, code in found}) == 1, f"{marker!r}: the copies differ"
    page, code = found[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(page), "exec"), {})  # noqa: S102  (the pages' own examples)
    return float(out.getvalue())


def test_training_loop_example_fits_its_linear_target():
    assert run_example("opt = pyfastopt.optim.Adam([w, b], lr=0.05)") < 1e-4


def test_schedules_clipping_early_stopping_example_reaches_the_noise_floor():
    """The target has noise of variance 0.01: the best validation MSE is about that."""
    assert 0.005 < run_example("stopper = EarlyStopping(") < 0.02


def test_sparse_rows_example_touches_only_the_named_rows():
    assert run_example("rowwise_adagrad_(table,") == 2


def test_mixed_precision_example_fits_its_target_from_bfloat16_weights():
    """bfloat16 weights, float32 master and 8-bit moments: the master reaches the exact
    linear target (noise-free) to a small MSE (the targets' variance is about 64)."""
    assert run_example("opt.precision = Precision(") < 1e-3


def test_distributed_example_fits_its_logistic_regression():
    """Downpour with an Adagrad server on separable data: the mean logistic loss falls from
    log 2 = 0.69 to about 0.11."""
    assert run_example("distributed.train(") < 0.15


def test_conjugate_gradient_example_reaches_rosenbrocks_minimum():
    assert run_example("minimize_cg(") < 1e-6


def test_lbfgs_example_reaches_rosenbrocks_minimum():
    assert run_example("LBFGS(") < 1e-6
