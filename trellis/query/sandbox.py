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
other and with the indexer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from trellis.vcs.errors import InvalidArgument

from .engine import duckdb  # the engine: checks need no relational layer, and rows no Arrow (see engine.py)
from .errors import (
    QueryError,
    QueryFailed,
    QueryNotAllowed,
    QueryParamError,
    QueryResourceExhausted,
    QuerySyntaxError,
    QueryTimeout,
)

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

ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_columns",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_keywords",
        "duckdb_constraints",
        "duckdb_indexes",
        "duckdb_dependencies",
        "pragma_table_info",
        "pragma_show",
        "icu_calendar_names",
        "pg_timezone_names",
    }
)

DENIED_FUNCTIONS = frozenset(
    {
        "current_setting",  # settings name paths (temp and extension directories)
        "json_execute_serialized_sql",  # runs arbitrary serialized SQL
        "nextval",
        "setval",
        "currval",  # sequences: state changes
        "write_log",
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "sleep_ms",
        "pg_sleep",  # hold a worker without doing work
        "query",
        "query_table",  # run SQL given as a string
    }
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")
_SELECT_HELP = (
    "only read statements may run: SELECT (with WITH, VALUES, FROM-first, DESCRIBE, SHOW, SUMMARIZE) "
    "or EXPLAIN [ANALYZE] SELECT"
)


QueryParams = Sequence[Any] | Mapping[str, Any]
"""Bind parameters: values of ``?`` / ``$1``… in order, or of ``$name`` by name (None, bool, int, float, str,
bytes, datetime)."""


class CursorSource(Protocol):
    """Anything that hands out a fresh DuckDB connection: a connection, an ``Indexer``."""

    def cursor(self) -> duckdb.DuckDBPyConnection: ...


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Bounds of one query (the server configures them; callers may only lower them)."""

    max_rows: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    timeout_s: float = 30.0
    max_sql_chars: int = 100_000
    max_nesting: int = 128
    batch_rows: int = 4096


MAX_REQUESTED_ROWS = 1_000_000
MAX_REQUESTED_TIMEOUT_MS = 300_000


def requested_bounds(max_rows: int, timeout_ms: int, limits: QueryLimits) -> tuple[int, float]:
    """A caller's ``max_rows`` and ``timeout_ms`` (0: the configured default; at most 1,000,000 rows and 300 s) as
    ``run_query``'s ``max_rows`` and ``timeout_s``: the one rule for the server and the CLI's local mode."""
    if max_rows < 0 or timeout_ms < 0:
        raise InvalidArgument("max_rows and timeout_ms must not be negative", reason="INVALID_QUERY_LIMITS")
    return (
        min(max_rows, MAX_REQUESTED_ROWS) if max_rows else limits.max_rows,
        min(timeout_ms, MAX_REQUESTED_TIMEOUT_MS) / 1000 if timeout_ms else limits.timeout_s,
    )


@dataclass(frozen=True, slots=True)
class QueryRows:
    table: pa.Table
    truncated: bool
    elapsed_s: float


# -- validation -----------------------------------------------------------------


def _tokens(sql: str) -> list[tuple[int, str]]:
    return [(pos, kind.name) for pos, kind in duckdb.tokenize(sql)]


def _check_size(sql: str, limits: QueryLimits) -> list[tuple[int, str]]:
    if "\x00" in sql:
        raise QuerySyntaxError("the query contains a NUL character", reason="QUERY_SYNTAX")
    if len(sql) > limits.max_sql_chars:
        raise QueryNotAllowed(
            f"the query is {len(sql)} characters long; the limit is {limits.max_sql_chars}",
            reason="QUERY_TOO_LONG",
        )
    tokens = _tokens(sql)
    depth = deepest = 0
    for i, (pos, kind) in enumerate(tokens):
        if kind != "operator":
            continue
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)
        for ch in sql[pos:end]:
            if ch in "([{":
                depth += 1
                deepest = max(deepest, depth)
            elif ch in ")]}":
                depth -= 1
    if deepest > limits.max_nesting:
        raise QueryNotAllowed(
            f"the query nests parentheses {deepest} deep; the limit is {limits.max_nesting}",
            reason="QUERY_TOO_DEEP",
        )
    return tokens


def _statement_type(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QuerySyntaxError(_clean(exc), reason="QUERY_SYNTAX") from None
    try:
        return [s.type.name for s in statements]
    except (ValueError, AttributeError):  # a statement type the Python client does not even name
        raise QueryNotAllowed(_SELECT_HELP, reason="QUERY_NOT_READ_ONLY") from None


def _explained_query(sql: str, tokens: list[tuple[int, str]]) -> str:
    """The SELECT after ``EXPLAIN [ANALYZE]``."""
    words = [(pos, kind) for pos, kind in tokens if kind != "comment"]
    if not words or sql[words[0][0] :].split(None, 1)[0].lower() != "explain":
        raise QueryNotAllowed(_SELECT_HELP, reason="QUERY_NOT_READ_ONLY")
    rest = words[1:]
    if rest and sql[rest[0][0] :].split(None, 1)[0].lower().rstrip(";") in ("analyze", "analyse"):
        rest = rest[1:]
    if not rest:
        raise QuerySyntaxError("EXPLAIN needs a query to explain", reason="QUERY_SYNTAX")
    if sql[rest[0][0]] == "(":
        raise QueryNotAllowed(
            "EXPLAIN options are not supported; use EXPLAIN [ANALYZE] SELECT …", reason="QUERY_NOT_READ_ONLY"
        )
    return sql[rest[0][0] :]


def _syntax_tree(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    try:
        tree = json.loads(rows[0][0])
    except (ValueError, RecursionError):
        raise QueryNotAllowed("the query is too deeply nested to check", reason="QUERY_TOO_DEEP") from None
    if tree.get("error"):
        message = str(tree.get("error_message", ""))
        if "Only SELECT" in message:
            raise QueryNotAllowed(
                f"{_SELECT_HELP} (PIVOT / UNPIVOT statements: write them as a subquery of a SELECT)",
                reason="QUERY_NOT_READ_ONLY",
            )
        raise QuerySyntaxError(message or "the query does not parse", reason="QUERY_SYNTAX")
    return tree


def _check_tree(tree: Any) -> None:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            name = str(function.get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise QueryNotAllowed(
                    f"table function {name}() is not allowed: queries have no file or network access; "
                    f"allowed table functions: {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))}",
                    reason="QUERY_FORBIDDEN_FUNCTION",
                    function=name,
                )
        elif kind == "BASE_TABLE":
            for key in ("table_name", "schema_name", "catalog_name"):
                value = str(node.get(key) or "")
                if value and not _IDENTIFIER.match(value):
                    raise QueryNotAllowed(
                        f"{value!r} is not a table of the index: table names are plain identifiers "
                        "(files cannot be read)",
                        reason="QUERY_FORBIDDEN_TABLE",
                        table=value,
                    )
        elif kind == "SHOW_REF":
            value = str(node.get("table_name") or "").strip('"')
            if value and not _IDENTIFIER.match(value):
                raise QueryNotAllowed(
                    f"{value!r} is not a table of the index", reason="QUERY_FORBIDDEN_TABLE", table=value
                )
        called = node.get("function_name")
        if isinstance(called, str) and called.lower() in DENIED_FUNCTIONS:
            raise QueryNotAllowed(
                f"function {called}() is not allowed in queries",
                reason="QUERY_FORBIDDEN_FUNCTION",
                function=called,
            )
        stack.extend(node.values())


class _Approved:
    """SQL texts that passed the checks recently (the checks depend on the text alone)."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True
            return False

    def add(self, key: tuple[str, int, int]) -> None:
        with self._lock:
            self._items[key] = None
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_approved = _Approved()


def check_query(con: duckdb.DuckDBPyConnection, sql: str, limits: QueryLimits | None = None) -> None:
    """Raise :class:`~trellis.query.errors.InvalidQuery` unless ``sql`` is one allowed read statement."""
    limits = limits or QueryLimits()
    key = (sql, limits.max_sql_chars, limits.max_nesting) if isinstance(sql, str) else None
    if key is not None and key in _approved:
        return
    _check(con, sql, limits)
    if key is not None:
        _approved.add(key)


def _check(con: duckdb.DuckDBPyConnection, sql: str, limits: QueryLimits) -> None:
    if not isinstance(sql, str) or not sql.strip():
        raise QueryNotAllowed("the query is empty", reason="QUERY_EMPTY")
    tokens = _check_size(sql, limits)
    types = _statement_type(con, sql)
    if not types:
        raise QueryNotAllowed("the query is empty (only comments)", reason="QUERY_EMPTY")
    if len(types) > 1:
        raise QueryNotAllowed(
            f"the query holds {len(types)} statements; send exactly one", reason="QUERY_MULTIPLE_STATEMENTS"
        )
    inner = sql
    if types[0] == "EXPLAIN":
        inner = _explained_query(sql, tokens)
        if _statement_type(con, inner) != ["SELECT"]:
            raise QueryNotAllowed(_SELECT_HELP, reason="QUERY_NOT_READ_ONLY")
    elif types[0] != "SELECT":
        raise QueryNotAllowed(
            f"{_SELECT_HELP}; this is a {types[0]} statement", reason="QUERY_NOT_READ_ONLY", statement=types[0]
        )
    _check_tree(_syntax_tree(con, inner))


def _placeholders(con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    """The identifiers of the statement's placeholders: ``1``, ``2``… for ``?`` and ``$1``, else names."""
    try:
        return {str(p) for s in con.extract_statements(sql) for p in s.named_parameters}
    except duckdb.Error as exc:
        raise QuerySyntaxError(_clean(exc), reason="QUERY_SYNTAX") from None


def check_params(con: duckdb.DuckDBPyConnection, sql: str, params: QueryParams | None) -> QueryParams | None:
    """The parameters to bind (None when the statement has no placeholders and none were given), or
    :class:`~trellis.query.errors.QueryParamError` if they do not match the statement's placeholders exactly."""
    given: QueryParams = params if params is not None else []
    if not given and "?" not in sql and "$" not in sql:  # (no parse for the usual query without any)
        return None
    wanted = _placeholders(con, sql)
    if not wanted:
        if given:
            raise QueryParamError(
                f"the statement has no placeholders and {len(given)} value(s) were given",
                reason="QUERY_PARAM_COUNT",
                expected="0",
                given=str(len(given)),
            )
        return None
    positional = all(p.isdigit() for p in wanted)
    if isinstance(given, Mapping):
        if positional and given:
            raise QueryParamError(
                f"the statement has {len(wanted)} positional placeholder(s) (? or $1…): send values in order, "
                "not by name",
                reason="QUERY_PARAM_NAME",
                parameter=min(given),
            )
        if positional:  # an empty mapping for a statement with positional placeholders
            raise QueryParamError(
                f"the statement has {len(wanted)} placeholder(s) and no value was given", reason="QUERY_PARAM_COUNT"
            )
        missing, extra = sorted(wanted - set(given)), sorted(set(given) - wanted)
        if missing:
            raise QueryParamError(
                f"no value for placeholder ${missing[0]}"
                + (f" (the statement also needs: {', '.join('$' + m for m in missing[1:])})" if missing[1:] else ""),
                reason="QUERY_PARAM_NAME",
                parameter=missing[0],
            )
        if extra:
            raise QueryParamError(
                f"${extra[0]} is not a placeholder of the statement (it has: "
                f"{', '.join('$' + w for w in sorted(wanted)) or 'none'})",
                reason="QUERY_PARAM_NAME",
                parameter=extra[0],
            )
        return dict(given)
    values = list(given)
    if not positional:
        raise QueryParamError(
            f"the statement has named placeholders ({', '.join('$' + w for w in sorted(wanted))}): send values "
            "by name, not in order",
            reason="QUERY_PARAM_COUNT",
        )
    count = max((int(p) for p in wanted), default=0)
    if len(values) != count:
        raise QueryParamError(
            f"the statement has {count} positional placeholder(s) and {len(values)} value(s) were given",
            reason="QUERY_PARAM_COUNT",
            expected=str(count),
            given=str(len(values)),
        )
    unused = sorted(set(range(1, count + 1)) - {int(p) for p in wanted})
    if unused:
        raise QueryParamError(
            f"the statement uses ${count} but not ${unused[0]}: every value must be used",
            reason="QUERY_PARAM_COUNT",
            parameter=str(unused[0]),
        )
    return values


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


def _clean(exc: BaseException) -> str:
    return str(exc).strip()


class _Interrupter:
    """Interrupts a cursor when the time limit passes."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self.fired = False
        self._cur = cur
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        try:
            self._cur.interrupt()
        except Exception:  # the cursor may be closed already
            pass

    def cancel(self) -> None:
        self._timer.cancel()


def _translate(exc: BaseException, interrupter: _Interrupter | None, timeout_s: float) -> QueryError:
    message = _clean(exc)
    if interrupter is not None and interrupter.fired:
        return QueryTimeout(
            f"the query ran longer than its time limit of {timeout_s:g} s and was interrupted; "
            "narrow it (WHERE, LIMIT) or aggregate",
            reason="QUERY_TIMEOUT",
        )
    if isinstance(exc, (duckdb.ParserException, duckdb.CatalogException, duckdb.BinderException)):
        return QuerySyntaxError(message, reason="QUERY_SYNTAX")
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in message:
        return QueryNotAllowed(f"not allowed: {message}", reason="QUERY_FORBIDDEN")
    if isinstance(exc, duckdb.OutOfMemoryException) or "Out of Memory" in message:
        return QueryResourceExhausted(
            f"the query needs more memory than the index allows: {message}", reason="QUERY_OUT_OF_MEMORY"
        )
    if "configuration has been locked" in message:
        return QueryNotAllowed(message, reason="QUERY_NOT_READ_ONLY")
    return QueryFailed(message, reason="QUERY_FAILED")


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
