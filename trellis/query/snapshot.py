"""A read-only copy of the index for other programs, published while the index is written.

The index file belongs to the process that writes it: DuckDB refuses a second
process (``Conflicting lock``), even read-only. So the owner publishes a copy,
``<data>/index-snapshot.duckdb``, that anyone may open with their own DuckDB
(Python, the CLI, R…) while the server runs::

    duckdb.connect("<data>/index-snapshot.duckdb", read_only=True)

A snapshot is the index's database file, checkpointed and copied while the
indexer's writes are held off (between two of its write transactions, so it
is of one moment; the kernel copies the bytes, a fraction of the cost of
copying the rows again), then opened on its own to add ``snapshot_info``
(when it was taken, the index generation) and renamed over the previous one
(``os.replace``): a reader opening the path sees a whole snapshot, the old or
the new, and a reader that has it open keeps reading the old one until it
reconnects. The file is read through DuckDB's own descriptor: DuckDB holds a
POSIX lock on it, and closing any descriptor of ours on that file would drop
the lock. An index kept in memory, or a platform with no ``/proc/self/fd``,
is copied row by row from one read transaction instead.

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
    try:
        copied = _copy_files(indexer, indexer.db_path, tmp) if indexer.db_path is not None else None
        target = duckdb.connect(str(tmp), config={"threads": 1})  # a copied log is replayed
        generation = copied if copied is not None else _copy_rows(indexer, target)
        try:
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
        for leftover in (tmp, _wal(tmp)):
            leftover.unlink(missing_ok=True)
        raise
    return Snapshot(path, generation, time.monotonic() - started)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _copy_files(indexer: Indexer, db_path: Path, tmp: Path) -> int | None:
    """Checkpoint the index and copy its database file to ``tmp``, between two write transactions.

    None if the file cannot be copied so: no descriptor of this process's own on it to copy it through
    (not Linux), or the write-ahead log not folded in.
    """
    with indexer.writes_held() as generation:
        source = _descriptors().get(_identity(db_path))
        if source is None:
            return None
        indexer.connection.execute("CHECKPOINT")  # the log folded into the file: DuckDB writes the log only
        wal = _wal(db_path)
        if wal.exists() and wal.stat().st_size:
            return None
        _copy_descriptor(source, tmp)
    return generation


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _descriptors() -> dict[tuple[int, int], int]:
    """This process's open descriptors by the file they are open on (from /proc/self/fd; empty elsewhere).

    DuckDB holds POSIX locks on its files, and closing *any* descriptor of a file drops every lock this
    process holds on it: a copy must read through DuckDB's own descriptors, never open and close the files."""
    found: dict[tuple[int, int], int] = {}
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        try:
            st = os.fstat(int(name))
        except OSError:  # closed meanwhile (listdir's own descriptor among them)
            continue
        found.setdefault((st.st_dev, st.st_ino), int(name))
    return found


def _copy_descriptor(source: int, target: Path) -> None:
    """Copy what descriptor ``source`` is open on into a new file ``target``, by offset (its position untouched)."""
    size = os.fstat(source).st_size
    with open(target, "xb") as out:
        offset = 0
        try:
            while offset < size:
                n = os.copy_file_range(source, out.fileno(), size - offset, offset_src=offset)
                if n == 0:
                    break
                offset += n
        except OSError:  # no copy_file_range between these file systems: through memory
            pass
        while offset < size:
            chunk = os.pread(source, min(1 << 22, size - offset), offset)
            if not chunk:
                break
            out.write(chunk)
            offset += len(chunk)
        if offset != size:
            raise OSError(f"the index file shrank while it was copied ({offset} of {size} bytes)")


def _copy_rows(indexer: Indexer, target: duckdb.DuckDBPyConnection) -> int:
    """Copy every table of the index into ``target`` from one read transaction (an index in memory)."""
    generation = indexer.generation  # read before the copy: a change during it is published next time
    source = indexer.cursor()
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
    finally:
        source.close()
    return generation


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
            except (duckdb.Error, OSError) as exc:
                log.exception("could not publish the index snapshot (will retry)")
                if isinstance(exc, duckdb.FatalException):  # the checkpoint invalidated the database: open it again
                    try:
                        self.indexer.reopen()
                    except (duckdb.Error, OSError):
                        log.exception("could not open the index again (will retry)")
                continue
            if snapshot is not None:
                pause = max(self.interval, snapshot.seconds / self.max_share - snapshot.seconds)
