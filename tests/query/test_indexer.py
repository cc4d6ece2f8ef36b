"""The indexer follows git: incremental sync, rebuild, check, deletion, concurrency, backfill."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import flatten_session_steps, git, repo_path
from trellis import vcs
from trellis.query import Indexer, SyncStats, run_query

from .conftest import dump, toy_differ

ALICE = vcs.Identity("alice")


def _count(ix: Indexer, sql: str) -> int:
    return int(ix.connection.execute(sql).fetchall()[0][0])


def _populate(store: vcs.Store, name: str = "demo") -> vcs.Session:
    store.create_repository(name, ALICE)
    store.commit(name, "main", [vcs.PutFile("a.py", b"def f():\n    return 1\n")], "add a", ALICE)
    session = store.create_session(name, ALICE, model="m1", task="fix f")
    store.commit(
        name,
        session.branch_id,
        [vcs.PutFile("a.py", b"def f():\n    return 2\n")],
        "edit f",
        ALICE,
        session_id=session.session_id,
        step=vcs.StepInput(
            thought="f is wrong",
            action="edit",
            arguments_json='{"path": "a.py"}',
            input_tokens=100,
            output_tokens=20,
            cost_usd=0.01,
            latency_ms=1500,
        ),
    )
    store.record_step(name, session.session_id, vcs.StepInput(action="run_tests", observation="ok"), ALICE)
    store.commit(
        name, session.branch_id, [vcs.RenameFile("a.py", "b.py")], "move", ALICE, session_id=session.session_id
    )
    store.end_session(name, session.session_id, vcs.SessionStatus.SUCCEEDED, ALICE, outcome="tests pass")
    return session


def test_sync_indexes_commits_refs_sessions_and_steps(store: vcs.Store, indexer: Indexer) -> None:
    session = _populate(store)
    stats = indexer.sync()
    assert stats.commits_added == 4 and stats.steps_added == 3 and stats.sessions_changed == 1
    assert indexer.check() == []
    con = indexer.connection
    rows = con.execute(
        "SELECT title, agent, session_id, step_index, files_changed FROM commits ORDER BY commit_time, title"
    ).fetchall()
    titles = {r[0]: r for r in rows}
    assert titles["edit f"][1:] == ("alice", session.session_id, 1, 1)
    assert titles["move"][3] == 3
    assert con.execute(
        "SELECT status, old_path, path, similarity FROM file_changes WHERE status = 'renamed'"
    ).fetchall() == [("renamed", "a.py", "b.py", 100)]
    assert con.execute("SELECT status, outcome, step_count, input_tokens, cost_usd FROM sessions").fetchall() == [
        ("succeeded", "tests pass", 3, 100, 0.01)
    ]
    steps = con.execute(
        "SELECT step_index, action, commit_id IS NULL, latency_ms, arguments_json->>'path' "
        "FROM steps ORDER BY step_index"
    ).fetchall()
    assert steps == [(1, "edit", False, 1500, "a.py"), (2, "run_tests", True, 0, None), (3, "commit", False, 0, None)]
    summary = con.execute("SELECT steps, commits, total_tokens, files_changed, status FROM session_summary").fetchall()
    assert summary == [(3, 2, 120, 2, "succeeded")]
    kinds = dict(con.execute("SELECT kind, count(*) FROM refs GROUP BY kind").fetchall())
    assert kinds == {"branch": 2, "session": 1}


def test_steps_are_indexed_from_subtrees_and_from_the_flat_layout(
    store: vcs.Store, indexer: Indexer, data_dir: Path
) -> None:
    """Sessions keep their steps in subtrees of 100; those written before, in ``steps/`` itself."""
    store.create_repository("demo", ALICE)
    old = store.create_session("demo", ALICE)
    store.record_steps("demo", old.session_id, [vcs.StepInput(action=f"o{i}") for i in range(1, 6)], ALICE)
    flatten_session_steps(repo_path(data_dir, "demo"), old.session_id)
    long = store.create_session("demo", ALICE)
    store.record_steps("demo", long.session_id, [vcs.StepInput(action=f"l{i}") for i in range(1, 151)], ALICE)
    assert indexer.sync().steps_added == 155
    assert indexer.check() == []
    # Incremental: only the new steps are read and added (the indexer skips subtrees it has indexed).
    store.record_steps("demo", long.session_id, [vcs.StepInput(action=f"l{i}") for i in range(151, 231)], ALICE)
    store.record_step("demo", old.session_id, vcs.StepInput(action="o6"), ALICE)
    assert indexer.sync().steps_added == 81
    assert indexer.check() == []
    rows = indexer.connection.execute(
        "SELECT session_id, list(action ORDER BY step_index), list(step_index ORDER BY step_index) "
        "FROM steps GROUP BY session_id"
    ).fetchall()
    got = {sid: (actions, indexes) for sid, actions, indexes in rows}
    assert got[old.session_id] == ([f"o{i}" for i in range(1, 7)], list(range(1, 7)))
    assert got[long.session_id] == ([f"l{i}" for i in range(1, 231)], list(range(1, 231)))


def test_sync_is_incremental(store: vcs.Store, indexer: Indexer) -> None:
    _populate(store)
    indexer.sync()
    assert not indexer.sync().changed
    store.commit("demo", "main", [vcs.PutFile("c.txt", b"x\n")], "one more", ALICE)
    stats = indexer.sync_repository("demo")
    assert (stats.commits_added, stats.refs_changed, stats.file_changes_added) == (1, 1, 1)
    assert indexer.check() == []


def test_a_sync_reads_only_the_commits_above_the_indexed_tips(
    store: vcs.Store, indexer: Indexer, data_dir: Path
) -> None:
    """Micro-commits share their timestamps; libgit2's walk, hiding the indexed tips, then read the whole
    history on every sync. Here the history below the indexed tips is gone, and the sync still catches up."""
    _populate(store)
    store.create_branch("demo", "side", "main")
    indexer.sync()
    old = set(indexer.connection.execute("SELECT commit_id FROM commits").fetchall())
    tips = {c for _, c in indexer.connection.execute("SELECT ref_name, commit_id FROM refs").fetchall()}
    path = repo_path(data_dir, "demo")
    for (commit_id,) in old:
        if commit_id not in tips:
            (path / "objects" / commit_id[:2] / commit_id[2:]).unlink()
    store.commit("demo", "main", [vcs.PutFile("c.txt", b"x\n")], "one more", ALICE)
    store.commit("demo", "side", [vcs.PutFile("d.txt", b"y\n")], "on the side", ALICE)
    stats = indexer.sync_repository("demo")
    assert (stats.commits_added, stats.commits_removed, stats.refs_changed) == (2, 0, 2)
    assert _count(indexer, "SELECT count(*) FROM commits") == len(old) + 2


def test_deleted_branch_drops_commits_only_it_reached(store: vcs.Store, indexer: Indexer) -> None:
    store.create_repository("demo", ALICE)
    store.create_branch("demo", "side", "main")
    store.commit("demo", "side", [vcs.PutFile("s.txt", b"s\n")], "side work", ALICE)
    indexer.sync()
    assert _count(indexer, "SELECT count(*) FROM commits") == 2
    store.delete_branch("demo", "side")
    stats = indexer.sync()
    assert stats.commits_removed == 1
    assert _count(indexer, "SELECT count(*) FROM commits") == 1
    assert _count(indexer, "SELECT count(*) FROM file_changes") == 0
    assert indexer.check() == []


def test_commits_of_a_deleted_session_branch_stay_reachable_through_the_session(
    store: vcs.Store, indexer: Indexer
) -> None:
    session = _populate(store)
    indexer.sync()
    store.delete_branch("demo", session.branch_id)
    assert indexer.sync().commits_removed == 0
    assert _count(indexer, "SELECT count(*) FROM commits") == 4
    assert indexer.check() == []


def test_rebuild_gives_an_identical_index(store: vcs.Store, data_dir: Path) -> None:
    _populate(store, "one")
    _populate(store, "two")
    with Indexer(data_dir, entity_differ=toy_differ) as ix:
        ix.sync()
        store.commit("one", "main", [vcs.PutFile("z.py", b"def z():\n    return 0\n")], "z", ALICE)
        ix.sync()  # incremental
        before = dump(ix)
        ix.rebuild()
        assert dump(ix) == before
        assert before["entity_changes"]
    shutil.copy(data_dir / "index.duckdb", data_dir / "copy.duckdb")
    (data_dir / "index.duckdb").unlink()
    with Indexer(data_dir, entity_differ=toy_differ) as ix:  # deleted: rebuilt from git on sync
        ix.sync()
        assert dump(ix) == before


def test_rebuild_while_another_cursor_has_a_write_open(store: vcs.Store, data_dir: Path) -> None:
    """A rebuild while another cursor of the index's connection has a write transaction open (the fuzz test
    met one through RebuildIndex): its checkpoint waits for DuckDB's next one instead of failing the rebuild."""
    _populate(store, "one")
    with Indexer(data_dir, entity_differ=toy_differ) as ix:
        ix.sync()
        before = dump(ix)
        ix.connection.execute("CREATE TABLE scratch (a INTEGER)")  # not one of the index's tables
        other = ix.connection.cursor()
        other.execute("BEGIN TRANSACTION")
        other.execute("INSERT INTO scratch VALUES (1)")
        ix.rebuild()
        other.execute("COMMIT")
        assert dump(ix) == before


