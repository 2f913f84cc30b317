"""pyfastopt._cuda and pyfastopt.cuda.

Without a CUDA build, only the import-error tests run (the rest are skipped with the reason
"pyfastopt built without CUDA"). With a build but no GPU (device_count() == 0), the module,
the Python layer and every argument check are still tested: checks run before any CUDA
call, so fake __cuda_array_interface__ objects reach them (the reduced-precision checks
against _core's, message for message), and the kernels themselves run under a host
emulation (tests/cuda_emulation.cpp) against the CPU driver. With a GPU and CuPy (or a CUDA
build of PyTorch), every rule in every storage is compared bit for bit with the CPU kernels:
both sides run the same rule headers and neither contracts a*b+c into an FMA.
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cases import CASES, IDS, SCALAR_STATE
from helpers import DTYPES, gradients
from test_functional_reference import functional_kwargs, initial_state
from test_precision import COMBO_IDS, COMBOS, QUANTIZABLE, UNSIGNED

import pyfastopt
from pyfastopt import _core, reference
from pyfastopt import functional as F
from pyfastopt.precision import bfloat16, quantize_8bit

try:
    from pyfastopt import _cuda
except ImportError:
    _cuda = None

# The CUDA module is an opt-in build (-DPYFASTOPT_CUDA=ON); .ci/run builds it and runs this
# file again, so these tests run there. Device tests also need a GPU, which CI lacks.
needs_build = pytest.mark.skipif(_cuda is None, reason="pyfastopt built without CUDA")

# Device-array factories: CuPy, else a CUDA build of PyTorch.
_to_device = _to_host = None
if _cuda is not None and _cuda.device_count() > 0:
    try:
        import cupy

        _to_device, _to_host = cupy.asarray, cupy.asnumpy
    except ImportError:
        try:
            import torch

            if torch.cuda.is_available():
                _to_device = lambda a: torch.from_numpy(a).cuda()
                _to_host = lambda t: t.cpu().numpy()
        except ImportError:
            pass


def _gpu_skip_reason():
    if _cuda is None:
        return "pyfastopt built without CUDA"
    if _cuda.device_count() == 0:
        return "no CUDA device"
    if _to_device is None:
        return "no CUDA array library (CuPy or PyTorch with CUDA) to make device arrays"
    return None


needs_gpu = pytest.mark.skipif(_gpu_skip_reason() is not None, reason=str(_gpu_skip_reason()))

# Optimizers without a device function (see pyfastopt.cuda's docstring).
CPU_ONLY = SCALAR_STATE
REDUCING = {"swats_adam", "sum_squares"}  # PFO_FOR_EACH_REDUCING_RULE
#: the whole-tensor drivers (bindings/register_tensorwise.cpp): no rule, CPU only
TENSOR_WISE = {"adafactor", "lbfgs_direction"}


def _kernels(module):
    """The rule kernels of a module (their docstrings mention coeffs; plans and the CPU-only
    row-sparse kernels excluded)."""
    return {
        n for n in dir(module)
        if "coeffs" in (getattr(module, n).__doc__ or "")
        and not n.endswith(("_plan", "_rows")) and n not in TENSOR_WISE
    }  # fmt: skip


# ---- built without CUDA, or with the module hidden -------------------------------------


def test_import_error_names_the_build_option(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyfastopt._cuda", None)  # as if never built
    monkeypatch.delitem(sys.modules, "pyfastopt.cuda", raising=False)
    monkeypatch.delattr(pyfastopt, "cuda", raising=False)
    with pytest.raises(ImportError, match="built without CUDA") as info:
        importlib.import_module("pyfastopt.cuda")
    assert "-Ccmake.define.PYFASTOPT_CUDA=ON" in str(info.value)


# The CPU-only build's error message; the CUDA step of .ci/run has the other case.
@pytest.mark.skipif(_cuda is not None, reason="pyfastopt built with CUDA")
def test_import_error_without_cuda_build():
    hint = "pip install . -Ccmake.define.PYFASTOPT_CUDA=ON"
    with pytest.raises(ImportError, match=re.escape(hint)):
        importlib.import_module("pyfastopt.cuda")


# ---- built with CUDA; no GPU needed -----------------------------------------------------


@needs_build
def test_module_has_every_element_wise_kernel_of_core():
    assert _kernels(_cuda) == _kernels(_core) - REDUCING


@needs_build
@pytest.mark.parametrize("name", sorted(_kernels(_core) - REDUCING))
def test_kernel_signature_is_cores_plus_stream(name):
    core = getattr(_core, name).__doc__.splitlines()[0]
    cuda = getattr(_cuda, name).__doc__.splitlines()[0]
    stream = ", stream: object = None) -> " if "*" in core else ", *, stream: object = None) -> "
    assert cuda == core.replace(") -> ", stream)


@needs_build
def test_device_count_and_build_info_never_raise():
    assert _cuda.device_count() >= 0
    info = _cuda.build_info()
    assert info["cuda_runtime"] > 0
    assert info["architectures"]


class FakeDeviceArray:
    """Describes device memory it does not own: reaches the checks, never the GPU."""

    def __init__(self, shape, ptr, typestr="<f4", readonly=False, strides=None):
        self.__cuda_array_interface__ = {
            "shape": shape, "typestr": typestr, "data": (ptr, readonly), "strides": strides,
            "version": 3,
        }  # fmt: skip


def _adam_args(**override):
    """A valid one-array Adam call on fake arrays at distinct addresses."""
    args = {
        "param": FakeDeviceArray((4, 5), 0x10000), "grad": FakeDeviceArray((4, 5), 0x20000),
        "exp_avg": FakeDeviceArray((4, 5), 0x30000),
        "exp_avg_sq": FakeDeviceArray((4, 5), 0x40000),
    }  # fmt: skip
    args.update(override)
    rule = F.adam_rule(
        lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
        maximize=False, decoupled_weight_decay=False, bias_correction=True,
    )  # fmt: skip
    states = [[args["exp_avg"]], [args["exp_avg_sq"]]]
    return [args["param"]], [args["grad"]], states, rule.coeffs(1)


@needs_build
@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ({"param": np.zeros((4, 5), np.float32)}, TypeError, "param is a numpy.ndarray in host"),
        ({"param": object()}, TypeError, "param must be a CUDA device array"),
        ({"grad": FakeDeviceArray((4, 5), 0x20000, "<f8")}, TypeError,
         "grad has dtype float64, expected float32"),
        ({"param": FakeDeviceArray((4, 5), 0x10000, "<f2")}, TypeError,
         r"grad has dtype float32, expected float16 \(the dtype of param\)$"),
        ({"param": FakeDeviceArray((4, 5), 0x10000, "<i4")}, TypeError,
         "param has dtype int32, expected float32, float64, bfloat16 or float16"),
        ({"exp_avg": FakeDeviceArray((5, 4), 0x30000)}, ValueError,
         r"exp_avg has shape \(5, 4\), expected the shape of param \(4, 5\)"),
        ({"param": FakeDeviceArray((4, 5), 0x10000, strides=(4, 16))}, ValueError,
         "param must be C-contiguous"),
        ({"exp_avg_sq": FakeDeviceArray((4, 5), 0x30000, readonly=True)}, ValueError,
         "exp_avg_sq is read-only"),
        ({"exp_avg_sq": FakeDeviceArray((4, 5), 0x30010)}, ValueError,
         "exp_avg_sq shares memory with exp_avg"),
        ({"grad": FakeDeviceArray((4, 5), 0x10000)}, ValueError,
         "grad shares memory with param"),
    ],
    ids=["numpy", "object", "dtype", "float16", "int32", "shape", "strides", "readonly",
         "overlap", "grad-overlap"],
)  # fmt: skip
def test_bad_arguments_are_named_before_any_cuda_call(override, error, message):
    with pytest.raises(error, match=message):
        _cuda.adam(*_adam_args(**override))


@needs_build
def test_list_calls_name_the_index():
    params, grads, states, coeffs = _adam_args()
    params.append(FakeDeviceArray((3,), 0x50000))
    grads.append(FakeDeviceArray((3,), 0x60000, "<f8"))
    states[0].append(FakeDeviceArray((3,), 0x70000))
    states[1].append(FakeDeviceArray((3,), 0x80000))
    with pytest.raises(TypeError, match=r"grad\[1\] has dtype float64"):
        _cuda.adam(params, grads, states, coeffs)


@needs_build
def test_strided_but_contiguous_and_empty_arrays_are_accepted():
    # C-order strides given explicitly, and extent-1 dimensions with any stride, are
    # contiguous; with no GPU the call then fails at the first CUDA call, not at a check.
    param = FakeDeviceArray((4, 1, 5), 0x10000, strides=(20, 999, 4))
    args = _adam_args(param=param, grad=FakeDeviceArray((4, 1, 5), 0x20000),
                      exp_avg=FakeDeviceArray((4, 1, 5), 0x30000),
                      exp_avg_sq=FakeDeviceArray((4, 1, 5), 0x40000))  # fmt: skip
    if _cuda.device_count() == 0:
        with pytest.raises(RuntimeError, match="no usable CUDA device"):
            _cuda.adam(*args)
    empty = FakeDeviceArray((0, 3), 0)
    args = _adam_args(param=empty, grad=empty, exp_avg=empty, exp_avg_sq=empty)
    assert _cuda.adam(*args) is None  # nothing to do: no CUDA call, even without a GPU
    assert _cuda.adam([], [], [[], []], args[3]) is None


@needs_build
def test_coeffs_and_states_counts_are_checked():
    params, grads, states, coeffs = _adam_args()
    with pytest.raises(ValueError, match="coeffs: expected 10 values, got 3"):
        _cuda.adam(params, grads, states, coeffs[:3])
    with pytest.raises(ValueError, match="states: expected 2 lists, got 1"):
        _cuda.adam(params, grads, states[:1], coeffs)


# ---- reduced-precision storage: the checks (no GPU needed) ---------------------------------

# __cuda_array_interface__ typestrs; "<V2" is bfloat16 as PyTorch (and ml_dtypes) write it
TYPESTR = {"float32": "<f4", "float64": "<f8", "bfloat16": "<V2", "float16": "<f2",
           "int8": "|i1", "uint8": "|u1"}  # fmt: skip
HOST_DTYPE = {**{k: np.dtype(k) for k in TYPESTR if k != "bfloat16"}, "bfloat16": bfloat16}


def _build(spec, make):
    """spec with each (dtype, shape) leaf replaced by make(dtype, shape); tuples of leaves
    (8-bit states) and lists kept."""
    if isinstance(spec, tuple) and isinstance(spec[0], str):
        return make(*spec)
    if isinstance(spec, (tuple, list)):
        return type(spec)(_build(x, make) for x in spec)
    return spec


def _host(dtype, shape):
    return np.ones(shape, HOST_DTYPE[dtype])


def _fakes():
    """make() for _build: fake device arrays 1 MiB apart (no two share memory)."""
    addresses = iter(range(1 << 20, 1 << 30, 1 << 20))
    return lambda dtype, shape: FakeDeviceArray(shape, next(addresses), TYPESTR[dtype])


def _call(module, kernel, spec, coeffs, options):
    make = _host if module is _core else _fakes()
    args = {k: _build(v, make) for k, v in spec.items()}
    if "masters" in args:
        options = {**options, "masters": args["masters"]}
    return getattr(module, kernel)(args["params"], args["grads"], args["states"], coeffs,
                                   **options)  # fmt: skip


def _adam_spec(param, grad, state, n=600, master=None):
    """An Adam call on n elements: both states in `state` ("8bit": (codes, absmax))."""
    def buffer():
        if state == "8bit":
            return (("uint8", (n,)), ("float32", (-(-n // 256),)))
        return (state, (n,))
    spec = {"params": [(param, (n,))], "grads": [(grad, (n,))], "states": [[buffer()], [buffer()]]}
    if master is not None:
        spec["masters"] = [master]
    return spec


ADAM = F.adam_rule(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                   maximize=False, decoupled_weight_decay=False,
                   bias_correction=True)  # fmt: skip


def _reaches_the_device(call):
    """The call passed every argument check: without a GPU it fails at its first CUDA call;
    with one, at the pointer check (fake arrays are not device memory)."""
    if _cuda.device_count() == 0:
        with pytest.raises(RuntimeError, match="no usable CUDA device"):
            call()
    else:
        with pytest.raises(ValueError, match="is not CUDA device memory"):
            call()


@needs_build
@pytest.mark.parametrize("options", [{}, {"grad_scale": 1024.0, "seed": 7, "step": 3}])
@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
def test_every_storage_the_cpu_takes_passes_the_device_checks(combo, options):
    spec = _adam_spec(*combo)
    _call(_core, "adam", spec, ADAM.coeffs(1), options)  # the CPU takes it
    _reaches_the_device(lambda: _call(_cuda, "adam", spec, ADAM.coeffs(1), options))


@needs_build
@pytest.mark.parametrize("param", ["bfloat16", "float16"])
def test_masters_pass_the_device_checks(param):
    spec = _adam_spec(param, param, "8bit", master=("float32", (600,)))
    _call(_core, "adam", spec, ADAM.coeffs(1), {"seed": 1})
    _reaches_the_device(lambda: _call(_cuda, "adam", spec, ADAM.coeffs(1), {"seed": 1}))


RPROP = (1.0, 0.5, 1.2, 1e-6, 50.0)
N = 600
# (kernel, spec, coeffs, options) of calls both the CPU and the device kernels refuse
BAD_CALLS = {
    "bf16-param-f16-grad": ("adam", _adam_spec("bfloat16", "float16", "bfloat16"), {}),
    "bf16-param-f32-grad": ("adam", _adam_spec("bfloat16", "float32", "bfloat16"), {}),
    "f32-param-f64-grad": ("adam", _adam_spec("float32", "float64", "bfloat16"), {}),
    "f64-state": ("adam", _adam_spec("bfloat16", "bfloat16", "float64"), {}),
    "int8-state": ("adam", _adam_spec("float32", "float32", "int8"), {}),
    "f64-param-bf16-state": ("adam", _adam_spec("float64", "float64", "bfloat16"), {}),
    "f64-param-seed": ("adam", _adam_spec("float64", "float64", "float64"), {"seed": 1}),
    "f64-master": ("adam", _adam_spec("bfloat16", "bfloat16", "float32",
                                      master=("float64", (N,))), {}),
    "master-shape": ("adam", _adam_spec("bfloat16", "bfloat16", "float32",
                                        master=("float32", (N - 1,))), {}),
    "f32-param-master": ("adam", _adam_spec("float32", "float32", "float32",
                                            master=("float32", (N,))), {}),
    "absmax-shape": ("adam", {**_adam_spec("bfloat16", "bfloat16", "8bit"), "states": [
        [(("uint8", (N,)), ("float32", (2,)))], [("float32", (N,))]]}, {}),
    "absmax-dtype": ("adam", {**_adam_spec("bfloat16", "bfloat16", "8bit"), "states": [
        [(("uint8", (N,)), ("float64", (3,)))], [("float32", (N,))]]}, {}),
    "codes-dtype": ("adam", {**_adam_spec("bfloat16", "bfloat16", "8bit"), "states": [
        [("float32", (N,))], [(("int8", (N,)), ("float32", (3,)))]]}, {}),
    "codes-shape": ("adam", {**_adam_spec("float32", "float32", "8bit"), "states": [
        [(("uint8", (N, 1)), ("float32", (3,)))], [("float32", (N,))]]}, {}),
    "triple": ("adam", {**_adam_spec("float32", "float32", "8bit"), "states": [
        [(("uint8", (N,)), ("float32", (3,)), ("float32", (3,)))], [("float32", (N,))]]}, {}),
    "rprop-8bit": ("rprop", {"params": [("bfloat16", (N,))], "grads": [("bfloat16", (N,))],
                             "states": [[(("uint8", (N,)), ("float32", (3,)))],
                                        [("float32", (N,))]]}, {}),
    "grad-scale-0": ("adam", _adam_spec("float32", "float32", "float32"), {"grad_scale": 0.0}),
    "grad-scale-inf": ("adam", _adam_spec("bfloat16", "bfloat16", "float32"),
                       {"grad_scale": float("inf")}),
    "grad-scale-str": ("adam", _adam_spec("float32", "float32", "float32"), {"grad_scale": "2"}),
    "seed-negative": ("adam", _adam_spec("bfloat16", "bfloat16", "float32"), {"seed": -1}),
    "seed-float": ("adam", _adam_spec("bfloat16", "bfloat16", "float32"), {"seed": 1.5}),
    "step-huge": ("adam", _adam_spec("bfloat16", "bfloat16", "float32"),
                  {"seed": 1, "step": 1 << 64}),
    "first-tensor-negative": ("adam", _adam_spec("bfloat16", "bfloat16", "float32"),
                              {"first_tensor": -2}),
}  # fmt: skip


@needs_build
@pytest.mark.parametrize("bad", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_storage_arguments_raise_the_cpu_kernels_error(bad):
    """The device kernels refuse what the CPU kernels refuse, with the same exception and
    message, before any CUDA call."""
    kernel, spec, options = bad
    coeffs = RPROP if kernel == "rprop" else ADAM.coeffs(1)
    raised = []
    for module in (_core, _cuda):
        with pytest.raises((TypeError, ValueError)) as info:
            _call(module, kernel, spec, coeffs, options)
        raised.append((info.type, str(info.value)))
    assert raised[1] == raised[0]


@needs_build
def test_8bit_absmax_may_not_share_memory():
    n = 600
    param, grad = FakeDeviceArray((n,), 1 << 20, "<V2"), FakeDeviceArray((n,), 2 << 20, "<V2")
    codes = FakeDeviceArray((n,), 3 << 20, "|u1")
    absmax = FakeDeviceArray((3,), (3 << 20) + 512, "<f4")  # inside the codes
    v = FakeDeviceArray((n,), 4 << 20, "<f4")
    with pytest.raises(ValueError, match="shares memory"):
        _cuda.adam([param], [grad], [[(codes, absmax)], [v]], ADAM.coeffs(1))
    grad = FakeDeviceArray((n,), (4 << 20) + 8, "<V2")  # a gradient overlapping a state
    with pytest.raises(ValueError, match="grad shares memory with exp_avg_sq"):
        _cuda.adam([param], [grad], [[(codes, FakeDeviceArray((3,), 5 << 20, "<f4"))], [v]],
                   ADAM.coeffs(1))  # fmt: skip


class ClaimsCuda:
    """A host tensor's DLPack capsule behind a claim to be on CUDA device 0: it reaches the
    DLPack dtype and shape checks without a GPU."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        return self.tensor.__dlpack__()


