"""``trellis query`` and ``trellis export``: SQL over the index, Parquet for other engines."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import Output, connect, local_data_dir, new_table
from .quick import QUERY_FORMATS

if TYPE_CHECKING:
    import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    q = sub.add_parser(
        "query",
        parents=[common],
        help="run read-only SQL over the index",
        description="Run one read-only SQL statement over the DuckDB index (tables: repositories, commits, "
        "commit_parents, refs, file_changes, entity_changes, sessions, steps, …; see docs/schema.md).",
    )
    q.add_argument("sql", help="one read-only SQL statement (SELECT, WITH, ...)")
    q.add_argument(
        "--format",
        choices=list(QUERY_FORMATS),
        default="table",
        help="table (default), json (one object per row), csv, or arrow (IPC stream to stdout)",
    )
    q.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="VALUE|NAME=VALUE",
        help="a bind parameter, never spliced into the SQL (repeatable): VALUE for each ? (or $1, $2…) in "
        "order, NAME=VALUE for $NAME; VALUE is read as JSON when it is JSON (5, 2.5, true, null, "
        '"text"), else as text',
    )
    q.add_argument("--max-rows", type=int, default=0, help="row limit (default: the server's)")
    q.add_argument("--timeout", type=int, default=0, metavar="MS", help="time limit in ms (default: the server's)")
    q.set_defaults(run=run_query)
    e = sub.add_parser(
        "export",
        parents=[common],
        help="write the index as Parquet",
        description="Write every table of the index as Parquet, partitioned by repository "
        "(and month where rows have a time), into a directory.",
    )
    e.add_argument("--parquet", required=True, type=Path, metavar="DIR", help="destination directory")
    e.add_argument("--table", action="append", default=[], help="only this table (repeatable)")
    e.set_defaults(run=run_export)


def run_query(args: argparse.Namespace) -> int:
    out = Output(args)
    fmt = "json" if out.json else args.format
    try:
        params = parse_params(args.param)
    except ValueError as exc:
        out.error(str(exc))
        return 2
    root = local_data_dir(args)
    held: list[Callable[[], None]] = []  # what an answer read from the file holds until written (_query_locally)
    if root is not None:
        result = _query_locally(root, args, params, fmt, held)
    else:
        with connect(args) as client:
            result = client.query(args.sql, params, max_rows=args.max_rows, timeout_ms=args.timeout)
    table = getattr(result, "table", None)  # run_query's and the server's: Arrow; read_current's: Python values
    columns = table.column_names if table is not None else list(result.columns)
    if fmt in ("json", "table"):
        rows = table.to_pylist() if table is not None else [dict(zip(columns, row)) for row in result.rows]
    if fmt in ("json", "csv"):
        if fmt == "json":
            from trellis.query import json_dicts

            text = out.data_text(list(json_dicts(rows))) + "\n"
        else:
            text = _arrow_csv(table) if table is not None else csv_text(columns, result.rows)
        if len(text) > HELD_WRITE_CHARS:
            _release(held)
        sys.stdout.write(text)
    elif fmt == "arrow":
        import pyarrow as pa

        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, result.table.schema) as writer:  # Arrow is never read directly
            writer.write_table(result.table)
        sys.stdout.buffer.write(sink.getvalue())
    else:
        _release(held)  # rich writes as it goes
        view = new_table(*columns)
        for row in rows:
            view.add_row(*("" if v is None else str(v) for v in row.values()))
        out.print(view)
        out.note(f"{len(rows)} row(s)" + (" (truncated: raise --max-rows)" if result.truncated else ""))
    if result.truncated and fmt != "table":
        print(json.dumps({"warning": "result truncated; raise --max-rows"}), file=sys.stderr)
    # Answered from the index file alone (no server, no writer, no thread left): the process may end at once.
    args.only_read = root is not None and table is None
    return 0


HELD_WRITE_CHARS = 16 * 1024
"""An answer read from the index file of at most this many characters (64 KiB of UTF-8 at most: a pipe's buffer on
Linux) is written while its read-only connection and the directory's lock are still held, which the process's exit
then releases (``_query_locally``): the write does not wait for a reader that stalls (``| less``). A longer one
lets them go first."""


def _release(held: list[Callable[[], None]]) -> None:
    while held:
        held.pop()()


def _arrow_csv(table: Any) -> str:
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    return buffer.getvalue().decode()


# DuckDB types whose values print alike read as Python values (read_current) or through Arrow (run_query): the
# local path reads results of only these columns directly; others (times, decimals, lists…) go through Arrow.
_PLAIN_TYPES = frozenset(
    {"VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)
READ_DIRECTLY: dict[str, frozenset[str]] = {
    "csv": _PLAIN_TYPES,  # written as pyarrow's CSV writer writes them (csv_text)
    "json": _PLAIN_TYPES | {"DOUBLE", "FLOAT"},
    "table": _PLAIN_TYPES | {"DOUBLE", "FLOAT"},
}
DIRECT_CSV_ROWS = 10_000
"""CSV of more rows than this (a raised --max-rows) goes through Arrow even when it could be read directly: pyarrow
writes rows ~4x faster than Python, which repays its import (~25 ms) from about 20,000 rows."""


def csv_text(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """CSV as ``pyarrow.csv.write_csv`` writes strings, integers, booleans and nulls: names and strings quoted
    (quotes doubled), integers bare, ``true``/``false``, a null empty; one ``\n`` after each row."""
    lines = [",".join(_csv_quoted(c) for c in columns)]
    lines += [",".join(_csv_value(v) for v in row) for row in rows]
    return "".join(line + "\n" for line in lines)


def _csv_quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _csv_quoted(value)
    raise TypeError(f"no CSV form for {type(value).__name__}")


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (bool, int, float, str)) else text


def parse_params(items: list[str]) -> list[Any] | dict[str, Any] | None:
    """``--param`` values: all positional (VALUE) or all named (NAME=VALUE, NAME an identifier)."""
    if not items:
        return None
    named: dict[str, Any] = {}
    positional: list[Any] = []
    for item in items:
        name, sep, rest = item.partition("=")
        if sep and _NAME.fullmatch(name):
            named[name] = _value(rest)
        else:
            positional.append(_value(item))
    if named and positional:
        raise ValueError(
            "--param: give every value by position (VALUE) or every value by name (NAME=VALUE), "
            "not both (a statement uses ? or $NAME placeholders, not both)"
        )
    return named or positional


def _query_locally(
    root: Path,
    args: argparse.Namespace,
    params: list[Any] | dict[str, Any] | None,
    fmt: str,
    held: list[Callable[[], None]],
) -> Any:
    """The query through the library, as the server runs it (its index caught up with git first, the same
    sandbox and bounds), holding the data directory's lock as the server would: no gRPC server to start.

    An index with nothing to catch up with is read as it is, read-only, through DuckDB's engine alone
    (``trellis.query.readonly``: no pyarrow, no relational layer), when the result's columns print alike so.
    When the process ends once the answer is written (``args.process_ends``, the process's own command line), that
    answer's connection stays open and the lock held: ``held`` gets what lets them go, for an answer too long to
    write at once (``HELD_WRITE_CHARS``); else the exit releases both, skipping DuckDB's tear-down (~1.5 ms)."""
    from trellis.query.checks import requested_bounds
    from trellis.query.readonly import close_left_open, read_current

    from ..datadir import INDEX_FILE, DataDirLock

    max_rows, timeout_s = requested_bounds(args.max_rows, args.timeout)
    ends = bool(getattr(args, "process_ends", False))
    lock: DataDirLock | None = DataDirLock(root).acquire()
    try:
        accept = READ_DIRECTLY.get(fmt)
        if accept is not None and (fmt != "csv" or max_rows <= DIRECT_CSV_ROWS):
            values = read_current(
                root,
                root / INDEX_FILE,
                args.sql,
                accept=accept,
                max_rows=max_rows,
                timeout_s=timeout_s,
                params=params,
                close=not ends,
            )
            if values is not None:
                if ends and lock is not None:
                    held.append(lock.release)  # after the connection (the last in is let go first)
                    held.append(close_left_open)
                    lock = None
                return values
        from trellis.query import Indexer, run_query

        with Indexer(root, root / INDEX_FILE) as indexer:
            indexer.sync()
            return run_query(indexer, args.sql, max_rows=max_rows, timeout_s=timeout_s, params=params)
    finally:
        if lock is not None:
            lock.release()


def run_export(args: argparse.Namespace) -> int:
    out = Output(args)
    destination = args.parquet.expanduser().absolute()
    with connect(args) as client:
        files = client.export(str(destination), args.table)
    if out.json:
        out.data({"destination": str(destination), "files": files})
    else:
        out.print(f"wrote {len(files)} Parquet file(s) under {destination}")
    return 0
