"""A read-only copy of the index for other programs, published while the index is written.

The index file belongs to the process that writes it: DuckDB refuses a second
process (``Conflicting lock``), even read-only. So the owner publishes a copy,
``<data>/index-snapshot.duckdb``, that anyone may open with their own DuckDB
(Python, the CLI, R…) while the server runs::

    duckdb.connect("<data>/index-snapshot.duckdb", read_only=True)

A snapshot is written to a temporary file beside it from one read
transaction of the index (so every table is of the same moment), then
renamed over the previous one (``os.replace``): a reader opening the path
sees a whole snapshot, the old or the new, and a reader that has it open
keeps reading the old one until it reconnects. It has the index's tables and
views, plus ``snapshot_info`` (when it was taken, the index generation).

:class:`SnapshotPublisher` does this from a thread whenever the index changed
(:attr:`Indexer.generation <query.indexer.Indexer.generation>`), at most
every ``interval`` seconds, and spaced further when copying takes long, so
publishing takes at most ``max_share`` of one core.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .indexer import Indexer
from .schema import SCHEMA_VERSION, TABLES, create_schema, table

__all__ = ["SNAPSHOT_FILE", "Snapshot", "SnapshotPublisher", "publish_snapshot"]

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "index-snapshot.duckdb"
_BATCH_ROWS = 65_536


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One published snapshot: where, of which index generation, and how long it took to write."""

    path: Path
    generation: int
    seconds: float


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def _remove_leftovers(path: Path) -> None:
    """Temporary files of a publisher that died mid-copy."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp*"):
        leftover.unlink(missing_ok=True)


def publish_snapshot(indexer: Indexer, path: Path) -> Snapshot:
    """Copy the index into a new DuckDB file and swap it in at ``path`` atomically."""
    started = time.monotonic()
    path = Path(path)
    tmp = _temporary(path)
    generation = indexer.generation  # read before the copy: a change during it is published next time
    source = indexer.cursor()
    try:
        target = duckdb.connect(str(tmp), config={"threads": 1})
        try:
            create_schema(target)
            source.begin()  # one read transaction: every table of the same moment
            for t in TABLES:
                columns = ", ".join(table(t.name).column_names)
                reader = source.sql(f"SELECT {columns} FROM {t.name}").to_arrow_reader(_BATCH_ROWS)
                target.register("_snapshot_rows", reader)
                try:
                    target.execute(f"INSERT INTO {t.name} ({columns}) SELECT {columns} FROM _snapshot_rows")
                finally:
                    target.unregister("_snapshot_rows")
            source.rollback()
            target.execute(
                "CREATE TABLE snapshot_info AS SELECT now() AT TIME ZONE 'UTC' AS published_at, "
                "?::BIGINT AS index_generation, ?::INTEGER AS schema_version",
                [generation, SCHEMA_VERSION],
            )
            target.execute("CHECKPOINT")
        finally:
            target.close()
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return Snapshot(path, generation, time.monotonic() - started)


class SnapshotPublisher:
    """Publishes :func:`publish_snapshot` from a thread whenever the index changed.

    ``interval``: seconds between checks (and so the usual age of a snapshot
    after a change). ``max_share``: the share of one core publishing may take;
    a snapshot that took ``s`` seconds is followed by a pause of at least
    ``s / max_share - s``. ``stop`` publishes the last change, if any.
    """

    def __init__(self, indexer: Indexer, path: Path, *, interval: float = 2.0, max_share: float = 0.25) -> None:
        self.indexer = indexer
        self.path = Path(path)
        self.interval = max(0.05, interval)
        self.max_share = min(1.0, max(0.01, max_share))
        self.last: Snapshot | None = None
        self._published = -1
        self._publishing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trellis-snapshot", daemon=True)

    def start(self) -> SnapshotPublisher:
        _remove_leftovers(self.path)
        self._thread.start()
        return self

    def publish(self, *, force: bool = False) -> Snapshot | None:
        """Publish now if the index changed since the last snapshot (or ``force``); the snapshot, else None."""
        with self._publishing:
            if not force and self.indexer.generation == self._published and self.path.exists():
                return None
            snapshot = publish_snapshot(self.indexer, self.path)
            self._published = snapshot.generation
            self.last = snapshot
            return snapshot

    def stop(self, *, final: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if final:
            try:
                self.publish()
            except (duckdb.Error, OSError):
                log.exception("could not publish the last index snapshot")

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            pause = self.interval
            try:
                snapshot = self.publish()
            except (duckdb.Error, OSError):
                log.exception("could not publish the index snapshot (will retry)")
                continue
            if snapshot is not None:
                pause = max(self.interval, snapshot.seconds / self.max_share - snapshot.seconds)
