"""RepositoryReader: bulk reads of a repository by path, as plain values, checked against real git."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pygit2
import pytest

from tests.conftest import flatten_session_steps, git, repo_path
from trellis import vcs
from trellis.vcs import RepositoryReader, limit_object_cache
from trellis.vcs.treediff import changed_files

ZERO = "0" * 40


@pytest.fixture
def demo(store: vcs.Store, alice: vcs.Identity, data_dir: Path) -> Path:
    store.create_repository("demo", alice, description="the demo")
    return repo_path(data_dir, "demo")


def _commit(store: vcs.Store, alice: vcs.Identity, changes: list[vcs.Change], branch: str = "main") -> str:
    return store.commit("demo", branch, changes, "edit\n\nbody\n", alice).commit.commit_id


def test_opening_a_directory_that_is_no_repository_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(vcs.NotFound) as info:
        RepositoryReader(tmp_path / "nothing.git")
    assert info.value.reason == "REPOSITORY_NOT_FOUND"


def test_list_refs_peels_where_asked_and_follows_symbolic_refs(
    store: vcs.Store, alice: vcs.Identity, demo: Path
) -> None:
    c1 = _commit(store, alice, [vcs.PutFile("a.py", b"x = 1\n")])
    git(demo, "-c", "user.name=t", "-c", "user.email=t@example.com", "tag", "-a", "-m", "annotated", "v1", c1)
    git(demo, "tag", "light", c1)
    tree = git(demo, "rev-parse", f"{c1}^{{tree}}").strip()
    git(demo, "tag", "tree-tag", tree)  # names no commit: left out when peeled
    git(demo, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
    git(demo, "symbolic-ref", "refs/heads/dangling", "refs/heads/nowhere")
    git(demo, "update-ref", "refs/trellis/runs/r1", c1)
    reader = RepositoryReader(demo)

    peeled = {r.name: r.target_id for r in reader.list_refs(peel=("refs/heads/", "refs/tags/"))}
    annotated = git(demo, "rev-parse", "refs/tags/v1").strip()
    assert annotated != c1
    assert peeled == {
        "refs/heads/main": c1,
        "refs/heads/alias": c1,
        "refs/tags/v1": c1,
        "refs/tags/light": c1,
        "refs/trellis/runs/r1": c1,
    }
    plain = {r.name: r.target_id for r in reader.list_refs(("refs/tags/", "refs/heads/"))}
    assert plain["refs/tags/v1"] == annotated and plain["refs/tags/tree-tag"] == tree
    assert plain["refs/heads/alias"] == c1 and "refs/heads/dangling" not in plain
    assert set(plain) == {r.name for r in reader.list_refs(("refs/tags/", "refs/heads/"))} - {"refs/heads/dangling"}
    assert [r.name for r in reader.list_refs(("refs/trellis/",))] == ["refs/trellis/runs/r1"]


def test_head_and_config(store: vcs.Store, alice: vcs.Identity, demo: Path) -> None:
    reader = RepositoryReader(demo)
    main = store.get_branch("demo", "main").head_commit_id
    assert reader.head() == vcs.Head("refs/heads/main", main)
    assert reader.config_value("trellis.description") == "the demo"
    assert reader.config_value("trellis.nothing") is None
    git(demo, "symbolic-ref", "HEAD", "refs/heads/unborn")
    assert RepositoryReader(demo).head() == vcs.Head("refs/heads/unborn", None)
    git(demo, "update-ref", "--no-deref", "HEAD", main)
    assert RepositoryReader(demo).head() == vcs.Head("", main)


def test_walk_is_rev_list(store: vcs.Store, alice: vcs.Identity, demo: Path) -> None:
    base = _commit(store, alice, [vcs.PutFile("a.py", b"1\n")])
    store.create_branch("demo", "side", base)
    for i in range(3):
        _commit(store, alice, [vcs.PutFile("a.py", b"%d\n" % (i + 2))])
        _commit(store, alice, [vcs.PutFile(f"s{i}.py", b"s\n")], branch="side")
    store.merge("demo", "main", "side", alice)
    reader = RepositoryReader(demo)
    main, side = store.get_branch("demo", "main").head_commit_id, store.get_branch("demo", "side").head_commit_id

    assert (
        list(reader.walk([main], oldest_first=True)) == git(demo, "rev-list", "--topo-order", "--reverse", main).split()
    )
    assert set(reader.walk([main], [side])) == set(git(demo, "rev-list", main, f"^{side}").split())
    assert list(reader.walk([main], [main])) == []
    assert set(reader.walk([side, main], ["f" * 40])) == set(git(demo, "rev-list", main).split())  # nothing to hide
    with pytest.raises(vcs.NotFound) as info:
        reader.walk(["e" * 40])
    assert info.value.reason == "REVISION_NOT_FOUND"


def test_walk_to_stops_lists_what_sits_on_the_stops_parents_first(
    store: vcs.Store, alice: vcs.Identity, demo: Path
) -> None:
    base = _commit(store, alice, [vcs.PutFile("a.py", b"1\n")])
    store.create_branch("demo", "side", base)
    old_main = _commit(store, alice, [vcs.PutFile("a.py", b"2\n")])
    old_side = _commit(store, alice, [vcs.PutFile("s.py", b"s\n")], branch="side")
    for i in range(3):
        _commit(store, alice, [vcs.PutFile("a.py", b"%d\n" % (i + 3))])
        _commit(store, alice, [vcs.PutFile(f"s{i}.py", b"s\n")], branch="side")
    store.merge("demo", "main", "side", alice)
    reader = RepositoryReader(demo)
    main, side = store.get_branch("demo", "main").head_commit_id, store.get_branch("demo", "side").head_commit_id

    walk = reader.walk_to_stops([main, side], [old_main, old_side], limit=100)
    assert walk is not None
    # Exactly git's answer here (every new commit sits on a stop), with every parent before its children.
    assert set(walk.commits) == set(git(demo, "rev-list", main, side, f"^{old_main}", f"^{old_side}").split())
    for position, commit_id in enumerate(walk.commits):
        parents = git(demo, "rev-list", "--parents", "-n", "1", commit_id).split()[1:]
        assert all(p not in walk.commits[position:] for p in parents)
    assert walk.stops_met == {old_main, old_side}
    assert reader.walk_to_stops([main], [main], limit=100) == vcs.reader.BoundedWalk([], frozenset({main}))

    # A path that meets no stop (down to the root), or more commits than the limit: no answer.
    assert reader.walk_to_stops([main], [old_main], limit=100) is None
    assert reader.walk_to_stops([main, side], [old_main, old_side], limit=3) is None
    assert reader.walk_to_stops(["e" * 40], [old_main], limit=100) is None


def test_walk_to_stops_reads_only_the_commits_above_the_stops(
    store: vcs.Store, alice: vcs.Identity, demo: Path
) -> None:
    """The history below the stops is never read: here its commit objects are gone, and the walk still answers
    (libgit2's walk, hiding the stops, reads back to the root when the commits share their timestamp)."""
    old = [_commit(store, alice, [vcs.PutFile("a.py", b"%d\n" % i)]) for i in range(5)]
    new = [_commit(store, alice, [vcs.PutFile("a.py", b"new %d\n" % i)]) for i in range(3)]
    for commit_id in old[:-1]:
        (demo / "objects" / commit_id[:2] / commit_id[2:]).unlink()
    walk = RepositoryReader(demo).walk_to_stops([new[-1]], [old[-1]], limit=100)
    assert walk is not None and walk.commits == new and walk.stops_met == {old[-1]}


def test_first_parents_stop_at_a_commit_a_root_or_a_missing_commit(
    store: vcs.Store, alice: vcs.Identity, demo: Path
) -> None:
    ids = [_commit(store, alice, [vcs.PutFile("a.py", b"%d\n" % i)]) for i in range(4)]
    store.create_branch("demo", "side", ids[1])
    _commit(store, alice, [vcs.PutFile("b.py", b"b\n")], branch="side")
    store.merge("demo", "main", "side", alice)
    main = store.get_branch("demo", "main").head_commit_id
    reader = RepositoryReader(demo)
    everything = git(demo, "rev-list", "--first-parent", main).split()
    assert reader.first_parents(main) == everything
    assert reader.first_parents(main, ids[1]) == everything[: everything.index(ids[1])]
    assert reader.first_parents(main, main) == []
    assert reader.first_parents("d" * 40) == []


def test_commit_is_the_stores_commit(store: vcs.Store, alice: vcs.Identity, demo: Path) -> None:
    commit_id = _commit(store, alice, [vcs.PutFile("a.py", b"x\n")])
    commit = RepositoryReader(demo).commit(commit_id)
    assert commit == store.get_commit("demo", commit_id)
    assert commit.trailers["Trellis-Agent"] == "alice"
    with pytest.raises(vcs.NotFound) as info:
        RepositoryReader(demo).commit("c" * 40)
    assert info.value.reason == "REVISION_NOT_FOUND"


def _numstat(path: Path, old: str, new: str) -> dict[str, tuple[str, str]]:
    """``git diff --numstat -M`` as new path -> (additions, deletions); "-" for a binary file."""
    fields = git(path, "diff", "--numstat", "-M", "-z", old, new).split("\0")
    found = {}
    while len(fields) > 1:
        additions, deletions, name = fields.pop(0).split("\t", 2)
        if not name:  # a rename: the old and new paths follow
            fields.pop(0)
            name = fields.pop(0)
        found[name] = (additions, deletions)
    return found


def test_diff_is_git_diff_with_renames_and_line_counts(store: vcs.Store, alice: vcs.Identity, demo: Path) -> None:
    body = b"".join(b"line %d of a file long enough to be found renamed\n" % i for i in range(40))
    old = _commit(
        store,
        alice,
        [
            vcs.PutFile("keep.py", b"a\nb\nc\n"),
            vcs.PutFile("gone.txt", b"bye\n"),
            vcs.PutFile("move/me.py", body),
            vcs.PutFile("tool.sh", b"echo\n"),
        ],
    )
    new = _commit(
        store,
        alice,
        [
            vcs.PutFile("keep.py", b"a\nB\nc\nd\n"),
            vcs.DeleteFile("gone.txt"),
            vcs.RenameFile("move/me.py", "moved/me.py"),
            vcs.PutFile("image.bin", b"\x00\x01\x02binary"),
            vcs.PutFile("tool.sh", b"echo\n", executable=True),
        ],
    )
    reader = RepositoryReader(demo)
    deltas = {d.new_path if d.status != "deleted" else d.old_path: d for d in reader.diff(old, new)}
    assert {p: d.status for p, d in deltas.items()} == {
        "keep.py": "modified",
        "gone.txt": "deleted",
        "moved/me.py": "renamed",
        "image.bin": "added",
        "tool.sh": "modified",
    }
    numstat = _numstat(demo, old, new)
    for path, d in deltas.items():
        expected = (str(d.additions), str(d.deletions)) if not d.binary else ("-", "-")
        assert numstat[path] == expected, path
    keep, gone, moved, image, tool = (deltas[p] for p in ("keep.py", "gone.txt", "moved/me.py", "image.bin", "tool.sh"))
    assert (keep.additions, keep.deletions) == (2, 1)
    assert keep.old_id == git(demo, "rev-parse", f"{old}:keep.py").strip()
    assert keep.new_id == git(demo, "rev-parse", f"{new}:keep.py").strip()
    assert keep.old_size == 6 and keep.new_size == 8 and keep.old_mode == keep.new_mode == 0o100644
    assert gone.new_id == ZERO and gone.new_mode == 0 and gone.old_path == "gone.txt"
    assert moved.old_path == "move/me.py" and moved.similarity == 100 and moved.old_id == moved.new_id
    assert image.binary and image.old_id == ZERO and (image.additions, image.deletions) == (0, 0)
    assert tool.old_mode == 0o100644 and tool.new_mode == 0o100755
    # The trees may be named by commit or by tree id; no renames asked: a delete and an add.
    new_tree = git(demo, "rev-parse", f"{new}^{{tree}}").strip()
    plain = reader.diff(old, new_tree, find_renames=False)
    assert {(d.status, d.old_path, d.new_path) for d in plain if "me.py" in d.new_path} == {
        ("deleted", "move/me.py", "move/me.py"),
        ("added", "moved/me.py", "moved/me.py"),
    }


def test_diff_of_a_root_commit_adds_every_file(store: vcs.Store, alice: vcs.Identity, demo: Path) -> None:
    commit_id = _commit(store, alice, [vcs.PutFile("a.py", b"1\n2\n"), vcs.PutFile("d/b.py", b"3\n")])
    deltas = RepositoryReader(demo).diff(None, commit_id)
    assert [(d.status, d.new_path, d.additions) for d in deltas] == [("added", "a.py", 2), ("added", "d/b.py", 1)]
    assert all(d.old_id == ZERO for d in deltas)


def _tree(repo: pygit2.Repository, files: dict[str, tuple[int, bytes]]) -> pygit2.Tree:
    """A tree of ``path -> (mode, content)`` written loose (symbolic links' content is their target)."""
    nested: dict[str, Any] = {}
    for path, entry in files.items():
        *dirs, name = path.split("/")
        node = nested
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = entry

    def write(node: dict[str, Any]) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, value in node.items():
            if isinstance(value, dict):
                builder.insert(name, write(value), pygit2.enums.FileMode.TREE)
            else:
                builder.insert(name, repo.create_blob(value[1]), value[0])
        return builder.write()

    tree = repo[write(nested)]
    assert isinstance(tree, pygit2.Tree)
    return tree


def test_diff_reads_only_the_subtrees_that_differ(tmp_path: Path) -> None:
    """A one-file change is diffed from the trees on its path: an unchanged subtree is never read (here its
    object is gone, and libgit2's own tree diff, which expands every subtree, could not diff these trees)."""
    repo = pygit2.init_repository(tmp_path / "r.git", bare=True)
    files = {f"pkg{d}/mod{f}.py": (0o100644, b"x = %d%d\n" % (d, f)) for d in range(3) for f in range(3)}
    old = _tree(repo, files)
    new = _tree(repo, {**files, "pkg1/mod2.py": (0o100644, b"x = 12\ny = 3\n")})
    unchanged = old["pkg2"].id
    loose = tmp_path / "r.git" / "objects" / str(unchanged)[:2] / str(unchanged)[2:]
    loose.unlink()
    with pytest.raises(KeyError):
        repo[unchanged]
    deltas = RepositoryReader(tmp_path / "r.git").diff(str(old.id), str(new.id))
    assert [(d.status, d.old_path, d.additions, d.deletions) for d in deltas] == [("modified", "pkg1/mod2.py", 1, 0)]


def test_read_blobs_after_a_diff_reads_its_files_once(tmp_path: Path) -> None:
    """The contents a diff read (both sides of a changed file) answer the next ``read_blobs`` without reading
    git again (here the objects are gone by then); a blob the diff did not read is read from git."""
    repo = pygit2.init_repository(tmp_path / "r.git", bare=True)
    old = _tree(repo, {"a/x.py": (0o100644, b"x = 1\n"), "b/y.py": (0o100644, b"y = 1\n")})
    new = _tree(repo, {"a/x.py": (0o100644, b"x = 2\n"), "b/y.py": (0o100644, b"y = 1\n")})
    reader = RepositoryReader(tmp_path / "r.git")
    (delta,) = reader.diff(str(old.id), str(new.id))
    for blob_id in (delta.old_id, delta.new_id):
        (tmp_path / "r.git" / "objects" / blob_id[:2] / blob_id[2:]).unlink()
    other = str(old["b/y.py"].id)
    assert reader.read_blobs([delta.old_id, delta.new_id, other]) == {
        delta.old_id: b"x = 1\n",
        delta.new_id: b"x = 2\n",
        other: b"y = 1\n",
    }
    reader.diff(str(new.id), str(new.id))  # the next diff forgets them
    assert reader.read_blobs([delta.old_id]) == {}


def _libgit2_deltas(repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree) -> list[tuple[Any, ...]]:
    diff = old.diff_to_tree(new, context_lines=0, interhunk_lines=0)
    diff.find_similar(flags=pygit2.enums.DiffFind.FIND_RENAMES)
    found = []
    for patch in diff:
        assert patch is not None
        d = patch.delta
        binary = bool(d.is_binary)
        _, additions, deletions = patch.line_stats if not binary else (0, 0, 0)
        o, n = d.old_file, d.new_file
        found.append(
            (d.status_char(), o.path, n.path, str(o.id), str(n.id), int(o.mode), int(n.mode), o.size, n.size)
            + (d.similarity, binary, additions, deletions)
        )
    return found


def test_diff_of_any_change_is_libgit2s_tree_diff(tmp_path: Path) -> None:
    """Random changes to a nested tree (contents, added and deleted files, binary and empty files, modes,
    symbolic links, directories turned into files, renames): every field of every delta is libgit2's, whether
    the change was diffed from the changed subtrees alone or handed to libgit2."""
    repo = pygit2.init_repository(tmp_path / "r.git", bare=True)
    reader = RepositoryReader(tmp_path / "r.git")
    rng = random.Random(7)
    body = b"".join(b"line %d of a file long enough to be found renamed\n" % i for i in range(30))
    contents = [b"", b"a\nb\nc\n", b"a\nB\nc\nd\n", b"no newline", b"\x00\x01binary", body, body + b"more\n"]
    files = {
        f"d{d}/s{s}/f{f}.py": (0o100644, rng.choice(contents)) for d in range(3) for s in range(2) for f in range(3)
    }
    files["top.txt"] = (0o100644, b"top\n")
    fast = 0
    for _ in range(150):
        changed = dict(files)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            paths = sorted(changed)
            path = rng.choice(paths)
            mode, content = changed[path]
            op = rng.choice(["edit", "edit", "edit", "add", "delete", "mode", "link", "rename", "dir"])
            if op == "edit":
                changed[path] = (mode, rng.choice(contents) + b"%d\n" % rng.randrange(3))
            elif op == "add":
                changed[f"{path.rsplit('/', 1)[0]}/new{rng.randrange(99)}.py"] = (0o100644, rng.choice(contents))
            elif op == "delete" and len(changed) > 3:
                del changed[path]
            elif op == "mode":
                changed[path] = (0o100755 if mode == 0o100644 else 0o100644, content)
            elif op == "link":
                changed[path] = (0o120000, b"target")
            elif op == "rename":
                changed[f"moved/{path}"] = changed.pop(path)
            elif op == "dir":
                del changed[path]
                changed[f"{path}/inside.py"] = (0o100644, b"inside\n")
        old, new = _tree(repo, files), _tree(repo, changed)
        if changed_files(repo, old.id, new.id) is not None:
            fast += 1
        expected = _libgit2_deltas(repo, old, new)
        got = reader.diff(str(old.id), str(new.id))
        assert [
            (d.status, d.old_path, d.new_path, d.old_id, d.new_id, d.old_mode, d.new_mode, d.old_size, d.new_size)
            + (d.similarity, d.binary, d.additions, d.deletions)
            for d in got
        ] == [(_STATUS_NAMES[e[0]], *e[1:]) for e in expected]
        files = changed
    assert fast >= 50  # most of them took the short way


_STATUS_NAMES = {"A": "added", "D": "deleted", "M": "modified", "R": "renamed", "T": "type_changed"}


def test_blobs_in_batches_and_files_at_a_commit(store: vcs.Store, alice: vcs.Identity, demo: Path) -> None:
    commit_id = _commit(
        store,
        alice,
        [vcs.PutFile("steps/1.json", b"{}"), vcs.PutFile("steps/2.json", b"[]"), vcs.PutFile("top.json", b"1")],
    )
    reader = RepositoryReader(demo)
    blobs = reader.tree_blobs(commit_id, lambda p: p.startswith("steps/"))
    assert blobs == store.tree_blobs("demo", store.get_commit("demo", commit_id).tree_id, lambda p: "steps/" in p)
    contents = reader.read_blobs([*blobs.values(), "b" * 40, commit_id])  # missing, not a blob: left out
    assert sorted(contents.values()) == [b"[]", b"{}"]
    assert reader.read_file(commit_id, "steps/2.json") == b"[]"
    tree_id = store.get_commit("demo", commit_id).tree_id
    for where, path, reason, error in [
        ("a" * 40, "top.json", "REVISION_NOT_FOUND", vcs.NotFound),
        (tree_id, "top.json", "NOT_A_COMMIT", vcs.InvalidArgument),
        (commit_id, "nope.json", "PATH_NOT_FOUND", vcs.NotFound),
        (commit_id, "steps", "NOT_A_FILE", vcs.NotFound),
    ]:
        with pytest.raises(error) as info:
            reader.read_file(where, path)
        assert info.value.reason == reason


def test_cache_blobs_keeps_the_blobs_read_in_memory(store: vcs.Store, alice: vcs.Identity, demo: Path) -> None:
    import os

    import pygit2

    sizes = {"small.bin": 4_000, "big.bin": 300_000, "huge.bin": 600_000}
    files = {path: os.urandom(size) for path, size in sizes.items()}  # incompressible, read by no one before
    commit_id = _commit(store, alice, [vcs.PutFile(path, data) for path, data in files.items()])
    ids = RepositoryReader(demo).tree_blobs(commit_id)

    def cached_after_reading(path: str) -> int:
        reader = RepositoryReader(demo)  # a fresh reader: nothing of its own cached yet
        before = pygit2.settings.cached_memory[0]
        assert reader.read_blobs([ids[path]]) == {ids[path]: files[path]}
        return int(pygit2.settings.cached_memory[0] - before)

    assert cached_after_reading("big.bin") < sizes["big.bin"]  # libgit2's default: blobs are not cached
    try:
        vcs.cache_blobs(500_000)
        assert cached_after_reading("big.bin") >= sizes["big.bin"]
        assert cached_after_reading("small.bin") >= sizes["small.bin"]
        assert cached_after_reading("huge.bin") < sizes["huge.bin"]  # past the limit of one blob
    finally:
        vcs.cache_blobs(0)
    assert cached_after_reading("big.bin") < sizes["big.bin"]


@pytest.mark.parametrize("flat", [False, True], ids=["subtrees", "flat"])
def test_session_steps_in_either_layout(store: vcs.Store, alice: vcs.Identity, demo: Path, flat: bool) -> None:
    session = store.create_session("demo", alice)
    store.record_steps("demo", session.session_id, [vcs.StepInput(action=f"a{i}") for i in range(105)], alice)
    if flat:
        flatten_session_steps(demo, session.session_id)
    tip = git(demo, "rev-parse", f"refs/trellis/sessions/{session.session_id}").strip()
    reader = RepositoryReader(demo)
    steps = reader.session_steps(tip)
    assert [index for index, _ in steps] == list(range(1, 106))
    assert [index for index, _ in reader.session_steps(tip, after=101)] == [102, 103, 104, 105]
    contents = reader.read_blobs(blob_id for _, blob_id in steps)
    assert [json.loads(contents[blob_id])["index"] for _, blob_id in steps] == list(range(1, 106))
    assert reader.session_steps(store.get_branch("demo", "main").head_commit_id) == []  # no steps/ there
    assert reader.session_steps("9" * 40) == []


def test_the_object_cache_bound_is_what_libgit2_enforces(tmp_path: Path) -> None:
    """A server bounds libgit2's object cache (``--object-cache-mb``); reading more objects than fit keeps
    the cache at or under the bound."""
    _, allowed_before = pygit2.settings.cached_memory
    try:
        limit_object_cache(1 << 20)
        assert pygit2.settings.cached_memory[1] == 1 << 20
        repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
        builder = repo.TreeBuilder()
        for n in range(3000):  # ~3 MB of trees read back: three times the bound
            builder.insert(f"f{n:05}", repo.create_blob(b"x" * n), pygit2.enums.FileMode.BLOB)
            if n % 100 == 99:
                tree = repo[builder.write()]
                assert isinstance(tree, pygit2.Tree) and len(tree) == n + 1
        used, allowed = pygit2.settings.cached_memory
        assert allowed == 1 << 20 and 0 < used <= 1 << 20
    finally:
        limit_object_cache(allowed_before)
