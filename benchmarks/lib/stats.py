"""Percentiles and a one-line summary of a list of durations."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0..100) by the nearest-rank method; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    """The median (the mean of the middle two for an even count); nan for no values."""
    return statistics.median(values) if values else math.nan


def ms(seconds: float) -> str:
    """'12.34 ms'."""
    return f"{seconds * 1000:.2f} ms"


def summary(values: Sequence[float]) -> str:
    """'p50 1.20 ms, p99 3.40 ms, max 5.00 ms (n=500)'."""
    return (f"p50 {ms(percentile(values, 50))}, p99 {ms(percentile(values, 99))}, "
            f"max {ms(max(values) if values else math.nan)} (n={len(values)})")