def test_check_reports_a_lagging_index_and_sync_recovers(store: vcs.Store, indexer: Indexer) -> None:
    session = _populate(store)
    indexer.sync()
    store.commit("demo", "main", [vcs.PutFile("late.txt", b"late\n")], "late", ALICE)
    store.record_step("demo", store.create_session("demo", ALICE).session_id, vcs.StepInput(action="x"), ALICE)
    store.create_repository("fresh", ALICE)
    problems = indexer.check()
    assert any("refs/heads/main is at" in p for p in problems)
    assert any("commits are missing" in p for p in problems)
    assert any("session" in p and "missing" in p for p in problems)
    assert any("'fresh' is in git but not in the index" in p for p in problems)
    indexer.sync()
    assert indexer.check() == []
    assert session.session_id


def test_check_reports_damage_to_the_index(store: vcs.Store, indexer: Indexer) -> None:
    _populate(store)
    indexer.sync()
    con = indexer.connection
    con.execute("DELETE FROM commits WHERE title = 'add a'")
    con.execute("DELETE FROM steps WHERE step_index = 2")
    con.execute("INSERT INTO refs VALUES ('demo', 'refs/heads/ghost', 'branch', 'ghost', '" + "0" * 40 + "')")
    problems = indexer.check()
    assert any("1 commits are missing" in p for p in problems)
    assert any("has 3 steps in git but 2 in the index" in p for p in problems)
    assert any("refs/heads/ghost is in the index but no longer in git" in p for p in problems)
    indexer.rebuild()
    assert indexer.check() == []


