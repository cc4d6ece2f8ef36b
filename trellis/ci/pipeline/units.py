"""Durations ("30s", "1m30s", "500ms") and sizes ("1GiB", "512MB"), parsed and formatted.

``parse_*`` raise :class:`ValueError` with a short reason; ``format_*`` give
back a string that parses to exactly the same value (or a plain number when
no unit says it exactly).
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: numbers with units ms, s, m, h, d, concatenated ("1h30m")."""
    value = text.strip()
    if not _DURATION.fullmatch(value):
        raise ValueError("not a duration")
    seconds = 0.0
    for number, unit in _DURATION_PART.findall(value):
        if unit == "ms":  # divide, so that "1ms" is exactly 1/1000
            seconds += float(number) / 1000
        else:
            seconds += float(number) * _DURATION_UNITS[unit]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError("not a size")
    number, unit = match.groups()
    size = int(float(number) * _SIZE_UNITS[unit.lower()]) if "." in number else int(number) * _SIZE_UNITS[unit.lower()]
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


def format_duration(seconds: float) -> str | float:
    """A duration string for ``seconds`` ("30s", "2m", "1500ms"), or the number itself."""
    if seconds > 0 and float(seconds).is_integer():
        whole = int(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if whole % size == 0:
                return f"{whole // size}{unit}"
        return f"{whole}s"
    millis = seconds * 1000
    if seconds > 0 and millis.is_integer():
        text = f"{int(millis)}ms"
        if parse_duration(text) == seconds:
            return text
    return float(seconds)


def format_size(size: int) -> str | int:
    """A size string for ``size`` bytes ("1GiB", "64MiB"), or the integer itself."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        factor = _SIZE_UNITS[unit.lower()]
        if size > 0 and size % factor == 0:
            return f"{size // factor}{unit}"
    return int(size)
