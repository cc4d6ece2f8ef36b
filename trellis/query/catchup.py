"""Catching up with one repository: the work of a sync that found its references moved.

:class:`RepositorySync` is one catch-up of one repository, run by the
:class:`~trellis.query.indexer.Indexer` under its lock (see the indexer's
docstring for what a sync does). It reads git through
:class:`trellis.vcs.RepositoryReader`, and computes commits' rows in worker
processes for a long history (:mod:`trellis.query.lanes`). The indexer loads
this module only when a repository changed: a query on an up-to-date index
never loads pygit2.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from trellis.vcs import BlobBytes, CommitDelta, NotFound, RepositoryReader

from . import import_worker
from .changes import CommitRows, EntityDiffer, commit_rows
from .gitsource import RefTip, SessionSnapshot, list_tips, read_session, repository_row, session_chain
from .indexer import _COMMIT_TABLES, _RUN_TABLES, _RUNS_PER_TRANSACTION, ProgressCallback, SyncStats, _Batch
from .lanes import LanePlan
from .runs import InvalidRunRecord, read_run

if TYPE_CHECKING:
    from .indexer import Indexer

__all__ = ["RepositorySync"]

log = logging.getLogger(__name__)

_BOUNDED_WALK = 10_000  # new commits a sync reads without libgit2's walk (more: the full walk, as fast then)


class RepositorySync:
    """One catch-up of one repository (runs under the indexer's lock)."""

    def __init__(
        self,
        indexer: Indexer,
        repo: RepositoryReader,
        name: str,
        workers: int,
        on_progress: ProgressCallback | None,
        written: Mapping[str, CommitDelta] | None = None,
    ) -> None:
        """``written``: what the writes of some of the commits handed over, by commit id (see
        :func:`~trellis.query.changes.commit_rows`); the others are read from git."""
        self.ix = indexer
        self.written: Mapping[str, CommitDelta] = written or {}
        if written and indexer._kept_blobs is None:
            indexer._kept_blobs = BlobBytes()
        self.con = indexer._con
        self.repo = repo
        self.name = name
        self.workers = workers
        self.on_progress = on_progress
        self._reached: frozenset[str] = frozenset()  # indexed tips that the new commits were found to sit on

    def run(self) -> SyncStats:
        listing = list_tips(self.repo)
        current = {t.ref_name: t for t in listing.refs}
        indexed = {
            r[0]: RefTip(r[0], r[1], r[2], r[3])
            for r in self.con.execute(
                "SELECT ref_name, kind, name, commit_id FROM refs WHERE repository = ?", [self.name]
            ).fetchall()
        }
        repo_row = repository_row(self.repo, self.name)
        old_repo_rows = self.con.execute(
            "SELECT repository, default_branch, description, epoch_us(create_time), head_commit_id "
            "FROM repositories WHERE repository = ?",
            [self.name],
        ).fetchall()
        changed = {n: t for n, t in current.items() if indexed.get(n) != t}
        deleted = {n: t for n, t in indexed.items() if n not in current}
        stats = SyncStats(repositories=1)
        new_repo_row = repo_row if old_repo_rows != [repo_row] else None
        if changed or deleted:
            stats += self._catch_up(current, indexed, changed, deleted, new_repo_row)
        elif new_repo_row is not None:
            self._transaction(lambda: self._replace_repository_row(repo_row))
        stats += self._sync_runs(listing.runs)
        if self.ix.differ is not None:
            stats += self._backfill_entities()
        return stats

    # -- the steps of a catch-up ---------------------------------------------

    def _catch_up(
        self,
        current: dict[str, RefTip],
        indexed: dict[str, RefTip],
        changed: dict[str, RefTip],
        deleted: dict[str, RefTip],
        repo_row: tuple[Any, ...] | None,
    ) -> SyncStats:
        # Session event commits are not code commits: find the new ones first.
        events: set[str] = set()
        rewritten_sessions: set[str] = set()
        for ref_name, tip in changed.items():
            if tip.kind != "session":
                continue
            old = indexed.get(ref_name)
            stop = old.commit_id if old is not None else None
            chain = session_chain(self.repo, tip.commit_id, stop)
            events.update(chain)
            if stop is not None and not self._reaches(chain, stop):
                rewritten_sessions.add(tip.name)

        new_ids = self._new_commits(changed, indexed, events)
        removed = self._unreachable_commits(current, indexed, changed, deleted)
        stats = SyncStats(commits_removed=len(removed))
        added, last_batch = self._index_commits(new_ids)
        stats += added

        def finish() -> None:
            nonlocal stats
            self.ix._write(last_batch)
            self.ix._delete_where_in(_COMMIT_TABLES, self.name, "commit_id", sorted(removed))
            stats += self._update_sessions(changed, deleted, indexed, rewritten_sessions)
            gone = sorted([*changed, *deleted])
            self.ix._delete_where_in(["refs"], self.name, "ref_name", gone)
            batch = _Batch()
            batch.add("refs", [(self.name, t.ref_name, t.kind, t.name, t.commit_id) for t in changed.values()])
            self.ix._write(batch)
            if repo_row is not None:
                self._replace_repository_row(repo_row)

        self._transaction(finish)
        return stats + SyncStats(refs_changed=len(changed) + len(deleted))

    def _reaches(self, chain: list[str], stop: str) -> bool:
        """Whether the first-parent walk that produced ``chain`` ended at ``stop``."""
        last = chain[-1] if chain else None
        if last is None:
            return True
        return self.repo.commit(last).parent_ids[:1] == (stop,)

    def _new_commits(self, changed: dict[str, RefTip], indexed: dict[str, RefTip], events: set[str]) -> list[str]:
        if not changed:
            return []
        tips = [tip.commit_id for tip in changed.values()]
        hidden = [old.commit_id for old in indexed.values()]  # those gone from the object store hide nothing
        # Branches moved forward: read only the new commits (libgit2's walk, hiding the indexed tips, may read
        # the whole history); anything else (a new repository, a rewound or rewritten ref) takes the full walk.
        bounded = self.repo.walk_to_stops(tips, hidden, limit=_BOUNDED_WALK)
        self._reached = bounded.stops_met if bounded is not None else frozenset()
        walk = bounded.commits if bounded is not None else self.repo.walk(tips, hidden, oldest_first=True)
        candidates = [c for c in walk if c not in events]
        present = set()
        for start in range(0, len(candidates), 50_000):
            present |= self.ix._present(self.name, candidates[start : start + 50_000])
        return [c for c in candidates if c not in present]

    def _unreachable_commits(
        self,
        current: dict[str, RefTip],
        indexed: dict[str, RefTip],
        changed: dict[str, RefTip],
        deleted: dict[str, RefTip],
    ) -> set[str]:
        """Indexed commits no current ref reaches any more (a deleted or rewound ref)."""
        old_tips = [indexed[n].commit_id for n in [*changed, *deleted] if n in indexed]
        # An old tip that a current ref still reaches (the one it moved forward from) lost nothing.
        kept = self._reached.union(tip.commit_id for tip in current.values())
        old_tips = [tip for tip in old_tips if tip not in kept]
        if not old_tips:
            return set()
        try:
            walk = self.repo.walk(old_tips, [tip.commit_id for tip in current.values()])
        except NotFound:  # an old tip is gone from the object store
            return self._unreachable_by_full_walk(current)
        return self.ix._present(self.name, list(walk))

    def _unreachable_by_full_walk(self, current: dict[str, RefTip]) -> set[str]:
        reachable = set(self.repo.walk([tip.commit_id for tip in current.values()]))
        indexed = {
            r[0] for r in self.con.execute("SELECT commit_id FROM commits WHERE repository = ?", [self.name]).fetchall()
        }
        return indexed - reachable

    def _index_commits(self, commit_ids: list[str]) -> tuple[SyncStats, _Batch]:
        """Write the rows of ``commit_ids`` batch by batch; the last batch is returned unwritten,
        so that a small sync (one batch) lands with its refs in a single transaction.

        Progress is reported as commits are computed (every few commits), not per written batch, so a
        progress bar moves steadily."""
        total = len(commit_ids)
        pending = _Batch()
        if not total:
            return SyncStats(), pending
        stats = SyncStats()
        done = 0
        step = max(1, total // 200)  # ~200 reports per sync at most
        reported = 0

        def advance(count: int) -> None:
            nonlocal done, reported
            done += count
            if self.on_progress is not None and (done - reported >= step or done == total):
                reported = done
                self.on_progress(done, total)

        if self.on_progress is not None:
            self.on_progress(0, total)
        for chunk in self._computed(commit_ids, advance):
            if pending.rows:
                self._transaction(lambda: self.ix._write(pending))
            pending = _Batch()
            for rows in chunk:
                pending.add_commit(self.name, rows)
            stats += SyncStats(
                commits_added=len(chunk),
                file_changes_added=pending.count("file_changes"),
                entity_changes_added=pending.count("entity_changes"),
            )
        return stats, pending

    def _computed(self, commit_ids: list[str], advance: Callable[[int], None]) -> Iterator[list[CommitRows]]:
        """Rows of each commit, in chunks of ``batch_commits`` (in worker processes if asked); ``advance(n)``
        as each ``n`` more commits are computed."""
        size = self.ix.batch_commits
        chunks = [commit_ids[i : i + size] for i in range(0, len(commit_ids), size)]
        differ = self.ix.differ
        if self.workers > 1 and len(commit_ids) > _job_size(size) and _picklable(differ):
            yield from self._computed_in_lanes(commit_ids, differ, advance)
            return
        # Here, in one job's worth of commits or fewer (a new repository's first commit, a push), the cores go to
        # the files parsed from scratch when they are many (a whole tree added): see semantic_diff.ExtractionPool.
        extracting = getattr(differ, "extracting", None)
        with extracting(self.workers) if callable(extracting) else contextlib.nullcontext():
            for chunk in chunks:
                rows = []
                written, kept = self.written, self.ix._kept_blobs
                for c in chunk:
                    rows.append(commit_rows(self.repo, self.name, c, differ, written=written.get(c), kept=kept))
                    advance(1)
                yield rows

    def _computed_in_lanes(
        self, commit_ids: list[str], differ: EntityDiffer | None, advance: Callable[[int], None]
    ) -> Iterator[list[CommitRows]]:
        """:meth:`_computed` in ``workers`` processes, one lane of contiguous commits each (see
        :mod:`trellis.query.lanes`: a worker's parse cache then follows each file from one version to the next).
        Small jobs keep the progress moving; results are re-batched by the caller, in the order they come."""
        plan = LanePlan(commit_ids, self.workers, _job_size(self.ix.batch_commits))
        size = self.ix.batch_commits
        context = multiprocessing.get_context("spawn")
        pools = [
            concurrent.futures.ProcessPoolExecutor(
                1,
                mp_context=context,
                initializer=import_worker.start,
                initargs=(self.repo.path, self.name, differ, os.getpid()),
            )
            for _ in range(plan.lanes)
        ]
        running: dict[concurrent.futures.Future[list[CommitRows]], int] = {}
        managers: list[threading.Thread] = []

        def submit(lane: int) -> None:
            job = plan.next_job(lane)
            if job is not None:
                running[pools[lane].submit(import_worker.rows, job)] = lane

        try:
            for lane in range(plan.lanes):
                for _ in range(2):  # one job waits behind the running one: a worker never idles between jobs
                    submit(lane)
            pending: list[CommitRows] = []
            while running:
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    lane = running.pop(future)
                    result = future.result()
                    pending.extend(result)
                    advance(len(result))
                    submit(lane)
                if len(pending) >= size:
                    yield pending
                    pending = []
            # Every job is done: the workers end by themselves while the caller writes the last rows (a worker's
            # exit, freeing its parse cache, takes a tenth of a second or more); their pools join them later.
            managers.extend(_manager_threads(pools))
            for pool in pools:
                pool.shutdown(wait=False)
            if pending:
                yield pending
        except BaseException:  # interrupted (Ctrl-C) or failed: stop the workers, do not run every job
            managers.extend(_manager_threads(pools))  # (none left if the normal way shut them down already)
            for pool in pools:
                pool.shutdown(wait=False, cancel_futures=True)
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
            for pool in pools:
                pool.shutdown(wait=True)
            raise
        finally:
            # A pool's shutdown(wait=False) forgets its manager thread, which then closes its wake-up pipe while the
            # interpreter's exit may write to it (Python 3.11's concurrent.futures: "Bad file descriptor" in a
            # traceback at exit, after a Ctrl-C): join them before leaving.
            for thread in managers:
                thread.join(timeout=30)

    def _update_sessions(
        self,
        changed: dict[str, RefTip],
        deleted: dict[str, RefTip],
        indexed: dict[str, RefTip],
        rewritten: set[str],
    ) -> SyncStats:
        dropped = sorted(t.name for t in deleted.values() if t.kind == "session")
        dropped += sorted(rewritten)
        self.ix._delete_where_in(["sessions", "steps"], self.name, "session_id", dropped)
        sessions: list[SessionSnapshot] = []
        for tip in changed.values():
            if tip.kind != "session":
                continue
            snapshot = read_session(self.repo, self.name, tip.commit_id)
            if snapshot is not None:
                sessions.append(snapshot)
        if not sessions:
            return SyncStats()
        ids = [s.row[1] for s in sessions]
        view = f"_keys_{uuid.uuid4().hex[:8]}"
        self.con.register(view, pa.table({"k": pa.array(ids, pa.string())}))
        try:
            last_step = dict(
                self.con.execute(
                    f"SELECT session_id, max(step_index) FROM steps WHERE repository = ? "
                    f"AND session_id IN (SELECT k FROM {view}) GROUP BY session_id",
                    [self.name],
                ).fetchall()
            )
        finally:
            self.con.unregister(view)
        self.ix._delete_where_in(["sessions"], self.name, "session_id", ids)
        batch = _Batch()
        batch.add("sessions", [s.row for s in sessions])
        for snapshot in sessions:
            batch.add("steps", snapshot.step_rows(self.repo, self.name, int(last_step.get(snapshot.row[1]) or 0)))
        self.ix._write(batch)
        return SyncStats(sessions_changed=len(sessions) + len(dropped), steps_added=batch.count("steps"))

    def _sync_runs(self, current: dict[str, str]) -> SyncStats:
        """Replace the rows of every run whose ref moved; drop those whose ref is gone."""
        indexed = dict(
            self.con.execute("SELECT run_id, record_id FROM run_refs WHERE repository = ?", [self.name]).fetchall()
        )
        changed = sorted(run_id for run_id, record_id in current.items() if indexed.get(run_id) != record_id)
        removed = sorted(set(indexed) - set(current))
        stats = SyncStats(runs_removed=len(removed))
        if removed:
            self._transaction(lambda: self.ix._delete_where_in(_RUN_TABLES, self.name, "run_id", removed))
        for start in range(0, len(changed), _RUNS_PER_TRANSACTION):
            part = changed[start : start + _RUNS_PER_TRANSACTION]
            batch = _Batch()
            invalid = 0
            for run_id in part:
                try:
                    rows = read_run(self.repo, self.name, run_id, current[run_id])
                except InvalidRunRecord as exc:
                    log.warning("%s: run %s (record %s) skipped: %s", self.name, run_id, current[run_id], exc)
                    invalid += 1
                    batch.add("run_refs", [(self.name, run_id, current[run_id], "invalid")])
                    continue
                batch.add("verification_runs", [rows.run])
                batch.add("job_results", rows.jobs)
                batch.add("test_results", rows.tests)
                batch.add("run_refs", [(self.name, run_id, current[run_id], "indexed")])

            def write(part: list[str] = part, batch: _Batch = batch) -> None:
                self.ix._delete_where_in(_RUN_TABLES, self.name, "run_id", part)
                self.ix._write(batch)

            self._transaction(write)
            stats += SyncStats(runs_changed=len(part) - invalid, runs_invalid=invalid)
        return stats

    def _replace_repository_row(self, row: tuple[Any, ...]) -> None:
        self.con.execute("DELETE FROM repositories WHERE repository = ?", [self.name])
        batch = _Batch()
        batch.add("repositories", [row])
        self.ix._write(batch)

    def _backfill_entities(self) -> SyncStats:
        """Entity rows for commits indexed while no semantic diff engine was available."""
        stats = SyncStats()
        while True:
            ids = [
                r[0]
                for r in self.con.execute(
                    "SELECT commit_id FROM index_state WHERE repository = ? AND entities = 'unavailable' "
                    "ORDER BY commit_id LIMIT ?",
                    [self.name, self.ix.batch_commits],
                ).fetchall()
            ]
            if not ids:
                return stats
            computed = [rows for chunk in self._computed(ids, lambda _: None) for rows in chunk]
            batch = _Batch()
            for rows in computed:
                batch.add("entity_changes", rows.entities)
                batch.add("index_state", [(self.name, rows.commit[1], rows.entity_state)])

            counts = pa.table(
                {
                    "k": pa.array([rows.commit[1] for rows in computed], pa.string()),
                    "n": pa.array([rows.commit[-1] for rows in computed], pa.int32()),
                }
            )

            def write() -> None:
                self.ix._delete_where_in(["entity_changes", "index_state"], self.name, "commit_id", ids)
                self.ix._write(batch)
                view = f"_counts_{uuid.uuid4().hex[:8]}"
                self.con.register(view, counts)
                try:
                    self.con.execute(
                        f"UPDATE commits SET entity_changes = v.n FROM {view} v "
                        "WHERE commits.repository = ? AND commits.commit_id = v.k",
                        [self.name],
                    )
                finally:
                    self.con.unregister(view)

            self._transaction(write)
            stats += SyncStats(entity_backfilled_commits=len(ids), entity_changes_added=batch.count("entity_changes"))
            if any(rows.entity_state == "unavailable" for rows in computed):
                return stats  # the engine went away meanwhile: try again next sync

    def _transaction(self, work: Callable[[], None]) -> None:
        self.con.begin()
        try:
            work()
            self.con.commit()
            self.ix._generation += 1
        except BaseException:
            self.con.rollback()
            raise


def _job_size(batch_commits: int) -> int:
    """Commits per job handed to a lane's worker."""
    return max(1, min(batch_commits, 16))


def _picklable(value: object) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def _manager_threads(pools: list[concurrent.futures.ProcessPoolExecutor]) -> list[threading.Thread]:
    """The threads managing ``pools`` (started with their first job), before a shutdown forgets them."""
    threads = (getattr(pool, "_executor_manager_thread", None) for pool in pools)
    return [thread for thread in threads if isinstance(thread, threading.Thread)]
