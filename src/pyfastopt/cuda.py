"""In-place optimizer steps on CUDA device arrays: :mod:`pyfastopt.functional` on the GPU.

Needs a build with CUDA (``pip install . -Ccmake.define.PYFASTOPT_CUDA=ON``); importing
this module raises ``ImportError`` saying so otherwise. Importing makes no CUDA call, so
it works on a machine without a GPU (:func:`device_count` is then 0).

Every function here has the signature and semantics of its namesake in
:mod:`pyfastopt.functional` (``adam_``, ``sgd_``, ...), plus a keyword-only ``stream``,
and takes CUDA device arrays instead of NumPy arrays: objects exposing
``__cuda_array_interface__`` (CuPy, Numba, PyTorch CUDA tensors) or DLPack
(``__dlpack__`` / ``__dlpack_device__`` on a CUDA device). The per-step scalars come from
the same ``functional.*_rule`` builders and the per-element math from the same C++ rule
headers as on the CPU; the device code is compiled without FMA contraction
(``--fmad=false``), so results round as the CPU kernels'. A list call updates the whole
list in one kernel launch (per 68 to 99 arrays, by the rule's state count; 36 to 66 in
reduced-precision storage).

Storages are the CPU kernels' (:mod:`pyfastopt.precision`): float32 and float64, bfloat16
and float16 parameters and gradients, bfloat16/float16/8-bit states (an 8-bit state is a
tuple ``(codes, absmax)`` of device arrays, uint8 and float32), in the same combinations;
:func:`apply` (and the kernels) also take float32 ``masters`` for 16-bit parameters,
``grad_scale`` and a ``seed`` for stochastic rounding, as the CPU kernels do. A device step
in these storages computes in float32 and gives the CPU kernels' bits, stochastic rounding
included (the same Philox keying). bfloat16 device arrays are those whose
``__cuda_array_interface__`` typestr is ``"<V2"``, as PyTorch describes its bfloat16 CUDA
tensors, and DLPack arrays of bfloat type; CuPy has no bfloat16: :func:`bfloat16_view`
describes a uint16 array holding bfloat16 bits as bfloat16.

Arrays are checked as on the CPU (dtypes and their combinations, shape, C-contiguity,
read-only, buffers sharing memory) before anything is launched; errors name the argument,
with the CPU kernels' messages. The work is enqueued on ``stream`` (an int: 0 or 1 the
legacy default stream, 2 the per-thread default stream, otherwise a ``cudaStream_t`` such as
``cupy.cuda.Stream().ptr``), by default on the stream the first parameter's
``__cuda_array_interface__`` names (CuPy and PyTorch name their current stream), else the
legacy default stream; it is ordered after the streams the other arguments name. Calls
return once the work is enqueued, as CuPy's and PyTorch's do (the first call with 8-bit
states on a device also waits, once, for the copy of the 8-bit maps to it). DLPack
exporters give no read-only flag: such arrays are taken as writable.

Not on the device yet: ``nadam_`` (its rule has scalar state, ``mu_product``, that
:func:`apply` does not thread through; the kernel itself is ``_cuda.nadam``), ``elastic_``
(no rule builder: :mod:`pyfastopt.distributed` runs on the CPU), and the
rules that reduce sums (``swats_``, gradient clipping by norm) and the row-sparse kernels
(:mod:`pyfastopt.sparse`), which stay CPU-only.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from . import _validate as check
from . import functional as _functional
from .functional import Rule

_BUILD_HINT = "pip install . -Ccmake.define.PYFASTOPT_CUDA=ON"

try:
    _cuda = importlib.import_module(f"{__package__}._cuda")
except ModuleNotFoundError as exc:
    if exc.name != f"{__package__}._cuda":
        raise
    msg = f"pyfastopt was built without CUDA: {_BUILD_HINT}"
    raise ImportError(msg, name=__name__) from exc

__all__ = [
    "apply",
    "bfloat16_view",
    "build_info",
    "device_count",
    "is_available",
    "kernel_of",
]


def device_count() -> int:
    """CUDA devices visible to this process; 0 without a driver or GPU (never raises)."""
    return _cuda.device_count()


def is_available() -> bool:
    """True if at least one CUDA device can be used."""
    return device_count() > 0


def build_info() -> dict[str, Any]:
    """The CUDA runtime version compiled against and the GPU architectures compiled."""
    return _cuda.build_info()


class _BFloat16View:
    """A device array of 2-byte elements described as bfloat16 (see bfloat16_view)."""

    __slots__ = ("array",)

    def __init__(self, array: Any):
        self.array = array

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {**self.array.__cuda_array_interface__, "typestr": "<V2"}


def bfloat16_view(array: Any) -> Any:
    """``array``, a device array of 16-bit integers holding bfloat16 bits (a CuPy uint16
    array, say: CuPy has no bfloat16), as bfloat16 for the kernels here: an object whose
    ``__cuda_array_interface__`` is the array's with typestr ``"<V2"``. No copy."""
    cai = getattr(array, "__cuda_array_interface__", None)
    typestr = str(cai.get("typestr", "")) if isinstance(cai, dict) else ""
    if typestr[1:] not in ("u2", "i2", "V2"):
        got = typestr or type(array).__name__
        msg = (f"bfloat16_view takes a device array of 16-bit integers "
               f"(__cuda_array_interface__ typestr '<u2' or '<i2'), got {got!r}")  # fmt: skip
        raise TypeError(msg)
    return _BFloat16View(array)


