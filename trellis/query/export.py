"""Exporting the index as Parquet, partitioned for other engines (Spark, Trino, DuckDB, pandas…).

Layout: ``<dest>/<table>/repository=<name>/[month=YYYY-MM/]part-N.parquet``
(Hive-style partitions). Tables with a natural time (commits, file changes,
entity changes, sessions, steps, verification runs) are also partitioned by
month. The export reads through its own cursor, so it runs while the
indexer writes, and writes with pyarrow (the database itself has no file
access, see :mod:`trellis.query.database`).
"""

from __future__ import annotations

import shutil
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import pyarrow.dataset as ds

from .sandbox import CursorSource
from .schema import TABLES, table

__all__ = ["EXPORT_TABLES", "export_parquet"]

EXPORT_TABLES = tuple(t.name for t in TABLES if not t.internal)

# table -> SQL producing its rows plus the partition columns
_MONTH = "strftime({column}, '%Y-%m')"
_SOURCES: dict[str, str] = {
    "commits": f"SELECT *, {_MONTH.format(column='commit_time')} AS month FROM commits",
    "file_changes": (
        f"SELECT f.*, {_MONTH.format(column='c.commit_time')} AS month FROM file_changes f "
        "JOIN commits c ON c.repository = f.repository AND c.commit_id = f.commit_id"
    ),
    "entity_changes": (
        f"SELECT e.*, {_MONTH.format(column='c.commit_time')} AS month FROM entity_changes e "
        "JOIN commits c ON c.repository = e.repository AND c.commit_id = e.commit_id"
    ),
    "sessions": f"SELECT *, {_MONTH.format(column='create_time')} AS month FROM sessions",
    "steps": f"SELECT *, {_MONTH.format(column='create_time')} AS month FROM steps",
    "verification_runs": f"SELECT *, {_MONTH.format(column='create_time')} AS month FROM verification_runs",
}


def export_parquet(
    source: CursorSource, dest_dir: Path, tables: Sequence[str] | None = None, *, batch_rows: int = 65_536
) -> list[Path]:
    """Write ``tables`` (default: every documented table) under ``dest_dir``; return the files written.

    In each table's directory, the partitions of this index's repositories are replaced and the others
    are left alone: shards that own disjoint repositories can export into one directory. (A repository
    deleted since an earlier export keeps its old partition there: export into an empty directory to
    drop it.) Empty tables write no file.
    """
    names = list(tables) if tables is not None else list(EXPORT_TABLES)
    unknown = sorted(set(names) - set(EXPORT_TABLES))
    if unknown:
        raise ValueError(f"unknown tables: {', '.join(unknown)}; known: {', '.join(EXPORT_TABLES)}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    cur = source.cursor()
    try:
        ours = {str(row[0]) for row in cur.sql("SELECT repository FROM repositories").fetchall()}
    finally:
        cur.close()
    written: list[Path] = []
    for name in names:
        target = dest_dir / name
        if target.exists():
            for partition in target.iterdir():  # repository=<name>, as pyarrow escapes it
                key, _, value = partition.name.partition("=")
                if key == "repository" and urllib.parse.unquote(value) in ours:
                    shutil.rmtree(partition)
        sql = _SOURCES.get(name, f"SELECT * FROM {name}")
        partitions = ["repository", "month"] if name in _SOURCES else ["repository"]
        cur = source.cursor()
        try:
            order = ", ".join(table(name).key)
            reader = cur.sql(f"{sql} ORDER BY {order}").to_arrow_reader(batch_rows)
            ds.write_dataset(
                reader,
                target,
                format="parquet",
                partitioning=partitions,
                partitioning_flavor="hive",
                existing_data_behavior="overwrite_or_ignore",
                basename_template="part-{i}.parquet",
                file_visitor=lambda f: written.append(Path(f.path)),
                max_rows_per_file=5_000_000,
            )
        finally:
            cur.close()
    return sorted(written)
