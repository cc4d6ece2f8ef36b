"""Query results as JSON-ready rows, for simple clients (the Arrow IPC stream is the primary format)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["json_dicts", "json_rows", "json_value"]


def json_value(value: Any) -> Any:
    """A value ``json.dumps`` accepts: times as ISO 8601, bytes as base64, decimals with a fractional scale as
    strings (``"1.50"`` keeps its digits); whole decimals, such as DuckDB's ``SUM`` of integers (HUGEINT), are
    numbers."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): json_value(v) for k, v in value}  # an Arrow map
        return [json_value(v) for v in value]
    return _typed_value(value)


def _typed_value(value: Any) -> Any:
    # The modules of rarer values load when one comes (a command printing plain rows needs none of them).
    import base64
    import datetime
    import decimal
    import uuid

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def json_rows(data: pa.Table | pa.RecordBatch) -> Iterator[dict[str, Any]]:
    """Each row of ``data`` as a ``{column: json-ready value}`` dict."""
    return json_dicts(data.to_pylist())


def json_dicts(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each ``{column: value}`` row (``to_pylist``'s) as a ``{column: json-ready value}`` dict."""
    for row in rows:
        yield {k: json_value(v) for k, v in row.items()}