def kernel_of(rule: Rule) -> Callable[..., Any]:
    """The device kernel of a :class:`pyfastopt.functional.Rule` (its CPU kernel's name)."""
    name = rule.kernel.__name__
    try:
        return getattr(_cuda, name)
    except AttributeError:
        msg = f"{name}: no CUDA kernel (a reducing rule, CPU-only)"
        raise NotImplementedError(msg) from None


def apply(
    rule: Rule,
    param: Any,
    grad: Any,
    buffers: dict[str, Any],
    step: int,
    *,
    masters: Any = None,
    grad_scale: float | None = None,
    seed: int | None = None,
    first_tensor: int | None = None,
    stream: Any = None,
) -> None:
    """One step of ``rule`` on device arrays (or lists of them), as ``rule.apply`` on NumPy
    arrays: ``buffers`` maps the rule's state names to arrays (an 8-bit state: a tuple
    ``(codes, absmax)``). ``masters``: float32 master weights of 16-bit parameters (updated,
    and the parameters written from them); ``grad_scale``: gradients are divided by it as
    they are loaded; ``seed``: bfloat16 stores round stochastically, keyed by (seed, step,
    first_tensor + tensor index, buffer, element) as on the CPU."""
    kernel = kernel_of(rule)
    states = [buffers[name] for name in rule.state_names]
    coeffs = rule.coeffs(check.step(step))
    single = not isinstance(param, (list, tuple))
    options: dict[str, Any] = {"grad_scale": grad_scale, "seed": seed, "first_tensor": first_tensor}
    if masters is not None:
        options["masters"] = [masters] if single else list(masters)
    if seed is not None:
        options["step"] = step
    given = {k: v for k, v in options.items() if v is not None}
    if single:
        kernel([param], [grad], [[s] for s in states], coeffs, **given, stream=stream)
    else:
        kernel(list(param), list(grad), [list(s) for s in states], coeffs, **given, stream=stream)


def _on_device(cpu_step: Callable[..., Any], make_rule: Callable[..., Rule], **fixed: Any):
    """The device twin of a functional step: the same signature (plus ``stream``) and
    defaults, read from the CPU function; positional arguments after (param, grad) are
    state buffers, keyword-only ones (but ``step``) go to ``make_rule`` with ``fixed``."""
    sig = inspect.signature(cpu_step)
    positional = [
        n for n, p in sig.parameters.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    buffer_names = positional[2:]
    stream_param = inspect.Parameter("stream", inspect.Parameter.KEYWORD_ONLY, default=None)
    device_sig = sig.replace(parameters=[*sig.parameters.values(), stream_param])

    def device_step(*args: Any, **kwargs: Any) -> None:
        bound = device_sig.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        param, grad = values.pop("param"), values.pop("grad")
        step, stream = values.pop("step"), values.pop("stream")
        buffers = {name: values.pop(name) for name in buffer_names}
        apply(make_rule(**values, **fixed), param, grad, buffers, step, stream=stream)

    device_step.__name__ = device_step.__qualname__ = cpu_step.__name__
    device_step.__module__ = __name__
    device_step.__signature__ = device_sig  # type: ignore[attr-defined]
    device_step.__doc__ = (
        f":func:`pyfastopt.functional.{cpu_step.__name__}` on CUDA device arrays (see the "
        f"module docstring; ``stream``: where to enqueue the work).\n\n"
        f"{inspect.getdoc(cpu_step)}"
    )
    return device_step


def _device_steps() -> dict[str, Callable[..., None]]:
    """The device twin of every step of :mod:`pyfastopt.functional` that has a rule builder
    (``<name>_`` and ``<name>_rule``) and returns nothing (the steps with scalar state to
    hand back stay on the CPU); ``adamw_`` is Adam's rule with decoupled weight decay."""
    F = _functional
    steps = {
        name: _on_device(getattr(F, name), getattr(F, name + "rule"))
        for name in F.__all__
        if name.endswith("_") and hasattr(F, name + "rule")
        and inspect.signature(getattr(F, name)).return_annotation in (None, "None")
    }  # fmt: skip
    steps["adamw_"] = _on_device(F.adamw_, F.adam_rule, decoupled_weight_decay=True)
    return steps


_STEPS = _device_steps()
__all__.extend(sorted(_STEPS))


def __getattr__(name: str) -> Callable[..., None]:
    try:
        return _STEPS[name]
    except KeyError:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg) from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_STEPS))