def test_deleted_repository_leaves_the_index(store: vcs.Store, indexer: Indexer) -> None:
    _populate(store, "one")
    _populate(store, "two")
    indexer.sync()
    store.delete_repository("one")
    stats = indexer.sync()
    assert stats.repositories_removed == 1
    for table in ("repositories", "commits", "refs", "sessions", "steps", "file_changes"):
        assert _count(indexer, f"SELECT count(*) FROM {table} WHERE repository = 'one'") == 0
        assert _count(indexer, f"SELECT count(*) FROM {table} WHERE repository = 'two'") > 0
    indexer.delete_repository("two")
    assert _count(indexer, "SELECT count(*) FROM commits") == 0


def test_sync_of_a_missing_repository_is_a_no_op(indexer: Indexer) -> None:
    assert not indexer.sync_repository("nothing").changed
    with pytest.raises(vcs.InvalidArgument):
        indexer.sync_repository("../escape")


def test_entities_are_backfilled_when_the_engine_arrives(store: vcs.Store, data_dir: Path) -> None:
    _populate(store)
    with Indexer(data_dir, entity_differ=None) as ix:
        ix.sync()
        assert _count(ix, "SELECT count(*) FROM entity_changes") == 0
        assert _count(ix, "SELECT count(*) FROM commits WHERE entity_changes IS NULL") == 4
    with Indexer(data_dir, entity_differ=toy_differ) as ix:
        stats = ix.sync()
        assert stats.entity_backfilled_commits == 4
        assert _count(ix, "SELECT count(*) FROM commits WHERE entity_changes IS NULL") == 0
        assert ix.check() == []
        backfilled = dump(ix)
        ix.rebuild()
        assert dump(ix) == backfilled


def test_a_failing_entity_differ_does_not_stop_indexing(store: vcs.Store, data_dir: Path) -> None:
    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("boom")

    _populate(store)
    with Indexer(data_dir, entity_differ=broken) as ix:
        assert ix.sync().commits_added == 4
        assert _count(ix, "SELECT count(*) FROM index_state WHERE entities = 'failed'") == 3


def test_queries_run_while_the_indexer_writes(store: vcs.Store, indexer: Indexer) -> None:
    store.create_repository("demo", ALICE)
    indexer.sync()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                result = run_query(indexer, "SELECT count(*) AS n FROM commits", max_rows=10, timeout_s=10)
                assert result.table.num_rows == 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(15):
            store.commit("demo", "main", [vcs.PutFile(f"f{i}.txt", str(i).encode())], f"c{i}", ALICE)
            indexer.sync_repository("demo")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert _count(indexer, "SELECT count(*) FROM commits") == 16


def test_tags_are_indexed(store: vcs.Store, indexer: Indexer, data_dir: Path) -> None:
    import pygit2

    store.create_repository("demo", ALICE)
    repo = pygit2.Repository(str(data_dir / "repos" / "demo.git"))
    head = repo.references["refs/heads/main"].target
    repo.create_tag("v1", head, pygit2.enums.ObjectType.COMMIT, pygit2.Signature("a", "a@b"), "release")
    commit = repo[head]
    assert isinstance(commit, pygit2.Commit)
    repo.references.create("refs/tags/tree-tag", commit.tree_id)
    indexer.sync()
    assert indexer.connection.execute("SELECT kind, name, commit_id FROM refs WHERE kind = 'tag'").fetchall() == [
        ("tag", "v1", str(head))
    ]
    assert indexer.check() == []