@needs_build
def test_dlpack_bfloat16_is_read_as_bfloat16():
    torch = pytest.importorskip("torch")
    n = 300

    def arrays(grad_dtype):
        p, g, m, v = (torch.zeros(n, dtype=d) for d in
                      (torch.bfloat16, grad_dtype, torch.bfloat16, torch.float32))  # fmt: skip
        return [ClaimsCuda(p)], [ClaimsCuda(g)], [[ClaimsCuda(m)], [ClaimsCuda(v)]]

    _reaches_the_device(lambda: _cuda.adam(*arrays(torch.bfloat16), ADAM.coeffs(1)))
    with pytest.raises(TypeError, match=r"grad has dtype float16, expected bfloat16 \(the dtype"):
        _cuda.adam(*arrays(torch.float16), ADAM.coeffs(1))


@needs_build
def test_bfloat16_view_describes_16_bit_integers_as_bfloat16():
    cuda = importlib.import_module("pyfastopt.cuda")
    n = 300
    p, g, m = (cuda.bfloat16_view(FakeDeviceArray((n,), k << 20, "<u2")) for k in (1, 2, 3))
    assert p.__cuda_array_interface__["typestr"] == "<V2"
    assert p.__cuda_array_interface__["data"] == (1 << 20, False)
    v = FakeDeviceArray((n,), 4 << 20, "<f4")
    _reaches_the_device(lambda: _cuda.adam([p], [g], [[m], [v]], ADAM.coeffs(1)))
    f16 = FakeDeviceArray((n,), 2 << 20, "<f2")  # float16, not bfloat16: the kernel names it
    with pytest.raises(TypeError, match="grad has dtype float16, expected bfloat16"):
        _cuda.adam([p], [f16], [[m], [v]], ADAM.coeffs(1))
    for bad in (FakeDeviceArray((n,), 0, "<f4"), FakeDeviceArray((n,), 0, "<f2"), object()):
        with pytest.raises(TypeError, match="bfloat16_view takes a device array of 16-bit"):
            cuda.bfloat16_view(bad)


