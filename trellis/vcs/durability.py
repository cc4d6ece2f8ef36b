"""Durable acknowledgements: nothing is acknowledged before it is on disk.

Every write of the :class:`~trellis.vcs.store.Store` (objects, then a ref) is followed
by :meth:`GroupSync.wait` before the write returns, outside every lock. The
writes themselves are not synced one by one (an ``fsync`` of each new loose
object, as libgit2's ``GIT_OPT_ENABLE_FSYNC_GITDIR`` does, costs a journal
commit per file: about 6 ms each on this machine's disk, 12 per commit).
Instead, writes that arrive together share one sync (group commit, leader and
followers):

- a writer that finds no sync running starts one (the leader) and covers every
  write that completed before it started;
- writers arriving while a sync runs wait for it to end; then one of them leads
  the next sync, which covers them all.

The default sync function is ``syncfs(2)`` on each filesystem that holds a
written repository: it writes back every dirty file and directory of that
filesystem (the new loose objects, the ref's lock file renamed into place, the
directories that name them) and flushes the device cache, in one call that
costs about as much as one ``fsync`` of a pack (benchmarks/RESULTS.md,
"Durability"). The sync function is injectable (``Store(sync=...)``): tests
record what each sync covered.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["Durability", "GroupSync", "SyncFunction", "sync_filesystems"]

SyncFunction = Callable[[list[Path]], None]
"""Make everything written so far under each of these directories durable; raise ``OSError`` if it cannot."""


class Durability(enum.Enum):
    """When a write is acknowledged."""

    DURABLE = "durable"
    """After its objects, its ref update and their directories are on disk (survives a power loss)."""
    NONE = "none"
    """As soon as the operating system has the data (survives a crash of Trellis, not of the machine):
    for tmpfs, throwaway data and benchmarks."""


_libc: ctypes.CDLL | None = None


def _syncfs(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if not hasattr(_libc, "syncfs"):  # not Linux: sync everything
        os.sync()
        return
    # ctypes releases the GIL for the call: other requests keep running while the disk works.
    if _libc.syncfs(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs failed: {os.strerror(err)}")


def sync_filesystems(paths: Iterable[Path]) -> None:
    """``syncfs(2)`` once per filesystem holding one of ``paths`` (``sync(2)`` where there is no syncfs)."""
    seen: set[int] = set()
    for path in paths:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            device = os.fstat(fd).st_dev
            if device not in seen:
                seen.add(device)
                _syncfs(fd)
        finally:
            os.close(fd)


class GroupSync:
    """Group commit: callers of :meth:`wait` that arrive together share one call of ``sync``."""

    def __init__(self, sync: SyncFunction = sync_filesystems) -> None:
        self._sync = sync
        self._cond = threading.Condition()
        self._pending: set[Path] = set()  # written since the last sync started
        self._started = 0  # syncs started; one runs at a time, in order
        self._finished = 0
        self._errors: dict[int, BaseException] = {}  # failed generation -> its error, while someone waits on it
        self._waiters: dict[int, int] = {}  # generation -> callers waiting for it
        self.syncs = 0
        """Syncs run so far (for the log and the tests: fewer than callers when commits were grouped)."""

    @property
    def waiting(self) -> int:
        """Callers inside :meth:`wait` now (the leader included)."""
        with self._cond:
            return sum(self._waiters.values())

    def wait(self, path: Path) -> None:
        """Return once everything written under ``path`` before this call is durable.

        Raises the sync's ``OSError`` if the sync that covers this call failed
        (the write is then not acknowledged).
        """
        with self._cond:
            self._pending.add(path)
            # The first sync to start from now on covers every write completed before this call.
            generation = self._started + 1
            self._waiters[generation] = self._waiters.get(generation, 0) + 1
            try:
                while self._finished < generation:
                    if self._started == self._finished:
                        self._lead()
                    else:
                        self._cond.wait()
                error = self._errors.get(generation)
            finally:
                self._waiters[generation] -= 1
                if not self._waiters[generation]:
                    del self._waiters[generation]
                    self._errors.pop(generation, None)
        if error is not None:
            raise OSError(getattr(error, "errno", None), f"the write was not made durable: {error}") from error

    def _lead(self) -> None:
        """Run the next sync (called with the condition held; releases it during the sync)."""
        self._started += 1
        generation = self._started
        paths, self._pending = sorted(self._pending), set()
        error: BaseException | None = None
        self._cond.release()
        try:
            self._sync(paths)
        except Exception as exc:  # handed to every caller this sync covers
            error = exc
        finally:
            self._cond.acquire()
            self._finished = generation
            self.syncs += 1
            if error is not None and generation in self._waiters:
                self._errors[generation] = error
            self._cond.notify_all()
