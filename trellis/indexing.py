"""The server's DuckDB index: opened with the data directory, kept up to date after every write.

Git is the source of truth; the index follows it. Servicers call
``changed(repository)`` after each acknowledged write; a background thread
indexes the new commits, sessions and steps within milliseconds, without
taking any vcs lock, so pushes never wait for it. Whoever owns the index
also publishes a read-only copy of it for other programs,
``<data>/index-snapshot.duckdb`` (:mod:`trellis.query.snapshot`), within
``snapshot_interval`` seconds of a change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from trellis import semantic_diff, vcs
from trellis.query import BackgroundIndexer, DatabaseSettings, Indexer
from trellis.query.snapshot import SNAPSHOT_FILE, SnapshotPublisher

__all__ = ["INDEX_FILE", "SNAPSHOT_FILE", "Index", "IndexEvents", "shared_cache_differ"]

INDEX_FILE = "index.duckdb"


def shared_cache_differ(cache: semantic_diff.ParseCache) -> Any:
    """An entity differ for the indexer that shares the server's parse cache."""

    def differ(
        old: Mapping[str, bytes],
        new: Mapping[str, bytes],
        *,
        old_ids: Mapping[str, str],
        new_ids: Mapping[str, str],
        renames: Mapping[str, str],
    ) -> Sequence[semantic_diff.EntityChange]:
        return semantic_diff.diff_files(
            old, new, cache=cache, old_ids=old_ids, new_ids=new_ids, renames=renames or None
        ).changes

    return differ


class IndexEvents(Protocol):
    """What the servicers tell the index: :class:`Index` in one process, ``workers.RemoteIndex`` in a front."""

    def changed(self, repository: str, written: vcs.CommitDelta | None = None) -> None:
        """``repository`` changed; ``written``: what a new commit's write changed, if it knows (the index need
        not diff the commit's trees then)."""

    def deleted(self, repository: str) -> None: ...


class Index:
    def __init__(
        self,
        data_dir: Path,
        cache: semantic_diff.ParseCache,
        *,
        settings: DatabaseSettings | None = None,
        snapshot_interval: float = 2.0,
        index_interval: float = 0.0,
    ) -> None:
        """``snapshot_interval``: seconds between checks for a change to publish (0: publish no snapshot);
        ``index_interval``: seconds between background syncs (``BackgroundIndexer``'s ``min_interval``);
        ``settings``: the database's caps (its ``memory_limit``...)."""
        self.indexer = Indexer(
            data_dir, data_dir / INDEX_FILE, entity_differ=shared_cache_differ(cache), settings=settings
        )
        # Catch up before serving, so the first query after a restart sees every
        # acknowledged write (incremental: quick when the index is current).
        self.indexer.sync()
        self.background = BackgroundIndexer(self.indexer, full_sync_on_start=False, min_interval=index_interval).start()
        self.snapshots = (
            SnapshotPublisher(self.indexer, data_dir / SNAPSHOT_FILE, interval=snapshot_interval).start()
            if snapshot_interval > 0
            else None
        )

    def changed(self, repository: str, written: vcs.CommitDelta | None = None) -> None:
        self.background.notify(repository, written)

    def deleted(self, repository: str) -> None:
        self.indexer.delete_repository(repository)

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.background.wait_idle(timeout)

    def close(self, drain_timeout: float = 30.0) -> None:
        self.background.wait_idle(drain_timeout)  # index what was acknowledged before stopping
        self.background.stop()
        if self.snapshots is not None:
            self.snapshots.stop()  # the last change is published: the copy matches the index left behind
        self.indexer.close()
