"""Tool caches: directories of the working tree that a stage's tools keep between its runs.

A warm checkout keeps what test tools cache under the project's directory
(hypothesis's Unicode tables, say: about a second of CPU to rebuild for every
process that draws text). A workspace is reset to its tree before each job, so
a stage names such directories (``tool_caches``, relative to the tree's root)
and each job of the stage:

- starts with the copy kept by the last job of the same scope (repository,
  stage, environment), restored where the tree has nothing;
- leaves its own copy behind when it ends, replacing the kept one at once
  (a rename), so that every job reads a whole copy from one job.

The server reads what a job wrote, so saving trusts nothing in it: every
directory on the way is a real directory (no symbolic link), only regular files
with one link, owned by the job's user, are kept, and a cache larger than
:data:`MAX_BYTES` or :data:`MAX_FILES` is dropped rather than kept (it is
rebuilt from nothing by the next job). A cache is only as trustworthy as the
code of the jobs that wrote it: stages keep only caches that cannot change a
test's outcome (see docs/pipelines.md).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
import uuid
from pathlib import Path

__all__ = ["MAX_BYTES", "MAX_FILES", "CacheStore"]

MAX_BYTES = 64 << 20  # per cache directory
MAX_FILES = 20_000  # files and directories


class CacheStore:
    """The kept copies under ``root``: ``<root>/<scope digest>/<n>/`` for the n-th path of a stage."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, scope: str, path: str) -> Path:
        digest = hashlib.sha256(f"{scope}\0{path}".encode()).hexdigest()[:32]
        return self.root / digest

    def restore(self, scope: str, paths: tuple[str, ...], workspace: Path) -> int:
        """Copy the kept caches into ``workspace`` where it has nothing; the number of files restored."""
        owner = _owner(workspace)
        restored = 0
        for path in paths:
            kept = self._dir(scope, path) / "data"
            if not kept.is_dir():
                continue
            target = _inside(workspace, path, create=True, owner=owner)
            if target is None or os.path.lexists(target):
                continue  # the tree has something there (or a non-directory on the way): leave it
            restored += _copy_tree(kept, target, owner)
        return restored

    def save(self, scope: str, paths: tuple[str, ...], workspace: Path) -> None:
        """Keep ``workspace``'s copy of each cache (replacing the kept one), or drop one that cannot be kept."""
        owner = _owner(workspace)
        for path in paths:
            home = self._dir(scope, path)
            home.mkdir(parents=True, exist_ok=True)
            source = _inside(workspace, path, create=False, owner=owner)
            fresh = home / f"new-{uuid.uuid4().hex}"
            keep = source is not None and _read_tree(source, fresh, owner)
            with open(home / "lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                old = home / f"old-{uuid.uuid4().hex}"
                try:
                    os.rename(home / "data", old)
                except FileNotFoundError:
                    pass
                if keep:
                    os.rename(fresh, home / "data")
            shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(fresh, ignore_errors=True)


def _owner(workspace: Path) -> tuple[int, int]:
    st = os.lstat(workspace)
    return st.st_uid, st.st_gid


def _inside(workspace: Path, path: str, *, create: bool, owner: tuple[int, int]) -> Path | None:
    """``workspace/path`` when every directory on the way is a real one (made, with ``create``); else None."""
    current = workspace
    parts = path.split("/")
    for part in parts[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if not create:
                return None
            os.mkdir(current, 0o755)
            os.chown(current, *owner, follow_symlinks=False)
            continue
        if not stat.S_ISDIR(st.st_mode):
            return None
    target = current / parts[-1]
    if not create:
        try:
            if not stat.S_ISDIR(os.lstat(target).st_mode):
                return None
        except FileNotFoundError:
            return None
    return target


def _read_tree(source: Path, dest: Path, owner: tuple[int, int]) -> bool:
    """Copy the job's regular files under ``source`` to ``dest``; False (nothing kept) when over the bounds."""
    total = files = 0
    dest.mkdir()
    for top, dirs, names in os.walk(source, followlinks=False):
        rel = os.path.relpath(top, source)
        out = dest if rel == "." else dest / rel
        for name in dirs:
            if stat.S_ISDIR(os.lstat(os.path.join(top, name)).st_mode):  # a link to a directory is not walked
                files += 1  # directories count against the bound too
                if files > MAX_FILES:
                    return False
                (out / name).mkdir()
        for name in names:
            try:
                fd = os.open(os.path.join(top, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue  # a symbolic link, a socket...
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or (st.st_uid, st.st_gid) != owner:
                    continue  # only what the job itself wrote there
                files += 1
                total += st.st_size
                if files > MAX_FILES or total > MAX_BYTES:
                    return False
                data = f.read(MAX_BYTES + 1 - (total - st.st_size))
            (out / name).write_bytes(data)
    return True


def _copy_tree(kept: Path, target: Path, owner: tuple[int, int]) -> int:
    copied = 0
    for top, dirs, names in os.walk(kept):
        rel = os.path.relpath(top, kept)
        out = target if rel == "." else target / rel
        os.mkdir(out, 0o755)
        os.chown(out, *owner)
        for name in names:
            fd = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write((Path(top) / name).read_bytes())
                os.fchown(fd, *owner)
            copied += 1
        dirs.sort()
    return copied
