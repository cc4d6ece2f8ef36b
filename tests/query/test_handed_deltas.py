"""The index made from the deltas commits' writes hand over equals the one git gives.

A commit landed from its change set carries what it changed (``CommitResult.delta``); the server hands it to the
background indexer, which then makes the commit's rows without diffing its trees in git. The oracle is
:meth:`Indexer.rebuild`, which reads everything from git.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis import vcs
from trellis.query import BackgroundIndexer, Indexer
from trellis.vcs.model import DELTA_CONTENT_BYTES

from ..conftest import repo_path
from .conftest import dump

ALICE = vcs.Identity("alice")
PATHS = ["a.py", "d/b.py", "d/e/c.py", "d/e/f/notes.txt", "bin.dat", "x/y.py", "x", "empty.py"]
CONTENTS = [
    b"def f():\n    return 1\n",
    b"def f():\n    return 2\n\n\ndef g(x):\n    return x\n",
    b"class C:\n    def m(self):\n        return 3\n",
    b"def g(x):\n    return x\n",
    b"one line\ntwo lines\n",
    b"\x00\x01\x02binary\xff" * 40,
    b"",
    b"no final newline",
    ("# " + "long line " * 300 + "\n").encode() * 20,
]

# ("put", path, content, executable) / ("delete", k) / ("rename", k, new path): k picks one of the branch's files
change = st.one_of(
    st.tuples(
        st.just("put"),
        st.sampled_from(PATHS),
        st.integers(0, len(CONTENTS) - 1),
        st.sampled_from([None, None, True, False]),
    ),
    st.tuples(st.just("delete"), st.integers(0, 20)),
    st.tuples(st.just("rename"), st.integers(0, 20), st.sampled_from(PATHS)),
)
commit = st.tuples(st.just("commit"), st.sampled_from(["main", "b"]), st.lists(change, min_size=1, max_size=3))
step = st.one_of(
    commit,
    commit,
    commit,
    st.tuples(st.just("merge"), st.sampled_from(["main", "b"]), st.sampled_from(["main", "b"])),
    st.tuples(st.just("sync")),
)


def _changes(store: vcs.Store, branch: str, spec: list[tuple[Any, ...]]) -> list[vcs.Change]:
    files = sorted(store.tree_blobs("r", store.get_branch("r", branch).head_commit_id))
    out: list[vcs.Change] = []
    claimed: set[str] = set()
    for kind, *args in spec:
        source = files[args[0] % len(files)] if files and kind != "put" else None
        paths = {args[0]} if kind == "put" else {source, args[1]} if kind == "rename" else {source}
        if None in paths or paths & claimed or len(paths) < (2 if kind == "rename" else 1):
            continue
        claimed |= paths  # type: ignore[arg-type]
        if kind == "put":
            out.append(vcs.PutFile(args[0], CONTENTS[args[1]], args[2]))
        elif kind == "delete" and source is not None:
            out.append(vcs.DeleteFile(source))
        elif source is not None:
            out.append(vcs.RenameFile(source, args[1]))
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=3, max_size=16))
def test_an_index_made_from_handed_deltas_equals_a_rebuild_from_git(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        store = vcs.Store(data, durability=vcs.Durability.NONE)
        store.create_repository("r", ALICE)
        store.commit("r", "main", [vcs.PutFile("a.py", CONTENTS[0]), vcs.PutFile("d/b.py", CONTENTS[1])], "seed", ALICE)
        store.create_branch("r", "b", "main")
        handed = Indexer(data, in_memory=True)
        written: dict[str, vcs.CommitDelta] = {}
        try:
            handed.sync()
            for kind, *args in steps:
                try:
                    if kind == "commit":
                        result = store.commit("r", args[0], _changes(store, args[0], args[1]), "work", ALICE)
                        if result.delta is not None:
                            written[result.commit.commit_id] = result.delta
                    elif kind == "merge":
                        store.merge("r", args[0], args[1], ALICE)
                    else:
                        handed.sync_repository("r", written=written)
                        written = {}
                except vcs.VcsError:
                    continue
            handed.sync_repository("r", written=written)
            with Indexer(data, in_memory=True) as from_git:
                from_git.rebuild()
                assert dump(handed) == dump(from_git)
                assert handed.check() == []
        finally:
            handed.close()


def _objects(git_dir: Path, ids: list[str]) -> None:
    """Delete the loose objects ``ids`` (what a reader of git would need)."""
    for object_id in ids:
        (git_dir / "objects" / object_id[:2] / object_id[2:]).unlink()


def test_a_handed_delta_is_indexed_without_reading_its_trees_or_blobs(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("r", ALICE)
    store.commit("r", "main", [vcs.PutFile("src/a.py", CONTENTS[0]), vcs.PutFile("b.py", b"x\n")], "seed", ALICE)
    with Indexer(data_dir, data_dir / "one.duckdb") as ix:
        ix.sync()
        first = store.commit("r", "main", [vcs.PutFile("src/a.py", CONTENTS[1])], "edit", ALICE)
        second = store.commit(
            "r", "main", [vcs.PutFile("src/a.py", CONTENTS[2]), vcs.DeleteFile("b.py")], "edit again", ALICE
        )
        assert first.delta is not None and second.delta is not None
        assert [(f.path, f.old is not None, f.new is not None) for f in second.delta.files] == [
            ("b.py", True, False),
            ("src/a.py", True, True),
        ]
        with Indexer(data_dir, data_dir / "git.duckdb") as from_git:
            from_git.sync()
            expected = dump(from_git)
        # The trees of both commits and the blobs the deltas hold are gone: only the handed deltas tell what changed
        # (the old side of the second commit's src/a.py is the first commit's new side, kept from its delta).
        trees = [
            str(store.open("r")[c.commit.commit_id].tree_id)
            for c in (first, second)  # type: ignore[attr-defined]
        ]
        trees += [str(store.open("r")[t]["src"].id) for t in trees]  # type: ignore[index]
        blobs = [f.new[1] for c in (first, second) for f in c.delta.files if f.new is not None]  # type: ignore[union-attr]
        _objects(repo_path(data_dir, "r"), trees + blobs)
        stats = ix.sync_repository("r", written={c.commit.commit_id: c.delta for c in (first, second)})  # type: ignore[misc]
        assert stats.commits_added == 2
        assert dump(ix) == expected


def test_a_commit_without_a_delta_or_whose_delta_git_must_decide_is_read_from_git(
    store: vcs.Store, data_dir: Path
) -> None:
    store.create_repository("r", ALICE)
    store.commit("r", "main", [vcs.PutFile("a.py", CONTENTS[0])], "seed", ALICE)
    renamed = store.commit("r", "main", [vcs.RenameFile("a.py", "b.py")], "rename", ALICE)
    mode = store.commit("r", "main", [vcs.PutFile("b.py", CONTENTS[0], executable=True)], "chmod", ALICE)
    assert renamed.delta is not None and mode.delta is not None
    reader = vcs.RepositoryReader(repo_path(data_dir, "r"))
    assert reader.written_diff(renamed.delta.files) is None  # added and deleted: git's rename detection decides
    assert reader.written_diff(mode.delta.files) is None  # the mode alone: libgit2's diff decides
    with Indexer(data_dir, data_dir / "one.duckdb") as ix:
        ix.sync_repository("r", written={c.commit.commit_id: c.delta for c in (renamed, mode)})  # type: ignore[misc]
        rows = ix.connection.execute("SELECT status, old_path, path FROM file_changes ORDER BY commit_id").fetchall()
        assert ("renamed", "a.py", "b.py") in rows
        assert ix.check() == []


def test_a_delta_holds_content_up_to_its_bound_and_the_rest_is_read_from_git(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("r", ALICE)
    big = b"# big\n" * (DELTA_CONTENT_BYTES // 6 + 1)
    result = store.commit("r", "main", [vcs.PutFile("small.py", CONTENTS[0]), vcs.PutFile("big.py", big)], "x", ALICE)
    assert result.delta is not None
    held = {f.path: f.content for f in result.delta.files}
    assert held == {"big.py": None, "small.py": CONTENTS[0]}
    assert result.delta.content_bytes == len(CONTENTS[0])
    edit = store.commit("r", "main", [vcs.PutFile("big.py", big + b"# more\n")], "grow", ALICE)
    assert edit.delta is not None and edit.delta.files[0].content is None
    with Indexer(data_dir, data_dir / "one.duckdb") as ix, Indexer(data_dir, data_dir / "git.duckdb") as from_git:
        ix.sync_repository("r", written={c.commit.commit_id: c.delta for c in (result, edit)})  # type: ignore[misc]
        from_git.sync()
        assert dump(ix) == dump(from_git)


def test_the_deltas_waiting_for_the_background_indexer_are_bounded(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("r", ALICE)
    content = b"x" * 1000
    with Indexer(data_dir, data_dir / "one.duckdb") as ix:
        # (not started: the deltas wait) at most 5 deltas, 3,500 bytes of content
        background = BackgroundIndexer(ix, full_sync_on_start=False, max_held=(5, 3500))
        for i in range(4):
            result = store.commit("r", "main", [vcs.PutFile("f.txt", content + b"%d" % i)], "w", ALICE)
            background.notify("r", result.delta)
        assert background.held == (3, 3003)  # the fourth would pass the bytes
        for i in range(4, 12):
            result = store.commit("r", "main", [vcs.PutFile(f"small{i}.txt", b"%d" % i)], "w", ALICE)
            background.notify("r", result.delta)
        assert background.held == (5, 3005)  # the count
        background.start()
        assert background.wait_idle(60)
        assert background.held == (0, 0)
        background.stop()
        assert ix.check() == []
        assert (
            int(ix.connection.execute("SELECT count(*) FROM commits").fetchall()[0][0]) == 13
        )  # (and the repository's first)


@pytest.mark.parametrize("kind", ["replay", "rebase"])
def test_a_commit_written_from_a_merge_or_replayed_hands_no_delta(store: vcs.Store, kind: str) -> None:
    store.create_repository("r", ALICE)
    base = store.commit("r", "main", [vcs.PutFile("a.py", b"1\n"), vcs.PutFile("b.py", b"1\n")], "seed", ALICE)
    if kind == "replay":
        first = store.commit("r", "main", [vcs.PutFile("a.py", b"2\n")], "w", ALICE, request_id="req-1")
        again = store.commit("r", "main", [vcs.PutFile("a.py", b"2\n")], "w", ALICE, request_id="req-1")
        assert first.delta is not None and again.delta is None
    else:
        store.commit("r", "main", [vcs.PutFile("a.py", b"2\n")], "w", ALICE)
        late = store.commit(
            "r",
            "main",
            [vcs.PutFile("b.py", b"2\n")],
            "w",
            ALICE,
            expected_head=base.commit.commit_id,
            on_stale=vcs.OnStale.REBASE,
        )
        assert late.rebased and late.delta is None
