"""Stubs for the compiled extension (private: use pyfastopt.functional and .optim)."""

from collections.abc import Sequence
from typing import Any, Callable, Protocol

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

_Array: TypeAlias = npt.NDArray[Any]  # float32/64, float16, bfloat16 (pyfastopt.precision)
_Arrays: TypeAlias = Sequence[_Array]
# one list per state buffer of the rule; an 8-bit state is a tuple (codes, absmax)
_States: TypeAlias = Sequence[Sequence[_Array | tuple[_Array, _Array]]]
_Coeffs: TypeAlias = Sequence[float]  # the rule's Coeffs fields in declaration order

class _Kernel(Protocol):
    """kernel(params, grads, states, coeffs, **reduced-precision options), in place."""

    def __call__(
        self,
        params: _Arrays,
        grads: _Arrays,
        states: _States,
        coeffs: _Coeffs,
        *,
        masters: _Arrays | None = None,
        grad_scale: float | None = None,
        seed: int | None = None,
        step: int | None = None,
        first_tensor: int | None = None,
    ) -> None: ...

def build_info() -> dict[str, Any]: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def _select_isa(name: str) -> bool: ...

# Element-wise kernels: kernel(params, grads, states, coeffs, **reduced-precision options),
# in place; the options as pyfastopt.precision describes them.
sgd: _Kernel
sgd_momentum: _Kernel
adagrad: _Kernel
adadelta: _Kernel
rmsprop: _Kernel
rmsprop_centered: _Kernel
rmsprop_momentum: _Kernel
rmsprop_centered_momentum: _Kernel
adam: _Kernel
adam_amsgrad: _Kernel
adamax: _Kernel
nadam: _Kernel
radam: _Kernel
rprop: _Kernel
adabound: _Kernel
amsbound: _Kernel
lion: _Kernel
# Distributed SGD (pyfastopt.distributed): elastic reads the center in the grads' place.
delay_tolerant_adagrad: _Kernel
elastic: _Kernel

# Transforms (pyfastopt.transforms): ema reads params as its "grads" (averages += ...);
# scale_clamp reads no gradient.
ema: _Kernel
def scale_clamp(arrays: _Arrays, coeffs: _Coeffs) -> None: ...

# Reducing kernels: also return per-array sums as a (count, reductions) array: swats_adam
# sum(q*q) and sum(q*g); sum_squares sum(g*g).
def swats_adam(
    params: _Arrays,
    grads: _Arrays,
    states: _States,
    coeffs: _Coeffs,
    *,
    masters: _Arrays | None = None,
    grad_scale: float | None = None,
    seed: int | None = None,
    step: int | None = None,
    first_tensor: int | None = None,
) -> npt.NDArray[np.float64]: ...
def sum_squares(arrays: _Arrays, coeffs: _Coeffs) -> npt.NDArray[np.float64]: ...

# Plans (one class per element-wise rule that reads a gradient, name + "_plan"): params and
# states checked once; step() returns False, doing nothing, if a gradient is not an array.
class _Plan:
    def __init__(
        self,
        params: _Arrays,
        states: _States,
        masters: _Arrays | None = None,
        mixed: bool = False,
    ) -> None: ...
    def step(
        self,
        grads: Sequence[object],
        coeffs: _Coeffs,
        grad_scale: float | None = None,
        seed: int | None = None,
        step: int | None = None,
    ) -> bool: ...
    def same_params(self, params: object) -> bool: ...

class sgd_plan(_Plan): ...
class sgd_momentum_plan(_Plan): ...
class adagrad_plan(_Plan): ...
class adadelta_plan(_Plan): ...
class rmsprop_plan(_Plan): ...
class rmsprop_centered_plan(_Plan): ...
class rmsprop_momentum_plan(_Plan): ...
class rmsprop_centered_momentum_plan(_Plan): ...
class adam_plan(_Plan): ...
class adam_amsgrad_plan(_Plan): ...
class adamax_plan(_Plan): ...
class nadam_plan(_Plan): ...
class radam_plan(_Plan): ...
class rprop_plan(_Plan): ...
class adabound_plan(_Plan): ...
class amsbound_plan(_Plan): ...
class lion_plan(_Plan): ...
class delay_tolerant_adagrad_plan(_Plan): ...
class elastic_plan(_Plan): ...
class ema_plan(_Plan): ...
class _adam_pattern_plan(_Plan): ...

