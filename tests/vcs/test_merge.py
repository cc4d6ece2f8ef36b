"""Merges in the core: fast-forward, up to date, merge commits, conflicts and previews that write nothing.

These use libgit2's line merge (no file merger); the structured merger is
tested in tests/semantic_diff and through the server in tests/e2e/test_merge.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_fsck_clean, git, object_count, repo_path
from trellis import vcs


@pytest.fixture
def forked(store: vcs.Store, alice: vcs.Identity) -> str:
    """main with app.py; branch `side` forked from it."""
    store.create_repository("demo", alice)
    store.commit("demo", "main", [vcs.PutFile("app.py", b"a = 1\n\n\nb = 2\n")], "base", alice)
    store.create_branch("demo", "side", "main")
    return store.get_branch("demo", "main").head_commit_id


def _read(store: vcs.Store, revision: str, path: str) -> bytes:
    return store.read_file("demo", revision, path).content


def test_fast_forward_moves_the_target_to_the_source(store: vcs.Store, alice: vcs.Identity, forked: str) -> None:
    side = store.commit("demo", "side", [vcs.PutFile("new.py", b"x = 1\n")], "side", alice).commit
    result = store.merge("demo", "main", "side", alice)
    assert result.clean and result.strategy == "fast_forward" and not result.up_to_date
    assert result.commit is not None and result.commit.commit_id == side.commit_id
    assert store.get_branch("demo", "main").head_commit_id == side.commit_id


def test_merging_an_ancestor_is_up_to_date_and_writes_nothing(
    store: vcs.Store, alice: vcs.Identity, forked: str, data_dir: Path
) -> None:
    store.commit("demo", "main", [vcs.PutFile("m.py", b"m = 1\n")], "main", alice)
    head = store.get_branch("demo", "main").head_commit_id
    result = store.merge("demo", "main", "side", alice)
    assert result.up_to_date and result.clean
    assert result.commit is not None and result.commit.commit_id == head
    assert store.get_branch("demo", "main").head_commit_id == head


def test_diverged_branches_get_a_merge_commit_with_both_parents(
    store: vcs.Store, alice: vcs.Identity, forked: str, data_dir: Path
) -> None:
    main = store.commit("demo", "main", [vcs.PutFile("app.py", b"a = 10\n\n\nb = 2\n")], "main", alice).commit
    side = store.commit("demo", "side", [vcs.PutFile("app.py", b"a = 1\n\n\nb = 20\n")], "side", alice).commit
    result = store.merge("demo", "main", "side", alice, message="Merge side")
    assert result.clean and result.strategy == "line" and result.commit is not None
    assert result.commit.parent_ids == (main.commit_id, side.commit_id)
    assert result.commit.message.startswith("Merge side\n")
    assert "Trellis-Agent: alice" in result.commit.message
    assert _read(store, "main", "app.py") == b"a = 10\n\n\nb = 20\n"
    assert_fsck_clean(repo_path(data_dir, "demo"))


def test_conflicts_are_data_and_nothing_is_written(
    store: vcs.Store, alice: vcs.Identity, forked: str, data_dir: Path
) -> None:
    store.commit("demo", "main", [vcs.PutFile("app.py", b"a = 10\n\n\nb = 2\n")], "main", alice)
    store.commit("demo", "side", [vcs.PutFile("app.py", b"a = 11\n\n\nb = 2\n")], "side", alice)
    head = store.get_branch("demo", "main").head_commit_id
    before = object_count(repo_path(data_dir, "demo"))
    result = store.merge("demo", "main", "side", alice)
    assert not result.clean and result.commit is None
    assert [c.path for c in result.conflicts] == ["app.py"]
    assert result.conflicts[0].left.startswith(b"a = 10") and result.conflicts[0].right.startswith(b"a = 11")
    assert store.get_branch("demo", "main").head_commit_id == head
    assert object_count(repo_path(data_dir, "demo")) == before


def test_preview_reports_the_merge_without_writing(
    store: vcs.Store, alice: vcs.Identity, forked: str, data_dir: Path
) -> None:
    store.commit("demo", "main", [vcs.PutFile("m.py", b"m = 1\n")], "main", alice)
    store.commit("demo", "side", [vcs.PutFile("s.py", b"s = 1\n")], "side", alice)
    head = store.get_branch("demo", "main").head_commit_id
    refs = git(repo_path(data_dir, "demo"), "for-each-ref")
    before = object_count(repo_path(data_dir, "demo"))
    result = store.merge("demo", "main", "side", alice, preview=True)
    assert result.clean and result.commit is None and result.strategy == "line"
    assert store.get_branch("demo", "main").head_commit_id == head
    assert git(repo_path(data_dir, "demo"), "for-each-ref") == refs
    assert object_count(repo_path(data_dir, "demo")) == before


def test_stale_expected_head_is_refused(store: vcs.Store, alice: vcs.Identity, forked: str) -> None:
    store.commit("demo", "side", [vcs.PutFile("s.py", b"s = 1\n")], "side", alice)
    store.commit("demo", "main", [vcs.PutFile("m.py", b"m = 1\n")], "main", alice)
    with pytest.raises(vcs.StaleHead) as caught:
        store.merge("demo", "main", "side", alice, expected_head=forked)
    assert caught.value.actual_head == store.get_branch("demo", "main").head_commit_id


def test_merge_in_a_session_records_a_step(store: vcs.Store, alice: vcs.Identity, forked: str) -> None:
    session = store.create_session("demo", alice, branch="agents/alice/s1")
    store.commit("demo", "side", [vcs.PutFile("s.py", b"s = 1\n")], "side", alice)
    store.commit(
        "demo", session.branch_id, [vcs.PutFile("m.py", b"m = 1\n")], "mine", alice, session_id=session.session_id
    )
    result = store.merge(
        "demo",
        session.branch_id,
        "side",
        alice,
        session_id=session.session_id,
        step=vcs.StepInput(action="merge", thought="take side's work"),
    )
    assert result.clean and result.step is not None and result.commit is not None
    assert result.step.commit_id == result.commit.commit_id and result.step.input.action == "merge"
    assert f"Trellis-Session: {session.session_id}" in result.commit.message


def test_unknown_target_or_source_is_not_found(store: vcs.Store, alice: vcs.Identity, forked: str) -> None:
    with pytest.raises(vcs.NotFound):
        store.merge("demo", "nope", "side", alice)
    with pytest.raises(vcs.NotFound):
        store.merge("demo", "main", "nope", alice)
