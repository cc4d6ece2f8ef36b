"""Reading history: files, trees (recursive, paged), commit logs (path filter, stable pages), revisions."""

from __future__ import annotations

import random
from pathlib import Path

import pygit2
import pytest

from tests.conftest import repo_path
from trellis import vcs


@pytest.fixture
def demo(store: vcs.Store, alice: vcs.Identity) -> vcs.Repository:
    return store.create_repository("demo", alice)


def _commit(store: vcs.Store, alice: vcs.Identity, files: dict[str, bytes], message: str = "m") -> str:
    return store.commit("demo", "main", [vcs.PutFile(p, c) for p, c in files.items()], message, alice).commit.commit_id


def test_read_file_at_any_revision(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    c1 = _commit(store, alice, {"f.txt": b"v1"})
    c2 = _commit(store, alice, {"f.txt": b"v2"})
    assert store.read_file("demo", "", "f.txt").content == b"v2"
    assert store.read_file("demo", "main", "f.txt").content == b"v2"
    assert store.read_file("demo", c1, "f.txt").content == b"v1"
    assert store.read_file("demo", c1[:10], "f.txt").content == b"v1"
    assert store.read_file("demo", "main~1", "f.txt").content == b"v1"
    assert store.read_file("demo", "main^", "f.txt").content == b"v1"
    f = store.read_file("demo", c2, "f.txt")
    assert f.path == "f.txt" and not f.executable and len(f.blob_id) == 40


def test_read_file_errors(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    _commit(store, alice, {"dir/f.txt": b"x"})
    with pytest.raises(vcs.NotFound) as info:
        store.read_file("demo", "main", "nope.txt")
    assert info.value.reason == "PATH_NOT_FOUND"
    with pytest.raises(vcs.NotFound) as info:
        store.read_file("demo", "main", "dir")
    assert info.value.reason == "NOT_A_FILE"
    with pytest.raises(vcs.NotFound) as info:
        store.read_file("demo", "no-such-branch", "dir/f.txt")
    assert info.value.reason == "REVISION_NOT_FOUND"
    with pytest.raises(vcs.InvalidArgument):
        store.read_file("demo", "main", "../etc/passwd")


def test_list_tree_top_level_recursive_and_subdirectory(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    _commit(store, alice, {"b.txt": b"bb", "a/x.txt": b"x", "a/z/y.txt": b"yyy", "c.txt": b""})
    top = store.list_tree("demo")
    assert [(e.path, e.kind) for e in top.items] == [("a", "directory"), ("b.txt", "file"), ("c.txt", "file")]
    assert top.next_page_token == ""
    everything = store.list_tree("demo", recursive=True).items
    assert [e.path for e in everything] == ["a", "a/x.txt", "a/z", "a/z/y.txt", "b.txt", "c.txt"]
    sizes = {e.path: e.size for e in everything if e.kind == "file"}
    assert sizes == {"a/x.txt": 1, "a/z/y.txt": 3, "b.txt": 2, "c.txt": 0}
    sub = store.list_tree("demo", path="a", recursive=True).items
    assert [e.path for e in sub] == ["a/x.txt", "a/z", "a/z/y.txt"]
    with pytest.raises(vcs.NotFound) as info:
        store.list_tree("demo", path="b.txt")
    assert info.value.reason == "NOT_A_DIRECTORY"
    with pytest.raises(vcs.NotFound):
        store.list_tree("demo", path="nope")


def test_list_tree_pages(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    _commit(store, alice, {f"d{i % 3}/f{i:02d}": b"x" for i in range(25)})
    expected = [e.path for e in store.list_tree("demo", recursive=True).items]
    assert len(expected) == 28
    seen: list[str] = []
    token = ""
    while True:
        page = store.list_tree("demo", recursive=True, page_size=4, page_token=token)
        assert len(page.items) <= 4
        seen += [e.path for e in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected


def test_list_commits_newest_first_with_paging(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    ids = [_commit(store, alice, {"f": str(i).encode()}) for i in range(12)]
    all_ids = [c.commit_id for c in store.list_commits("demo").items]
    assert all_ids == [*reversed(ids), demo.head_commit_id]
    seen: list[str] = []
    token = ""
    while True:
        page = store.list_commits("demo", "main", page_size=5, page_token=token)
        seen += [c.commit_id for c in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == all_ids


def test_list_commits_page_tokens_are_stable_after_new_pushes(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    for i in range(6):
        _commit(store, alice, {"f": str(i).encode()})
    expected = [c.commit_id for c in store.list_commits("demo").items]
    first = store.list_commits("demo", "main", page_size=3)
    for i in range(4):  # other agents push meanwhile
        _commit(store, alice, {"g": str(i).encode()})
    rest: list[str] = []
    token = first.next_page_token
    while token:
        page = store.list_commits("demo", "main", page_size=3, page_token=token)
        rest += [c.commit_id for c in page.items]
        token = page.next_page_token
    assert [c.commit_id for c in first.items] + rest == expected


def test_list_commits_with_a_path_filter(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    touching = []
    for i in range(9):
        if i % 3 == 0:
            touching.append(_commit(store, alice, {"src/app.py": f"v{i}".encode()}))
        else:
            _commit(store, alice, {f"other{i}.txt": b"x"})
    store.commit("demo", "main", [vcs.DeleteFile("src/app.py")], "rm", alice)
    deleted = store.get_branch("demo", "main").head_commit_id
    expected = [deleted, *reversed(touching)]
    assert [c.commit_id for c in store.list_commits("demo", path="src/app.py").items] == expected
    # The directory counts as touched too.
    assert [c.commit_id for c in store.list_commits("demo", path="src").items] == expected
    paged: list[str] = []
    token = ""
    while True:
        page = store.list_commits("demo", path="src/app.py", page_size=1, page_token=token)
        paged += [c.commit_id for c in page.items]
        token = page.next_page_token
        if not token:
            break
    assert paged == expected
    assert store.list_commits("demo", path="never/existed").items == []


def test_get_commit_by_branch_sha_and_ancestry(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    c1 = _commit(store, alice, {"a": b"1"}, "first")
    c2 = _commit(store, alice, {"a": b"2"}, "second")
    assert store.get_commit("demo", "main").commit_id == c2
    assert store.get_commit("demo", "").commit_id == c2
    assert store.get_commit("demo", c1).commit_id == c1
    assert store.get_commit("demo", c1[:12]).commit_id == c1
    assert store.get_commit("demo", "main~1").commit_id == c1
    assert store.get_commit("demo", "main~2").commit_id == demo.head_commit_id
    assert store.get_commit("demo", f"{c2}~1").commit_id == c1
    commit = store.get_commit("demo", c2)
    assert commit.message.startswith("second") and commit.parent_ids == (c1,)
    assert commit.trailers == {"Trellis-Agent": "alice"}


@pytest.mark.parametrize("revision", ["nope", "main~5", "main^2", "0" * 40])
def test_unknown_revisions_are_not_found(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, revision: str
) -> None:
    with pytest.raises(vcs.NotFound) as info:
        store.get_commit("demo", revision)
    assert info.value.reason == "REVISION_NOT_FOUND"


@pytest.mark.parametrize("revision", ["a..b", "-x", "main@{0}", "a b", "main:file", "x" * 201])
def test_malformed_revisions_are_invalid(store: vcs.Store, demo: vcs.Repository, revision: str) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        store.get_commit("demo", revision)
    assert info.value.reason == "INVALID_REVISION"


def test_a_tree_or_blob_id_is_not_a_commit(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    commit = store.commit("demo", "main", [vcs.PutFile("d/f", b"x")], "m", alice).commit
    blob = store.read_file("demo", "main", "d/f").blob_id
    for revision in (blob, commit.tree_id):
        with pytest.raises(vcs.InvalidArgument):
            store.get_commit("demo", revision)
        with pytest.raises(vcs.InvalidArgument):
            store.create_branch("demo", "from-object", revision)


@pytest.mark.parametrize(
    ("method", "token"),
    [
        ("list_tree", "not a token"),
        ("list_commits", "%%%"),
        ("list_tree", "eyJ4IjogMX0"),  # {"x": 1}: valid JSON, wrong keys
        ("list_commits", "e30"),  # {}
    ],
)
def test_bad_page_tokens_are_invalid(store: vcs.Store, demo: vcs.Repository, method: str, token: str) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        getattr(store, method)("demo", page_token=token)
    assert info.value.reason == "INVALID_PAGE_TOKEN"


def test_negative_page_size_is_invalid(store: vcs.Store, demo: vcs.Repository) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        store.list_commits("demo", page_size=-1)
    assert info.value.reason == "INVALID_PAGE_SIZE"


def test_changed_files_read_only_the_subtrees_that_differ(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    """A diff of a few changed files reads the trees on their paths alone: here an unchanged directory's tree
    object is gone, and the diff still answers (libgit2's tree diff, which reads every subtree, could not)."""
    c1 = _commit(store, alice, {f"pkg{d}/mod{f}.py": b"x = %d%d\n" % (d, f) for d in range(3) for f in range(3)})
    c2 = _commit(store, alice, {"pkg1/mod2.py": b"x = 12\ny = 1\n", "pkg1/new.py": b"z = 1\n"})
    path = repo_path(data_dir, "demo")
    unchanged = str(pygit2.Repository(str(path))[c1].tree["pkg2"].id)  # type: ignore[attr-defined]
    (path / "objects" / unchanged[:2] / unchanged[2:]).unlink()
    changed = store.changed_files("demo", "", c2)
    assert (changed.old, changed.new) == (
        {"pkg1/mod2.py": b"x = 12\n"},
        {"pkg1/mod2.py": b"x = 12\ny = 1\n", "pkg1/new.py": b"z = 1\n"},
    )


def test_changed_files_are_libgit2s_tree_diff(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    """Random change sets (edits, adds, deletes, renames, executable bits, paths asked for): the same files,
    contents and ids, in the same order, as libgit2's tree diff gives."""
    rng = random.Random(11)
    files = {f"d{d}/s{s}/f{f}.py": b"v0 %d%d%d\n" % (d, s, f) for d in range(3) for s in range(2) for f in range(3)}
    head = _commit(store, alice, files)
    repo = pygit2.Repository(str(repo_path(data_dir, "demo")))
    for n in range(60):
        changes: list[vcs.Change] = []
        touched: set[str] = set()
        for _ in range(rng.choice([1, 1, 2, 3])):
            p = rng.choice(sorted(set(files) - touched))
            touched.add(p)
            op = rng.choice(["edit", "edit", "add", "delete", "rename", "mode"])
            if op == "edit":
                files[p] = b"v%d %s\n" % (n, p.encode())
                changes.append(vcs.PutFile(p, files[p]))
            elif op == "add":
                q = f"{p.rsplit('/', 1)[0]}/new{n}.py"
                if q in files or q in touched:
                    continue
                touched.add(q)
                files[q] = b"new %d\n" % n
                changes.append(vcs.PutFile(q, files[q]))
            elif op == "delete" and len(files) > 4:
                del files[p]
                changes.append(vcs.DeleteFile(p))
            elif op == "rename":
                q = f"moved{n}/{p}"
                touched.add(q)
                files[q] = files.pop(p)
                changes.append(vcs.RenameFile(p, q))
            elif op == "mode":
                changes.append(vcs.PutFile(p, files[p], executable=rng.random() < 0.5))
        try:
            landed = store.commit("demo", "main", changes, "m", alice).commit.commit_id
        except vcs.InvalidArgument:  # nothing changed (an executable bit set as it was, no change at all)
            continue
        old, head = head, landed
        paths = rng.choice([[], [], ["d1"], ["d0/s1", "moved3"]])
        got = store.changed_files("demo", old, head, paths)
        expected: dict[str, dict[str, str]] = {"old": {}, "new": {}}
        for delta in repo[old].tree.diff_to_tree(repo[head].tree).deltas:  # type: ignore[attr-defined]
            for side, key in ((delta.old_file, "old"), (delta.new_file, "new")):
                wanted = not paths or any(side.path == q or side.path.startswith(q + "/") for q in paths)
                if side.id.raw != b"\0" * 20 and wanted:
                    expected[key][side.path] = str(side.id)
        assert list(got.old_ids.items()) == list(expected["old"].items())
        assert list(got.new_ids.items()) == list(expected["new"].items())
        assert all(got.new[p] == repo[i].data for p, i in got.new_ids.items())  # type: ignore[attr-defined]
        assert all(got.old[p] == repo[i].data for p, i in got.old_ids.items())  # type: ignore[attr-defined]