# Sparse rows (pyfastopt.sparse): name + "_rows" for every rule with a plan except
# _adam_pattern. Updates the rows of the table param that indices names; values holds one
# gradient row per index; states holds one table per state buffer.
def sgd_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def sgd_momentum_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def adagrad_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def adadelta_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def rmsprop_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def rmsprop_centered_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def rmsprop_momentum_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def rmsprop_centered_momentum_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def adam_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def adam_amsgrad_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def adamax_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def nadam_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def radam_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def rprop_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def adabound_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def amsbound_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def lion_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def delay_tolerant_adagrad_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def elastic_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...
def ema_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, states: _Arrays, coeffs: _Coeffs
) -> None: ...

# Row-wise Adagrad: sum holds one accumulator per row of param.
def rowwise_adagrad_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, sum: _Array, coeffs: _Coeffs
) -> None: ...

# Gradient noise (rules/noise.hpp): adds sigma * N(0, 1) drawn by Philox4x32-10 from (seed,
# step, first_tensor + array index, element index). _philox4x32_10: one block (test hook).
def gradient_noise(
    arrays: _Arrays, seed: int, step: int, sigma: float, first_tensor: int = 0
) -> None: ...
def _philox4x32_10(counter: Sequence[int], key0: int, key1: int) -> list[int]: ...

# Benchmark kernels (pyfastopt bench): the STREAM triad a = b + scalar * c, and the Adam
# memory pattern (read 4 arrays, write 3; rules/roofline.hpp).
def _triad(a: _Array, b: _Array, c: _Array, scalar: float) -> None: ...
_adam_pattern: _Kernel

# Hogwild! (pyfastopt/hogwild.hpp); private: use pyfastopt.hogwild. indptr int64, indices
# int32/int64, data/y/coef float32/float64 (one dtype), rates float64; loss 0 logistic,
# 1 hinge, 2 squared; rate_unit 0 constant, 1 per epoch, 2 per step. coef is trained in place.
def hogwild_train(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.integer[Any]],
    data: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    coef: npt.NDArray[np.floating[Any]],
    intercept: float,
    rates: npt.NDArray[np.float64],
    loss: int,
    alpha: float,
    adagrad: bool,
    eps: float,
    fit_intercept: bool,
    intercept_lr_scale: float,
    shuffle: bool,
    seed: int,
    epochs: int,
    rate_unit: int,
    n_threads: int,
    objective_history: bool,
    fill_rates: Callable[[int], None] | None = None,
) -> tuple[float, npt.NDArray[np.float64]]: ...
def hogwild_decision_function(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.integer[Any]],
    data: npt.NDArray[np.floating[Any]],
    coef: npt.NDArray[np.floating[Any]],
    intercept: float,
    n_threads: int,
) -> npt.NDArray[np.float64]: ...
def hogwild_objective(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.integer[Any]],
    data: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    coef: npt.NDArray[np.floating[Any]],
    intercept: float,
    loss: int,
    alpha: float,
    n_threads: int,
) -> float: ...
def _hogwild_permutation(
    n: int, seed: int, epoch: int, piece: int = 0
) -> npt.NDArray[np.uint32]: ...

# Reduced precision (pyfastopt.precision): the 8-bit codec and which states of each
# 8-bit-capable rule use the signed map.
def quantize_8bit(
    x: npt.NDArray[np.float32], signed: bool
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]: ...
def dequantize_8bit(
    codes: npt.NDArray[np.uint8], absmax: npt.NDArray[np.float32], signed: bool
) -> npt.NDArray[np.float32]: ...
def dynamic_map(signed: bool) -> npt.NDArray[np.float32]: ...

signed_states: dict[str, tuple[bool, ...]]
