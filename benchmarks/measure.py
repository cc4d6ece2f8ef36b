"""Small helpers the benchmark scripts share: percentiles and what machine ran them."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["cpu_model", "installed_env", "pct", "percentile", "timed"]

ROOT = Path(__file__).resolve().parent.parent


def installed_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for timing whole ``trellis`` processes as a user's installed copy runs: no ``TRELLIS_*``
    settings, and bytecode compiled and used (``pip install`` compiles it; ``PYTHONDONTWRITEBYTECODE``, set in
    some shells and CI, would otherwise compile every module from source on every run, ~0.1 s per process).
    Compiles the package once (``compileall``) before returning."""
    import compileall

    env = {
        k: v
        for k, v in (os.environ if environ is None else environ).items()
        if not k.startswith("TRELLIS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    compileall.compile_dir(str(ROOT / "trellis"), quiet=1)
    return env


def timed(fn: Callable[..., object], *args: object) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call of ``fn(*args)``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0


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


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as a benchmark records them beside its figures."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
