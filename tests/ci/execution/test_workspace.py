"""Workspaces hold exactly a commit's tree, as real git checks it out, and undo what a job did."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV
from trellis.ci.execution.workspace import DEFAULT_UID_BASE, WorkspacePool, pack_tree

FileSpec = bytes | tuple[str, bytes]  # content, or ("exec" | "link", content / link target)


class GitRepo:
    """A real git repository built with the git command line; ``commit`` returns the tree id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, stdin: bytes | None = None) -> bytes:
        env = {
            **GIT_ENV,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
        return subprocess.run(
            ["git", *args], cwd=self.path, env=env, input=stdin, capture_output=True, check=True
        ).stdout

    def commit(self, files: dict[str, FileSpec | None]) -> str:
        """Apply ``files`` (None deletes) to the work tree, commit everything, return the tree id."""
        for rel, spec in files.items():
            target = self.path / rel
            if target.is_symlink() or target.is_file():
                target.unlink()
            if spec is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(spec, tuple) and spec[0] == "link":
                os.symlink(spec[1], target)
            elif isinstance(spec, tuple):
                target.write_bytes(spec[1])
                target.chmod(0o755)
            else:
                target.write_bytes(spec)
                target.chmod(0o644)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", "c")
        return self.git("rev-parse", "HEAD^{tree}").decode().strip()

    def archive(self, tree_id: str, into: Path) -> Path:
        """``git archive`` of the tree, extracted: the reference a workspace must equal."""
        into.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(self.git("archive", "--format=tar", tree_id))) as tar:
            tar.extractall(into, filter="tar")
        return into