@pytest.fixture
def kernel_calls(monkeypatch):
    """pyfastopt.cuda with its extension replaced by a recorder: the list of (kernel, args,
    kwargs) it was called with."""
    cuda = importlib.import_module("pyfastopt.cuda")
    calls = []

    class Recorder:
        def __getattr__(self, name):
            return lambda *args, **kwargs: calls.append((name, args, kwargs))

    monkeypatch.setattr(cuda, "_cuda", Recorder())
    return calls


@needs_build
def test_apply_passes_the_storage_options(kernel_calls):
    cuda, calls = importlib.import_module("pyfastopt.cuda"), kernel_calls
    p, g, m, v, master = (object() for _ in range(5))
    cuda.apply(ADAM, p, g, {"exp_avg": m, "exp_avg_sq": v}, 4, masters=master, grad_scale=2.0,
               seed=9, first_tensor=5)  # fmt: skip
    assert calls == [("adam", ([p], [g], [[m], [v]], ADAM.coeffs(4)),
                      {"masters": [master], "grad_scale": 2.0, "seed": 9, "step": 4,
                       "first_tensor": 5, "stream": None})]  # fmt: skip
    calls.clear()
    cuda.apply(ADAM, [p], [g], {"exp_avg": [m], "exp_avg_sq": [v]}, 1, grad_scale=8.0)
    assert calls == [("adam", ([p], [g], [[m], [v]], ADAM.coeffs(1)),
                      {"grad_scale": 8.0, "stream": None})]  # fmt: skip


