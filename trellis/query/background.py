"""Keeping the index in step from a background thread, for the server.

The server calls :meth:`BackgroundIndexer.notify` after acknowledging a
commit (cheap, never blocks); one thread syncs the notified repositories,
coalescing bursts (a hundred commits to one repository in a burst become a
few syncs). On start it catches up with everything (after a restart the
index may lag). Errors are logged and retried at the next notification;
they never reach the pusher.

``min_interval`` spaces syncs out: a sync starts at least that many seconds
after the previous one ended, gathering the notifications in between. A sync
reads every reference of the repository, so during a bulk import (thousands
of sessions, each a few writes) syncing after every write costs more than
the writes; the embedded server of an import command sets it. Waiting for
the index (:meth:`BackgroundIndexer.wait_idle`, and so stopping) never waits
for the interval.

A notification may carry what the commit's write changed
(:class:`trellis.vcs.CommitDelta`): the sync then makes that commit's rows
from it instead of diffing its trees in git. The deltas waiting are bounded
(by default :data:`MAX_HELD_DELTAS`, and :data:`MAX_HELD_BYTES` of file contents); a delta
past the bound is dropped and its commit read from git, as is every commit
notified without one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import duckdb

from .indexer import Indexer

if TYPE_CHECKING:
    from trellis.vcs import CommitDelta

__all__ = ["MAX_HELD_BYTES", "MAX_HELD_DELTAS", "BackgroundIndexer"]

MAX_HELD_DELTAS = 8192
MAX_HELD_BYTES = 32 << 20

log = logging.getLogger(__name__)


class BackgroundIndexer:
    def __init__(
        self,
        indexer: Indexer,
        *,
        full_sync_on_start: bool = True,
        min_interval: float = 0.0,
        max_held: tuple[int, int] = (MAX_HELD_DELTAS, MAX_HELD_BYTES),
    ) -> None:
        """``max_held``: how many deltas, and how many bytes of their files' contents, may wait for a sync."""
        self.indexer = indexer
        self.max_held = max_held
        self.min_interval = max(0.0, min_interval)
        self._pending: set[str] = set()
        self._written: dict[str, dict[str, CommitDelta]] = {}  # repository -> commit id -> its write's delta
        self._held = self._held_bytes = 0
        self._all = full_sync_on_start
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._waiters = 0  # threads in wait_idle: the next sync starts at once
        self._gathering = False  # the thread waits out min_interval: a notification need not wake it
        self._last_end = float("-inf")
        self._thread = threading.Thread(target=self._run, name="trellis-indexer", daemon=True)

    def start(self) -> BackgroundIndexer:
        self._thread.start()
        return self

    def notify(self, repository: str | None = None, written: CommitDelta | None = None) -> None:
        """Index ``repository`` soon (``None``: every repository); ``written``: what a new commit's write
        changed, to index it from (see the module docstring)."""
        with self._cond:
            if repository is None:
                self._all = True
            else:
                self._pending.add(repository)
                if written is not None:
                    self._hold(repository, written)
            if not self._gathering:  # (while it gathers, waking it up for each write would only cost CPU)
                self._cond.notify_all()

    def _hold(self, repository: str, written: CommitDelta) -> None:
        size = written.content_bytes
        if self._held >= self.max_held[0] or self._held_bytes + size > self.max_held[1]:
            return  # (its commit is read from git)
        self._written.setdefault(repository, {})[written.commit.commit_id] = written
        self._held += 1
        self._held_bytes += size

    @property
    def held(self) -> tuple[int, int]:
        """The deltas waiting for a sync, and the bytes of content they hold."""
        with self._cond:
            return self._held, self._held_bytes

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until everything notified so far is indexed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiters += 1
            self._cond.notify_all()
            try:
                while self._pending or self._all or self._busy:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._waiters -= 1

    def stop(self, timeout: float | None = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _reopen(self) -> None:
        """Open the invalidated index again and catch every repository up; while it cannot be opened (the disk
        still full), retry at most once a second."""
        try:
            self.indexer.reopen()
            opened = True
        except (duckdb.Error, OSError):
            log.exception("could not open the index again (will retry)")
            opened = False
        with self._cond:
            if not opened and not self._stopping:
                self._cond.wait(1.0)
            self._all = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._pending or self._all or self._stopping):
                    self._cond.wait()
                start = self._last_end + self.min_interval
                self._gathering = True
                while not (self._stopping or self._waiters) and (remaining := start - time.monotonic()) > 0:
                    self._cond.wait(remaining)  # gather what comes meanwhile into this sync
                self._gathering = False
                if self._stopping:
                    return
                everything, names, written = self._all, sorted(self._pending), self._written
                self._all = False
                self._pending.clear()
                self._written, self._held, self._held_bytes = {}, 0, 0
                self._busy = True
            try:
                if everything:
                    self.indexer.sync(written=written)
                else:
                    for name in names:
                        self.indexer.sync_repository(name, written=written.get(name))
            except duckdb.FatalException:  # the database was invalidated (a full disk at a checkpoint): open it again
                log.exception("indexing failed; the index is opened again and caught up from git")
                self._reopen()
            except Exception:
                log.exception("indexing failed (will retry at the next change)")
            finally:
                with self._cond:
                    self._busy = False
                    self._last_end = time.monotonic()
                    self._cond.notify_all()
