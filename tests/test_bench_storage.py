"""``pyfastopt bench --storage``: configuration names, the bytes each moves per element
(against hand counts), the agreement check before timing, the derived figures, and the
command line (tiny sizes, one sample: no timing is asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pyfastopt._bench import BY_NAME, OPTIMIZERS, TRAFFIC, Size
from pyfastopt._bench import storage as S
from pyfastopt._bench.report import derive_storage

ADAM, SGD = BY_NAME["adam"], BY_NAME["sgd"]


# --------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(("name", "fields", "label"), [
    ("fp32", ("fp32", "fp32", "fp32", False), "fp32"),
    ("fp32+bf16-states", ("fp32", "fp32", "bf16", False), "fp32+bf16-states"),
    ("fp32+8bit-states", ("fp32", "fp32", "8bit", False), "fp32+8bit-states"),
    ("bf16", ("bf16", "bf16", "bf16", False), "bf16"),
    ("bf16+master+bf16-states", ("bf16", "bf16", "bf16", True), "bf16+master"),
    ("BF16 + 8bit-states + master", ("bf16", "bf16", "8bit", True), "bf16+master+8bit-states"),
    ("fp16+master+fp32-states", ("fp16", "fp16", "fp32", True), "fp16+master+fp32-states"),
    ("fp32+bf16-grads", ("fp32", "bf16", "fp32", False), "fp32+bf16-grads"),
    ("fp64", ("fp64", "fp64", "fp64", False), "fp64"),
])  # fmt: skip
def test_parse_storage_fields_and_shortest_label(name, fields, label):
    s = S.parse_storage(name)
    assert (s.param, s.grad, s.state, s.master) == fields
    assert s.label == label
    assert S.parse_storage(s.label) == s  # the label names the same configuration


@pytest.mark.parametrize(("name", "words"), [
    ("fp8", "parameter dtype comes first"),
    ("8bit", "parameter dtype comes first"),
    ("", "parameter dtype comes first"),
    ("fp32+master", "master is for bf16 or fp16"),
    ("fp64+bf16-states", "fp64 parameters take states in fp64"),
    ("bf16+fp32-grads", "bf16 parameters take gradients in bf16"),
    ("fp32+8bit-grads", "fp32 parameters take gradients"),
    ("fp32+bf16-states+fp16-states", "each at most once"),
    ("bf16+master+master", "each at most once"),
    ("fp32+fast", "'fast' is not master"),
    ("fp32+-states", "take states"),
])  # fmt: skip
def test_parse_storage_rejects_bad_names(name, words):
    with pytest.raises(ValueError, match="invalid storage") as info:
        S.parse_storage(name)
    assert words in str(info.value)


def test_parse_storages_puts_fp32_first_expands_standard_and_drops_repeats():
    labels = [s.label for s in S.parse_storages("bf16, standard,bf16+master+bf16-states")]
    assert labels == ["fp32", "bf16", "fp32+bf16-states", "fp32+8bit-states", "bf16+master",
                      "fp16"]  # fmt: skip
    assert [s.label for s in S.parse_storages("fp16")] == ["fp32", "fp16"]
    with pytest.raises(ValueError, match="empty storage list"):
        S.parse_storages(" , ")


# --------------------------------------------------------------------------------------
# Bytes per element


@pytest.mark.parametrize(("name", "adam_bytes"), [
    ("fp32", 28),  # p 4+4, g 4, m 4+4, v 4+4
    ("fp64", 56),
    ("fp32+bf16-states", 20),  # p 8, g 4, m 2+2, v 2+2
    ("fp32+fp16-states", 20),
    ("fp32+8bit-states", 16 + 2 * 8 / 256),  # p 8, g 4, m 1+1, v 1+1, absmax 4+4 per 256 each
    ("bf16", 14),  # p 2+2, g 2, m 2+2, v 2+2
    ("fp16", 14),
    ("bf16+master", 20),  # master 4+4, g 2, m 2+2, v 2+2, p written 2
    ("bf16+master+fp32-states", 28),  # master 8, g 2, m 8, v 8, p 2
    ("bf16+master+8bit-states", 8 + 2 + 4 + 2 + 2 * 8 / 256),
    ("fp32+bf16-grads", 26),  # p 8, g 2, m 8, v 8
])  # fmt: skip
def test_adam_bytes_per_element_by_hand(name, adam_bytes):
    assert S.parse_storage(name).bytes_per_element(len(ADAM.states)) == adam_bytes


def test_one_state_bytes_by_hand():
    # SGD with momentum: p, g and the momentum buffer
    assert S.parse_storage("fp32").bytes_per_element(len(SGD.states)) == 20
    assert S.parse_storage("bf16").bytes_per_element(len(SGD.states)) == 10
    assert S.parse_storage("fp32+8bit-states").bytes_per_element(1) == 14 + 8 / 256


@pytest.mark.parametrize("spec", OPTIMIZERS, ids=[s.name for s in OPTIMIZERS])
def test_one_dtype_bytes_agree_with_the_traffic_table(spec):
    reads, writes = TRAFFIC[spec.name]
    for name, itemsize in (("fp32", 4), ("fp64", 8), ("bf16", 2)):
        assert S.parse_storage(name).bytes_per_element(len(spec.states)) == (
            reads + writes) * itemsize  # fmt: skip


#: Optimizers whose state is no moment: Rprop's sign and step size (no 8-bit states), and
#: schedule-free's z, a sequence of parameters (states in the parameter's dtype only)
NO_MOMENTS = {"rprop", "sgdschedulefree", "adamwschedulefree"}


def test_states_that_are_no_moments_take_no_8bit_storage_and_the_rest_do():
    assert "no 8-bit states" in S.parse_storage("fp32+8bit-states").unsupported(BY_NAME["rprop"])
    sf = BY_NAME["sgdschedulefree"]
    assert "precision of the updates" in S.parse_storage("fp32+bf16-states").unsupported(sf)
    assert "precision of the updates" in S.parse_storage("bf16+master").unsupported(sf)
    assert S.parse_storage("bf16").unsupported(sf) is None
    assert S.parse_storage("bf16+master+fp32-states").unsupported(sf) is None
    for spec in OPTIMIZERS:
        assert S.parse_storage("bf16+master+fp32-states").unsupported(spec) is None
        unsupported = S.parse_storage("fp32+8bit-states").unsupported(spec)
        assert (unsupported is not None) == (spec.name in NO_MOMENTS), spec.name


@pytest.mark.parametrize(("name", "storage", "peers"), [
    ("adam", "fp32", ["torch-fused"]),
    ("adam", "bf16", ["torch-fused"]),
    ("adamw", "fp16", ["torch-fused"]),
    ("adam", "fp64", []),
    ("adam", "bf16+master", []),
    ("adam", "fp32+bf16-states", []),
    ("nadam", "bf16", []),  # torch has no fused NAdam
    ("adam", "fp32+8bit-states", ["bnb-8bit"]),
    ("adam", "bf16+8bit-states", ["bnb-8bit"]),
    ("adam", "bf16+master+8bit-states", []),
    ("lion", "fp32+8bit-states", ["bnb-8bit"]),
    ("nesterov", "fp32+8bit-states", []),  # bitsandbytes has no Nesterov
])  # fmt: skip
def test_peers_are_beside_the_configuration_that_stores_what_they_store(name, storage, peers):
    assert S.peer_names(BY_NAME[name], S.parse_storage(storage)) == peers


# --------------------------------------------------------------------------------------
# Arrays and the check before timing


def test_arrays_have_the_configured_dtypes():
    p, g = [np.linspace(0.5, 1.5, 300)], [np.linspace(-1, 1, 300)]
    rule = S.kernel_rule(ADAM)
    a = S.Arrays(ADAM, S.parse_storage("bf16+master+8bit-states"), p, g, rule)
    assert a.params[0].dtype == S.dtype_of("bf16")
    assert a.grads[0].dtype == S.dtype_of("bf16")
    assert a.masters is not None
    assert a.masters[0].dtype == np.float32
    np.testing.assert_array_equal(a.masters[0], p[0].astype(np.float32))
    for (codes, absmax) in (state[0] for state in a.states):
        assert codes.dtype == np.uint8
        assert codes.shape == (300,)
        assert absmax.dtype == np.float32
        assert absmax.shape == (2,)
    r = S.Arrays(BY_NAME["rprop"], S.parse_storage("fp16"), p, g, S.kernel_rule(BY_NAME["rprop"]))
    assert [x[0].dtype for x in r.states] == [np.float16, np.float16]
    np.testing.assert_array_equal(r.states[1][0], np.float16(BY_NAME["rprop"].kwargs["lr"]))


ALL = S.parse_storages("standard,fp64,fp32+fp16-states,bf16+8bit-states,"
                       "fp16+master+fp32-states,fp32+bf16-grads")  # fmt: skip


@pytest.mark.parametrize("spec", OPTIMIZERS, ids=[s.name for s in OPTIMIZERS])
def test_every_storage_agrees_with_fp32(spec):
    ours, peers = S.check_storage(spec, ALL)
    assert ours == []
    assert peers == {}


def test_the_check_reports_a_step_that_does_nothing(monkeypatch):
    real = S.rule_stepper

    def lazy(rule, spec, a, *, step):
        if a.params[0].dtype == np.float32:  # the fp32 reference still steps
            return real(rule, spec, a, step=step)
        return lambda: None

    monkeypatch.setattr(S, "rule_stepper", lazy)
    ours, _ = S.check_storage(ADAM, S.parse_storages("bf16,bf16+master,fp16+8bit-states"))
    assert [m.split(":")[0] for m in ours] == ["adam bf16", "adam bf16+master",
                                               "adam fp16+8bit-states"]  # fmt: skip


def test_the_8bit_tolerance_still_catches_states_that_start_wrong(monkeypatch):
    """8-bit slack is wide (Lion flips signs), yet narrow enough to catch Adam run from
    moments of 1 instead of 0 (on bf16 states, well within the 8-bit tolerance otherwise)."""
    real = S.Arrays

    def wrong(spec, storage, params, grads, rule):
        if storage.state == "8bit":  # the step runs on bf16 states, then the 8-bit tolerance
            storage = S.Storage(storage.param, storage.grad, "bf16", storage.master)
            a = real(spec, storage, params, grads, rule)
            for col in a.states:
                col[:] = [x * 0 + 1 for x in col]  # and from a wrong start
            return a
        return real(spec, storage, params, grads, rule)

    monkeypatch.setattr(S, "Arrays", wrong)
    ours, _ = S.check_storage(ADAM, S.parse_storages("fp32+8bit-states"))
    assert len(ours) == 1
    assert ours[0].startswith("adam fp32+8bit-states:")


def test_torch_fused_peers_agree_where_torch_is_right():
    torch = pytest.importorskip("torch")
    ours, peers = S.check_storage(ADAM, S.parse_storages("bf16,fp16"), torch)
    assert ours == []
    assert peers == {}


def test_bitsandbytes_peers_agree():
    torch = pytest.importorskip("torch")
    bnb = pytest.importorskip("bitsandbytes", reason="the bitsandbytes peer")
    for name in S.BNB_8BIT:
        ours, peers = S.check_storage(BY_NAME[name], S.parse_storages("fp32+8bit-states"), torch,
                                      bnb)  # fmt: skip
        assert ours == [], name
        assert peers == {}, name


def test_workload_calls_every_supported_storage_and_moves_the_parameters():
    storages = S.parse_storages("bf16+master,fp32+8bit-states")
    w = S.StorageWorkload(BY_NAME["rprop"], Size(2, 300), storages)
    assert list(w.calls) == ["fp32", "bf16+master"]  # no 8-bit Rprop
    assert "no 8-bit states" in w.skipped["fp32+8bit-states"]
    w = S.StorageWorkload(ADAM, Size(2, 300), storages, exclude={"bnb-8bit fp32+8bit-states"})
    assert set(w.meta) == {"fp32", "bf16+master", "fp32+8bit-states"}
    assert w.meta["bf16+master"] == ("bf16+master", None)
    for call in w.calls.values():
        call()


# --------------------------------------------------------------------------------------
# Derived figures


def test_derive_storage_by_hand():
    size = Size(1, 1 << 20)

    def rec(impl, seconds, storage, peer, nbytes, group="storage"):
        return {"group": group, "size": size, "threads": 1, "optimizer": "adam" if group ==
                "storage" else None, "impl": impl, "median_s": seconds, "storage": storage,
                "peer": peer, "bytes_per_element": nbytes}  # fmt: skip

    records = [
        rec("triad", 1e-3, None, None, None, group="roofline"),
        rec("adam-pattern", 2e-3, None, None, 28),
        rec("fp32", 4e-3, "fp32", None, 28),
        rec("bf16", 1e-3, "bf16", None, 14),
        rec("torch-fused bf16", 5e-3, "bf16", "torch-fused", 14),
    ]
    rows = derive_storage(records)
    assert [r["storage"] for r in rows] == ["fp32", "bf16"]
    fp32, bf16 = rows
    n = 1 << 20
    assert fp32["x_fp32"] == 1.0
    assert bf16["x_fp32"] == 4.0
    assert bf16["gb_per_s"] == pytest.approx(14 * n / 1e-3 / 1e9)
    assert bf16["pct_ceiling"] == pytest.approx(100 * (14 / 1e-3) / (28 / 2e-3))
    assert bf16["pct_triad"] == pytest.approx(100 * (14 / 1e-3) / (12 / 1e-3))
    assert fp32["pct_ceiling"] == pytest.approx(50.0)
    assert bf16["speedup"] == {"torch-fused": pytest.approx(5.0)}
    assert fp32["speedup"] == {}


# --------------------------------------------------------------------------------------
# Command line


@pytest.fixture
def cli():
    pytest.importorskip("click", reason="the bench extra")
    pytest.importorskip("rich", reason="the bench extra")
    from click.testing import CliRunner

    from pyfastopt._bench.cli import cli

    return lambda *args: CliRunner().invoke(cli, ["bench", *args])


def test_cli_storage_run_writes_rows_with_the_counted_bytes(cli, tmp_path):
    path = tmp_path / "run.json"
    result = cli("--storage", "fp32+8bit-states,bf16+master", "--sizes", "2^10",
                 "--threads", "1", "--optimizers", "adam,rprop", "--repeat", "1",
                 "--no-torch", "--json", str(path))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "storage configurations" in result.output
    assert "skipped: rprop fp32+8bit-states" in result.output
    doc = json.loads(path.read_text())
    assert doc["config"]["storages"] == ["fp32", "fp32+8bit-states", "bf16+master"]
    got = {(r["optimizer"], r["storage"]): r for r in doc["storage_results"]}
    assert set(got) == {("adam", "fp32"), ("adam", "fp32+8bit-states"), ("adam", "bf16+master"),
                        ("rprop", "fp32"), ("rprop", "bf16+master")}  # fmt: skip
    assert got["adam", "fp32+8bit-states"]["bytes_per_element"] == 16.0625
    assert got["rprop", "bf16+master"]["bytes_per_element"] == 20
    assert got["adam", "fp32"]["x_fp32"] == 1.0
    assert doc["results"] == []  # the implementations are not timed


@pytest.mark.parametrize(("args", "words"), [
    (["--storage", "fp8"], "parameter dtype comes first"),
    (["--storage", ","], "empty storage list"),
    (["--storage", "fp32+master"], "master is for bf16 or fp16"),
    (["--storage", "bf16", "--dtype", "float64"], "name it in each configuration"),
    (["--storage", "bf16", "--plot", "x.png"], "not a --storage run"),
])  # fmt: skip
def test_cli_rejects_bad_storage_options(cli, args, words):
    result = cli(*args, "--sizes", "2^10", "--threads", "1", "--repeat", "1", "--no-torch")
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
