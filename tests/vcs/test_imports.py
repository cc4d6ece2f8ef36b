"""vcs.imports: finding a repository to import, making the bare repository, fetching, pointing HEAD (real git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, git
from trellis import vcs
from trellis.vcs import RepositoryReader, imports


def _run(cwd: Path, *args: str) -> str:
    env = {**GIT_ENV, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A work tree on branch ``trunk`` with a tag, a second branch and a remote-tracking branch."""
    path = tmp_path / "work"
    path.mkdir()
    _run(path, "init", "-q", "-b", "trunk")
    (path / "a.py").write_text("x = 1\n")
    _run(path, "add", "a.py")
    _run(path, "commit", "-q", "-m", "one")
    _run(path, "tag", "v1")
    _run(path, "branch", "feature")
    head = _run(path, "rev-parse", "HEAD").strip()
    _run(path, "update-ref", "refs/remotes/origin/old", head)
    _run(path, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/old")
    return path


def test_find_source_of_a_work_tree_and_of_a_bare_repository(work: Path, tmp_path: Path) -> None:
    (work / "sub").mkdir()
    source = imports.find_source(work / "sub")
    assert source is not None
    assert Path(source.url) == work and source.head_branch == "trunk"
    assert source.refspecs == (
        "+refs/heads/*:refs/heads/*",
        "+refs/tags/*:refs/tags/*",
        "+refs/remotes/origin/old:refs/heads/origin/old",
    )
    bare = tmp_path / "bare.git"
    _run(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    cloned = imports.find_source(bare)
    assert cloned is not None and Path(cloned.url) == bare and cloned.head_branch == "trunk"
    (tmp_path / "plain").mkdir()
    assert imports.find_source(tmp_path / "plain") is None


def test_init_fetch_and_set_default_branch(work: Path, tmp_path: Path) -> None:
    source = imports.find_source(work)
    assert source is not None
    dest = tmp_path / "dest.git"
    imports.init_bare(dest, {"trellis.description": "imported", "gc.auto": "0"})
    assert RepositoryReader(dest).config_value("trellis.description") == "imported"
    imports.fetch(dest, source.url, source.refspecs)
    assert git(dest, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/feature",
        "refs/heads/origin/old",
        "refs/heads/trunk",
        "refs/tags/v1",
    ]
    assert imports.set_default_branch(dest, ["nope", "trunk", "feature"]) == "trunk"
    assert git(dest, "symbolic-ref", "HEAD").strip() == "refs/heads/trunk"
    assert imports.set_default_branch(dest, ["", "nope"]) == "feature"  # else the first branch by name
    empty = tmp_path / "empty.git"
    imports.init_bare(empty, {})
    assert imports.set_default_branch(empty, ["main"]) == ""


def test_a_failed_fetch_says_why(tmp_path: Path) -> None:
    dest = tmp_path / "dest.git"
    imports.init_bare(dest, {})
    with pytest.raises(vcs.FailedPrecondition) as info:
        imports.fetch(dest, str(tmp_path / "no-such-repository"), ["+refs/heads/*:refs/heads/*"])
    assert info.value.reason == "IMPORT_FAILED"
    assert "cannot fetch from" in info.value.message


def test_git_and_libgit2_fetch_the_same(work: Path, tmp_path: Path) -> None:
    """The git program fetches when installed (much cheaper on a long history), libgit2 otherwise: the same
    references, the same objects, no stray FETCH_HEAD."""
    (work / "b.py").write_text("y = 2\n")
    _run(work, "add", "b.py")
    _run(work, "commit", "-q", "-m", "two")
    _run(work, "tag", "-a", "v2", "-m", "annotated")
    source = imports.find_source(work)
    assert source is not None
    seen = []
    for name, program in (("with-git", "git"), ("with-libgit2", None)):
        dest = tmp_path / f"{name}.git"
        imports.init_bare(dest, {})
        imports.fetch(dest, source.url, source.refspecs, git=program)
        assert not (dest / "FETCH_HEAD").exists()
        refs = git(dest, "for-each-ref", "--format=%(refname) %(objectname)")
        objects = sorted(git(dest, "rev-list", "--all", "--objects").split())
        seen.append((refs, objects))
    assert seen[0] == seen[1]
    assert "refs/tags/v2" in seen[0][0]


@pytest.mark.parametrize("program", ["git", None])
def test_a_failed_fetch_says_why_either_way(tmp_path: Path, program: str | None) -> None:
    dest = tmp_path / "dest.git"
    imports.init_bare(dest, {})
    with pytest.raises(vcs.FailedPrecondition) as info:
        imports.fetch(dest, str(tmp_path / "no-such-repository"), ["+refs/heads/*:refs/heads/*"], git=program)
    assert info.value.reason == "IMPORT_FAILED" and "no-such-repository" in info.value.message


def test_find_source_names_the_object_directory_of_the_main_repository(work: Path, tmp_path: Path) -> None:
    source = imports.find_source(work)
    assert source is not None and Path(source.objects) == (work / ".git" / "objects").resolve()
    linked = tmp_path / "linked"
    _run(work, "worktree", "add", "-q", str(linked), "feature")
    from_linked = imports.find_source(linked)
    assert from_linked is not None and Path(from_linked.url) == linked
    assert Path(from_linked.objects).resolve() == (work / ".git" / "objects").resolve()
    bare = tmp_path / "bare.git"
    _run(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    from_bare = imports.find_source(bare)
    assert from_bare is not None and Path(from_bare.objects).resolve() == (bare / "objects").resolve()


def test_fetch_with_the_source_objects_transfers_none_and_gets_the_same_refs(work: Path, tmp_path: Path) -> None:
    """Given the source's object directory, the fetch starts from its packs and loose objects (linked, as a local
    ``git clone`` does) and git has nothing left to send: no pack of its own, the same references and objects as
    a plain fetch."""
    _run(work, "repack", "-q", "-a", "-d")  # the first commit in a pack
    (work / "b.py").write_text("y = 2\n")  # the second one loose
    _run(work, "add", "b.py")
    _run(work, "commit", "-q", "-m", "two")
    _run(work, "tag", "-a", "v2", "-m", "annotated")
    source = imports.find_source(work)
    assert source is not None
    source_packs = sorted(p.name for p in (Path(source.objects) / "pack").iterdir() if p.suffix in (".pack", ".idx"))
    assert len(source_packs) == 2
    seen = []
    for name, objects in (("plain", None), ("seeded", source.objects)):
        dest = tmp_path / f"{name}.git"
        imports.init_bare(dest, {})
        imports.fetch(dest, source.url, source.refspecs, objects=objects)
        refs = git(dest, "for-each-ref", "--format=%(refname) %(objectname)")
        reachable = sorted(git(dest, "rev-list", "--all", "--objects").split())
        seen.append((refs, reachable))
        git(dest, "fsck", "--strict")
        if objects is not None:
            packs = sorted(p.name for p in (dest / "objects" / "pack").iterdir() if p.suffix in (".pack", ".idx"))
            assert packs == source_packs  # git wrote no pack: it had every object already
            loose = git(dest, "count-objects", "-v")
            assert "count: 0" not in loose  # the loose objects came too
    assert seen[0] == seen[1]
    assert "refs/tags/v2" in seen[0][0] and "refs/heads/origin/old" in seen[0][0]


def test_objects_no_fetched_reference_reaches_are_never_kept(work: Path, tmp_path: Path) -> None:
    """A commit dropped from the source's branches (still in its object store) and a file staged and never
    committed are not in the repository after a fetch given the source's objects: it fetches again from nothing."""
    (work / "secret.py").write_text("token = 'dropped'\n")
    _run(work, "add", "secret.py")
    _run(work, "commit", "-q", "-m", "oops")
    dropped = _run(work, "rev-parse", "HEAD").strip()
    _run(work, "reset", "-q", "--hard", "HEAD~1")
    (work / "staged.py").write_text("never = 'committed'\n")
    _run(work, "add", "staged.py")
    staged = _run(work, "rev-parse", ":staged.py").strip()
    source = imports.find_source(work)
    assert source is not None
    dest = tmp_path / "dest.git"
    imports.init_bare(dest, {})
    imports.fetch(dest, source.url, source.refspecs, objects=source.objects)
    for oid in (dropped, staged):
        assert subprocess.run(["git", "--git-dir", str(dest), "cat-file", "-e", oid], env=GIT_ENV).returncode != 0
    assert git(dest, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/feature",
        "refs/heads/origin/old",
        "refs/heads/trunk",
        "refs/tags/v1",
    ]
    git(dest, "fsck", "--strict")
    every = git(dest, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    assert sorted(every) == sorted(line.split()[0] for line in git(dest, "rev-list", "--objects", "--all").splitlines())