def test_indexer_survives_reopen(store: vcs.Store, data_dir: Path) -> None:
    _populate(store)
    with Indexer(data_dir, entity_differ=None) as ix:
        ix.sync()
        before = dump(ix)
    with Indexer(data_dir, entity_differ=None) as ix:
        assert not ix.sync().changed
        assert dump(ix) == before


def test_background_indexer_catches_up_and_follows_notifications(store: vcs.Store, indexer: Indexer) -> None:
    from trellis.query import BackgroundIndexer

    _populate(store)
    background = BackgroundIndexer(indexer).start()
    try:
        assert background.wait_idle(30)
        assert indexer.check() == []
        for i in range(20):
            store.commit("demo", "main", [vcs.PutFile("n.txt", b"%d" % i)], f"n{i}", ALICE)
            background.notify("demo")
        background.notify("no-such-repository")
        assert background.wait_idle(30)
        assert indexer.check() == []
    finally:
        background.stop()


def test_background_indexer_gathers_the_writes_of_an_interval_into_one_sync(store: vcs.Store, indexer: Indexer) -> None:
    """With ``min_interval``, the writes notified after a sync wait for the interval and are indexed by one sync;
    waiting for the index (and stopping) does not wait for the interval."""
    from trellis.query import BackgroundIndexer

    _populate(store)
    background = BackgroundIndexer(indexer, min_interval=3600).start()
    try:
        assert background.wait_idle(30)  # the first sync does not wait
        assert indexer.check() == []
        store.commit("demo", "main", [vcs.PutFile("n.txt", b"first")], "first", ALICE)
        background.notify("demo")
        before = indexer.generation
        assert background.wait_idle(30)
        one_sync = indexer.generation - before  # the write transactions of one sync of one new commit
        assert one_sync > 0 and indexer.check() == []
        for i in range(5):
            store.commit("demo", "main", [vcs.PutFile("n.txt", b"%d" % i)], f"n{i}", ALICE)
            background.notify("demo")
        before = indexer.generation
        assert background.wait_idle(30)  # an hour's interval is not waited for
        assert indexer.generation - before == one_sync  # five writes, one sync
        assert indexer.check() == []
        store.commit("demo", "main", [vcs.PutFile("n.txt", b"last")], "last", ALICE)
        background.notify("demo")  # now waiting for the interval
    finally:
        background.stop(timeout=30)
    assert not background._thread.is_alive()  # stopping did not wait for the interval either


def test_sync_skips_a_repository_as_it_was_and_follows_any_change(store: vcs.Store, data_dir: Path) -> None:
    """sync() records what each repository's references said when it caught up (index_info) and does not open
    a repository that still says the same; any change of a reference, HEAD or the configuration is followed."""
    _populate(store)
    with Indexer(data_dir) as ix:
        ix.sync()
        recorded = ix.connection.execute("SELECT key FROM index_info WHERE starts_with(key, 'caught_up:')").fetchall()
        assert recorded == [("caught_up:demo",)]
        generation = ix.generation
        assert ix.sync() == SyncStats(repositories=1) and ix.generation == generation
        store.commit("demo", "main", [vcs.PutFile("c.py", b"z = 1\n")], "more", ALICE)
        assert ix.sync().commits_added == 1
        git(repo_path(data_dir, "demo"), "config", "trellis.description", "renamed")
        ix.sync()
        assert _count(ix, "SELECT count(*) FROM repositories WHERE description = 'renamed'") == 1
        # sync_repository (the server, after each commit) forgets it: the next sync() looks again
        ix.sync_repository("demo")
        assert ix.connection.execute("SELECT count(*) FROM index_info WHERE key = 'caught_up:demo'").fetchall() == [
            (0,)
        ]
    with Indexer(data_dir) as ix:  # another process, later: the record is in the index
        ix.sync()
        assert ix.sync() == SyncStats(repositories=1)
        shutil.rmtree(repo_path(data_dir, "demo"))
        assert ix.sync().repositories_removed == 1
        assert ix.connection.execute(
            "SELECT count(*) FROM index_info WHERE starts_with(key, 'caught_up:')"
        ).fetchall() == [(0,)]


def test_an_index_without_entity_rows_is_not_skipped(store: vcs.Store, data_dir: Path) -> None:
    """What an index built without the semantic diff records is no reason to skip: a later sync with it
    still fills in the entity rows."""
    _populate(store)
    with Indexer(data_dir, entity_differ=None) as ix:
        ix.sync()
    with Indexer(data_dir, entity_differ=toy_differ) as ix:
        assert ix.sync().entity_backfilled_commits > 0
