"""The installed Cython declarations: a module that ``cimport``s pyfastopt.kernels, built in a
temporary directory against pyfastopt.get_include(), runs the kernels without the GIL and
reproduces pyfastopt.reference (and, bit for bit, pyfastopt.functional)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyfastopt
from pyfastopt import functional, reference

pytest.importorskip("Cython", minversion="3")
pytest.importorskip("setuptools")

PXD = Path(pyfastopt.__file__).resolve().parent / "kernels.pxd"
DECLARED = re.findall(r"^\s+rule_(\w+)$", PXD.read_text(), re.MULTILINE) if PXD.is_file() else []

PYX = """\
# cython: language_level=3, boundscheck=False, wraparound=False
# distutils: language = c++
from pyfastopt cimport kernels


def declared():
    return {DECLARED}


def names():
    return [kernels.rule_name(i).decode() for i in range(kernels.kNumRules)]


def info(name):
    cdef int rule = kernels.rule_id(name.encode())
    return (rule, kernels.num_coeffs(rule), kernels.num_states(rule), kernels.reads_grad(rule),
            [kernels.state_name(rule, k).decode() for k in range(kernels.num_states(rule))])


def openmp():
    return kernels.compiled_with_openmp()


def update64(int rule, const double[::1] coeffs, double[::1] p, const double[::1] g,
             double[:, ::1] s, int threads=1):
    with nogil:
        kernels.update(rule, coeffs, p, g, s, threads)


def update32(int rule, const double[::1] coeffs, float[::1] p, const float[::1] g,
             float[:, ::1] s, int threads=1):
    with nogil:
        kernels.update(rule, coeffs, p, g, s, threads)


def adam_raw(const double[:, ::1] coeffs, double[::1] p, const double[:, ::1] grads,
             double[::1] m, double[::1] v):
    # Every step in one nogil block, through the raw-pointer API.
    cdef double* states[2]
    cdef Py_ssize_t t
    cdef int status = kernels.kOk
    states[0] = &m[0]
    states[1] = &v[0]
    with nogil:
        for t in range(coeffs.shape[0]):
            status = kernels.step(kernels.rule_adam, &coeffs[t, 0], coeffs.shape[1], &p[0],
                                  &grads[t, 0], states, 2, p.shape[0], 1)
            if status != kernels.kOk:
                break
    return status


def raw_status(int rule, size_t ncoeffs, size_t nstates, bint null_grad=False):
    cdef double c[16]
    cdef double p[4]
    cdef double s0[4]
    cdef double s1[4]
    cdef double s2[4]
    cdef double* states[3]
    cdef int i
    for i in range(16):
        c[i] = 0.5
    for i in range(4):
        p[i] = s0[i] = s1[i] = s2[i] = 1.0
    cdef const double* grad = s2
    cdef int status
    states[0] = s0
    states[1] = s1
    states[2] = s2
    if null_grad:
        grad = NULL
    with nogil:
        status = kernels.step(rule, c, ncoeffs, p, grad, states, nstates, 4, 1)
    return status


def status_message(int status):
    return kernels.status_message(status).decode()
"""

SETUP = """\
import sys
from Cython.Build import cythonize
from setuptools import Extension, setup

if sys.platform == "win32":
    flags, link = ["/std:c++17", "/fp:precise", "/openmp"], []
else:
    flags = ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
             "-fopenmp"]
    link = ["-fopenmp"]
ext = Extension("pfo_cython_demo", ["pfo_cython_demo.pyx"], include_dirs=[{include!r}],
                language="c++", extra_compile_args=flags, extra_link_args=link)