@needs_build
def test_python_layer_mirrors_functional():
    cuda = importlib.import_module("pyfastopt.cuda")
    for name in cuda.__all__:
        if not name.endswith("_"):
            continue
        cpu, gpu = getattr(F, name), getattr(cuda, name)
        cpu_params = list(inspect.signature(cpu).parameters)
        assert list(inspect.signature(gpu).parameters) == [*cpu_params, "stream"], name
        # every keyword of the CPU step but `step` is a hyperparameter of its rule builder
        rule = getattr(F, "adam_rule" if name == "adamw_" else name + "rule")
        kwonly = {
            n for n, p in inspect.signature(cpu).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "step"
        }  # fmt: skip
        extra = {"decoupled_weight_decay"} if name == "adamw_" else set()
        assert kwonly | extra == set(inspect.signature(rule).parameters), name


@needs_build
def test_every_functional_step_with_a_rule_has_a_twin():
    # derived from pyfastopt.functional (its <name>_ with a <name>_rule that return nothing)
    cuda = importlib.import_module("pyfastopt.cuda")
    steps = {
        n for n in F.__all__
        if n.endswith("_") and hasattr(F, n + "rule")
        and inspect.signature(getattr(F, n)).return_annotation in (None, "None")
    }  # fmt: skip
    assert {"sgd_", "adam_", "lion_"} <= steps
    assert steps | {"adamw_"} <= set(cuda.__all__)
    assert "nadam_" not in cuda.__all__  # its scalar state stays on the CPU
    assert all(callable(getattr(cuda, n)) for n in steps)


