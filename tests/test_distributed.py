"""pyfastopt.distributed: every mode trains the example problem (distributed_problem) to the
single-process loss on both backends (threads; Ray, in a namespace with loopback only, which
is checked); shards apply each push once, reject bad pushes without a change, and resume from
their checkpoints; killed Ray actors are restarted and the run completes."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from distributed_problem import loss_grad, make_data, optimum

from pyfastopt import distributed as D
from pyfastopt import optim

DATA = make_data()
BEST = optimum(DATA)
STEPS, BATCH = 1000, 96

#: every mode, tuned for the problem (2 workers; Sync's rate doubled for its doubled batch)
MODES = {
    "sync": D.Sync(optimizer=partial(optim.SGD, lr=0.2)),
    "downpour": D.Downpour(),
    "downpour-fetch2-push3-local": D.Downpour(n_fetch=2, n_push=3, lr=0.05),
    "easgd": D.EASGD(lr=0.2, rho=2.0, tau=1),
    "easgd-sync-tau2": D.EASGD(lr=0.2, rho=2.0, tau=2, synchronous=True),
    "eamsgd": D.EAMSGD(lr=0.05, rho=4.0, tau=2, momentum=0.9),
    "delay-tolerant-adagrad": D.DelayTolerantAdagrad(lr=0.3),
}


def full_loss(w: np.ndarray) -> float:
    return loss_grad(w.astype(np.float64), DATA)[0]


def single_process_loss() -> float:
    """Plain SGD (rate 0.1) in one process on as many examples as the 2-worker runs see."""
    w = np.zeros(DATA[0].shape[1] + 1)
    opt = optim.SGD([w], lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(2 * STEPS):
        rows = rng.integers(0, len(DATA[1]), BATCH)
        opt.step([loss_grad(w, (DATA[0][rows], DATA[1][rows]))[1]])
    return full_loss(w)


SINGLE = single_process_loss()


def test_the_single_process_reference_is_near_the_optimum():
    assert BEST < SINGLE < 1.06 * BEST


@pytest.fixture(params=["threads", "ray"])
def backend(request):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
def test_every_mode_reaches_the_single_process_loss(mode, backend):
    """Within 10% of the single-process SGD loss (the optimum is 5% below it; the EASGD
    center, an average that lags its workers, ends about 5% above it)."""
    w0 = np.zeros(DATA[0].shape[1] + 1)
    result = D.train(w0, loss_grad, DATA, mode, steps=STEPS, workers=2, shards=2,
                     batch_size=BATCH, backend=backend)  # fmt: skip
    assert full_loss(result.params) < 1.10 * SINGLE
    assert (w0 == 0).all()  # the caller's params are not touched
    assert [len(h) for h in result.history] == [STEPS, STEPS]
    assert [h[-1][1] for h in result.history] == [STEPS * BATCH] * 2  # examples seen
    assert all(s["duplicates"] == 0 for s in result.shards)


def test_float32_params_train_in_float32():
    w0 = np.zeros(DATA[0].shape[1] + 1, np.float32)
    result = D.train(w0, loss_grad, DATA, D.Downpour(), steps=STEPS, batch_size=BATCH)
    assert result.params.dtype == np.float32
    assert full_loss(result.params) < 1.10 * SINGLE


@pytest.mark.parametrize("mode", [MODES["sync"], D.EASGD(lr=0.1, rho=2.0, tau=2, synchronous=True)],
                         ids=["sync", "easgd"])  # fmt: skip
def test_synchronous_modes_are_deterministic(mode):
    w0 = np.zeros(DATA[0].shape[1] + 1)
    a, b = (D.train(w0, loss_grad, DATA, mode, steps=200, workers=3, shards=3).params
            for _ in range(2))  # fmt: skip
    np.testing.assert_array_equal(a, b)


def test_delay_tolerant_adagrad_with_one_worker_is_adagrad():
    """One worker reads before every push: no delay, so the shards run Adagrad exactly."""
    w0 = np.zeros(DATA[0].shape[1] + 1)
    tolerant = D.train(w0, loss_grad, DATA, D.DelayTolerantAdagrad(lr=0.3), steps=300,
                       workers=1, shards=3)  # fmt: skip
    plain = D.train(w0, loss_grad, DATA, D.Downpour(optimizer=partial(optim.Adagrad, lr=0.3)),
                    steps=300, workers=1, shards=3)  # fmt: skip
    np.testing.assert_array_equal(tolerant.params, plain.params)


def test_a_repeated_push_is_applied_once():
    shard = D.Shard(0, np.zeros(4), D.Downpour(optimizer=partial(optim.SGD, lr=1.0)))
    g = np.ones(4)
    assert shard.push(1, 0, g)
    assert not shard.push(1, 0, g)  # a retry of the same push
    assert shard.push(1, 1, g)
    assert not shard.push(1, 1, g)
    assert shard.push(2, 0, g)  # another worker's numbering
    np.testing.assert_array_equal(shard.value(), -3.0 * np.ones(4))
    assert shard.stats() == {"shard": 0, "pushes": 3, "duplicates": 2, "by_worker": {1: 2, 2: 1}}


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
def test_a_bad_push_raises_and_changes_nothing(mode, tmp_path):
    shard = D.Shard(1, np.linspace(0, 1, 6), mode, checkpoint=str(tmp_path / "s.pkl"))
    shard.pull(0)
    shard.push(0, 0, np.full(6, 0.5))
    before = shard.state_dict()
    cases = [
        (np.ones(6, np.float32), TypeError, r"push from worker \d to shard 1 has dtype float32"),
        (np.ones(5), ValueError, r"has shape \(5,\), expected \(6,\)"),
        ([1.0] * 6, TypeError, "expected a NumPy array, got list"),
    ]
    for value, error, match in cases:
        with pytest.raises(error, match=match):
            shard.push(0, 1, value)
        with pytest.raises(error, match=match):
            shard.push_round(1, [np.ones(6), value], mean=True)
    after = shard.state_dict()
    np.testing.assert_equal(after, before)
    if isinstance(mode, D.DelayTolerantAdagrad):
        with pytest.raises(ValueError, match="worker 5 pushed a gradient before reading"):
            shard.push(5, 0, np.ones(6))
        np.testing.assert_equal(shard.state_dict(), before)


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
def test_a_restarted_shard_resumes_from_its_checkpoint(mode, tmp_path):
    path = str(tmp_path / "shard.pkl")
    rng = np.random.default_rng(1)
    shard = D.Shard(0, rng.standard_normal(8), mode, checkpoint=path)
    for seq in range(3):
        shard.pull(0)
        shard.push(0, seq, rng.standard_normal(8))
    shard.save()
    again = D.Shard(0, np.zeros(8), mode, checkpoint=path)  # the constructor, re-run
    np.testing.assert_equal(again.state_dict(), shard.state_dict())
    assert not again.push(0, 2, np.ones(8))  # applied before the restart
    g = rng.standard_normal(8)
    shard.pull(0)
    again.pull(0)
    shard.push(0, 3, g)
    again.push(0, 3, g)
    np.testing.assert_array_equal(again.value(), shard.value())


@pytest.mark.parametrize("mode", [MODES["sync"], MODES["downpour"]], ids=["sync", "downpour"])
def test_an_interrupted_run_resumes_from_the_checkpoints(mode, tmp_path):
    """A run of STEPS steps, then the same run again on its checkpoints: nothing is left to
    do (every push was applied); with twice the steps, it goes on where the first stopped."""
    w0 = np.zeros(DATA[0].shape[1] + 1)
    run = partial(D.train, w0, loss_grad, DATA, mode, batch_size=BATCH,
                  checkpoint_dir=str(tmp_path))  # fmt: skip
    first = run(steps=200)
    again = run(steps=200)
    np.testing.assert_array_equal(again.params, first.params)
    assert again.history == [[], []]
    longer = run(steps=400)
    assert [len(h) for h in longer.history] == [200, 200]
    assert sum(s["pushes"] for s in longer.shards) == 2 * sum(s["pushes"] for s in first.shards)
    assert full_loss(longer.params) < full_loss(first.params)


def test_a_list_of_arrays_trains_as_its_flat_concatenation():
    """Weights (20,) and bias () as two arrays: the same run as the flat 21-vector."""
    def split_grad(ws, batch):
        loss, g = loss_grad(np.concatenate([ws[0], ws[1].ravel()]), batch)
        return loss, [g[:-1], g[-1:].reshape(())]

    flat = D.train(np.zeros(21), loss_grad, DATA, MODES["sync"], steps=100)
    listed = D.train([np.zeros(20), np.zeros(())], split_grad, DATA, MODES["sync"], steps=100)
    assert [p.shape for p in listed.params] == [(20,), ()]
    np.testing.assert_array_equal(np.concatenate([listed.params[0], listed.params[1].ravel()]),
                                  flat.params)  # fmt: skip


def test_the_trace_reads_the_server_as_the_run_goes():
    w0 = np.zeros(DATA[0].shape[1] + 1)
    result = D.train(w0, loss_grad, DATA, MODES["downpour"], steps=300, trace_every=0.002)
    times = [t for t, _ in result.trace]
    assert len(times) >= 3
    assert times == sorted(times)
    assert times[-1] == result.seconds
    np.testing.assert_array_equal(result.trace[0][1], w0)
    np.testing.assert_array_equal(result.trace[-1][1], result.params)
    losses = [full_loss(p) for _, p in result.trace]
    assert losses[-1] < losses[0]


def test_train_rejects_bad_arguments():
    w0 = np.zeros(DATA[0].shape[1] + 1)
    with pytest.raises(TypeError, match="params must be a float32 or float64"):
        D.train(w0.astype(np.int64), loss_grad, DATA, D.Sync(), steps=1)
    with pytest.raises(ValueError, match="workers \\* alpha must be < 1"):
        D.train(w0, loss_grad, DATA, D.EASGD(lr=0.5, rho=1.0), steps=1, workers=2)
    with pytest.raises(ValueError, match="shards"):
        D.train(w0, loss_grad, DATA, D.Sync(), steps=1, shards=len(w0) + 1)
    with pytest.raises(ValueError, match="tau"):
        D.EASGD(tau=0)
    with pytest.raises(ValueError, match="synchronous"):
        D.EAMSGD(synchronous=True)
    with pytest.raises(TypeError, match="grad_fn returned a gradient of dtype float32"):
        D.train(w0, lambda w, b: (0.0, np.zeros(len(w), np.float32)), DATA, D.Sync(), steps=1)


def test_a_killed_shard_and_a_killed_worker_are_restarted_and_the_run_completes(ray_cluster):
    """Mid-run, Ray kills shard 0 and then worker 1 (restartable: Ray starts them again and
    retries their calls). The shard resumes from its checkpoint (written after every push),
    the worker after its last applied push: every shard has applied exactly STEPS pushes of
    each worker (none lost, none twice), and the loss is as without faults."""
    ray = ray_cluster
    w0 = np.zeros(DATA[0].shape[1] + 1)
    out: dict = {}
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:  # fast checkpoints
        def run() -> None:
            out["result"] = D.train(w0, loss_grad, DATA, D.Downpour(), steps=STEPS,
                                    batch_size=BATCH, backend="ray", checkpoint_dir=folder,
                                    checkpoint_every=1)  # fmt: skip

        driver = threading.Thread(target=run)
        driver.start()
        deadline = time.time() + 120
        while not (Path(folder) / "shard-0.pkl").exists() and time.time() < deadline:
            time.sleep(0.05)  # the first push applied
        names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
        shard = next(n for n in names if n.endswith("-shard-0"))
        worker = next(n for n in names if n.endswith("-worker-1"))
        for name in (shard, worker):
            time.sleep(0.5)
            assert driver.is_alive()  # mid-run
            ray.kill(ray.get_actor(name), no_restart=False)
        driver.join(timeout=300)
    result = out["result"]
    assert full_loss(result.params) < 1.10 * SINGLE
    for stats in result.shards:
        assert stats["by_worker"] == {0: STEPS, 1: STEPS}


def test_ray_traffic_stays_on_loopback(ray_cluster):
    """After the Ray runs of this session: this namespace has one interface, loopback, and
    every socket in it (Ray's servers and their connections) is bound and connected to
    loopback addresses (or the wildcard, which here is loopback)."""
    import socket

    w0 = np.zeros(DATA[0].shape[1] + 1)
    D.train(w0, loss_grad, DATA, D.Downpour(), steps=20, backend="ray")
    assert [name for _, name in socket.if_nameindex()] == ["lo"]
    endpoints = D.network_endpoints()
    assert any(state == "LISTEN" for _, state, _, _ in endpoints)  # Ray's servers are seen
    elsewhere = [e for e in endpoints if not (D.is_local(e[2]) and D.is_local(e[3]))]
    assert elsewhere == []


def test_another_process_joins_the_running_cluster_by_address(ray_cluster, tmp_path):
    """backend="ray" with address=: a new process (in this namespace) runs a Downpour job on
    the session's cluster, which it neither starts nor stops."""
    import subprocess
    import sys

    address = ray_cluster.get_runtime_context().gcs_address
    script = tmp_path / "job.py"
    script.write_text(
        "import sys\n"
        "import distributed_problem\n"
        "from distributed_problem import loss_grad, make_data\n"
        "import numpy as np\n"
        "from ray import cloudpickle\n"
        "from pyfastopt import distributed as D\n"
        "cloudpickle.register_pickle_by_value(distributed_problem)  # (a job of its own)\n"
        "data = make_data()\n"
        "r = D.train(np.zeros(21), loss_grad, data, D.Downpour(), steps=200, backend='ray',\n"
        "            address=sys.argv[1])\n"
        "print(loss_grad(r.params, data)[0], sum(s['pushes'] for s in r.shards))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    out = subprocess.run([sys.executable, str(script), address], capture_output=True, text=True,
                         env=env, timeout=300, check=True)  # fmt: skip
    loss, pushes = out.stdout.split()
    assert float(loss) < 0.2
    assert int(pushes) == 2 * 2 * 200  # 2 shards x 2 workers x 200 steps
    assert ray_cluster.is_initialized()  # the session's cluster is still up

