#!/usr/bin/env python3
"""A digest of every row of a data directory's index, to compare two ways of building it.

    python benchmarks/index_rows.py DATA_DIR                 # the index the server left (index.duckdb)
    python benchmarks/index_rows.py DATA_DIR --rebuild       # a fresh index rebuilt from git alone

Prints one line per table (row count and a hash of its rows, sorted), then the
index's consistency check. Run it with two trees (``PYTHONPATH=<tree>``) on copies
of one data directory: the server's incremental index of a benchmark run and an
index rebuilt by another revision must print the same lines (the ``index_info``
bookkeeping table is left out).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def digest(con: object, tables: list[str]) -> list[str]:
    lines = []
    for name in tables:
        rows = con.execute(f"SELECT * FROM {name}").fetchall()  # type: ignore[attr-defined]
        text = sorted(repr(row) for row in rows)
        h = hashlib.sha256("\n".join(text).encode()).hexdigest()[:16]
        lines.append(f"{name:<20} {len(rows):>8} rows  {h}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--rebuild", action="store_true", help="rebuild the index from git into a temporary file")
    p.add_argument("--entity-differ", choices=["auto", "none"], default="auto")
    args = p.parse_args()
    from trellis.query import Indexer
    from trellis.query.schema import TABLES

    work = Path(tempfile.mkdtemp(prefix="index-rows-"))
    try:
        db = work / "index.duckdb"
        if not args.rebuild:
            shutil.copy(args.data_dir / "index.duckdb", db)
            wal = args.data_dir / "index.duckdb.wal"
            if wal.exists():
                shutil.copy(wal, work / "index.duckdb.wal")
        indexer = Indexer(args.data_dir, db, entity_differ="auto" if args.entity_differ == "auto" else None)
        try:
            if args.rebuild:
                indexer.rebuild()
            for line in digest(indexer.connection, [t.name for t in TABLES]):
                print(line)
            problems = indexer.check()
            print(f"check: {len(problems)} problems")
            for problem in problems[:20]:
                print("  " + problem)
        finally:
            indexer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
