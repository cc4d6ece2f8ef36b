"""Records: documents kept in git under refs/trellis/<namespace>/<key>, readable with plain git."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_fsck_clean, git, repo_path
from trellis import vcs


def test_records_round_trip_keep_history_and_are_plain_git(
    store: vcs.Store, alice: vcs.Identity, data_dir: Path
) -> None:
    store.create_repository("demo", alice)
    first = store.write_record("demo", "runs", "r1", {"run.json": b"{}", "out/1.txt": b"x"}, "run r1", alice)
    assert store.read_record("demo", "runs", "r1") == {"run.json": b"{}", "out/1.txt": b"x"}
    # Writing the same files again changes nothing; new files make a new commit on top.
    assert store.write_record("demo", "runs", "r1", {"run.json": b"{}", "out/1.txt": b"x"}, "again", alice) == first
    second = store.write_record("demo", "runs", "r1", {"run.json": b'{"v": 2}'}, "run r1 done", alice)
    assert store.read_record("demo", "runs", "r1") == {"run.json": b'{"v": 2}'}
    path = repo_path(data_dir, "demo")
    assert git(path, "show", "refs/trellis/runs/r1:run.json") == '{"v": 2}'
    assert git(path, "rev-parse", "refs/trellis/runs/r1~1").strip() == first != second
    assert store.record_version("demo", "runs", "r1") == second
    assert store.record_version("demo", "runs", "nope") is None
    store.write_record("demo", "runs", "r0", {"run.json": b"{}"}, "r0", alice)
    assert store.list_records("demo", "runs") == ["r0", "r1"]
    assert store.list_records("demo", "pipeline") == []
    assert_fsck_clean(path)


@pytest.mark.parametrize(
    ("namespace", "key", "files"),
    [
        ("Runs", "r1", {"a": b""}),
        ("sessions", "r1", {"a": b""}),
        ("runs", "../x", {"a": b""}),
        ("runs", "r1.lock", {"a": b""}),
        ("runs", "r1", {"../a": b""}),
        ("runs", "r1", {"/a": b""}),
    ],
)
def test_invalid_records_are_refused_and_write_nothing(
    store: vcs.Store, alice: vcs.Identity, data_dir: Path, namespace: str, key: str, files: dict[str, bytes]
) -> None:
    store.create_repository("demo", alice)
    refs = git(repo_path(data_dir, "demo"), "for-each-ref")
    with pytest.raises(vcs.InvalidArgument):
        store.write_record("demo", namespace, key, files, "m", alice)
    assert git(repo_path(data_dir, "demo"), "for-each-ref") == refs
    with pytest.raises(vcs.NotFound):
        store.read_record("demo", "runs", "missing")
