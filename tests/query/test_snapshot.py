"""The read-only index copy: a whole snapshot of every table, swapped atomically, published after changes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb

from trellis import vcs
from trellis.query import TABLES, VIEWS, Indexer
from trellis.query.snapshot import SNAPSHOT_FILE, SnapshotPublisher, publish_snapshot

ALICE = vcs.Identity("alice")


def _commit(store: vcs.Store, message: str, content: bytes) -> None:
    store.commit("demo", "main", [vcs.PutFile("a.py", content)], message, ALICE)


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t.name: int(con.execute(f"SELECT count(*) FROM {t.name}").fetchall()[0][0]) for t in TABLES}


def test_snapshot_holds_every_table_and_view_as_the_index(store: vcs.Store, indexer: Indexer, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    _commit(store, "one", b"def f():\n    return 1\n")
    session = store.create_session("demo", ALICE, model="m", task="t")
    store.record_step("demo", session.session_id, vcs.StepInput(action="look"), ALICE)
    indexer.sync()
    snapshot = publish_snapshot(indexer, data_dir / SNAPSHOT_FILE)
    with duckdb.connect(str(snapshot.path), read_only=True) as con:
        assert _counts(con) == _counts(indexer.connection)
        for view in VIEWS:
            con.execute(f"SELECT * FROM {view.name}").fetchall()
        assert con.execute("SELECT index_generation FROM snapshot_info").fetchall() == [(indexer.generation,)]
    assert sorted(p.name for p in data_dir.iterdir() if "snapshot" in p.name) == [SNAPSHOT_FILE]


def test_a_reader_keeps_its_snapshot_while_a_new_one_is_swapped_in(
    store: vcs.Store, indexer: Indexer, data_dir: Path
) -> None:
    store.create_repository("demo", ALICE)
    _commit(store, "one", b"x = 1\n")
    indexer.sync()
    path = publish_snapshot(indexer, data_dir / SNAPSHOT_FILE).path
    sql = "SELECT count(*) FROM commits"
    before = indexer.connection.execute(sql).fetchall()
    with duckdb.connect(str(path), read_only=True) as old:
        _commit(store, "two", b"x = 2\n")
        indexer.sync()
        publish_snapshot(indexer, path)
        assert old.execute(sql).fetchall() == before
    # (DuckDB shares one instance per path within a process: reconnect once the old one is closed.)
    with duckdb.connect(str(path), read_only=True) as new:
        assert new.execute(sql).fetchall() == [(before[0][0] + 1,)]


def test_another_process_opens_the_snapshot_while_the_index_is_open(
    store: vcs.Store, indexer: Indexer, data_dir: Path
) -> None:
    store.create_repository("demo", ALICE)
    _commit(store, "one", b"x = 1\n")
    indexer.sync()
    path = publish_snapshot(indexer, data_dir / SNAPSHOT_FILE).path
    script = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute('SELECT count(*) FROM commits').fetchall()[0][0])"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == indexer.connection.execute("SELECT count(*) FROM commits").fetchall()[0][0]


def test_publisher_publishes_only_after_a_change(store: vcs.Store, indexer: Indexer, data_dir: Path) -> None:
    publisher = SnapshotPublisher(indexer, data_dir / SNAPSHOT_FILE, interval=3600)
    first = publisher.publish()
    assert first is not None and publisher.publish() is None  # nothing changed since
    store.create_repository("demo", ALICE)
    _commit(store, "one", b"x = 1\n")
    assert indexer.sync().changed and indexer.generation > first.generation
    second = publisher.publish()
    assert second is not None and second.generation == indexer.generation
    assert publisher.publish() is None


def test_stop_publishes_the_last_change_and_start_removes_leftovers(
    store: vcs.Store, indexer: Indexer, data_dir: Path
) -> None:
    leftover = data_dir / f".{SNAPSHOT_FILE}.0123456789ab.tmp"
    leftover.write_bytes(b"half a copy")
    publisher = SnapshotPublisher(indexer, data_dir / SNAPSHOT_FILE, interval=3600).start()
    assert not leftover.exists()
    store.create_repository("demo", ALICE)
    _commit(store, "one", b"x = 1\n")
    indexer.sync()
    publisher.stop()
    with duckdb.connect(str(data_dir / SNAPSHOT_FILE), read_only=True) as con:
        assert _counts(con) == _counts(indexer.connection)


def test_snapshots_taken_while_the_index_is_written_are_each_of_one_generation(
    store: vcs.Store, indexer: Indexer, data_dir: Path
) -> None:
    """The database file and its write-ahead log are copied between two write transactions: every snapshot
    holds exactly what the index held at the generation it names, whatever was being written meanwhile."""
    store.create_repository("demo", ALICE)
    counts: dict[int, dict[str, int]] = {}
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(40):
                _commit(store, f"c{i}", f"def f():\n    return {i}\n".encode())
                with indexer.writes_held():  # (what a sync committed is what a snapshot of it must hold)
                    indexer.sync()
                    counts[indexer.generation] = _counts(indexer.connection)
        except BaseException as exc:
            failures.append(exc)
        finally:
            stop.set()

    with indexer.writes_held():
        counts[indexer.generation] = _counts(indexer.connection)
    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[int] = []
    path = data_dir / SNAPSHOT_FILE
    while not stop.is_set() or not seen:
        snapshot = publish_snapshot(indexer, path)
        with duckdb.connect(str(path), read_only=True) as con:
            generation = con.execute("SELECT index_generation FROM snapshot_info").fetchall()[0][0]
            assert generation == snapshot.generation
            with_log = _counts(con)
        seen.append(generation)
        assert with_log == counts[generation], generation
    thread.join(60)
    assert not failures, failures[0]
    assert len(set(seen)) > 1 and not any(p.name.endswith(".wal") for p in data_dir.iterdir() if "snapshot" in p.name)
    # DuckDB's lock on the index held throughout: no descriptor of the file was opened and closed beside its own.
    script = "import sys, duckdb; duckdb.connect(sys.argv[1], read_only=True)"
    done = subprocess.run([sys.executable, "-c", script, str(indexer.db_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "lock" in done.stderr.lower()
