"""Commits: change sets, compare-and-swap on expected_head, rebase, idempotent retries."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from tests.conftest import assert_fsck_clean, first_parent_history, git, object_count, repo_path
from trellis import vcs
from trellis.vcs.objects import MAX_KEPT_MESSAGE, forget_kept_commits


@pytest.fixture
def demo(store: vcs.Store, alice: vcs.Identity) -> vcs.Repository:
    return store.create_repository("demo", alice)


def _files(store: vcs.Store, revision: str = "main") -> dict[str, bytes]:
    return {
        e.path: store.read_file("demo", revision, e.path).content
        for e in store.list_tree("demo", revision, recursive=True, page_size=1000).items
        if e.kind == "file"
    }


def test_put_files_in_nested_directories(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    result = store.commit(
        "demo",
        "main",
        [vcs.PutFile("README.md", b"# hi\n"), vcs.PutFile("src/pkg/deep/mod.py", b"x = 1\n")],
        "Add files",
        alice,
        expected_head=demo.head_commit_id,
    )
    commit = result.commit
    assert commit.parent_ids == (demo.head_commit_id,)
    assert not result.rebased
    assert result.step is None
    assert commit.author.name == "alice"
    assert commit.author.email == "alice@agents.trellis.invalid"
    assert commit.committer.name == "trellis"
    assert commit.message.startswith("Add files\n")
    assert store.get_branch("demo", "main").head_commit_id == commit.commit_id
    assert _files(store) == {"README.md": b"# hi\n", "src/pkg/deep/mod.py": b"x = 1\n"}
    dirs = [e.path for e in store.list_tree("demo", recursive=True).items if e.kind == "directory"]
    assert dirs == ["src", "src/pkg", "src/pkg/deep"]


def test_executable_bit_is_stored_and_read_back(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    store.commit(
        "demo",
        "main",
        [vcs.PutFile("run.sh", b"#!/bin/sh\n", executable=True), vcs.PutFile("data.txt", b"d")],
        "m",
        alice,
    )
    assert store.read_file("demo", "main", "run.sh").executable
    assert not store.read_file("demo", "main", "data.txt").executable
    entries = {e.path: e for e in store.list_tree("demo").items}
    assert entries["run.sh"].executable and not entries["data.txt"].executable
    modes = {
        line.split()[3]: line.split()[0] for line in git(repo_path(data_dir, "demo"), "ls-tree", "main").splitlines()
    }
    assert modes == {"run.sh": "100755", "data.txt": "100644"}
    # Changing only the mode is a change.
    store.commit("demo", "main", [vcs.PutFile("run.sh", b"#!/bin/sh\n", executable=False)], "chmod -x", alice)
    assert not store.read_file("demo", "main", "run.sh").executable


def test_a_put_without_a_mode_keeps_the_mode_it_overwrites(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    store.commit(
        "demo",
        "main",
        [vcs.PutFile("bin/run.sh", b"#!/bin/sh\n", executable=True), vcs.PutFile("data.txt", b"d")],
        "m",
        alice,
    )
    store.commit(
        "demo",
        "main",
        [
            vcs.PutFile("bin/run.sh", b"#!/bin/sh\necho edited\n"),
            vcs.PutFile("data.txt", b"edited"),
            vcs.PutFile("new.txt", b"n"),
        ],
        "edit",
        alice,
    )
    modes = {
        line.split()[3]: line.split()[0]
        for line in git(repo_path(data_dir, "demo"), "ls-tree", "-r", "main").splitlines()
    }
    assert modes == {"bin/run.sh": "100755", "data.txt": "100644", "new.txt": "100644"}
    # An explicit mode still wins, both ways.
    store.commit(
        "demo",
        "main",
        [vcs.PutFile("bin/run.sh", b"x", executable=False), vcs.PutFile("data.txt", b"x", executable=True)],
        "chmod",
        alice,
    )
    assert not store.read_file("demo", "main", "bin/run.sh").executable
    assert store.read_file("demo", "main", "data.txt").executable


def test_delete_removes_files_and_empty_directories(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    store.commit("demo", "main", [vcs.PutFile("a/b/c.txt", b"c"), vcs.PutFile("a/keep.txt", b"k")], "m", alice)
    store.commit("demo", "main", [vcs.DeleteFile("a/b/c.txt")], "rm", alice)
    assert _files(store) == {"a/keep.txt": b"k"}
    assert [e.path for e in store.list_tree("demo", recursive=True).items] == ["a", "a/keep.txt"]
    store.commit("demo", "main", [vcs.DeleteFile("a/keep.txt")], "rm", alice)
    assert store.list_tree("demo", recursive=True).items == []
    assert store.get_commit("demo", "main").tree_id == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def test_rename_moves_content_and_keeps_the_mode(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    store.commit("demo", "main", [vcs.PutFile("old/tool.sh", b"echo\n", executable=True)], "m", alice)
    before = store.read_file("demo", "main", "old/tool.sh")
    store.commit("demo", "main", [vcs.RenameFile("old/tool.sh", "new/dir/tool.sh")], "mv", alice)
    after = store.read_file("demo", "main", "new/dir/tool.sh")
    assert after.content == b"echo\n" and after.executable and after.blob_id == before.blob_id
    with pytest.raises(vcs.NotFound):
        store.read_file("demo", "main", "old/tool.sh")
    assert [e.path for e in store.list_tree("demo", recursive=True).items] == ["new", "new/dir", "new/dir/tool.sh"]


def test_file_may_become_a_directory_when_deleted_in_the_same_change(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    store.commit("demo", "main", [vcs.PutFile("a", b"file")], "m", alice)
    store.commit("demo", "main", [vcs.DeleteFile("a"), vcs.PutFile("a/b", b"nested")], "m", alice)
    assert _files(store) == {"a/b": b"nested"}


def test_thousands_of_files_in_one_commit(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    changes = [vcs.PutFile(f"pkg{i % 20}/mod{i}.py", f"VALUE = {i}\n".encode()) for i in range(2000)]
    result = store.commit("demo", "main", changes, "2000 files", alice, expected_head=demo.head_commit_id)
    first = store.list_tree("demo", recursive=True, page_size=1000)
    assert len(first.items) == 1000 and first.next_page_token
    second = store.list_tree("demo", recursive=True, page_size=1000, page_token=first.next_page_token)
    third = store.list_tree("demo", recursive=True, page_size=1000, page_token=second.next_page_token)
    assert third.next_page_token == ""
    entries = first.items + second.items + third.items
    assert len([e for e in entries if e.kind == "file"]) == 2000
    assert len([e for e in entries if e.kind == "directory"]) == 20
    all_files = git(repo_path(data_dir, "demo"), "ls-tree", "-r", "--name-only", result.commit.commit_id).split()
    assert len(all_files) == 2000
    assert store.read_file("demo", "main", "pkg7/mod1987.py").content == b"VALUE = 1987\n"
    assert_fsck_clean(repo_path(data_dir, "demo"))


def test_stale_expected_head_fails_with_the_actual_head(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    moved = store.commit("demo", "main", [vcs.PutFile("a", b"1")], "m", alice).commit.commit_id
    objects = object_count(repo_path(data_dir, "demo"))
    with pytest.raises(vcs.StaleHead) as info:
        store.commit("demo", "main", [vcs.PutFile("b", b"2")], "m", alice, expected_head=demo.head_commit_id)
    error = info.value
    assert isinstance(error, vcs.FailedPrecondition)
    assert error.reason == "STALE_HEAD"
    assert error.actual_head == moved
    assert error.metadata["expected_head"] == demo.head_commit_id
    assert moved in error.message
    assert store.get_branch("demo", "main").head_commit_id == moved
    assert object_count(repo_path(data_dir, "demo")) == objects


def test_matching_expected_head_lands(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    first = store.commit("demo", "main", [vcs.PutFile("a", b"1")], "m", alice, expected_head=demo.head_commit_id)
    second = store.commit("demo", "main", [vcs.PutFile("a", b"2")], "m", alice, expected_head=first.commit.commit_id)
    assert second.commit.parent_ids == (first.commit.commit_id,)


def test_malformed_expected_head_is_invalid(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    for bad in ["main", "abc", demo.head_commit_id.upper(), demo.head_commit_id + "0"]:
        with pytest.raises(vcs.InvalidArgument) as info:
            store.commit("demo", "main", [vcs.PutFile("a", b"1")], "m", alice, expected_head=bad)
        assert info.value.reason == "INVALID_COMMIT_ID"


def test_expected_head_may_be_an_abbreviated_commit_id(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    first = store.commit(
        "demo", "main", [vcs.PutFile("a", b"1")], "m", alice, expected_head=demo.head_commit_id[:7]
    ).commit
    assert first.parent_ids == (demo.head_commit_id,)
    with pytest.raises(vcs.StaleHead) as stale:  # resolved to the full id, which is not the head
        store.commit("demo", "main", [vcs.PutFile("a", b"2")], "m", alice, expected_head=demo.head_commit_id[:12])
    assert stale.value.metadata["expected_head"] == demo.head_commit_id
    store.create_branch("demo", "topic", first.commit_id)
    store.delete_branch("demo", "topic", expected_head=first.commit_id[:8])
    assert store.merge("demo", "main", demo.head_commit_id, alice, expected_head=first.commit_id[:5]).up_to_date
    repo = pygit2.Repository(str(repo_path(data_dir, "demo")))
    absent = next(p for p in ("0000", "ffff", "abcd") if repo.get(p) is None)
    with pytest.raises(vcs.NotFound) as unknown:
        store.commit("demo", "main", [vcs.PutFile("a", b"3")], "m", alice, expected_head=absent)
    assert unknown.value.reason == "REVISION_NOT_FOUND"
    seen: dict[str, str] = {}
    n = 0
    while True:  # two objects whose ids start alike: their common prefix is ambiguous
        blob = str(repo.create_blob(b"%d" % n))
        n += 1
        if blob[:4] in seen:
            break
        seen[blob[:4]] = blob
    tree = str(store.get_commit("demo", "main").tree_id)
    for bad in (blob[:4], tree[:10]):
        with pytest.raises(vcs.InvalidArgument) as refused:
            store.commit("demo", "main", [vcs.PutFile("a", b"3")], "m", alice, expected_head=bad)
        assert refused.value.reason == "INVALID_COMMIT_ID", refused.value.message


def test_rebase_lands_a_clean_change_on_the_new_head(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    base = store.commit("demo", "main", [vcs.PutFile("shared.txt", b"one\ntwo\nthree\n")], "m", alice).commit
    other = store.commit("demo", "main", [vcs.PutFile("other.txt", b"theirs\n")], "m", alice).commit
    result = store.commit(
        "demo",
        "main",
        [vcs.PutFile("shared.txt", b"one\nTWO\nthree\n")],
        "mine",
        alice,
        expected_head=base.commit_id,
        on_stale=vcs.OnStale.REBASE,
    )
    assert result.rebased
    assert result.commit.parent_ids == (other.commit_id,)
    assert _files(store) == {"shared.txt": b"one\nTWO\nthree\n", "other.txt": b"theirs\n"}


def test_rebase_merges_edits_to_different_lines_of_one_file(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    text = b"".join(f"line {i}\n".encode() for i in range(20))
    base = store.commit("demo", "main", [vcs.PutFile("f.txt", text)], "m", alice).commit
    store.commit("demo", "main", [vcs.PutFile("f.txt", text.replace(b"line 2\n", b"LINE 2\n"))], "m", alice)
    result = store.commit(
        "demo",
        "main",
        [vcs.PutFile("f.txt", text.replace(b"line 17\n", b"LINE 17\n"))],
        "m",
        alice,
        expected_head=base.commit_id,
        on_stale=vcs.OnStale.REBASE,
    )
    assert result.rebased
    merged = store.read_file("demo", "main", "f.txt").content
    assert b"LINE 2\n" in merged and b"LINE 17\n" in merged


def test_rebase_conflict_on_the_same_lines_raises_merge_conflict(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    base = store.commit("demo", "main", [vcs.PutFile("f.txt", b"a\nb\nc\n")], "m", alice).commit
    theirs = store.commit("demo", "main", [vcs.PutFile("f.txt", b"a\nTHEIRS\nc\n")], "m", alice).commit
    with pytest.raises(vcs.MergeConflict) as info:
        store.commit(
            "demo",
            "main",
            [vcs.PutFile("f.txt", b"a\nMINE\nc\n")],
            "m",
            alice,
            expected_head=base.commit_id,
            on_stale=vcs.OnStale.REBASE,
        )
    assert isinstance(info.value, vcs.FailedPrecondition)
    assert info.value.reason == "MERGE_CONFLICT"
    assert info.value.paths == ["f.txt"]
    assert "f.txt" in info.value.message
    assert store.get_branch("demo", "main").head_commit_id == theirs.commit_id
    assert store.read_file("demo", "main", "f.txt").content == b"a\nTHEIRS\nc\n"


def test_rebase_from_an_unknown_expected_head_is_not_found(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    with pytest.raises(vcs.NotFound):
        store.commit(
            "demo", "main", [vcs.PutFile("a", b"1")], "m", alice, expected_head="0" * 40, on_stale=vcs.OnStale.REBASE
        )


def test_request_id_makes_a_retry_return_the_same_commit(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    changes = [vcs.PutFile("a.txt", b"once\n")]
    first = store.commit("demo", "main", changes, "m", alice, expected_head=demo.head_commit_id, request_id="req-1")
    assert first.commit.trailers["Trellis-Request"] == "req-1"
    objects = object_count(repo_path(data_dir, "demo"))
    # The retry carries the same (now stale) expected_head, as a real retry would.
    again = store.commit("demo", "main", changes, "m", alice, expected_head=demo.head_commit_id, request_id="req-1")
    assert again.commit.commit_id == first.commit.commit_id
    assert first_parent_history(repo_path(data_dir, "demo"), "main") == [first.commit.commit_id, demo.head_commit_id]
    assert object_count(repo_path(data_dir, "demo")) == objects
    # Still recognised after other commits landed on top.
    store.commit("demo", "main", [vcs.PutFile("b.txt", b"b")], "m", alice)
    third = store.commit("demo", "main", changes, "m", alice, request_id="req-1")
    assert third.commit.commit_id == first.commit.commit_id
    # A different request id is a different request.
    other = store.commit("demo", "main", [vcs.PutFile("a.txt", b"twice\n")], "m", alice, request_id="req-2")
    assert other.commit.commit_id != first.commit.commit_id


def test_request_id_is_validated(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        store.commit("demo", "main", [vcs.PutFile("a", b"1")], "m", alice, request_id="no spaces")
    assert info.value.reason == "INVALID_REQUEST_ID"


def test_request_id_retry_in_a_session_records_one_step(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    session = store.create_session("demo", alice)
    kwargs = dict(session_id=session.session_id, request_id="r-42")
    first = store.commit("demo", session.branch_id, [vcs.PutFile("x", b"1")], "m", alice, **kwargs)
    again = store.commit("demo", session.branch_id, [vcs.PutFile("x", b"1")], "m", alice, **kwargs)
    assert again.commit.commit_id == first.commit.commit_id
    assert again.step is not None and first.step is not None
    assert again.step.index == first.step.index == 1
    assert store.get_session("demo", session.session_id).step_count == 1


@pytest.mark.parametrize(
    ("changes", "error", "reason"),
    [
        ([], vcs.InvalidArgument, "EMPTY_CHANGE"),
        ([vcs.PutFile("keep.txt", b"same")], vcs.InvalidArgument, "EMPTY_CHANGE"),
        ([vcs.PutFile("a", b"1"), vcs.PutFile("a", b"2")], vcs.InvalidArgument, "DUPLICATE_PATH"),
        ([vcs.DeleteFile("missing")], vcs.NotFound, "PATH_NOT_FOUND"),
        ([vcs.DeleteFile("dir")], vcs.NotFound, "PATH_NOT_FOUND"),
        ([vcs.RenameFile("missing", "b")], vcs.NotFound, "PATH_NOT_FOUND"),
        ([vcs.PutFile("dir", b"x")], vcs.InvalidArgument, "PATH_CONFLICT"),
        ([vcs.PutFile("keep.txt/under", b"x")], vcs.InvalidArgument, "PATH_CONFLICT"),
        ([vcs.PutFile("n", b"x"), vcs.PutFile("n/m", b"y")], vcs.InvalidArgument, "PATH_CONFLICT"),
        ([vcs.PutFile("../x", b"x")], vcs.InvalidArgument, "INVALID_PATH"),
        ([vcs.PutFile("a/.git/config", b"x")], vcs.InvalidArgument, "INVALID_PATH"),
    ],
)
def test_rejected_change_sets_write_nothing(
    store: vcs.Store,
    alice: vcs.Identity,
    demo: vcs.Repository,
    data_dir: Path,
    changes: list[vcs.Change],
    error: type[vcs.VcsError],
    reason: str,
) -> None:
    head = store.commit(
        "demo", "main", [vcs.PutFile("keep.txt", b"same"), vcs.PutFile("dir/f", b"f")], "m", alice
    ).commit.commit_id
    objects = object_count(repo_path(data_dir, "demo"))
    with pytest.raises(error) as info:
        store.commit("demo", "main", changes, "m", alice, expected_head=head)
    assert info.value.reason == reason
    assert store.get_branch("demo", "main").head_commit_id == head
    assert object_count(repo_path(data_dir, "demo")) == objects


def test_commit_to_a_missing_branch_or_repository(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    with pytest.raises(vcs.NotFound) as info:
        store.commit("demo", "nope", [vcs.PutFile("a", b"1")], "m", alice)
    assert info.value.reason == "BRANCH_NOT_FOUND"
    with pytest.raises(vcs.NotFound) as info:
        store.commit("nope", "main", [vcs.PutFile("a", b"1")], "m", alice)
    assert info.value.reason == "REPOSITORY_NOT_FOUND"


def test_limits_are_enforced(data_dir: Path, alice: vcs.Identity) -> None:
    store = vcs.Store(
        data_dir, vcs.Limits(max_file_bytes=10, max_files_per_commit=3, max_commit_bytes=15, max_message_bytes=20)
    )
    store.create_repository("demo", alice)
    cases = [
        ([vcs.PutFile("big", b"x" * 11)], "m", "FILE_TOO_LARGE"),
        ([vcs.PutFile(f"f{i}", b"x") for i in range(4)], "m", "TOO_MANY_FILES"),
        ([vcs.PutFile("a", b"x" * 10), vcs.PutFile("b", b"x" * 10)], "m", "COMMIT_TOO_LARGE"),
        ([vcs.PutFile("a", b"x")], "m" * 21, "MESSAGE_TOO_LARGE"),
    ]
    for changes, message, reason in cases:
        with pytest.raises(vcs.LimitExceeded) as info:
            store.commit("demo", "main", changes, message, alice)
        assert info.value.reason == reason
    assert len(store.list_commits("demo").items) == 1


def test_deeply_nested_path(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    deep = "d/" * 1500 + "f"
    try:
        store.commit("demo", "main", [vcs.PutFile(deep, b"x")], "deep", alice)
    except vcs.InvalidArgument:
        return
    assert store.read_file("demo", "main", deep).content == b"x"


def test_request_id_is_not_matched_inside_message_text(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    decoy = store.commit("demo", "main", [vcs.PutFile("a", b"1")], "innocent\n\nTrellis-Request: abc", alice)
    result = store.commit("demo", "main", [vcs.PutFile("important.txt", b"data")], "real", alice, request_id="abc")
    assert result.commit.commit_id != decoy.commit.commit_id
    assert store.read_file("demo", "main", "important.txt").content == b"data"


def test_nul_in_a_message_never_loses_the_trailers(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    try:
        result = store.commit("demo", "main", [vcs.PutFile("a", b"1")], "before\x00after", alice, request_id="r1")
    except vcs.InvalidArgument:
        return
    assert result.commit.trailers.get("Trellis-Agent") == "alice"
    assert result.commit.trailers.get("Trellis-Request") == "r1"
    assert "after" in result.commit.message


def test_a_commits_value_is_made_once_and_a_long_message_is_not_kept(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    """A commit never changes: the value a write made answers the next read (the branch checks of the next
    commit, the indexer), and a value read once answers the reads after it."""
    written = store.commit("demo", "main", [vcs.PutFile("a.txt", b"1\n")], "one", alice).commit
    assert store.get_commit("demo", "main") is written
    forget_kept_commits()
    read = store.get_commit("demo", "main")
    assert read == written and read is not written
    assert store.get_commit("demo", written.commit_id) is read
    long = store.commit("demo", "main", [vcs.PutFile("a.txt", b"2\n")], "x" * (MAX_KEPT_MESSAGE + 1), alice).commit
    again = store.get_commit("demo", "main")
    assert again == long and again is not long and store.get_commit("demo", "main") is not again
