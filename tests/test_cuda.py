"""pyfastopt._cuda and pyfastopt.cuda.

Without a CUDA build, only the import-error tests run (the rest are skipped with the reason
"pyfastopt built without CUDA"). With a build but no GPU (device_count() == 0), the module,
the Python layer and every argument check are still tested: checks run before any CUDA
call, so fake __cuda_array_interface__ objects reach them. With a GPU and CuPy (or a CUDA
build of PyTorch), every rule is compared bit for bit with the CPU kernels: both sides run
the same rule headers and neither contracts a*b+c into an FMA.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

import numpy as np
import pytest
from cases import CASES, IDS
from helpers import DTYPES, gradients
from test_functional_reference import functional_kwargs, initial_state

import pyfastopt
from pyfastopt import _core, reference
from pyfastopt import functional as F

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
CPU_ONLY = {"NAdam", "SWATS"}
REDUCING = {"swats_adam", "sum_squares"}  # PFO_FOR_EACH_REDUCING_RULE


def _kernels(module):
    """The rule kernels of a module (their docstrings mention coeffs; plans and the CPU-only
    row-sparse kernels excluded)."""
    return {
        n for n in dir(module)
        if "coeffs" in (getattr(module, n).__doc__ or "")
        and not n.endswith(("_plan", "_rows"))
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
    assert cuda == core.replace(") -> ", ", *, stream: object = None) -> ")


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
         "param has dtype float16, expected float32"),
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
    ids=["numpy", "object", "dtype", "float16", "shape", "strides", "readonly", "overlap",
         "grad-overlap"],
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
def test_python_layer_passes_functionals_coefficients(monkeypatch):
    cuda = importlib.import_module("pyfastopt.cuda")
    calls = []

    class Recorder:
        def __getattr__(self, name):
            return lambda *args, **kwargs: calls.append((name, args, kwargs))

    monkeypatch.setattr(cuda, "_cuda", Recorder())
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