@needs_build
def test_python_layer_passes_functionals_coefficients(kernel_calls):
    cuda, calls = importlib.import_module("pyfastopt.cuda"), kernel_calls
    p, g, m, v, vmax = (object() for _ in range(5))
    cuda.adamw_(p, g, m, v, vmax, step=3, lr=0.1, amsgrad=True, stream=7)
    rule = F.adam_rule(
        lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=True,
        maximize=False, decoupled_weight_decay=True, bias_correction=True,
    )  # fmt: skip
    assert calls == [("adam_amsgrad", ([p], [g], [[m], [v], [vmax]], rule.coeffs(3)),
                      {"stream": 7})]  # fmt: skip
    calls.clear()
    cuda.sgd_([p, p], [g, g], step=1, lr=0.5)
    assert calls == [("sgd", ([p, p], [g, g], [], (1.0, 0.0, -0.5)), {"stream": None})]


@needs_build
def test_reducing_rules_have_no_device_kernel():
    cuda = importlib.import_module("pyfastopt.cuda")
    rule = F.Rule(_core.swats_adam, type, (), lambda t: ())
    with pytest.raises(NotImplementedError, match="swats_adam"):
        cuda.kernel_of(rule)


# ---- the device kernels under a host emulation (no GPU needed) ----------------------------

# `kernel<<<grid, kThreads, 0, stream>>>(table, c);`, the launches of loop.cuh
_LAUNCH = re.compile(r"(\w+<[^<>]*>)<<<grid, kThreads, 0, stream>>>\((table, c)\);")


