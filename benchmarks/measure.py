"""Small helpers the benchmark scripts share: percentiles and what machine ran them."""

from __future__ import annotations

import math
import platform
from pathlib import Path

__all__ = ["cpu_model", "pct", "percentile"]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by the nearest-rank definition (the smallest value with at least p% of
    the values at or below it); NaN for no values. The latency reports of bench_push and bench_load use it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
