"""Per-reference locks: the compare-and-swap primitive pygit2 lacks.

The server is the only process that writes a data directory (it holds the
data-directory lock), so an in-process lock per (repository, ref) serialises
every writer of a ref. Under the lock the writer reads the target, compares
it with what the caller expected and moves it; libgit2's own ref lock file
and its "old target" check on ``set_target`` catch anything else.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RefLocks", "git_name"]


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


class RefLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    @contextmanager
    def hold(self, repository: str, ref: str) -> Iterator[None]:
        key = (repository, ref)
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
        with lock:
            yield

    def forget_repository(self, repository: str) -> None:
        with self._guard:
            for key in [k for k in self._locks if k[0] == repository]:
                del self._locks[key]
