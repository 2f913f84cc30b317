"""Build facts and CPU-target selection."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyfastopt


def test_build_info_keys():
    info = pyfastopt.build_info()
    assert {"isa", "isas", "openmp", "num_threads", "compiler"} <= set(info)
    assert info["isa"] in info["isas"]
    assert "baseline" in info["isas"]


def test_best_supported_target_is_selected_by_default():
    info = _info_in_subprocess({})
    assert info["isa"] == info["supported_isas"][-1]


def test_pyfastopt_isa_caps_the_target():
    info = _info_in_subprocess({"PYFASTOPT_ISA": "baseline"})
    assert info["isa"] == "baseline"


def test_omp_num_threads_sets_the_default_thread_count():
    info = _info_in_subprocess({"OMP_NUM_THREADS": "1"})
    assert info["num_threads"] == 1


def _info_in_subprocess(extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("PYFASTOPT_ISA", "OMP_NUM_THREADS")}
    code = "import json, pyfastopt; print(json.dumps(pyfastopt.build_info()))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, **extra_env}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return json.loads(out.stdout)
