"""The indexer: follows the repositories of a data directory into DuckDB.

Git is the source of truth. For each repository the index remembers the
tips it has caught up with (the ``refs`` table) and which commits it holds
(``commits`` / ``index_state``). A sync lists the refs again, walks from the
tips that moved (hiding the tips already indexed), indexes the new commits in
Arrow batches, drops commits no ref reaches any more, refreshes changed
sessions and their new steps, and finally records the new tips, so a crash at
any point leaves an index that the next sync completes. Verification runs
(``refs/trellis/runs/<id>``, listed in the same pass over the refs) are
followed the same way: ``run_refs`` remembers the record commit each run was
read from, and only the runs whose ref moved are read again; a run's rows
are replaced in one transaction (with the run's ``run_refs`` row). Row
contents depend on git alone (no wall-clock values), so
:meth:`Indexer.rebuild` gives an identical index.

:meth:`Indexer.sync` skips a repository whose references, ``HEAD`` and
configuration are byte for byte what they were when it last caught up with it
(:func:`trellis.vcs.refstate.refs_state`, recorded in ``index_info``): an
up-to-date index answers without opening git at all. The catch-up itself is
:mod:`trellis.query.catchup`.

Threads: one writer (every method that changes the index takes the
indexer's lock); queries run on their own cursors (:meth:`Indexer.cursor`)
and see committed snapshots, so indexing never blocks queries, and it takes
no lock of the version-control core, so it never blocks pushes.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa

from trellis.vcs.refstate import refs_state
from trellis.vcs.validation import check_repository_name

from .caughtup import CAUGHT_UP, caught_up_states, indexed_repositories, repository_names
from .changes import default_entity_differ
from .database import DatabaseSettings, open_database
from .schema import TABLES, arrow_schema, create_schema, drop_schema, table

if TYPE_CHECKING:
    from trellis.vcs import BlobBytes, CommitDelta

    from .changes import CommitRows, EntityDiffer

__all__ = ["Indexer", "ProgressCallback", "SyncStats"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

# Tables holding derived rows, per repository (everything but bookkeeping of the schema itself).
_REPOSITORY_TABLES = [t.name for t in TABLES]
_COMMIT_TABLES = ["commits", "commit_parents", "file_changes", "entity_changes", "index_state"]
_RUN_TABLES = ["verification_runs", "job_results", "test_results", "run_refs"]
_RUNS_PER_TRANSACTION = 1000


@dataclass(frozen=True, slots=True)
class SyncStats:
    """What a sync changed in the index."""

    repositories: int = 0
    repositories_removed: int = 0
    commits_added: int = 0
    commits_removed: int = 0
    refs_changed: int = 0
    sessions_changed: int = 0
    steps_added: int = 0
    file_changes_added: int = 0
    entity_changes_added: int = 0
    entity_backfilled_commits: int = 0
    runs_changed: int = 0
    runs_removed: int = 0
    runs_invalid: int = 0  # run records skipped because their run.json could not be read (logged)

    def __add__(self, other: SyncStats) -> SyncStats:
        return SyncStats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def changed(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "repositories")


class _Batch:
    """Rows waiting to be written, per table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {}

    def add(self, name: str, rows: Iterable[tuple[Any, ...]]) -> None:
        self.rows.setdefault(name, []).extend(rows)

    def add_commit(self, repository: str, rows: CommitRows) -> None:
        self.add("commits", [rows.commit])
        self.add("commit_parents", rows.parents)
        self.add("file_changes", rows.files)
        self.add("entity_changes", rows.entities)
        self.add("index_state", [(repository, rows.commit[1], rows.entity_state)])

    def count(self, name: str) -> int:
        return len(self.rows.get(name, ()))


