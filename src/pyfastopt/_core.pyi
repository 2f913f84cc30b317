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

# The rule list (rules/all.hpp, which CMake writes from the rule headers): for every
# element-wise rule <name>, the kernel <name> (a _Kernel: params, grads, states, coeffs and
# the reduced-precision options of pyfastopt.precision, in place), for those that read a
# gradient the class <name>_plan (a _Plan) and the sparse-rows step <name>_rows (a _Rows;
# not _adam_pattern). state_names: every element-wise rule's state buffers, in its order.
def __getattr__(name: str) -> _Kernel | type[_Plan] | _Rows: ...

state_names: dict[str, tuple[str, ...]]

# Distributed SGD (pyfastopt.distributed): elastic reads the center in the grads' place.
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

# Plans (the class <name>_plan of every element-wise rule that reads a gradient): params and
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

class _adam_pattern_plan(_Plan): ...

# Sparse rows (pyfastopt.sparse): updates the rows of the table param that indices names;
# values holds one gradient row per index; states holds one table per state buffer.
class _Rows(Protocol):
    def __call__(
        self,
        param: _Array,
        indices: npt.ArrayLike,
        values: npt.ArrayLike,
        states: _Arrays,
        coeffs: _Coeffs,
    ) -> None: ...

# Row-wise Adagrad: sum holds one accumulator per row of param.
def rowwise_adagrad_rows(
    param: _Array, indices: npt.ArrayLike, values: npt.ArrayLike, sum: _Array, coeffs: _Coeffs
) -> None: ...

# Adafactor on one tensor (factored.hpp); coeffs: (grad_factor, one_minus_beta2, eps1, eps2,
# rho, decay, d); factors: [row_var, col_var] for 2-D and more, else [variance].
def adafactor(
    param: _Array, grad: _Array, factors: list[_Array], coeffs: tuple[float, ...]
) -> None: ...
# L-BFGS's two-loop recursion (cpu/lbfgs-inl.hpp): q <- -H grad over the history rows `rows`
# (oldest first) of dirs (y) and stps (s), ro = 1 / y's; al gets the first loop's coefficients.
def lbfgs_direction(
    grad: _Array,
    dirs: _Array,
    stps: _Array,
    ro: _Array,
    rows: _Array,
    h_diag: float,
    q: _Array,
    al: _Array,
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