setup(name="pfo_cython_demo", ext_modules=cythonize([ext], quiet=True),
      script_args=["build_ext", "--inplace"])
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The Cython module, built once (about 20 s on a slow machine)."""
    assert PXD.is_file(), "kernels.pxd is not installed next to the package"
    tmp = tmp_path_factory.mktemp("cython")
    (tmp / "pfo_cython_demo.pyx").write_text(PYX.replace("{DECLARED}", _declared_dict()))
    (tmp / "setup.py").write_text(SETUP.format(include=pyfastopt.get_include()))
    proc = subprocess.run([sys.executable, "setup.py"], cwd=tmp, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = [line for line in proc.stderr.splitlines()
            if "warning" in line.lower() and ("pyfastopt" in line or "kernels.pxd" in line)]
    assert not ours, proc.stderr  # pyfastopt's headers and .pxd compile without warnings
    built = next(tmp.glob("pfo_cython_demo*.so"), None) or next(tmp.glob("pfo_cython_demo*.pyd"))
    spec = importlib.util.spec_from_file_location("pfo_cython_demo", built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _declared_dict():
    return "{" + ", ".join(f'"{name}": kernels.rule_{name}' for name in DECLARED) + "}"


ADAM = {"lr": 0.05, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0.01}
ADAM_FLAGS = {"amsgrad": False, "maximize": False, "decoupled_weight_decay": False,
              "bias_correction": True}  # fmt: skip
ADAGRAD = {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.001, "eps": 1e-10}
STEPS = 10


def _reference_adam(p0, grads):
    p = p0.astype(np.float64)
    opt = reference.Adam([p], lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]),
                         eps=ADAM["eps"], weight_decay=ADAM["weight_decay"])  # fmt: skip
    for g in grads:
        opt.step([g.astype(np.float64)])
    return p, opt.state[0]["exp_avg"], opt.state[0]["exp_avg_sq"]


def test_declared_rule_ids_match_the_header(demo):
    names = demo.names()
    assert demo.declared() == {name: i for i, name in enumerate(names) if not name.startswith("_")}
    assert "adam" in names
    assert "adagrad" in names


def test_rule_info(demo):
    assert demo.info("adam") == (demo.declared()["adam"], 10, 2, 1, ["exp_avg", "exp_avg_sq"])
    assert demo.info("adagrad")[1:] == (5, 1, 1, ["sum"])
    assert demo.info("scale_clamp")[3] == 0
    assert demo.info("no_such_rule") == (-1, -1, -1, -1, [])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_in_nogil_block_matches_reference_and_functional(demo, dtype):
    rng = np.random.default_rng(1)
    n = 70_003  # above the driver's parallel grain, with a ragged tail
    p0 = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal((STEPS, n)).astype(dtype)
    rule = functional.adam_rule(**ADAM, **ADAM_FLAGS)
    update = demo.update64 if dtype == np.float64 else demo.update32
    p, states = p0.copy(), np.zeros((2, n), dtype)
    for t in range(1, STEPS + 1):
        update(demo.declared()["adam"], np.array(rule.coeffs(t)), p, grads[t - 1], states, 2)

    want_p, want_m, want_v = _reference_adam(p0, grads)
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 2e-6)
    np.testing.assert_allclose(p, want_p, rtol=rtol, atol=atol)
    np.testing.assert_allclose(states[0], want_m, rtol=rtol, atol=atol)
    np.testing.assert_allclose(states[1], want_v, rtol=rtol, atol=atol)

    # The same rule, compiled here for the baseline CPU, rounds as the wheel's kernels do.
    fp, fm, fv = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    for t in range(1, STEPS + 1):
        functional.adam_(fp, grads[t - 1], fm, fv, step=t, lr=ADAM["lr"],
                         beta1=ADAM["beta1"], beta2=ADAM["beta2"], eps=ADAM["eps"],
                         weight_decay=ADAM["weight_decay"])  # fmt: skip
    np.testing.assert_array_equal(p, fp)
    np.testing.assert_array_equal(states, np.stack([fm, fv]))


def test_adagrad_matches_reference(demo):
    rng = np.random.default_rng(2)
    n = 1001
    p0 = rng.standard_normal(n)
    grads = rng.standard_normal((STEPS, n))
    rule = functional.adagrad_rule(**ADAGRAD, maximize=False, eps_inside_sqrt=False)
    p, states = p0.copy(), np.zeros((1, n))
    for t in range(1, STEPS + 1):
        demo.update64(demo.declared()["adagrad"], np.array(rule.coeffs(t)), p, grads[t - 1],
                      states)  # fmt: skip

    ref_p = p0.copy()
    opt = reference.Adagrad([ref_p], **ADAGRAD)
    for g in grads:
        opt.step([g.copy()])
    np.testing.assert_allclose(p, ref_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(states[0], opt.state[0]["sum"], rtol=1e-12, atol=1e-14)


def test_raw_pointer_api_matches_reference(demo):
    rng = np.random.default_rng(3)
    n = 257
    p0, grads = rng.standard_normal(n), rng.standard_normal((STEPS, n))
    rule = functional.adam_rule(**ADAM, **ADAM_FLAGS)
    coeffs = np.array([rule.coeffs(t) for t in range(1, STEPS + 1)])
    p, m, v = p0.copy(), np.zeros(n), np.zeros(n)
    assert demo.adam_raw(coeffs, p, grads, m, v) == 0
    want_p, want_m, want_v = _reference_adam(p0, grads)
    np.testing.assert_allclose(p, want_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m, want_m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v, want_v, rtol=1e-12, atol=1e-14)


def test_raw_pointer_api_reports_bad_input(demo):
    adam, scale_clamp = demo.declared()["adam"], demo.declared()["scale_clamp"]
    assert demo.raw_status(adam, 10, 2) == 0
    assert demo.raw_status(10_000, 10, 2) == 1
    assert demo.raw_status(-1, 10, 2) == 1
    assert demo.raw_status(adam, 9, 2) == 2
    assert demo.raw_status(adam, 10, 3) == 3
    assert demo.raw_status(adam, 10, 2, null_grad=True) == 4
    assert demo.raw_status(scale_clamp, 3, 0, null_grad=True) == 0  # reads no gradient
    assert demo.status_message(2) == "wrong number of coefficients for the rule"


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("coeffs", "takes 10 coefficients, got 9"),
        ("grad", "grad has 4 elements"),
        ("states", r"states must have shape \(2, 5\)"),
        ("rule", "unknown rule id"),
        ("alias", "must not share memory"),
    ],
)
def test_memoryview_wrapper_raises_and_writes_nothing(demo, case, match):
    rule = demo.declared()["adam"]
    coeffs = np.array(functional.adam_rule(**ADAM, **ADAM_FLAGS).coeffs(1))
    p, g, s = np.ones(5), np.full(5, 0.5), np.zeros((2, 5))
    if case == "coeffs":
        coeffs = coeffs[:9].copy()
    elif case == "grad":
        g = g[:4].copy()
    elif case == "states":
        s = np.zeros((3, 5))
    elif case == "rule":
        rule = 10_000
    else:
        g = s[1]
    before = (p.copy(), g.copy(), s.copy())
    with pytest.raises(ValueError, match=match):
        demo.update64(rule, coeffs, p, g, s)
    for now, then in zip((p, g, s), before):
        np.testing.assert_array_equal(now, then)


def test_openmp_is_reported_for_the_including_module(demo):
    assert demo.openmp()  # built with -fopenmp above