def listing(top: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry below ``top``: ('dir'|'file'|'exec'|'link', content or link target)."""
    found: dict[str, tuple[str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(top))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path).encode())
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", b"")
            else:
                found[rel] = ("exec" if st.st_mode & 0o100 else "file", path.read_bytes())
    return found


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def pool_root() -> Iterator[Path]:
    """Pools live where other users can reach them (pytest's own temp root is private to root)."""
    with tempfile.TemporaryDirectory(prefix="trellis-ws-") as d:
        os.chmod(d, 0o755)
        yield Path(d)


FIRST: dict[str, FileSpec | None] = {
    "README.md": b"hello\n",
    "run.sh": ("exec", b"#!/bin/sh\necho run\n"),
    "src/pkg/__init__.py": b"",
    "src/pkg/core.py": b"def f():\n    return 1\n",
    "src/pkg/link.py": ("link", "core.py"),
    "docs/deep/er/still.txt": b"deep\n",
    "escape": ("link", "../../../../etc/passwd"),
}
SECOND: dict[str, FileSpec | None] = {
    "src/pkg/core.py": b"def f():\n    return 2\n",
    "run.sh": b"#!/bin/sh\necho no longer executable\n",
    "README.md": ("exec", b"hello\n"),  # same content, now executable
    "docs/deep/er/still.txt": None,  # the whole docs/ tree goes away
    "escape": b"now a plain file\n",  # symlink -> file
    "src/pkg/link.py": ("link", "__init__.py"),
    "new/dir/file.txt": b"new\n",
}


def test_lease_materialises_exactly_the_tree_and_switches_between_commits(
    repo: GitRepo, pool_root: Path, tmp_path: Path
) -> None:
    first = repo.commit(FIRST)
    second = repo.commit(SECOND)
    pool = WorkspacePool(pool_root / "pool", size=1)
    for n, tree in enumerate([first, second, first, second, second]):
        with pool.lease(str(repo.path), tree) as ws:
            assert listing(ws) == listing(repo.archive(tree, tmp_path / f"expected-{n}"))
            assert os.readlink(ws / "escape") == "../../../../etc/passwd" if tree == first else True
    assert pool.last_lease is not None and pool.last_lease.how == "same-tree"


def test_a_job_s_modifications_and_stray_files_are_undone(repo: GitRepo, pool_root: Path, tmp_path: Path) -> None:
    tree = repo.commit(FIRST)
    expected = listing(repo.archive(tree, tmp_path / "expected"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep me")
    pool = WorkspacePool(pool_root / "pool", size=1)
    with pool.lease(str(repo.path), tree) as ws:
        (ws / "README.md").write_text("changed")  # modified in place
        core = ws / "src/pkg/core.py"
        before = core.stat()
        core.write_bytes(b"def f():\n    return 9\n")  # same size, mtime put back
        os.utime(core, ns=(before.st_atime_ns, before.st_mtime_ns))
        (ws / "run.sh").chmod(0o644)  # lost its exec bit
        (ws / "stray.txt").write_text("x")  # new file
        (ws / "cache/sub").mkdir(parents=True)  # new directories
        (ws / "docs/deep/er/still.txt").unlink()  # deleted
        (ws / "docs/deep/er").rmdir()
        (ws / "src/pkg/link.py").unlink()
        (ws / "src/pkg/link.py").symlink_to(outside / "victim")  # symlink retargeted outside
        os.symlink(outside, ws / "out")  # a symlink to a directory outside
        (ws / "docs/deep").chmod(0o000)  # an unlistable directory
    with pool.lease(str(repo.path), tree) as ws:
        assert pool.last_lease is not None and pool.last_lease.how == "same-tree"
        assert listing(ws) == expected
    assert (outside / "victim").read_text() == "keep me"
    assert sorted(os.listdir(outside)) == ["victim"]


def test_a_directory_replaced_by_a_symlink_is_never_written_through(
    repo: GitRepo, pool_root: Path, tmp_path: Path
) -> None:
    first = repo.commit(FIRST)
    second = repo.commit(SECOND)
    outside = tmp_path / "outside"
    outside.mkdir()
    pool = WorkspacePool(pool_root / "pool", size=1)
    with pool.lease(str(repo.path), first) as ws:
        for name in ("src", "new"):  # "new" does not exist yet: the next tree creates new/dir/file.txt
            if (ws / name).exists():
                subprocess.run(["rm", "-rf", str(ws / name)], check=True)
            os.symlink(outside, ws / name)
    with pool.lease(str(repo.path), second) as ws:
        assert listing(ws) == listing(repo.archive(second, tmp_path / "expected"))
    assert os.listdir(outside) == []


def test_update_to_a_close_tree_writes_only_the_changed_files(repo: GitRepo, pool_root: Path) -> None:
    first = repo.commit(FIRST)
    second = repo.commit({"src/pkg/core.py": b"def f():\n    return 3\n"})
    pool = WorkspacePool(pool_root / "pool", size=1)
    with pool.lease(str(repo.path), first) as ws:
        unchanged = (ws / "docs/deep/er/still.txt").stat()
        os.link(ws / "src/pkg/core.py", pool_root / "hardlink")  # whoever else holds the old inode
    with pool.lease(str(repo.path), second) as ws:
        assert pool.last_lease is not None
        assert (pool.last_lease.how, pool.last_lease.written) == ("diff", 1)
        now = (ws / "docs/deep/er/still.txt").stat()
        assert (now.st_ino, now.st_mtime_ns, now.st_ctime_ns) == (
            unchanged.st_ino,
            unchanged.st_mtime_ns,
            unchanged.st_ctime_ns,
        )
        assert (ws / "src/pkg/core.py").read_bytes() == b"def f():\n    return 3\n"
    assert (pool_root / "hardlink").read_bytes() == b"def f():\n    return 1\n"  # replaced, not written through


def test_the_free_workspace_with_the_closest_tree_is_chosen(repo: GitRepo, pool_root: Path) -> None:
    base = repo.commit(FIRST)
    near = repo.commit({"README.md": b"near\n"})
    far = repo.commit({f"bulk/{i}.txt": f"{i}\n".encode() for i in range(30)})
    pool = WorkspacePool(pool_root / "pool", size=2)
    with pool.lease(str(repo.path), far) as a, pool.lease(str(repo.path), base) as b:
        holder_far, holder_base = a, b
    with pool.lease(str(repo.path), near) as ws:
        assert ws == holder_base
        assert pool.last_lease is not None and pool.last_lease.written == 1
    with pool.lease(str(repo.path), far) as ws:
        assert ws == holder_far and pool.last_lease is not None and pool.last_lease.how == "same-tree"


def test_concurrent_leases_get_distinct_workspaces_and_wait_when_all_are_busy(repo: GitRepo, pool_root: Path) -> None:
    tree = repo.commit(FIRST)
    pool = WorkspacePool(pool_root / "pool", size=3)
    held: list[Path] = []
    inside = 0
    most = 0
    lock = threading.Lock()

    def job() -> None:
        nonlocal inside, most
        with pool.lease(str(repo.path), tree) as ws:
            with lock:
                assert ws not in held
                held.append(ws)
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            (ws / "mine").write_text(str(threading.get_ident()))
            time.sleep(0.05)
            assert (ws / "mine").read_text() == str(threading.get_ident())
            with lock:
                held.remove(ws)
                inside -= 1

    threads = [threading.Thread(target=job) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 3


def test_state_survives_a_restart_and_a_corrupt_state_is_rebuilt(
    repo: GitRepo, pool_root: Path, tmp_path: Path
) -> None:
    tree = repo.commit(FIRST)
    expected = listing(repo.archive(tree, tmp_path / "expected"))
    with WorkspacePool(pool_root / "pool", size=1).lease(str(repo.path), tree):
        pass
    restarted = WorkspacePool(pool_root / "pool", size=1)
    with restarted.lease(str(repo.path), tree) as ws:
        assert restarted.last_lease is not None and restarted.last_lease.how == "same-tree"
        (ws / "stray").write_text("x")
    (pool_root / "pool" / "ws-0.state").write_text("{not json")
    again = WorkspacePool(pool_root / "pool", size=1)
    with again.lease(str(repo.path), tree) as ws:
        assert again.last_lease is not None and again.last_lease.how == "full"
        assert listing(ws) == expected
    state = json.loads((pool_root / "pool" / "ws-0.state").read_text())
    assert state["tree"] == tree


def test_workspaces_belong_to_their_own_uid_when_run_as_root(repo: GitRepo, pool_root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("per-workspace owners need root")
    tree = repo.commit(FIRST)
    pool = WorkspacePool(pool_root / "pool", size=2)
    with pool.lease(str(repo.path), tree) as a, pool.lease(str(repo.path), tree) as b:
        owners = {p.lstat().st_uid for p in [a, *a.rglob("*")]}, {p.lstat().st_uid for p in [b, *b.rglob("*")]}
    assert {len(o) for o in owners} == {1}
    assert sorted(o.pop() for o in owners) == [DEFAULT_UID_BASE, DEFAULT_UID_BASE + 1]
    assert WorkspacePool(pool_root / "other", size=1, uid_base=None).owner(0) is None


def test_a_shipped_tree_materialises_the_same_as_the_repository(repo: GitRepo, pool_root: Path, tmp_path: Path) -> None:
    first = repo.commit(FIRST)
    second = repo.commit(SECOND)
    pool = WorkspacePool(pool_root / "pool", size=1)
    for n, tree in enumerate([first, second]):
        packed = pack_tree(str(repo.path), tree)
        with pool.lease_tree(packed, tree) as ws:
            assert listing(ws) == listing(repo.archive(tree, tmp_path / f"expected-{n}"))


def test_unknown_tree_and_repository_are_clear_errors(repo: GitRepo, pool_root: Path) -> None:
    from trellis.ci.execution.workspace import WorkspaceError

    repo.commit(FIRST)
    pool = WorkspacePool(pool_root / "pool", size=1)
    with pytest.raises(WorkspaceError) as e:
        with pool.lease(str(repo.path), "0" * 40):
            pass
    assert e.value.reason == "TREE_NOT_FOUND"
    with pytest.raises(WorkspaceError) as e:
        with pool.lease(str(pool_root / "nothing"), "0" * 40):
            pass
    assert e.value.reason == "REPOSITORY_NOT_FOUND"
