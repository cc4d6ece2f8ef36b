"""Parquet export: every table, partitioned by repository (and month), readable back with the same rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from trellis import vcs
from trellis.query import EXPORT_TABLES, Indexer, export_parquet

ALICE = vcs.Identity("alice")


@pytest.fixture
def ix(store: vcs.Store, data_dir: Path) -> Indexer:
    for name in ("one", "two"):
        store.create_repository(name, ALICE)
        session = store.create_session(name, ALICE, model="m")
        store.commit(
            name, session.branch_id, [vcs.PutFile("a.py", b"x = 1\n")], "a", ALICE, session_id=session.session_id
        )
    indexer = Indexer(data_dir, entity_differ=None)
    indexer.sync()
    return indexer


def test_export_writes_partitioned_parquet_with_every_row(ix: Indexer, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    try:
        files = export_parquet(ix, dest)
        assert files and all(f.suffix == ".parquet" and f.exists() for f in files)
        assert any("commits/repository=one/month=" in str(f) for f in files)
        assert any("refs/repository=two/part-0.parquet" in str(f) for f in files)
        for table in EXPORT_TABLES:
            count = ix.connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            if count == 0:
                assert not (dest / table).exists()
                continue
            data = ds.dataset(dest / table, format="parquet", partitioning="hive").to_table()
            assert data.num_rows == count, table
            assert set(data.column("repository").to_pylist()) == {"one", "two"}
        commits = ds.dataset(dest / "commits", format="parquet", partitioning="hive").to_table()
        assert {"commit_id", "commit_time", "month"} <= set(commits.column_names)
        # a second export replaces the first
        again = export_parquet(ix, dest, ["commits"])
        assert again == [f for f in files if "/commits/" in str(f)]
    finally:
        ix.close()


def test_unknown_tables_are_refused(ix: Indexer, tmp_path: Path) -> None:
    try:
        with pytest.raises(ValueError, match="index_state"):
            export_parquet(ix, tmp_path, ["index_state"])
    finally:
        ix.close()


def test_shards_that_own_other_repositories_export_into_one_directory(ix: Indexer, tmp_path: Path) -> None:
    """An export replaces the partitions of its own repositories only: another shard's stay (docs/scaling.md)."""
    dest = tmp_path / "export"
    other = dest / "commits" / "repository=elsewhere" / "month=2026-01"
    other.mkdir(parents=True)
    (other / "part-0.parquet").write_bytes(b"another shard's file")
    stale = dest / "commits" / "repository=one" / "month=1999-01"
    stale.mkdir(parents=True)
    (stale / "part-0.parquet").write_bytes(b"an earlier export of ours")
    try:
        export_parquet(ix, dest, ["commits"])
        assert (other / "part-0.parquet").read_bytes() == b"another shard's file"
        assert not stale.exists()  # ours: replaced
        ours = ds.dataset(dest / "commits" / "repository=one", format="parquet").to_table()
        assert (
            ours.num_rows
            == ix.connection.execute("SELECT count(*) FROM commits WHERE repository = 'one'").fetchall()[0][0]
        )
    finally:
        ix.close()
