"""Per-reference locks: the compare-and-swap primitive pygit2 lacks, across threads and processes.

Several server processes may write one data directory (``trellis serve
--workers N``). Every writer of a ref holds its lock while it reads the
target, compares it with what the caller expected and moves it:

- in the process, a ``threading.Lock`` per (repository, ref);
- across processes, an exclusive ``flock`` on a lock file in the repository
  (``<repo>.git/trellis-locks/``), one of a fixed number of stripes per kind
  of ref (so a million sessions do not make a million files). The kernel
  drops the lock of a process that dies, ``kill -9`` included.

Locks nest in one order only, a session's ref before a branch's (a commit in
a session), and each kind has its own stripes: a process holding a branch
stripe never waits for a session stripe, so striping cannot deadlock.

Holding the lock, the writer is the only one that may write the ref, so a
``<ref>.lock`` file libgit2 left behind (its writer was killed between
creating and renaming it) is stale and removed; otherwise every later write
of that ref would fail. libgit2's "old target" check on ``set_target`` catches
anything else.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = ["LOCK_DIR", "RefLocks", "git_name"]

LOCK_DIR = "trellis-locks"
STRIPES = 256
_KINDS = (("refs/trellis/sessions/", "s"), ("refs/heads/", "h"))


def git_name(name: str) -> str:
    """``name`` (a reference name or a tree path) as the one string object pygit2 may keep.

    pygit2 1.21 never releases the string it is given as a reference name or a
    tree path (``pgit_borrow_fsdefault`` drops the reference that
    ``PyOS_FSPath`` returns), so each ``references.get(f"refs/heads/{b}")`` or
    ``tree[path]`` with a freshly built string leaks that string: 50-70 bytes a
    lookup, 8 MB a minute under a read load (benchmarks/RESULTS.md, "Load").
    Interned, a name is one object however often it is looked up; the leaked
    references pile up on it instead of on new strings.
    """
    return sys.intern(name)


def lock_file_name(ref: str) -> str:
    """The stripe file that locks ``ref`` across processes (its kind's letter and a stripe number)."""
    kind = next((letter for prefix, letter in _KINDS if ref.startswith(prefix)), "o")
    stripe = int.from_bytes(hashlib.blake2b(ref.encode(), digest_size=4).digest(), "big") % STRIPES
    return f"{kind}-{stripe:03d}"


class RefLocks:
    def __init__(self, repository_path: Callable[[str], Path] | None = None) -> None:
        """``repository_path(name)`` is the repository's git directory; without it the locks are only
        held within this process (a library user that is the directory's only process)."""
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._files: dict[tuple[str, str], tuple[Path, str, str]] = {}  # -> git dir, stripe file, ref's .lock
        self._path = repository_path

    @contextmanager
    def hold(self, repository: str, ref: str) -> Iterator[None]:
        key = (repository, ref)
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
        with lock:
            if self._path is None:
                yield
                return
            files = self._files.get(key)
            if files is None:  # the names, made once per ref (its stripe is a hash)
                git_dir = self._path(repository)
                files = (git_dir, str(git_dir / LOCK_DIR / lock_file_name(ref)), str(git_dir / f"{ref}.lock"))
                with self._guard:
                    self._files[key] = files
            git_dir, stripe, stale = files
            fd = _open_lock(git_dir, stripe)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.path.lexists(stale):
                    with suppress(FileNotFoundError):
                        os.unlink(stale)
                yield
            finally:
                os.close(fd)  # releases the flock

    def forget_repository(self, repository: str) -> None:
        with self._guard:
            for key in [k for k in self._locks if k[0] == repository]:
                del self._locks[key]
            for key in [k for k in self._files if k[0] == repository]:
                del self._files[key]


def _open_lock(git_dir: Path, path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        if not git_dir.is_dir():
            raise
        (git_dir / LOCK_DIR).mkdir(exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
