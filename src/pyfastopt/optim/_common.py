"""Helpers shared by the optimizer classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as check


def column(states: list[dict[str, Any]], key: str) -> list[np.ndarray]:
    """The `key` buffer of every state, in order (the list a functional call takes)."""
    return [s[key] for s in states]


def zeros(param: np.ndarray) -> np.ndarray:
    return np.zeros_like(param, order="C")


def betas(value: object) -> tuple[float, float]:
    beta1, beta2 = check.pair("betas", value)
    return check.unit("betas[0]", beta1), check.unit("betas[1]", beta2)
