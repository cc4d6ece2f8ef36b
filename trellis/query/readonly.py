"""One query from a short-lived process, answered from the index file as it is, read-only.

``trellis query`` on a local data directory pays for every import and every
open on each call; ``run_query`` over an :class:`~trellis.query.Indexer`
opens the index for writing (to sync it first), and reads Arrow through the
``duckdb`` package's relational layer: about 80 ms of imports (DuckDB's
package and pyarrow) before the first row. When the index has nothing to
catch up with and was written by this schema version
(:func:`trellis.query.caughtup.index_current`), none of that is needed:
:func:`read_current` opens the file read-only through DuckDB's engine module
alone (:mod:`trellis.query.engine`), checks the statement and its parameters
with the sandbox's own checks (:func:`~trellis.query.checks.check_query`,
:func:`~trellis.query.checks.check_params`), bounds it the same way (rows,
bytes, time) and reads its rows as Python values.

It answers ``None`` whenever it cannot answer exactly as ``run_query`` over
a synced indexer would, and the caller takes that path instead: no index
file, or a write-ahead log left by a writer that stopped (a writer replays
it); another schema; a repository that moved, appeared or went; a result
column whose type the caller does not accept (decided before the query runs,
from the columns of the statement with ``LIMIT 0``); a result that might
reach the byte bound (Arrow counts bytes its own way); an engine error other
than the time limit (the caller's path reports it in its own words). The
checks' own errors (:class:`~trellis.query.errors.InvalidQuery`) and the
time limit are raised as ``run_query`` raises them.

This module and what it imports stay light (no ``dataclasses``, no
``threading``, no ``hashlib``; ``tests/query/test_readonly.py`` checks it):
in a ``trellis query`` process they are all of Trellis's own start-up.

The caller holds the data directory's lock (no other process writes the index
meanwhile: DuckDB refuses a read-only open next to another process's writer).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .caughtup import index_current
from .checks import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    QueryParams,
    _Interrupter,
    _translate,
    check_params,
    check_query,
    keyboard_interrupt,
)
from .database import DatabaseSettings, open_reader
from .engine import duckdb

if TYPE_CHECKING:
    from .sandbox import QueryLimits

__all__ = ["LEFT_OPEN", "QueryValues", "close_left_open", "read_current"]


class QueryValues:
    """A query's result as Python values: column names, DuckDB type names, rows (at most ``max_rows``), and whether
    there were more; compared by value.

    A plain class, not a frozen dataclass or a NamedTuple, to keep a ``trellis query`` process lean (see the module:
    ``dataclasses`` costs ~6 ms to import, a NamedTuple of string annotations ~1 ms: typing compiles each)."""

    __slots__ = ("columns", "rows", "truncated", "types")

    def __init__(self, columns: tuple[str, ...], types: tuple[str, ...], rows: list[tuple[Any, ...]], truncated: bool):
        self.columns = columns
        self.types = types
        self.rows = rows
        self.truncated = truncated

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QueryValues) and all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # (rows is a list)

    def __repr__(self) -> str:
        return f"QueryValues(columns={self.columns!r}, types={self.types!r}, rows={self.rows!r}, truncated={self.truncated!r})"


def read_current(
    data_dir: Path,
    db_path: Path,
    sql: str,
    *,
    accept: Collection[str],
    max_rows: int | None = None,
    timeout_s: float | None = None,
    params: QueryParams | None = None,
    limits: QueryLimits | None = None,
    settings: DatabaseSettings | None = None,
    close: bool = True,
) -> QueryValues | None:
    """``sql`` answered from the index at ``db_path`` of ``data_dir`` as it is, if it is current and every column
    of the result has a DuckDB type named in ``accept`` (``VARCHAR``, ``BIGINT``…); else None (see the module).
    ``max_rows`` and ``timeout_s`` default to ``limits``' (else the sandbox's defaults), as ``run_query``'s do.

    ``close=False``, for a process that ends right after an answer (``trellis query``): the connection of an
    answer is left open until the process ends (:data:`LEFT_OPEN`), which then skips DuckDB's tear-down of its
    database (~1.5 ms); a read-only connection has nothing to write back. Without an answer it is closed."""
    if limits is None:
        rows_bound, timeout, max_bytes = DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, DEFAULT_MAX_BYTES
    else:
        rows_bound, timeout, max_bytes = limits.max_rows, limits.timeout_s, limits.max_bytes
    max_rows = rows_bound if max_rows is None else max_rows
    timeout_s = timeout if timeout_s is None else timeout_s
    if not db_path.is_file() or db_path.with_name(db_path.name + ".wal").exists():
        return None
    try:
        con = open_reader(db_path, settings)
    except duckdb.Error:
        return None
    answer: QueryValues | None = None
    try:
        try:
            if not index_current(con, data_dir / "repos"):
                return None
        except duckdb.Error:  # not an index of ours (no such table)
            return None
        check_query(con, sql, limits)
        values = check_params(con, sql, params)
        interrupter = _Interrupter(con, timeout_s)
        try:
            # The result's columns before the query runs: a statement that cannot be wrapped so (EXPLAIN) fails
            # here and takes the other path.
            con.execute(f"SELECT * FROM (\n{sql}\n) LIMIT 0", values)
            if any(str(column[1]) not in accept for column in con.description or ()):
                return None
            con.execute(sql, values)
            columns = tuple(str(column[0]) for column in con.description or ())
            types = tuple(str(column[1]) for column in con.description or ())
            rows = con.fetchmany(max_rows + 1)
        except duckdb.Error as exc:
            if interrupter.fired:
                raise _translate(exc, interrupter, timeout_s) from None
            return None
        finally:
            interrupter.cancel()
        truncated = len(rows) > max_rows
        del rows[max_rows:]
        if _bytes_at_most(rows) > max_bytes:
            return None
        answer = QueryValues(columns, types, rows, truncated)
    except RuntimeError as exc:
        if keyboard_interrupt(exc):  # Ctrl-C while a statement ran
            raise KeyboardInterrupt from None
        raise
    finally:
        if answer is None or close:
            con.close()
        else:
            LEFT_OPEN.append(con)
    return answer


LEFT_OPEN: list[duckdb.DuckDBPyConnection] = []
"""Connections of answers given with ``close=False``, open until the process ends (or :func:`close_left_open`)."""


def close_left_open() -> None:
    """Close the connections :func:`read_current` left open."""
    while LEFT_OPEN:
        LEFT_OPEN.pop().close()


def _bytes_at_most(rows: list[tuple[Any, ...]]) -> int:
    """At least as many bytes as Arrow counts for these rows of scalar columns: 24 per value (validity, offsets
    or views, fixed widths up to 16 bytes), 4 per character of a string (UTF-8 takes at most 4), 1 per byte."""
    total = 0
    for row in rows:
        total += 24 * len(row)
        for value in row:
            if isinstance(value, str):
                total += 4 * len(value)
            elif isinstance(value, bytes):
                total += len(value)
    return total
