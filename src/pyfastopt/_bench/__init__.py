"""``pyfastopt bench``: optimizer steps against the memory-bandwidth roofline, NumPy and torch.

Modules:

* :mod:`.optimizers` — the optimizers timed, their hyperparameters and the bytes each step
  moves per element (:data:`~.optimizers.TRAFFIC`, the one table behind every GB/s);
* :mod:`.baselines` — the NumPy formulation of every step (whole-array and cache-blocked);
* :mod:`.workload` — the arrays of one benchmark and each implementation's call on them
  (pyfastopt's class and functional call, NumPy, torch.optim for-loop/foreach/fused), and the
  agreement check run before timing;
* :mod:`.storage` — ``--storage``: reduced-precision configurations (bf16/fp16 params,
  float32 masters, 16-bit and 8-bit states), their bytes per element, their calls and peers
  (torch fused, bitsandbytes 8-bit), and their agreement check;
* :mod:`.measure` — calibration, batches, round-robin rounds, medians;
* :mod:`.run` — which groups one run times, in what order;
* :mod:`.report` — derived rates and ratios, the tables, JSON and the plot;
* :mod:`.cli` — the click command (needs the ``bench`` extra: click, rich).

``bench/`` (pytest-benchmark) builds on :mod:`.workload` and :mod:`.baselines`.
"""

from __future__ import annotations

from .baselines import FORMULATIONS, NUMPY_BLOCK, numpy_stepper
from .optimizers import BY_NAME, OPTIMIZERS, TRAFFIC, Spec, bytes_per_element
from .workload import IMPLS, PEERS, Size, Workload, check_all, check_implementations, parse_size

__all__ = [
    "BY_NAME",
    "FORMULATIONS",
    "IMPLS",
    "NUMPY_BLOCK",
    "OPTIMIZERS",
    "PEERS",
    "TRAFFIC",
    "Size",
    "Spec",
    "Workload",
    "bytes_per_element",
    "check_all",
    "check_implementations",
    "numpy_stepper",
    "parse_size",
]
