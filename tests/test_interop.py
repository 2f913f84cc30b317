"""Array-likes: every layer takes buffer-protocol and DLPack objects as zero-copy views, and
refuses (TypeError/ValueError, nothing written) what it could only update through a copy."""

from __future__ import annotations

import array

import numpy as np
import pytest
import torch

import pyfastopt
from pyfastopt import functional as F
from pyfastopt import optim
from pyfastopt.sparse import SparseRows


def adam_args(rng, n=33):
    p, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    return p, g, np.zeros_like(p), np.zeros_like(p)


def test_torch_tensors_are_updated_in_place_like_arrays(rng):
    arrays = adam_args(rng)
    tensors = [torch.from_numpy(a.copy()) for a in arrays]
    pointers = [t.data_ptr() for t in tensors]
    for step in (1, 2):
        F.adam_(*arrays, step=step, lr=0.1)
        F.adam_(*tensors, step=step, lr=0.1)
    for a, t, ptr in zip(arrays, tensors, pointers):
        np.testing.assert_array_equal(t.numpy(), a)
        assert t.data_ptr() == ptr


def test_buffer_protocol_objects_are_updated_in_place():
    param = array.array("d", [1.0, 2.0, 3.0])
    F.sgd_(param, array.array("d", [1.0, 1.0, 2.0]), step=1, lr=0.5)
    assert list(param) == [0.5, 1.5, 2.0]
    buffer = bytearray(np.ones(4, np.float32).tobytes())
    F.sgd_(np.frombuffer(buffer, np.float32), memoryview(np.ones(4, np.float32)), step=1, lr=1)
    assert np.frombuffer(buffer, np.float32).tolist() == [0.0] * 4


def test_optimizer_updates_the_tensors_it_was_given(rng):
    values = rng.standard_normal((2, 3)).astype(np.float32)
    tensor = torch.from_numpy(values.copy())
    twin = values.copy()
    opt, ref = optim.Adam([tensor], lr=0.1), optim.Adam([twin], lr=0.1)
    for _ in range(3):
        g = rng.standard_normal((2, 3)).astype(np.float32)
        opt.step([torch.from_numpy(g)])
        ref.step([g])
    np.testing.assert_array_equal(tensor.numpy(), twin)


def test_transforms_and_sparse_rows_take_tensors(rng):
    grads = [torch.full((4,), 3.0), torch.full((2, 2), 4.0)]
    norm = pyfastopt.clip_grad_norm_(grads, 1.0)
    assert norm == pytest.approx(10.0)
    assert float(torch.linalg.vector_norm(torch.cat([g.ravel() for g in grads]))) == \
        pytest.approx(1.0, rel=1e-6)  # fmt: skip
    table = torch.ones(5, 2, dtype=torch.float64)
    F.sgd_(table, SparseRows(torch.tensor([3, 3]), torch.ones(2, 2, dtype=torch.float64)),
           step=1, lr=0.25)  # fmt: skip
    expected = np.ones((5, 2))
    expected[3] = 0.5
    np.testing.assert_array_equal(table.numpy(), expected)


REFUSED = [
    (lambda p: p.tolist(), TypeError, r"param\[0\] must be a numpy.ndarray or expose"),
    (lambda p: torch.from_numpy(p).requires_grad_(), TypeError, "cannot be viewed"),
    (lambda p: torch.from_numpy(np.repeat(p, 2)).reshape(-1, 2).T[0], ValueError,
     "param must be C-contiguous"),
    (lambda p: memoryview(p.tobytes()).cast("f"), ValueError, "param is read-only"),
    (lambda p: torch.from_numpy(p).half(), TypeError, "param has dtype float16"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "error", "match"), REFUSED)
def test_what_needs_a_copy_is_refused_and_nothing_changes(make, error, match, rng):
    p, g, m, v = adam_args(rng, 8)
    before = m.copy(), v.copy()
    with pytest.raises(error, match=match):
        F.adam_(make(p), g, m, v, step=1, lr=0.1)
    np.testing.assert_array_equal(m, before[0])
    np.testing.assert_array_equal(v, before[1])


def test_optimizer_refuses_a_tensor_that_requires_grad():
    with pytest.raises(TypeError, match=r"params\[0\]: Tensor cannot be viewed"):
        optim.SGD([torch.ones(3, requires_grad=True)], lr=0.1)
