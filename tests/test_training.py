"""Mini-batching, shuffling, curriculum order and early stopping."""

from __future__ import annotations

import numpy as np
import pytest

from pyfastopt.training import EarlyStopping, minibatches


@pytest.mark.parametrize(("batch_size", "sizes"), [(None, [10]), (1, [1] * 10), (4, [4, 4, 2])])
def test_the_three_variants_cover_every_example_once(batch_size, sizes):
    batches = list(minibatches(10, batch_size, epoch=3, seed=1))
    assert [len(b) for b in batches] == sizes
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_reshuffled_every_epoch_and_reproducible():
    def order(epoch, seed):
        return np.concatenate(list(minibatches(100, 8, epoch=epoch, seed=seed)))

    assert np.array_equal(order(0, 5), order(0, 5))
    assert not np.array_equal(order(0, 5), order(1, 5))
    assert not np.array_equal(order(0, 5), order(0, 6))
    assert np.array_equal(np.concatenate(list(minibatches(7, 3, shuffle=False))), np.arange(7))


def test_curriculum_goes_from_easy_to_hard_and_drop_last():
    difficulty = np.array([0.5, 0.1, 0.9, 0.1, 0.3])
    batches = list(minibatches(5, 2, curriculum=difficulty, drop_last=True))
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0]]


def test_minibatches_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Invalid batch_size"):
        list(minibatches(5, 0))
    with pytest.raises(ValueError, match="curriculum"):
        list(minibatches(5, 2, curriculum=[1.0, 2.0]))


def test_early_stopping_waits_patience_evaluations_and_restores_the_best():
    p = np.zeros(3)
    stopper = EarlyStopping(patience=2, min_delta=0.01)
    losses = [1.0, 0.5, 0.45, 0.6, 0.4, 0.45, 0.41, 0.39]
    stopped_at = None
    for i, loss in enumerate(losses):
        p[:] = i  # the parameters after evaluation i
        if stopper.update(loss, [p]):
            stopped_at = i
            break
    # 0.4 at i=4 is the last improvement by more than 0.01; 0.45 and 0.41 do not improve
    assert stopped_at == 6
    assert stopper.best == 0.4
    assert stopper.best_step == 4
    stopper.restore([p])
    np.testing.assert_array_equal(p, 4.0)


def test_early_stopping_max_mode():
    stopper = EarlyStopping(patience=1, mode="max", restore_best=False)
    assert not stopper.update(0.8)
    assert not stopper.update(0.9)
    assert stopper.update(0.85)
    with pytest.raises(ValueError, match="Invalid mode"):
        EarlyStopping(mode="up")
