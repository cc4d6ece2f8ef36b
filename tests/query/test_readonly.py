"""One query answered from the index file as it is (``read_current``): the answer ``run_query`` gives over a
synced indexer, or None whenever it could differ; it writes nothing."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

import trellis.query
from trellis import vcs
from trellis.query import Indexer, QueryError, QueryTimeout, read_current, run_query
from trellis.query.readonly import QueryValues

ALICE = vcs.Identity("alice")
PLAIN = frozenset({"VARCHAR", "BIGINT", "INTEGER", "BOOLEAN", "DOUBLE"})


@pytest.fixture
def current(store: vcs.Store, data_dir: Path) -> Path:
    """A data directory whose index has caught up with its one repository (semantic diffs on)."""
    store.create_repository("demo", ALICE)
    for i in range(3):
        body = f"def f():\n    return {i}\n\n\ndef g{i}(x):\n    return x\n".encode()
        store.commit("demo", "main", [vcs.PutFile("m.py", body)], f"commit {i}", ALICE)
    with Indexer(data_dir) as ix:
        ix.sync()
    return data_dir


def _read(data_dir: Path, sql: str, *, accept: frozenset[str] = PLAIN, **kw: Any) -> QueryValues | None:
    return read_current(data_dir, data_dir / "index.duckdb", sql, accept=accept, **kw)


def _synced(data_dir: Path, sql: str, **kw: Any) -> tuple[list[str], list[dict[str, Any]], bool]:
    with Indexer(data_dir) as ix:
        ix.sync()
        result = run_query(ix, sql, **kw)
    return result.table.column_names, result.table.to_pylist(), result.truncated


QUERIES = [
    ("SELECT commit_id, message FROM commits ORDER BY commit_id", {}),
    ("SELECT DISTINCT commit_id FROM entity_changes WHERE qualname = 'm.f' ORDER BY 1", {}),
    ("SELECT qualname, count(*) AS n FROM entity_changes GROUP BY ALL ORDER BY n DESC, qualname", {}),
    ("SELECT 1 AS a, 2.5::DOUBLE AS b, true AS c, NULL::VARCHAR AS d, 'x' AS a", {}),
    ("SELECT commit_id FROM commits WHERE message = ? ORDER BY 1", {"params": ["commit 1"]}),
    ("SELECT $n::BIGINT AS n", {"params": {"n": 7}}),
    ("SELECT range AS i FROM range(10)", {"max_rows": 3}),
    ("SELECT range AS i FROM range(3)", {"max_rows": 3}),
    ("SELECT commit_id FROM commits WHERE false", {}),
    ("FROM commits SELECT count(*) AS n", {}),
    ("SHOW TABLES", {}),
]


@pytest.mark.parametrize(("sql", "kw"), QUERIES, ids=[q for q, _ in QUERIES])
def test_a_current_index_answers_as_run_query_over_a_synced_indexer(current: Path, sql: str, kw: Any) -> None:
    values = _read(current, sql, **kw)
    assert values is not None
    columns, rows, truncated = _synced(current, sql, **kw)
    assert list(values.columns) == columns
    assert [dict(zip(values.columns, row, strict=True)) for row in values.rows] == rows
    assert values.truncated is truncated


def test_it_writes_nothing(current: Path) -> None:
    index = current / "index.duckdb"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    assert _read(current, "SELECT count(*) AS n FROM commits") is not None
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert not index.with_name("index.duckdb.wal").exists()


def test_anything_a_sync_would_change_takes_the_other_path(current: Path, store: vcs.Store) -> None:
    sql = "SELECT count(*) AS n FROM commits"
    before = _read(current, sql)
    assert before is not None
    store.commit("demo", "main", [vcs.PutFile("other.py", b"x = 1\n")], "one more", ALICE)  # a branch moved
    assert _read(current, sql) is None
    assert _synced(current, sql)[1] == [{"n": before.rows[0][0] + 1}]
    assert _read(current, sql) is not None
    store.create_repository("second", ALICE)  # a new repository
    assert _read(current, sql) is None
    _synced(current, sql)
    assert _read(current, sql) is not None
    shutil.rmtree(current / "repos" / "second.git")  # a repository gone: its rows would be dropped
    assert _read(current, sql) is None
    _synced(current, sql)
    assert _read(current, sql) is not None


def test_an_index_of_another_schema_or_none_takes_the_other_path(current: Path) -> None:
    sql = "SELECT 1 AS one"
    wal = current / "index.duckdb.wal"
    wal.write_bytes(b"")  # a writer stopped before its checkpoint: a writer replays the log
    assert _read(current, sql) is None
    wal.unlink()
    con = duckdb.connect(str(current / "index.duckdb"))
    con.execute("UPDATE index_info SET value = 'other' WHERE key = 'schema_digest'")
    con.close()
    assert _read(current, sql) is None
    empty = current.parent / "empty"
    empty.mkdir()
    assert _read(empty, sql) is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT commit_time FROM commits",  # TIMESTAMP: not accepted by the caller
        "SELECT sum(additions) AS s FROM commits",  # HUGEINT
        "EXPLAIN SELECT 1",  # cannot be wrapped to learn its columns
        "SELECT 'a'::INTEGER AS i",  # an engine error at run time: the other path reports it
    ],
)
def test_results_it_cannot_give_exactly_take_the_other_path(current: Path, sql: str) -> None:
    assert _read(current, sql) is None


def test_a_result_that_may_reach_the_byte_bound_takes_the_other_path(current: Path) -> None:
    sql = "SELECT repeat('x', 1000) AS s FROM range(100)"
    assert _read(current, sql, max_rows=1000) is not None
    assert _read(current, sql, max_rows=1000, limits=trellis.query.QueryLimits(max_bytes=100_000)) is None


@pytest.mark.parametrize(
    ("sql", "params", "reason"),
    [
        ("DELETE FROM commits", None, "QUERY_NOT_READ_ONLY"),
        ("SELECT * FROM read_csv('/etc/passwd')", None, "QUERY_FORBIDDEN_FUNCTION"),
        ("SELECT ? AS a", [1, 2], "QUERY_PARAM_COUNT"),
        ("SELEC 1", None, "QUERY_SYNTAX"),
    ],
)
def test_the_sandbox_refuses_as_it_refuses_run_query(current: Path, sql: str, params: Any, reason: str) -> None:
    with pytest.raises(QueryError) as caught:
        _read(current, sql, params=params)
    assert caught.value.reason == reason
    with pytest.raises(QueryError) as again:
        _synced(current, sql, params=params)
    assert (type(again.value), again.value.message) == (type(caught.value), caught.value.message)


def test_a_runaway_query_is_interrupted(current: Path) -> None:
    with pytest.raises(QueryTimeout) as caught:
        _read(current, "SELECT count(*) AS n FROM range(1000000000000) a WHERE a.range % 7 = 3", timeout_s=0.3)
    assert caught.value.reason == "QUERY_TIMEOUT"


def test_what_the_query_modules_use_of_the_engine_is_the_duckdb_package_s_own() -> None:
    """``trellis.query.engine.duckdb`` is DuckDB's engine module: every name read through it (``duckdb.X`` in a
    module that imports it) must be the very object the ``duckdb`` package gives (same classes, same functions)."""
    from trellis.query import engine

    root = Path(trellis.query.__file__).parent
    used = set()
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        if not any(
            isinstance(node, ast.ImportFrom) and node.module == "engine" and node.level == 1 for node in ast.walk(tree)
        ):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "duckdb":
                used.add(node.attr)
    assert {"connect", "Error", "CatalogException", "tokenize", "DuckDBPyConnection"} <= used
    for name in sorted(used):
        assert getattr(engine.duckdb, name) is getattr(duckdb, name), name


def test_holding_other_repositories_is_what_the_list_of_indexed_repositories_says(
    current: Path, store: vcs.Store
) -> None:
    from trellis.query.caughtup import holds_others, indexed_repositories

    store.create_repository("empty", ALICE)  # a repositories row, no refs, no commits
    with Indexer(current) as ix:
        ix.sync()
        indexed = set(indexed_repositories(ix.connection))
        assert indexed == {"demo", "empty"}
        for names in ([], ["demo"], ["empty"], ["demo", "empty"], ["demo", "empty", "other"], ["other"]):
            assert holds_others(ix.connection, names) is (not indexed <= set(names)), names


def test_an_answer_may_leave_its_connection_open_for_the_process_end(current: Path) -> None:
    """close=False (a process that ends right after): the answer is the same, its connection stays open (kept in
    LEFT_OPEN) and a refusal or a fallback closes it as ever."""
    from trellis.query import readonly

    sql = "SELECT count(*) AS n FROM commits"
    before = len(readonly.LEFT_OPEN)
    closed = _read(current, sql)
    assert closed is not None and _read(current, sql, close=False) == closed
    assert len(readonly.LEFT_OPEN) == before + 1
    con = readonly.LEFT_OPEN.pop()
    assert con.execute("SELECT 1").fetchall() == [(1,)]  # still open
    con.close()
    assert _read(current, "SELECT commit_time FROM commits", close=False) is None
    with pytest.raises(QueryError):
        _read(current, "DELETE FROM commits", close=False)
    assert len(readonly.LEFT_OPEN) == before


def test_the_plain_value_classes_behave_as_frozen_dataclasses() -> None:
    """DatabaseSettings and QueryValues are plain classes (a trellis query process imports no dataclasses): the
    same construction, defaults, equality, hashing, repr, immutability and copies as the frozen dataclasses were."""
    import copy
    import dataclasses
    import pickle

    from trellis.query import DatabaseSettings

    @dataclasses.dataclass(frozen=True)
    class DatabaseSettings_:
        memory_limit: str = "2GB"
        threads: int = 2
        max_temp_directory_size: str = "8GB"

    for kw in ({}, {"memory_limit": "512MiB"}, {"threads": 1, "max_temp_directory_size": "1GB"}):
        ours, theirs = DatabaseSettings(**kw), DatabaseSettings_(**kw)  # type: ignore[arg-type]
        assert repr(ours) == repr(theirs).rsplit(".", 1)[-1].replace("DatabaseSettings_", "DatabaseSettings")
        assert (ours.memory_limit, ours.threads, ours.max_temp_directory_size) == dataclasses.astuple(theirs)
        assert ours == DatabaseSettings(**kw) and hash(ours) == hash(DatabaseSettings(**kw))  # type: ignore[arg-type]
        assert pickle.loads(pickle.dumps(ours)) == ours == copy.copy(ours) == copy.deepcopy(ours)
    assert DatabaseSettings() != DatabaseSettings(threads=1) and DatabaseSettings() != DatabaseSettings_()
    with pytest.raises(AttributeError):
        DatabaseSettings().threads = 3  # type: ignore[misc]
    values = QueryValues(("a",), ("BIGINT",), [(1,)], False)
    assert values == QueryValues(("a",), ("BIGINT",), [(1,)], False) != QueryValues(("a",), ("BIGINT",), [(1,)], True)
    assert repr(values) == "QueryValues(columns=('a',), types=('BIGINT',), rows=[(1,)], truncated=False)"


@pytest.mark.parametrize("path", ["read_current", "run_query"])
def test_ctrl_c_during_a_statement_is_a_keyboard_interrupt(current: Path, path: str) -> None:
    """DuckDB's client reports a KeyboardInterrupt raised by a signal handler during a statement as
    RuntimeError('Query interrupted'): both query paths give the KeyboardInterrupt back (the CLI then stops with
    status 130), neither a failed query nor a traceback."""
    import os
    import signal
    import threading

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, interrupt)
    except ValueError:
        pytest.skip("signal handlers are set in the main thread only")
    sql = "SELECT count(*) AS n FROM range(100000000000)"
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    try:
        with pytest.raises(KeyboardInterrupt):
            timer.start()
            if path == "read_current":
                _read(current, sql, timeout_s=60)
            else:
                _synced(current, sql, timeout_s=60)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