@needs_build
# nvcc compiles the emulation; CI's CUDA stage, which runs this file, only runs where it is
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
def test_device_kernels_under_host_emulation_write_the_cpu_bits(tmp_path):
    """loop.cuh's kernels, run on the host by tests/cuda_emulation.cpp (blocks of 256
    threads that synchronize as on a GPU), write the CPU driver's bits: every storage,
    masters, 8-bit states, stochastic rounding, tails, empty tensors, several launches."""
    include = Path(pyfastopt.get_include())
    loop = (include / "pyfastopt" / "cuda" / "loop.cuh").read_text()
    emulated, launches = _LAUNCH.subn(r"emu_launch(grid, [&] { \1(\2); });", loop)
    assert launches == 2, "loop.cuh's launches changed: update _LAUNCH"
    emulated = re.sub(r'#include "\.\./(\w+\.hpp)"', r"#include <pyfastopt/\1>", emulated)
    (tmp_path / "loop_emu.cuh").write_text(emulated)
    exe = tmp_path / "cuda_emulation"
    source = Path(__file__).with_name("cuda_emulation.cpp")
    # nvcc compiles a .cpp file as host code, with the CUDA headers on its include path
    subprocess.run(
        ["nvcc", "-std=c++20", "-O1", "-cudart", "none",
         "-Xcompiler", "-ffp-contract=off,-Wno-unknown-pragmas,-Wno-attributes,-pthread",
         f"-I{include}", f"-I{tmp_path}", str(source), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("all same"), run.stdout


# ---- on a GPU: every rule against the CPU kernels ----------------------------------------


class DLPackOnly:
    """Exposes a device array through DLPack only (no __cuda_array_interface__)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, stream=None):
        return self._array.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("protocol", ["cai", "dlpack"])
@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in CPU_ONLY],
                         ids=[i for c, i in zip(CASES, IDS) if c[0] not in CPU_ONLY])  # fmt: skip
def test_device_step_equals_cpu_step(case, protocol, dtype, rng):
    cuda = importlib.import_module("pyfastopt.cuda")
    name, kwargs = case
    fn, fkwargs = functional_kwargs(name, kwargs)
    gpu_fn = getattr(cuda, fn.__name__)
    # several chunks, a tail, a 2-D array and an empty one, in one list call
    shapes = [(2 * 8192 + 5,), (4, 7), (0,), (1,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ref = getattr(reference, name)([params[0].astype(np.float64)], **kwargs)
    ref.step([np.ones_like(params[0], np.float64)])
    keys = [k for k, v in ref.state[0].items() if isinstance(v, np.ndarray)]
    states = {k: [initial_state(name, kwargs, k, p) for p in params] for k in keys}
    d_params = [_to_device(p) for p in params]
    d_states = {k: [_to_device(s) for s in v] for k, v in states.items()}
    wrap = DLPackOnly if protocol == "dlpack" else (lambda a: a)
    for t, grads in enumerate(gradients(rng, shapes, dtype, steps=5), start=1):
        fn(params, grads, **states, **fkwargs, step=t)
        gpu_fn([wrap(p) for p in d_params], [wrap(_to_device(g)) for g in grads],
               **{k: [wrap(s) for s in v] for k, v in d_states.items()}, **fkwargs, step=t)
    for i, p in enumerate(params):
        np.testing.assert_array_equal(_to_host(d_params[i]), p, err_msg=f"param {i}")
        for k in keys:
            np.testing.assert_array_equal(_to_host(d_states[k][i]), states[k][i], err_msg=k)


@needs_gpu
@pytest.mark.parametrize("count", [1, 68, 69, 250])  # 68 tensors fit one Adam launch
def test_long_lists_take_several_launches(count, rng):
    cuda = importlib.import_module("pyfastopt.cuda")
    sizes = [int(n) for n in rng.integers(0, 3 * 8192, count)]
    params = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    grads = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    d = [[_to_device(a) for a in arrays] for arrays in (params, grads, m, v)]
    F.adam_(params, grads, m, v, step=1, lr=0.01)
    cuda.adam_(d[0], d[1], d[2], d[3], step=1, lr=0.01)
    for i in range(count):
        np.testing.assert_array_equal(_to_host(d[0][i]), params[i])
        np.testing.assert_array_equal(_to_host(d[3][i]), v[i])


@needs_gpu
@pytest.mark.parametrize(
    ("name", "coeffs", "reads_grad"),
    [("scale_clamp", (0.5, -0.3, 0.3), False), ("ema", (0.9, 0.1), True),
     ("_adam_pattern", (0.1, 0.2, 0.3), True)],
)  # fmt: skip
def test_transform_kernels_equal_cpu(name, coeffs, reads_grad, rng):
    x = rng.standard_normal(10_001)
    y = rng.standard_normal(10_001)
    s = [rng.standard_normal(10_001) for _ in range(2 if name == "_adam_pattern" else 0)]
    dx, dy, ds = _to_device(x), _to_device(y), [_to_device(a) for a in s]
    if reads_grad:
        getattr(_core, name)([x], [y], [[a] for a in s], coeffs)
        getattr(_cuda, name)([dx], [dy], [[a] for a in ds], coeffs)
    else:
        getattr(_core, name)([x], coeffs)
        getattr(_cuda, name)([dx], coeffs)
    np.testing.assert_array_equal(_to_host(dx), x)
    for a, da in zip(s, ds):
        np.testing.assert_array_equal(_to_host(da), a)


# ---- on a GPU: reduced-precision storage against the CPU kernels, bit for bit -------------


def _to_device_any(a):
    """A host array, or an 8-bit (codes, absmax) tuple, on the device (bfloat16 as a
    bfloat16_view of its bits: CuPy has no bfloat16)."""
    if isinstance(a, tuple):
        return tuple(_to_device_any(x) for x in a)
    if a.dtype == bfloat16:
        cuda = importlib.import_module("pyfastopt.cuda")
        return cuda.bfloat16_view(_to_device(a.view(np.int16)))
    return _to_device(a)


def _bits(a):
    """The bytes of a host array, a device array or a (codes, absmax) tuple, as uint8."""
    if isinstance(a, tuple):
        return np.concatenate([_bits(x) for x in a])
    if hasattr(a, "array"):  # a bfloat16_view
        a = a.array
    if not isinstance(a, np.ndarray):
        a = _to_host(a)
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def _rule_of(name, kwargs):
    """The functional rule of a case (its builder's defaults from the functional step)."""
    fn, fkwargs = functional_kwargs(name, kwargs)
    sig = inspect.signature(fn).parameters
    hyper = {n: p.default for n, p in sig.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "step"}  # fmt: skip
    hyper.update(fkwargs)
    if fn.__name__ == "adamw_":
        return F.adam_rule(**hyper, decoupled_weight_decay=True)
    return getattr(F, fn.__name__ + "rule")(**hyper)


DEVICE_STORAGE_CASES = [
    pytest.param(case, combo, id=f"{case_id}-{combo_id}")
    for case, case_id in zip(CASES, IDS)
    if case[0] not in CPU_ONLY
    for combo, combo_id in zip(COMBOS, COMBO_IDS)
    if combo[2] != "8bit" or case[0] in QUANTIZABLE
]


@needs_gpu
@pytest.mark.parametrize("seed", [None, 1234], ids=["nearest", "stochastic"])
@pytest.mark.parametrize(("case", "combo"), DEVICE_STORAGE_CASES)
def test_device_storage_step_equals_cpu_bits(case, combo, seed, rng):
    """Every rule in every storage combination: the device step writes the CPU kernel's
    bits (params, 16-bit and 8-bit states, absmax), with grad_scale and stochastic
    rounding, over several quantization blocks, a tail, and list calls of several tensors."""
    cuda = importlib.import_module("pyfastopt.cuda")
    name, kwargs = case
    rule = _rule_of(name, kwargs)
    param_dtype, grad_dtype, state_storage = (HOST_DTYPE[d] if d != "8bit" else d for d in combo)
    shapes = [(2 * 8192 + 300,), (4, 7), (0,), (1,)]
    params = [rng.standard_normal(s).astype(param_dtype) for s in shapes]

    def stored(key, p):
        init = initial_state(name, kwargs, key, p.astype(np.float32))
        if state_storage == "8bit":
            return quantize_8bit(init.ravel(), key not in UNSIGNED)
        return init.astype(state_storage)

    states = {k: [stored(k, p) for p in params] for k in rule.state_names}
    if state_storage == "8bit":  # codes shaped like the param
        states = {k: [(c.reshape(p.shape), a) for (c, a), p in zip(v, params)]
                  for k, v in states.items()}  # fmt: skip
    d_params = [_to_device_any(p) for p in params]
    d_states = {k: [_to_device_any(s) for s in v] for k, v in states.items()}
    options = {"grad_scale": 8.0, "seed": seed, "first_tensor": 3}
    for t in range(1, 4):
        grads = [(rng.standard_normal(s) * 8 * t).astype(grad_dtype) for s in shapes]
        coeffs = rule.coeffs(t)
        step = {"step": t} if seed is not None else {}
        given = {k: v for k, v in options.items() if v is not None}
        rule.kernel(params, grads, [states[k] for k in rule.state_names], coeffs, **given, **step)
        cuda.apply(rule, d_params, [_to_device_any(g) for g in grads], d_states, t, **options)
    for i, p in enumerate(params):
        np.testing.assert_array_equal(_bits(d_params[i]), _bits(p), err_msg=f"param {i}")
        for k in rule.state_names:
            np.testing.assert_array_equal(_bits(d_states[k][i]), _bits(states[k][i]),
                                          err_msg=f"{k}[{i}]")  # fmt: skip


@needs_gpu
@pytest.mark.parametrize("param_dtype", ["bfloat16", "float16"])
def test_device_master_weights_equal_cpu_bits(param_dtype, rng):
    """16-bit params with float32 masters and 8-bit states, stochastically rounded: the
    master, the param copied out of it and the states are the CPU kernel's bits."""
    n = 3 * 256 + 17
    masters = [rng.standard_normal(n).astype(np.float32)]
    params = [m.astype(HOST_DTYPE[param_dtype]) for m in masters]
    m = [quantize_8bit(np.zeros(n, np.float32), True)]
    v = [np.zeros(n, bfloat16)]
    d = {"p": [_to_device_any(params[0])], "master": [_to_device(masters[0])],
         "m": [_to_device_any(m[0])], "v": [_to_device_any(v[0])]}  # fmt: skip
    for t in (1, 2):
        grad = rng.standard_normal(n).astype(HOST_DTYPE[param_dtype])
        _core.adam(params, [grad], [m, v], ADAM.coeffs(t), masters=masters, seed=5, step=t)
        _cuda.adam(d["p"], [_to_device_any(grad)], [d["m"], d["v"]], ADAM.coeffs(t),
                   masters=d["master"], seed=5, step=t)  # fmt: skip
    for host, dev in ((params, d["p"]), (masters, d["master"]), (m, d["m"]), (v, d["v"])):
        np.testing.assert_array_equal(_bits(dev[0]), _bits(host[0]))


@needs_gpu
@pytest.mark.parametrize("count", [36, 37, 100])  # 36 tensors fit one mixed Adam launch
def test_long_mixed_lists_keep_each_tensors_random_bits(count, rng):
    """Stochastic rounding keys each tensor by first_tensor + its index in the call, across
    launches and past empty tensors, as the CPU does."""
    sizes = [int(n) for n in rng.integers(0, 3 * 256, count)]
    sizes[1] = 0
    params = [rng.standard_normal(n).astype(bfloat16) for n in sizes]
    grads = [rng.standard_normal(n).astype(bfloat16) for n in sizes]
    m = [np.zeros(n, bfloat16) for n in sizes]
    v = [quantize_8bit(np.zeros(n, np.float32), False) for n in sizes]
    d = [[_to_device_any(a) for a in arrays] for arrays in (params, grads, m, v)]
    _core.adam(params, grads, [m, v], ADAM.coeffs(1), seed=2, step=1, first_tensor=10)
    _cuda.adam(d[0], d[1], [d[2], d[3]], ADAM.coeffs(1), seed=2, step=1, first_tensor=10)
    for i in range(count):
        for host, dev in ((params, d[0]), (m, d[2]), (v, d[3])):
            np.testing.assert_array_equal(_bits(dev[i]), _bits(host[i]), err_msg=str(i))


@needs_gpu
def test_device_8bit_block_of_a_non_finite_value_is_nan(rng):
    """A non-finite value poisons its block's absmax (NaN), as on the CPU; the other
    blocks are untouched by it."""
    n = 3 * 256
    g = rng.standard_normal(n).astype(np.float32)
    g[300] = np.inf
    host = [quantize_8bit(np.zeros(n, np.float32), True), np.zeros(n, np.float32)]
    p = rng.standard_normal(n).astype(np.float32)
    dp, dm, dv = _to_device(p), _to_device_any(host[0]), _to_device(host[1])
    _core.adam([p], [g], [[host[0]], [host[1]]], ADAM.coeffs(1))
    _cuda.adam([dp], [_to_device(g)], [[dm], [dv]], ADAM.coeffs(1))
    absmax = _to_host(dm[1])
    assert np.isnan(absmax[1])
    assert np.isfinite(absmax[[0, 2]]).all()
    np.testing.assert_array_equal(_bits(dm), _bits(host[0]))


def _torch_cuda():
    if _cuda is None or _cuda.device_count() == 0:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


# a GPU check like the other device tests: torch's CUDA tensors exist only with a device
@pytest.mark.skipif(_torch_cuda() is None, reason="no CUDA build of PyTorch with a device")
@pytest.mark.parametrize("protocol", ["cai", "dlpack"])
def test_torch_bfloat16_tensors_are_read_as_bfloat16(protocol, rng):
    """PyTorch's bfloat16 CUDA tensors, through __cuda_array_interface__ ("<V2") and
    through DLPack (its bfloat type code), step as the CPU kernel steps ml_dtypes arrays."""
    torch = _torch_cuda()
    n = 1000
    p, g = (rng.standard_normal(n).astype(bfloat16) for _ in range(2))
    m, v = np.zeros(n, bfloat16), np.zeros(n, np.float32)

    def dev(a):
        t = torch.from_numpy(a.view(np.int16) if a.dtype == bfloat16 else a).cuda()
        return t.view(torch.bfloat16) if a.dtype == bfloat16 else t

    tensors = [dev(a) for a in (p, g, m, v)]
    wrap = DLPackOnly if protocol == "dlpack" else (lambda a: a)
    dp, dg, dm, dv = (wrap(t) for t in tensors)
    _core.adam([p], [g], [[m], [v]], ADAM.coeffs(1), seed=3, step=1)
    _cuda.adam([dp], [dg], [[dm], [dv]], ADAM.coeffs(1), seed=3, step=1)
    for host, t in zip((p, m, v), (tensors[0], tensors[2], tensors[3])):
        got = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
        np.testing.assert_array_equal(got.cpu().numpy().view(np.uint8), _bits(host))
