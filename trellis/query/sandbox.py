"""Running researchers' SQL against the index, read-only, bounded and interruptible.

Layers, outermost first:

1. **Size.** The SQL text is at most ``max_sql_chars`` long and nests
   parentheses / brackets at most ``max_nesting`` deep (DuckDB's parser
   recurses and a very deep input can exhaust the C stack).
2. **One read statement.** DuckDB parses the text (``extract_statements``):
   exactly one statement, of type SELECT (which covers ``WITH``, ``VALUES``,
   ``FROM``-first, ``TABLE``, ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``) or
   ``EXPLAIN [ANALYZE] <select>``. ``COPY``, ``ATTACH``, ``INSTALL``,
   ``LOAD``, ``SET``, ``PRAGMA``, ``CALL``, ``EXPORT``/``IMPORT``, DDL and DML
   are refused — however comments or semicolons hide them.
3. **What the statement touches.** Its syntax tree (``json_serialize_sql``)
   is walked: table functions must be on an allow-list (``range``,
   ``unnest``, ``duckdb_tables``… — no ``read_csv``, ``read_parquet``,
   ``glob``, ``query``…), a deny-list of scalar functions (settings, sleeping,
   logging, sequences) is refused, and a table name must be a plain
   identifier (no replacement scan of ``'/etc/passwd'``).
4. **The database itself** is locked down when opened
   (:mod:`trellis.query.database`): no external access, no extension loading, no
   Python-variable lookups, memory and thread caps, configuration locked.
5. **Values as bind parameters.** ``params`` (a list for ``?`` / ``$1``, a
   mapping for ``$name``) are bound by DuckDB, never spliced into the text;
   they must match the statement's placeholders exactly
   (:func:`check_params`).
6. **Bounds.** A timer interrupts the query at ``timeout_s`` (reading
   included); results stop at ``max_rows`` rows / ``max_bytes`` bytes and say
   they were truncated.

Each query runs on its own cursor, so queries run concurrently with each
other and with the indexer. The checks of layers 1-3 and 5 and the timer of
layer 6 live in :mod:`trellis.query.checks` (re-exported here), which a
short-lived reader imports without this module's Arrow and dataclasses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .checks import (
    ALLOWED_TABLE_FUNCTIONS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    DENIED_FUNCTIONS,
    MAX_NESTING,
    MAX_REQUESTED_ROWS,
    MAX_REQUESTED_TIMEOUT_MS,
    MAX_SQL_CHARS,
    QueryParams,
    _clean,
    _Interrupter,
    _translate,
    check_params,
    check_query,
    keyboard_interrupt,
    requested_bounds,
)
from .engine import duckdb  # the engine: checks need no relational layer, and rows no Arrow (see engine.py)
from .errors import QueryError, QueryParamError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MAX_REQUESTED_ROWS",
    "MAX_REQUESTED_TIMEOUT_MS",
    "ALLOWED_TABLE_FUNCTIONS",
    "DENIED_FUNCTIONS",
    "CursorSource",
    "QueryLimits",
    "QueryParams",
    "QueryRows",
    "QueryStream",
    "check_params",
    "check_query",
    "requested_bounds",
    "run_query",
    "stream_query",
]


class CursorSource(Protocol):
    """Anything that hands out a fresh DuckDB connection: a connection, an ``Indexer``."""

    def cursor(self) -> duckdb.DuckDBPyConnection: ...


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Bounds of one query (the server configures them; callers may only lower them)."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_sql_chars: int = MAX_SQL_CHARS
    max_nesting: int = MAX_NESTING
    batch_rows: int = 4096


@dataclass(frozen=True, slots=True)
class QueryRows:
    table: pa.Table
    truncated: bool
    elapsed_s: float


def _named(params: QueryParams) -> list[tuple[str, Any]]:
    if isinstance(params, Mapping):
        return [(f"${name}", value) for name, value in params.items()]
    return [(str(i), value) for i, value in enumerate(params, 1)]


def _param_error(
    exc: BaseException, cur: duckdb.DuckDBPyConnection | None, sql: str, params: QueryParams | None
) -> QueryParamError | None:
    """The parameter a failure is due to, when that is certain: a statement that does not bind with these
    values but binds with every value NULL; a conversion that quotes a string value. Else None."""
    if not params:
        return None
    message = _clean(exc).split("\n\nLINE ", 1)[0]
    if isinstance(exc, duckdb.ConversionException):
        for name, value in _named(params):
            if isinstance(value, str) and value and (f"'{value}'" in message or f'"{value}"' in message):
                return QueryParamError(
                    f"parameter {name} does not fit where it is used: {message}",
                    reason="QUERY_PARAM_TYPE",
                    parameter=name,
                )
        return None
    if isinstance(exc, duckdb.BinderException) and cur is not None:
        nulls: QueryParams = {k: None for k in params} if isinstance(params, Mapping) else [None] * len(params)
        try:
            cur.sql(sql, params=nulls)  # binds only: a relation runs when read
        except duckdb.Error:
            return None
        return QueryParamError(
            f"a parameter's type does not fit where it is used: {message}", reason="QUERY_PARAM_TYPE"
        )
    return None


# -- execution ------------------------------------------------------------------


class QueryStream:
    """Record batches of one query, as they are produced.

    Iterate it (or call :meth:`batches`); ``schema`` is known before the first
    batch; ``truncated`` is true once a row or byte limit cut the result
    short. Always :meth:`close` it (or use ``with``): that releases the cursor.
    """

    def __init__(self, source: CursorSource, sql: str, limits: QueryLimits, params: QueryParams | None = None) -> None:
        self.limits = limits
        self._sql = sql
        self._params: QueryParams | None = None
        self.truncated = False
        self.rows = 0
        self.bytes = 0
        self._started = time.monotonic()
        import duckdb as package  # noqa: F401 - relations and Arrow streaming (the package adds them to cursors)

        self._cur = source.cursor()
        self._interrupter: _Interrupter | None = None
        self._closed = False
        try:
            check_query(self._cur, sql, limits)
            self._params = check_params(self._cur, sql, params)
            self._interrupter = _Interrupter(self._cur, limits.timeout_s)
            relation = self._cur.sql(sql) if self._params is None else self._cur.sql(sql, params=self._params)
            self._reader = relation.to_arrow_reader(limits.batch_rows)
            self.schema: pa.Schema = self._reader.schema
        except QueryError:
            self.close()
            raise
        except Exception as exc:
            if keyboard_interrupt(exc):
                self.close()
                raise KeyboardInterrupt from None
            error = _param_error(exc, self._cur, sql, self._params) or _translate(
                exc, self._interrupter, limits.timeout_s
            )
            self.close()
            raise error from None

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self.batches()

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            while not self._closed:
                try:
                    batch = self._reader.read_next_batch()
                except StopIteration:
                    return
                except Exception as exc:
                    if keyboard_interrupt(exc):
                        raise KeyboardInterrupt from None
                    raise _param_error(exc, None, self._sql, self._params) or _translate(
                        exc, self._interrupter, self.limits.timeout_s
                    ) from None
                if batch.num_rows == 0:
                    continue
                keep = batch.num_rows
                if self.rows + keep > self.limits.max_rows:
                    keep = self.limits.max_rows - self.rows
                if self.bytes + batch.nbytes > self.limits.max_bytes:
                    per_row = max(1, batch.nbytes // max(1, batch.num_rows))
                    keep = min(keep, max(0, (self.limits.max_bytes - self.bytes) // per_row))
                if keep < batch.num_rows:
                    self.truncated = True
                    batch = batch.slice(0, keep)
                if batch.num_rows:
                    self.rows += batch.num_rows
                    self.bytes += batch.nbytes
                    yield batch
                if self.truncated:
                    return
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._interrupter is not None:
            self._interrupter.cancel()
        try:
            self._cur.close()
        except Exception:
            pass

    def __enter__(self) -> QueryStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _limits(
    max_rows: int | None, timeout_s: float | None, max_bytes: int | None, limits: QueryLimits | None
) -> QueryLimits:
    base = limits or QueryLimits()
    return QueryLimits(
        max_rows=base.max_rows if max_rows is None else max_rows,
        max_bytes=base.max_bytes if max_bytes is None else max_bytes,
        timeout_s=base.timeout_s if timeout_s is None else timeout_s,
        max_sql_chars=base.max_sql_chars,
        max_nesting=base.max_nesting,
        batch_rows=base.batch_rows,
    )


def stream_query(
    source: CursorSource,
    sql: str,
    *,
    max_rows: int | None = None,
    timeout_s: float | None = None,
    max_bytes: int | None = None,
    limits: QueryLimits | None = None,
    params: QueryParams | None = None,
) -> QueryStream:
    """Check ``sql`` (and ``params`` against its placeholders) and start it; the stream yields ``pyarrow.RecordBatch`` es."""
    return QueryStream(source, sql, _limits(max_rows, timeout_s, max_bytes, limits), params)


def run_query(
    source: CursorSource,
    sql: str,
    *,
    max_rows: int | None = None,
    timeout_s: float | None = None,
    max_bytes: int | None = None,
    limits: QueryLimits | None = None,
    params: QueryParams | None = None,
) -> QueryRows:
    """Run ``sql`` in the sandbox, with ``params`` bound, and collect its (possibly truncated) result as one table."""
    with stream_query(
        source, sql, max_rows=max_rows, timeout_s=timeout_s, max_bytes=max_bytes, limits=limits, params=params
    ) as stream:
        import pyarrow as pa

        batches = list(stream)
        return QueryRows(pa.Table.from_batches(batches, schema=stream.schema), stream.truncated, stream.elapsed_s)
