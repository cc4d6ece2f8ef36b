"""Merge through the real server: structured merges a line merge refuses, conflicts as data, REBASE, previews."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from tests.conftest import assert_fsck_clean, raw_unary, repo_path, snapshot
from trellis import vcs
from trellis.client import Client
from trellis.v1 import changes_pb2

BASE = b"""import os


def first():
    return 1
"""
LEFT = (
    BASE
    + b"""

def from_left():
    return "left"
"""
)
RIGHT = (
    BASE
    + b"""

def from_right():
    return "right"
"""
)


def _git_merge_file_conflicts(tmp_path: Path, base: bytes, left: bytes, right: bytes) -> int:
    for name, data in (("base", base), ("left", left), ("right", right)):
        (tmp_path / name).write_bytes(data)
    done = subprocess.run(
        ["git", "merge-file", "-p", str(tmp_path / "left"), str(tmp_path / "base"), str(tmp_path / "right")],
        capture_output=True,
    )
    return done.returncode


@pytest.fixture
def forked(client: Client) -> Client:
    client.create_repository("demo")
    client.commit("demo", "main", {"app.py": BASE}, "base")
    client.create_branch("demo", "agents/alice/a", "main")
    client.create_branch("demo", "agents/bob/b", "main")
    return client


def test_both_appending_a_function_merges_where_git_conflicts(forked: Client, data_dir: Path, tmp_path: Path) -> None:
    assert _git_merge_file_conflicts(tmp_path, BASE, LEFT, RIGHT) > 0  # the line merge refuses
    forked.commit("demo", "agents/alice/a", {"app.py": LEFT}, "left")
    forked.commit("demo", "agents/bob/b", {"app.py": RIGHT}, "right")
    forked.merge("demo", "main", "agents/alice/a")  # fast-forward
    result = forked.merge("demo", "main", "agents/bob/b")
    assert result.clean and result.strategy == "structured" and result.commit is not None
    merged = forked.read_file("demo", "app.py", "main").content
    assert b"def from_left" in merged and b"def from_right" in merged and merged.startswith(BASE)
    compile(merged, "app.py", "exec")
    assert len(result.commit.parent_ids) == 2
    assert_fsck_clean(repo_path(data_dir, "demo"))


def test_the_same_entity_changed_differently_is_a_conflict_confined_to_it(forked: Client, data_dir: Path) -> None:
    forked.commit("demo", "agents/alice/a", {"app.py": BASE.replace(b"return 1", b"return 2")}, "two")
    forked.commit("demo", "agents/bob/b", {"app.py": BASE.replace(b"return 1", b"return 3")}, "three")
    forked.merge("demo", "main", "agents/alice/a")
    before = snapshot(data_dir, "demo")
    result = forked.merge("demo", "main", "agents/bob/b")
    assert not result.clean and result.commit is None
    (conflict,) = result.conflicts
    assert (conflict.path, conflict.qualname, conflict.entity_kind) == ("app.py", "app.first", "function")
    assert b"return 1" in conflict.base and b"return 2" in conflict.left and b"return 3" in conflict.right
    assert b"<<<<<<<" in conflict.markers and b">>>>>>>" in conflict.markers
    assert b"import os" not in conflict.left  # just the entity, not the file
    assert snapshot(data_dir, "demo") == before


def test_preview_reports_without_writing(forked: Client, data_dir: Path) -> None:
    forked.commit("demo", "agents/alice/a", {"app.py": LEFT}, "left")
    forked.commit("demo", "main", {"other.py": b"x = 1\n"}, "main moves")
    before = snapshot(data_dir, "demo")
    result = forked.merge("demo", "main", "agents/alice/a", preview=True)
    assert result.clean and result.commit is None
    assert snapshot(data_dir, "demo") == before


def test_rebase_on_a_stale_head_uses_the_structured_merge(forked: Client, data_dir: Path) -> None:
    head = forked.get_branch("demo", "main").head_commit_id
    forked.commit("demo", "main", {"app.py": LEFT}, "left", expected_head=head)
    reply = forked.commit("demo", "main", {"app.py": RIGHT}, "right", expected_head=head, on_stale="rebase")
    assert reply.rebased
    merged = forked.read_file("demo", "app.py", "main").content
    assert b"def from_left" in merged and b"def from_right" in merged
    assert_fsck_clean(repo_path(data_dir, "demo"))


def test_a_stale_expected_head_is_refused(forked: Client) -> None:
    base = forked.get_branch("demo", "main").head_commit_id
    forked.commit("demo", "agents/alice/a", {"app.py": LEFT}, "left")
    forked.commit("demo", "main", {"other.py": b"x = 1\n"}, "main moves")
    with pytest.raises(vcs.StaleHead):
        forked.merge("demo", "main", "agents/alice/a", expected_head=base)


@pytest.mark.parametrize(
    ("request_", "code", "text"),
    [
        (
            changes_pb2.MergeRequest(name="repositories/demo/branches/..", source_revision="main"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "branch",
        ),
        (
            changes_pb2.MergeRequest(name="repositories/demo/branches/main"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "source_revision is required",
        ),
        (
            changes_pb2.MergeRequest(name="repositories/demo/branches/main", source_revision="nope"),
            grpc.StatusCode.NOT_FOUND,
            "nope",
        ),
        (
            changes_pb2.MergeRequest(name="repositories/demo/branches/ghost", source_revision="main"),
            grpc.StatusCode.NOT_FOUND,
            "ghost",
        ),
        (
            changes_pb2.MergeRequest(
                name="repositories/demo/branches/main", source_revision="main", expected_head="xyz"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expected_head",
        ),
    ],
)
def test_malformed_merges_get_clear_statuses_and_write_nothing(
    forked: Client,
    channel: grpc.Channel,
    data_dir: Path,
    request_: changes_pb2.MergeRequest,
    code: grpc.StatusCode,
    text: str,
) -> None:
    before = snapshot(data_dir, "demo")
    with pytest.raises(grpc.RpcError) as caught:
        raw_unary(channel, "/trellis.v1.ChangeService/Merge", request_)
    assert caught.value.code() == code, caught.value.details()
    assert text in caught.value.details()
    assert snapshot(data_dir, "demo") == before


def test_a_rename_on_one_side_and_an_edit_on_the_other_merge(forked: Client) -> None:
    forked.commit("demo", "agents/alice/a", [vcs.RenameFile("app.py", "pkg/app.py")], "move the module")
    forked.commit("demo", "agents/bob/b", {"app.py": BASE.replace(b"return 1", b"return 2")}, "edit it")
    forked.merge("demo", "main", "agents/alice/a")
    result = forked.merge("demo", "main", "agents/bob/b")
    assert result.clean, result.conflicts
    assert forked.read_file("demo", "pkg/app.py", "main").content == BASE.replace(b"return 1", b"return 2")
    with pytest.raises(vcs.NotFound):
        forked.read_file("demo", "app.py", "main")
