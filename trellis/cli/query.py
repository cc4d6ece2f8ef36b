"""``trellis query`` and ``trellis export``: SQL over the index, Parquet for other engines."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

from .context import Output, connect, local_data_dir, new_table


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
        choices=["table", "json", "csv", "arrow"],
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
    if root is not None:
        result = _query_locally(root, args, params)
    else:
        with connect(args) as client:
            result = client.query(args.sql, params, max_rows=args.max_rows, timeout_ms=args.timeout)
    table = result.table
    if fmt == "json":
        from trellis.query import json_rows

        out.data(list(json_rows(table)))
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        sys.stdout.write(buffer.getvalue().decode())
    elif fmt == "arrow":
        import pyarrow as pa

        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        sys.stdout.buffer.write(sink.getvalue())
    else:
        view = new_table(*table.column_names)
        for row in table.to_pylist():
            view.add_row(*("" if v is None else str(v) for v in row.values()))
        out.print(view)
        out.note(f"{table.num_rows} row(s)" + (" (truncated: raise --max-rows)" if result.truncated else ""))
    if result.truncated and fmt != "table":
        print(json.dumps({"warning": "result truncated; raise --max-rows"}), file=sys.stderr)
    return 0


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


def _query_locally(root: Path, args: argparse.Namespace, params: list[Any] | dict[str, Any] | None) -> Any:
    """The query through the library, as the server runs it (its index caught up with git first, the same
    sandbox and bounds), holding the data directory's lock as the server would: no gRPC server to start."""
    from trellis.query import Indexer, QueryLimits, requested_bounds, run_query

    from ..datadir import DataDirLock
    from .index import INDEX_FILE

    max_rows, timeout_s = requested_bounds(args.max_rows, args.timeout, QueryLimits())
    with DataDirLock(root), Indexer(root, root / INDEX_FILE) as indexer:
        indexer.sync()
        return run_query(indexer, args.sql, max_rows=max_rows, timeout_s=timeout_s, params=params)


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
