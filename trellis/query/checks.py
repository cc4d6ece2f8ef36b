"""The sandbox's checks of one statement, and its time limit: what every query path runs before and while reading.

Split from :mod:`trellis.query.sandbox` (which re-exports these names) so that a short-lived reader
(:mod:`trellis.query.readonly`, ``trellis query`` on a local data directory) imports no Arrow, no relational layer
and no ``dataclasses`` (6 ms of imports, ``inspect`` with it): these functions take plain values, and the default
bounds are the constants below, which :class:`~trellis.query.sandbox.QueryLimits` takes as its defaults.
See :mod:`trellis.query.sandbox` for the layers; these are layers 1-3, 5 and 6's timer.
"""

from __future__ import annotations

import _thread
import json
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trellis.vcs.errors import InvalidArgument

from .engine import duckdb  # the engine: checks need no relational layer (see engine.py)
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
    from .sandbox import QueryLimits

__all__ = [
    "ALLOWED_TABLE_FUNCTIONS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_S",
    "DENIED_FUNCTIONS",
    "MAX_NESTING",
    "MAX_REQUESTED_ROWS",
    "MAX_REQUESTED_TIMEOUT_MS",
    "MAX_SQL_CHARS",
    "QueryParams",
    "check_params",
    "check_query",
    "keyboard_interrupt",
    "requested_bounds",
]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
MAX_SQL_CHARS = 100_000
MAX_NESTING = 128
"""The default bounds of one query (``QueryLimits``' defaults; the server configures its own)."""

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


MAX_REQUESTED_ROWS = 1_000_000
MAX_REQUESTED_TIMEOUT_MS = 300_000


def requested_bounds(max_rows: int, timeout_ms: int, limits: QueryLimits | None = None) -> tuple[int, float]:
    """A caller's ``max_rows`` and ``timeout_ms`` (0: the configured default, ``limits``' or else the defaults above;
    at most 1,000,000 rows and 300 s) as ``run_query``'s ``max_rows`` and ``timeout_s``: the one rule for the server
    and the CLI's local mode."""
    if max_rows < 0 or timeout_ms < 0:
        raise InvalidArgument("max_rows and timeout_ms must not be negative", reason="INVALID_QUERY_LIMITS")
    default_rows, default_timeout_s = (
        (DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S) if limits is None else (limits.max_rows, limits.timeout_s)
    )
    return (
        min(max_rows, MAX_REQUESTED_ROWS) if max_rows else default_rows,
        min(timeout_ms, MAX_REQUESTED_TIMEOUT_MS) / 1000 if timeout_ms else default_timeout_s,
    )


# -- validation -----------------------------------------------------------------


def _tokens(sql: str) -> list[tuple[int, str]]:
    return [(pos, kind.name) for pos, kind in duckdb.tokenize(sql)]


def _check_size(sql: str, max_sql_chars: int, max_nesting: int) -> None:
    if "\x00" in sql:
        raise QuerySyntaxError("the query contains a NUL character", reason="QUERY_SYNTAX")
    if len(sql) > max_sql_chars:
        raise QueryNotAllowed(
            f"the query is {len(sql)} characters long; the limit is {max_sql_chars}",
            reason="QUERY_TOO_LONG",
        )
    if sum(sql.count(ch) for ch in "([{") <= max_nesting:
        return  # no nesting deeper than the brackets there are: no need to tell operators from strings and comments
    deepest = _deepest(sql)
    if deepest > max_nesting:
        raise QueryNotAllowed(
            f"the query nests parentheses {deepest} deep; the limit is {max_nesting}",
            reason="QUERY_TOO_DEEP",
        )


def _deepest(sql: str) -> int:
    """How deep the brackets of ``sql`` nest, counting those of its operators only (not of strings or comments)."""
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
    return deepest


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
        self._lock = _thread.allocate_lock()  # threading.Lock, without importing threading

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
    sizes = (MAX_SQL_CHARS, MAX_NESTING) if limits is None else (limits.max_sql_chars, limits.max_nesting)
    key = (sql, *sizes) if isinstance(sql, str) else None
    if key is not None and key in _approved:
        return
    _check(con, sql, *sizes)
    if key is not None:
        _approved.add(key)


def _check(con: duckdb.DuckDBPyConnection, sql: str, max_sql_chars: int, max_nesting: int) -> None:
    if not isinstance(sql, str) or not sql.strip():
        raise QueryNotAllowed("the query is empty", reason="QUERY_EMPTY")
    _check_size(sql, max_sql_chars, max_nesting)
    types = _statement_type(con, sql)
    if not types:
        raise QueryNotAllowed("the query is empty (only comments)", reason="QUERY_EMPTY")
    if len(types) > 1:
        raise QueryNotAllowed(
            f"the query holds {len(types)} statements; send exactly one", reason="QUERY_MULTIPLE_STATEMENTS"
        )
    inner = sql
    if types[0] == "EXPLAIN":
        inner = _explained_query(sql, _tokens(sql))
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


def _clean(exc: BaseException) -> str:
    return str(exc).strip()


class _Interrupter:
    """Interrupts a cursor when the time limit passes.

    What ``threading.Timer`` does, on ``_thread`` itself: a thread that waits for a lock ``cancel`` releases, for at
    most ``timeout_s``. No ``threading`` to import, and no waiting for the thread to be scheduled
    (``Thread.start`` waits until the new thread runs: under load, tens of ms of a short process's wall time).
    Like a daemon thread, it does not hold the process up at exit."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self.fired = False
        self._cur = cur
        self._cancelled = _thread.allocate_lock()
        self._cancelled.acquire()
        _thread.start_new_thread(self._wait, (timeout_s,))

    def _wait(self, timeout_s: float) -> None:
        if not self._cancelled.acquire(timeout=max(timeout_s, 0)):
            self._fire()

    def _fire(self) -> None:
        self.fired = True
        try:
            self._cur.interrupt()
        except Exception:  # the cursor may be closed already
            pass

    def cancel(self) -> None:
        if self._cancelled.locked():
            self._cancelled.release()


def keyboard_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is how DuckDB's Python client reports a KeyboardInterrupt: a signal handler's (Ctrl-C),
    raised while it ran or streamed a statement, comes out of it as ``RuntimeError('Query interrupted')``, which
    would otherwise read as a failed query (or a crash). The caller raises KeyboardInterrupt instead."""
    return type(exc) is RuntimeError and str(exc) == "Query interrupted"


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
