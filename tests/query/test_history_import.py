"""Importing an existing git history: all branches, every commit indexed, resumable, with progress."""

from __future__ import annotations

import concurrent.futures.process
import subprocess
import threading
from pathlib import Path

import pytest

from trellis import vcs
from trellis.query import HistoryImportError, Indexer, import_history

from ..conftest import GIT_ENV, git
from ..semantic_diff.fixtures import big_tree

ROOT = Path(__file__).resolve().parents[2]


def _git(cwd: Path, *args: str) -> str:
    env = {**GIT_ENV, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def source(tmp_path: Path) -> Path:
    work = tmp_path / "source"
    work.mkdir()
    _git(work, "init", "-q", "-b", "trunk")
    (work / "lib.py").write_text("def f():\n    return 1\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "first")
    _git(work, "checkout", "-qb", "feature")
    (work / "lib.py").write_text("def f():\n    return 2\n\n\ndef g():\n    return 3\n")
    _git(work, "commit", "-qam", "feature work")
    _git(work, "checkout", "-q", "trunk")
    (work / "other.txt").write_text("x\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "trunk work")
    _git(work, "merge", "-q", "--no-ff", "feature", "-m", "merge feature")
    _git(work, "tag", "v1.0")
    return work


def test_import_copies_every_branch_and_indexes_every_commit(source: Path, data_dir: Path) -> None:
    progress: list[tuple[int, int]] = []
    with Indexer(data_dir) as ix:
        result = import_history(
            data_dir, source, "imported", indexer=ix, workers=2, on_progress=lambda d, t: progress.append((d, t))
        )
        assert (result.branches, result.tags, result.resumed) == (2, 1, False)
        assert result.stats.commits_added == 4
        assert progress[-1] == (4, 4)
        assert ix.check() == []
        con = ix.connection
        assert con.execute("SELECT default_branch FROM repositories").fetchall() == [("trunk",)]
        merges = con.execute("SELECT title, parent_count FROM commits WHERE parent_count = 2").fetchall()
        assert merges == [("merge feature", 2)]
        assert con.execute("SELECT count(*) FROM commit_parents").fetchall() == [(4,)]
        if ix.differ is not None:
            names = {q for (q,) in con.execute("SELECT qualname FROM entity_changes").fetchall()}
            assert "lib.g" in names
    path = data_dir / "repos" / "imported.git"
    assert git(path, "rev-parse", "refs/tags/v1.0^{commit}") == git(source / ".git", "rev-parse", "v1.0^{commit}")
    assert vcs.Store(data_dir).get_repository("imported").default_branch == "trunk"


def test_import_is_resumable_and_picks_up_new_commits(source: Path, data_dir: Path) -> None:
    with Indexer(data_dir, entity_differ=None) as ix:
        import_history(data_dir, source, "imported", indexer=ix, workers=1)
        # an interrupted import: the index lost some commits
        ix.connection.execute("DELETE FROM commits WHERE title = 'first'")
        ix.connection.execute("DELETE FROM index_state WHERE commit_id NOT IN (SELECT commit_id FROM commits)")
        ix.connection.execute("DELETE FROM refs")
        (source / "lib.py").write_text("def f():\n    return 9\n")
        _git(source, "commit", "-qam", "later")
        again = import_history(data_dir, source, "imported", indexer=ix, workers=1)
        assert again.resumed
        assert again.stats.commits_added == 2  # the lost one and the new one, nothing twice
        assert ix.check() == []


def test_import_refuses_existing_names_and_non_repositories(source: Path, data_dir: Path, tmp_path: Path) -> None:
    vcs.Store(data_dir).create_repository("taken", vcs.Identity("alice"))
    with pytest.raises(vcs.AlreadyExists):
        import_history(data_dir, source, "taken", workers=1)
    with pytest.raises(HistoryImportError) as caught:
        import_history(data_dir, tmp_path / "nowhere", "x", workers=1)
    assert caught.value.reason == "IMPORT_SOURCE_NOT_FOUND"
    with pytest.raises(vcs.InvalidArgument):
        import_history(data_dir, source, "../bad", workers=1)


def test_import_of_the_projects_own_history(data_dir: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    expected = len(git(ROOT / ".git", "rev-list", "--branches", "--remotes", "--tags").split())
    with Indexer(data_dir) as ix:
        result = import_history(data_dir, ROOT, "trellis", indexer=ix, workers=2)
        assert result.stats.commits_added == expected
        assert ix.check() == []
        (files,) = ix.connection.execute("SELECT count(*) FROM file_changes").fetchall()[0]
        assert files > 0
        if ix.differ is not None:
            (entities,) = ix.connection.execute(
                "SELECT count(*) FROM entity_changes WHERE language = 'python'"
            ).fetchall()[0]
            assert entities > 0
            assert ix.connection.execute("SELECT count(*) FROM index_state WHERE entities <> 'indexed'").fetchall() == [
                (0,)
            ]


def test_import_from_a_linked_worktree(source: Path, data_dir: Path, tmp_path: Path) -> None:
    """A linked worktree's git directory lives under the main one's .git/worktrees/: import the work tree."""
    linked = tmp_path / "linked"
    _git(source, "worktree", "add", "-q", str(linked), "-b", "side")
    with Indexer(data_dir) as ix:
        result = import_history(data_dir, linked, "from-worktree", indexer=ix, workers=1)
        assert (result.branches, result.tags) == (3, 1)
        assert result.stats.commits_added == 4


def test_import_brings_remote_tracking_branches_as_branches(source: Path, tmp_path: Path, data_dir: Path) -> None:
    """A fresh clone knows the project's other branches only as refs/remotes/origin/*: they come in too."""
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(source), str(clone))
    assert "refs/remotes/origin/HEAD" in _git(clone, "for-each-ref", "--format=%(refname)")
    with Indexer(data_dir, entity_differ=None) as ix:
        result = import_history(data_dir, clone, "cloned", indexer=ix, workers=1)
        assert ix.check() == []
    path = data_dir / "repos" / "cloned.git"
    heads = sorted(git(path, "for-each-ref", "--format=%(refname)", "refs/heads").split())
    assert heads == ["refs/heads/origin/feature", "refs/heads/origin/trunk", "refs/heads/trunk"]
    assert result.branches == 3 and result.stats.commits_added == 4
    assert git(path, "rev-parse", "refs/heads/origin/feature") == git(source / ".git", "rev-parse", "feature")


def _one_file_history(work: Path, commits: int) -> Path:
    """A repository of ``commits`` commits, each changing the one function of ``m.py``."""
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    for i in range(commits):
        (work / "m.py").write_text(f"def f():\n    return {i}\n")
        _git(work, "add", "-A")
        _git(work, "commit", "-qm", f"c{i}")
    return work


@pytest.mark.parametrize("workers", [1, 2])
def test_import_progress_moves_commit_by_commit_not_batch_by_batch(
    tmp_path: Path, data_dir: Path, workers: int
) -> None:
    work = _one_file_history(tmp_path / "long", 120)
    progress: list[tuple[int, int]] = []
    with Indexer(data_dir, entity_differ=None, batch_commits=500) as ix:
        import_history(
            data_dir, work, "long", indexer=ix, workers=workers, on_progress=lambda d, t: progress.append((d, t))
        )
    done = [d for d, _ in progress]
    assert done == sorted(done) and progress[-1] == (120, 120)
    assert len(set(done)) >= 8  # one batch of 500 commits, yet the bar moved many times


def _entity_rows(ix: Indexer) -> list[tuple[object, ...]]:
    return ix.connection.execute(
        "SELECT commit_id, ordinal, path, old_path, kind, qualname, old_qualname, change, details, old_start_line, "
        "old_end_line, new_start_line, new_end_line, similarity FROM entity_changes ORDER BY commit_id, ordinal"
    ).fetchall()


def test_a_big_first_commit_is_parsed_by_every_worker_with_the_same_rows(tmp_path: Path) -> None:
    """A short history whose commits add and change whole trees: computed in this process, the files parsed from
    scratch spread over the workers (semantic_diff.pool: started by a fork server here, worth it from 4 MiB); the
    rows are those of one process."""
    work = tmp_path / "big"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    for variant in (0, 1):
        for old in work.glob("*/"):
            if old.name != ".git":
                subprocess.run(["rm", "-rf", str(old)], check=True)
        for rel, content in big_tree(variant, modules=640).items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(content)
        _git(work, "add", "-A")
        _git(work, "commit", "-qm", f"tree {variant}")
    rows = {}
    for workers in (1, 2):
        data = tmp_path / f"data{workers}"
        with Indexer(data) as ix:
            if ix.differ is None:
                pytest.skip("no semantic diff engine")
            import_history(data, work, "big", indexer=ix, workers=workers)
            rows[workers] = _entity_rows(ix)
            states = ix.connection.execute("SELECT DISTINCT entities FROM index_state").fetchall()
        assert states == [("indexed",)]
    assert rows[2] == rows[1] and len(rows[1]) > 500


def test_an_import_worker_loads_neither_duckdb_nor_arrow() -> None:
    """A worker process imports what computing rows needs (git, the semantic diff's entry points), not the
    indexer's DuckDB and Arrow: each worker of each import would pay for them at start."""
    import sys

    code = (
        "import sys, trellis.query.import_worker as w; "
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'trellis.query.indexer') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("interrupted", [False, True])
def test_an_import_in_lanes_leaves_no_pool_manager_thread_behind(
    tmp_path: Path, data_dir: Path, interrupted: bool
) -> None:
    """Its pools' manager threads are joined before the import returns or raises (Ctrl-C): one left running closes
    its wake-up pipe while the interpreter's exit writes to it, and Python 3.11 prints a traceback ("Bad file
    descriptor") after a clean "interrupted" (a flaky `test_ctrl_c_stops_an_import_without_a_traceback...`)."""
    work = _one_file_history(tmp_path / "long", 60)

    def progress(done: int, total: int) -> None:
        if interrupted and done >= 10:
            raise KeyboardInterrupt

    with Indexer(data_dir, entity_differ=None, batch_commits=8) as ix:
        try:
            import_history(data_dir, work, "long", indexer=ix, workers=2, on_progress=progress)
        except KeyboardInterrupt:
            assert interrupted
        else:
            assert not interrupted
    managers = [t for t in threading.enumerate() if isinstance(t, concurrent.futures.process._ExecutorManagerThread)]
    assert not [t for t in managers if t.is_alive()]
