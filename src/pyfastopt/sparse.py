"""Row-sparse gradients: update only the rows of a table (an embedding, the weights of a
sparse linear model) that a step touched.

A :class:`SparseRows` gradient ``(indices, values)`` says that row ``indices[i]`` of the
table has gradient ``values[i]``. Pass it wherever a dense gradient goes: to the
:mod:`pyfastopt.functional` steps (one table per call) and to :meth:`Optimizer.step
<pyfastopt.optim.Optimizer.step>`. Decisions, as in torch's sparse gradients:

* Duplicate indices are summed (in order of occurrence) before the update, so a row named
  twice takes one step with the sum of its gradients.
* Updates are *lazy*: rows no index names are neither read nor written, their state
  included. For rules where a zero gradient changes nothing (SGD without momentum, Adagrad)
  this is the dense step exactly; for momentum, RMSprop and Adam it is the lazy variant of
  torch.optim.SparseAdam (a row's moments decay only when the row is touched; the step count
  and bias corrections are the table's).
* Indices are int32 or int64 (signed or not) in native byte order, C-contiguous and
  aligned, like every array argument: they are read in place, never converted. A negative
  or out-of-range index raises ``ValueError`` before anything is written.

:func:`rowwise_adagrad_` is the row-wise Adagrad of large recommender systems: one
accumulator per row instead of per element.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core
from . import _validate as check
from ._buffers import as_array, check_disjoint, check_layout

__all__ = ["SparseRows", "check_rows", "rowwise_adagrad_"]


class SparseRows(NamedTuple):
    """A row-sparse gradient of a table ``param``: ``values[i]`` is the gradient of row
    ``indices[i]``; ``values.shape == (len(indices),) + param.shape[1:]``."""

    indices: np.ndarray
    values: np.ndarray


def check_rows(param: np.ndarray, grad: SparseRows, name: str = "grad") -> None:
    """The checks the native kernels make, in Python: for callers that must check every
    argument of several calls before the first one writes (any check missing here lets an
    optimizer step update some tables before the native call of another raises)."""
    indices = as_array(grad.indices, f"{name}.indices")
    values = as_array(grad.values, f"{name}.values")
    kind, size = indices.dtype.kind, indices.dtype.itemsize
    if kind not in "iu" or size not in (4, 8) or not indices.dtype.isnative:
        msg = (f"{name}.indices has dtype {indices.dtype}, expected int32 or int64 (native "
               "byte order)")  # fmt: skip
        raise TypeError(msg)
    if indices.ndim != 1:
        msg = f"{name}.indices must be one-dimensional"
        raise ValueError(msg)
    check_layout(indices, f"{name}.indices")
    check_layout(values, f"{name}.values")
    if values.dtype != param.dtype:
        msg = f"{name}.values has dtype {values.dtype}, expected {param.dtype} (the dtype of param)"
        raise TypeError(msg)
    if param.ndim < 1 or values.shape != (len(indices), *param.shape[1:]):
        msg = f"{name}.values must have shape (len(indices),) + param.shape[1:]"
        raise ValueError(msg)
    if len(indices) and (indices.min() < 0 or indices.max() >= param.shape[0]):
        msg = f"{name}.indices has an index out of range for {param.shape[0]} rows"
        raise ValueError(msg)
    # the table is written: its gradient may not live in it (states: the caller's check)
    check_disjoint([("param", param)], [(f"{name}.indices", indices), (f"{name}.values", values)])


def rowwise_adagrad_(
    param: np.ndarray,
    grad: SparseRows | np.ndarray,
    sum: np.ndarray,
    *,
    lr: float = 1e-2,
    eps: float = 1e-10,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""Row-wise Adagrad on a table ``param`` (rows x ...), in place.

    .. math::
        s_r \leftarrow s_r + \operatorname{mean}_k g_{rk}^2, \qquad
        p_{rk} \leftarrow p_{rk} - \eta \frac{g_{rk}}{\sqrt{s_r} + \epsilon}

    ``sum`` has one entry per row (shape ``(param.shape[0],)``): a table of d-dimensional
    embeddings keeps 1/d of Adagrad's state. ``grad`` is a :class:`SparseRows` (only those
    rows change) or a dense gradient of every row.
    """
    lr = check.nonneg("lr", lr)
    eps = check.nonneg("eps", eps)
    weight_decay = check.nonneg("weight_decay", weight_decay)
    if not isinstance(grad, SparseRows):
        param = as_array(param, "param")
        rows = param.shape[0] if param.ndim else 0
        grad = SparseRows(np.arange(rows, dtype=np.int64), grad)
    coeffs = (-1.0 if maximize else 1.0, weight_decay, eps, -lr)
    _core.rowwise_adagrad_rows(param, grad.indices, grad.values, sum, coeffs)
