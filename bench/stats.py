"""Small statistics helpers for the bench (no numpy needed)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``theirs / ours`` (how many times better we are; > 1 is better), None if undefined."""
    if ours is None or theirs is None:
        return None
    if ours == 0:
        return None if theirs == 0 else math.inf
    return theirs / ours


def rounded(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded for the report (None stays None, inf becomes None)."""
    if value is None or math.isinf(value) or math.isnan(value):
        return None
    return round(value, digits)


def max_gap(times: Sequence[float]) -> float | None:
    """The longest interval between two consecutive ``times``; None for fewer than two."""
    if len(times) < 2:
        return None
    ordered = sorted(times)
    return max(b - a for a, b in itertools.pairwise(ordered))
