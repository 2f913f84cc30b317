"""The one list of optimizers: every element-wise class of pyfastopt.optim reaches each place
derived from it (bench, demo, plot, CUDA twins, Cython ids), and has what its test matrix
and reference comparisons need (a NumPy reference, test cases). Adding an optimizer that
misses one fails here."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
from pathlib import Path

import pytest
from cases import NAMES

import pyfastopt
from pyfastopt import _core, demo, optim, plot, reference
from pyfastopt import functional as F
from pyfastopt._bench.optimizers import BY_NAME, TRAFFIC
from pyfastopt._bench.workload import check_implementations

CLASSES = optim.element_wise()


def test_element_wise_classes_are_the_rule_based_ones():
    # SWATS switches rules per array (no single rule); the base class has none
    assert "SWATS" not in CLASSES
    assert "Optimizer" not in CLASSES
    assert {"SGD", "Adam", "Lion", "Rprop"} <= set(CLASSES)
    for name, cls in CLASSES.items():
        assert name in optim.__all__
        assert issubclass(cls, optim.Optimizer)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_element_wise_class_is_benchmarked(name):
    specs = [s for s in BY_NAME.values() if s.cls == name]
    assert specs, f"pyfastopt bench has no spec for {name}"
    for spec in specs:
        rule = CLASSES[name]([pytest.importorskip("numpy").zeros(1)], **spec.kwargs)
        states = rule._rule(rule.param_groups[0]).state_names
        assert spec.states == states  # the state buffers the bench hands the functional step
        assert TRAFFIC[spec.name] == (2 + len(states), 1 + len(states))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", list(BY_NAME.values()), ids=list(BY_NAME))
def test_every_benchmarked_implementation_agrees_with_the_class(spec, dtype):
    # what `pyfastopt bench` checks before timing: the functional call, the NumPy
    # formulations (survey optimizers) and torch.optim (where installed) over 8 steps
    torch = None
    if spec.torch is not None and importlib.util.find_spec("torch") is not None:
        torch = importlib.import_module("torch")
    assert check_implementations(spec, dtype, torch) == []


def test_bench_runs_an_optimizer_that_has_no_numpy_formulation(tmp_path):
    pytest.importorskip("click", reason="the bench extra")
    pytest.importorskip("rich", reason="the bench extra")
    from click.testing import CliRunner

    from pyfastopt._bench.cli import cli

    path = tmp_path / "run.json"
    result = CliRunner().invoke(cli, ["bench", "--optimizers", "yogi,adam", "--sizes", "2^12",
                                      "--threads", "1", "--repeat", "1", "--no-torch",
                                      "--json", str(path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["optimizer"]: r for r in json.loads(path.read_text())["results"]}
    assert rows["yogi"]["median_s"] > 0
    assert rows["yogi"]["functional_s"] > 0
    assert rows["yogi"]["peers_s"]["numpy"] is None
    assert rows["adam"]["peers_s"]["numpy"] > 0


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_element_wise_class_is_in_the_demo_and_the_plot(name):
    assert name in demo.OPTIMIZERS
    assert demo.LEARNING_RATES[name] > 0
    assert any(name in names for names in plot.PANELS.values())
    # the plot draws it with hand-set hyperparameters or a rate from its grid
    made = plot.BEALE.factory(name)([pytest.importorskip("numpy").zeros(2)])
    assert isinstance(made, CLASSES[name])


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_element_wise_class_has_a_reference_and_test_cases(name):
    assert name in NAMES, f"tests/cases.py has no case for {name}"
    assert name in reference.__all__
    assert inspect.isclass(getattr(reference, name))


def test_every_rule_of_the_rule_list_has_a_kernel_plan_and_rows():
    for name, states in _core.state_names.items():
        assert callable(getattr(_core, name)), name
        assert all(isinstance(s, str) and s for s in states), name
        if name != "scale_clamp":  # reads no gradient: no plan, no rows
            assert inspect.isclass(getattr(_core, name + "_plan")), name
        if not name.startswith("_") and name != "scale_clamp":
            assert callable(getattr(_core, name + "_rows")), name


def test_every_functional_rule_names_a_kernel_of_the_rule_list():
    for name in F.__all__:
        builder = getattr(F, name[:-1] + "_rule", None) if name.endswith("_") else None
        if builder is None:
            continue
        defaults = {
            k: p.default for k, p in inspect.signature(getattr(F, name)).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and k != "step"
        }  # fmt: skip
        rule = builder(**{k: v for k, v in defaults.items()
                          if k in inspect.signature(builder).parameters})  # fmt: skip
        assert rule.kernel.__name__ in _core.state_names, name


def test_installed_cython_declarations_name_every_rule():
    pxd = Path(pyfastopt.__file__).resolve().parent / "kernels.pxd"
    declared = re.findall(r"^\s+rule_(\w+)$", pxd.read_text(), re.MULTILINE)
    assert declared == [n for n in _core.state_names if not n.startswith("_")]
