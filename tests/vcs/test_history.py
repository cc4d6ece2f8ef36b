"""Reading history: files, trees (recursive, paged), commit logs (path filter, stable pages), revisions."""

from __future__ import annotations

import pytest

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