def _arrow_table(name: str, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    schema = arrow_schema(name)
    columns = list(zip(*rows)) if rows else [() for _ in schema]
    arrays = [pa.array(list(col), type=f.type) for col, f in zip(columns, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


class Indexer:
    """Keeps the DuckDB index of ``data_dir``'s repositories in step with git.

    ``entity_differ`` computes entity changes: ``"auto"`` uses the semantic
    diff engine when it is importable (and indexes no entity rows, filling
    them in later, when it is not); ``None`` turns entity changes off; any
    :class:`~trellis.query.changes.EntityDiffer` callable is used as is.
    """

    def __init__(
        self,
        data_dir: Path,
        db_path: Path | None = None,
        *,
        entity_differ: EntityDiffer | Literal["auto"] | None = "auto",
        settings: DatabaseSettings | None = None,
        in_memory: bool = False,
        batch_commits: int = 500,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.repos_dir = self.data_dir / "repos"
        self.db_path = None if in_memory else Path(db_path or self.data_dir / "index.duckdb")
        self.differ: EntityDiffer | None = default_entity_differ() if isinstance(entity_differ, str) else entity_differ
        self.batch_commits = max(1, batch_commits)
        self._settings = settings
        self._con = open_database(self.db_path, settings)
        self._lock = threading.RLock()
        self._cursor_lock = threading.Lock()
        self._reader_root = self._con.cursor()
        self._closed = False
        self._generation = 0
        self._refs_states: dict[str, str] | None = None  # what sync() last caught up with, per repository
        self._kept_blobs: BlobBytes | None = None  # contents of handed deltas' files, for the next commits' old sides

    @property
    def generation(self) -> int:
        """How many write transactions this indexer has committed: a change of the index changes it."""
        return self._generation

    @contextmanager
    def writes_held(self) -> Iterator[int]:
        """Hold off every write to the index while the block runs; yields the generation of what is committed.

        Every write transaction runs under this lock and commits before letting it go, so in the block the
        database file and its write-ahead log hold exactly that generation and nothing changes them."""
        with self._lock:
            yield self._generation

    # -- connections ---------------------------------------------------------

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The trusted writer connection (exports, tests). Never run user SQL on it: use the sandbox."""
        return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new reader connection to the index, for one thread; close it when done."""
        with self._cursor_lock:
            return self._reader_root.cursor()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._reader_root.close()
            self._con.close()

    def reopen(self) -> None:
        """Open the database again after DuckDB invalidated it: a fatal error (a checkpoint the full disk refused)
        leaves the connection unusable until the database is opened anew. The file holds every transaction that
        committed (its write-ahead log replayed on open); the next :meth:`sync` catches up from git with whatever
        the failed one did not write. Raises when it cannot open it yet (the disk still full): call it again."""
        with self._lock, self._cursor_lock:
            if self._closed:
                return
            for old in (self._reader_root, self._con):
                try:
                    old.close()
                except duckdb.Error:  # (closing an invalidated connection may fail too)
                    pass
            self._con = open_database(self.db_path, self._settings)
            self._reader_root = self._con.cursor()
            self._refs_states = None
            self._kept_blobs = None
            self._generation += 1

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sync ----------------------------------------------------------------

    def repository_names(self) -> list[str]:
        """Repositories present in the data directory, sorted."""
        return repository_names(self.repos_dir)

    def sync(
        self,
        *,
        workers: int = 1,
        on_progress: ProgressCallback | None = None,
        written: Mapping[str, Mapping[str, CommitDelta]] | None = None,
    ) -> SyncStats:
        """Catch up with every repository; drop repositories that no longer exist.

        A repository whose references, ``HEAD`` and configuration are as they were when a sync last caught up
        with it is not opened (see the module docstring). ``written``: per repository, the deltas handed over
        by the writes of new commits (see :meth:`sync_repository`)."""
        with self._lock:
            names = self.repository_names()
            stats = SyncStats()
            for gone in sorted(set(self._indexed_repositories()) - set(names)):
                self._delete_rows(gone)
                stats += SyncStats(repositories_removed=1)
            for name in names:
                path = self.repos_dir / f"{name}.git"
                before = refs_state(path) if self.differ is not None else None
                if before is not None and self._caught_up().get(name) == before:
                    stats += SyncStats(repositories=1)
                    continue
                stats += self.sync_repository(
                    name, workers=workers, on_progress=on_progress, written=(written or {}).get(name)
                )
                # Recorded only when nothing moved while it ran: the index then holds exactly that state.
                if before is not None and refs_state(path) == before:
                    self._remember_caught_up(name, before)
            return stats

    def sync_repository(
        self,
        name: str,
        *,
        workers: int = 1,
        on_progress: ProgressCallback | None = None,
        written: Mapping[str, CommitDelta] | None = None,
    ) -> SyncStats:
        """Catch up with one repository (called after each acknowledged commit).

        ``written``: what the writes of new commits handed over, by commit id (:class:`trellis.vcs.CommitDelta`):
        such a commit's rows are made from it instead of from a diff of its trees in git (the same rows: see
        :func:`~trellis.query.changes.commit_rows`); a commit without one, or one already indexed, is read
        from git as always."""
        check_repository_name(name)
        with self._lock:
            self._forget_caught_up(name)
            path = self.repos_dir / f"{name}.git"
            if not path.is_dir():
                if name in self._indexed_repositories():
                    self._delete_rows(name)
                    return SyncStats(repositories_removed=1)
                return SyncStats()
            from trellis.vcs import NotFound, RepositoryReader

            from .catchup import RepositorySync

            try:
                repo = RepositoryReader(path)
            except NotFound:
                log.warning("cannot open repository %s; skipped", path)
                return SyncStats()
            return RepositorySync(self, repo, name, workers, on_progress, written).run()

    # -- what each repository was caught up with (index_info rows "caught_up:<name>") ---------------------------

    def _caught_up(self) -> dict[str, str]:
        if self._refs_states is None:
            self._refs_states = caught_up_states(self._con)
        return self._refs_states

    def _remember_caught_up(self, name: str, state: str) -> None:
        self._forget_caught_up(name)
        self._con.execute("INSERT INTO index_info VALUES (?, ?)", [CAUGHT_UP + name, state])
        self._caught_up()[name] = state

    def _forget_caught_up(self, name: str) -> None:
        if name in self._caught_up():
            self._con.execute("DELETE FROM index_info WHERE key = ?", [CAUGHT_UP + name])
            del self._caught_up()[name]

    def rebuild(self, *, workers: int = 1, on_progress: ProgressCallback | None = None) -> SyncStats:
        """Drop the whole index and rebuild it from the repositories alone."""
        with self._lock:
            drop_schema(self._con)
            create_schema(self._con)
            self._refs_states = None
            try:  # give the dropped tables' space back now; a reader's open transaction (a Query, the
                self._con.execute("CHECKPOINT")  # snapshot publisher) defers that to DuckDB's next checkpoint
            except duckdb.TransactionException:
                log.info("index rebuild: checkpoint deferred while other transactions are open")
            self._generation += 1
            return self.sync(workers=workers, on_progress=on_progress)

    def delete_repository(self, name: str) -> None:
        """Forget every row of repository ``name`` (after it was deleted from the data directory)."""
        check_repository_name(name)
        with self._lock:
            self._delete_rows(name)

    # -- consistency ---------------------------------------------------------

    def check(self) -> list[str]:
        """Differences between the index and git, one line each (empty: they agree)."""
        from .consistency import check_index

        with self._lock:
            return check_index(self)

    # -- internals used by catchup.RepositorySync ------------------------------------

    def _indexed_repositories(self) -> list[str]:
        return indexed_repositories(self._con)

    def _delete_rows(self, name: str) -> None:
        self._forget_caught_up(name)
        self._con.begin()
        try:
            for t in _REPOSITORY_TABLES:
                self._con.execute(f"DELETE FROM {t} WHERE repository = ?", [name])
            self._con.commit()
            self._generation += 1
        except BaseException:
            self._con.rollback()
            raise

    def _write(self, batch: _Batch) -> None:
        """Insert a batch (inside the caller's transaction)."""
        for name, rows in batch.rows.items():
            if not rows:
                continue
            view = f"_batch_{name}_{uuid.uuid4().hex[:8]}"
            self._con.register(view, _arrow_table(name, rows))
            try:
                columns = ", ".join(table(name).column_names)
                self._con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {view}")
            finally:
                self._con.unregister(view)

    def _delete_where_in(self, names: Sequence[str], repository: str, column: str, values: Sequence[str]) -> None:
        if not values:
            return
        view = f"_keys_{uuid.uuid4().hex[:8]}"
        self._con.register(view, pa.table({"k": pa.array(list(values), pa.string())}))
        try:
            for name in names:
                self._con.execute(
                    f"DELETE FROM {name} WHERE repository = ? AND {column} IN (SELECT k FROM {view})",
                    [repository],
                )
        finally:
            self._con.unregister(view)

    def _present(self, repository: str, commit_ids: Sequence[str]) -> set[str]:
        if not commit_ids:
            return set()
        view = f"_keys_{uuid.uuid4().hex[:8]}"
        self._con.register(view, pa.table({"k": pa.array(list(commit_ids), pa.string())}))
        try:
            rows = self._con.execute(
                f"SELECT commit_id FROM commits WHERE repository = ? AND commit_id IN (SELECT k FROM {view})",
                [repository],
            ).fetchall()
        finally:
            self._con.unregister(view)
        return {r[0] for r in rows}
