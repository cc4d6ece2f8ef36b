"""The job graph of the runs in progress: which job starts when, and every state change as an event.

A job starts when the jobs it needs have finished and let it run; the
dependents of a failed job are SKIPPED. A starting job is answered from the
result cache when it can be, waits for a reviewer when its stage is
external, or goes to the :class:`~trellis.ci.engine.stages.StageRunner`, which
reports back through :meth:`Scheduler.update` and :meth:`Scheduler.complete`.
Every change is appended to the run's events (what ``watch`` follows); a
finished run is saved and handed to ``on_finished``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from trellis import semantic_diff

from ..execution.jobs import JobOutcome
from ..pipeline.model import Pipeline
from ..pipeline.plan import CommitChanges, PlannedJob
from ..runs import JobResult, Run, Verdict, overall_verdict
from .cache import ResultCache, cache_key
from .store import RunStore

__all__ = ["ActiveRun", "JobEvent", "JobStarter", "Scheduler"]


@dataclass(frozen=True, slots=True)
class JobEvent:
    stage: str
    chunk: str
    verdict: Verdict
    time: float
    message: str


class ActiveRun:
    """A run being executed: its jobs, their dependencies and its event log."""

    def __init__(
        self,
        run: Run,
        pipeline: Pipeline,
        jobs: Sequence[PlannedJob],
        deps: dict[int, tuple[int, ...]],
        tree_id: str,
        changes: CommitChanges,
        full: bool,
        diff: semantic_diff.DiffResult,
        old_tree_id: str,
    ) -> None:
        self.run = run
        self.pipeline = pipeline
        self.planned = list(jobs)
        self.deps = deps
        self.tree_id = tree_id
        self.changes = changes
        self.full = full
        self.diff = diff
        self.old_tree_id = old_tree_id
        self.dispatched: set[int] = set()
        self.futures: dict[int, Future[JobOutcome]] = {}
        self.closing = False
        self.suspended = False  # the server stopped while a reviewer had it: kept as is, resumed at start
        self.events: list[JobEvent] = []
        self.cond = threading.Condition()
        self.finished = threading.Event()

    def waits_for_review(self) -> bool:
        """Whether an external job of the run has no verdict yet (call with ``cond`` held)."""
        return any(not j.final and self.planned[i].stage.kind == "external" for i, j in enumerate(self.run.jobs))


class JobStarter(Protocol):
    """What runs a job's stage: the job's cache inputs, and the job itself (in a worker thread)."""

    def inputs(self, active: ActiveRun, planned: PlannedJob) -> tuple[str, ...]: ...

    def run(self, active: ActiveRun, i: int, key: str) -> None: ...


class Scheduler:
    """The runs in progress of one engine, keyed by (repository, run id)."""

    def __init__(
        self,
        runs: RunStore,
        cache: ResultCache,
        *,
        on_finished: Callable[[str, Run], None],
        on_review: Callable[[], None],
        threads: int = 4,
    ) -> None:
        """``on_review`` is called when a job starts waiting for a reviewer's verdict."""
        self.runs = runs
        self.cache = cache
        self._on_finished = on_finished
        self._on_review = on_review
        self._guard = threading.Lock()
        self._active: dict[tuple[str, str], ActiveRun] = {}
        self._inline = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="trellis-ci")
        self._starter: JobStarter | None = None

    def bind(self, starter: JobStarter) -> None:
        self._starter = starter

    # -- the runs in progress ------------------------------------------------------------

    def count(self) -> int:
        with self._guard:
            return len(self._active)

    def get(self, repository: str, run_id: str) -> ActiveRun | None:
        with self._guard:
            return self._active.get((repository, run_id))

    def of(self, repository: str) -> list[ActiveRun]:
        with self._guard:
            return [a for (repo, _), a in self._active.items() if repo == repository]

    def all(self) -> list[ActiveRun]:
        with self._guard:
            return list(self._active.values())

    def launch(self, active: ActiveRun) -> None:
        """Take ``active`` in and start the jobs that need nothing (in the background)."""
        with self._guard:
            self._active[(active.run.repository, active.run.run_id)] = active
        self._inline.submit(self.dispatch_ready, active)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on one of the engine's worker threads."""
        self._inline.submit(fn, *args)

    # -- the job graph -----------------------------------------------------------------

    def dispatch_ready(self, active: ActiveRun) -> None:
        ready: list[int] = []
        skipped: list[tuple[int, str, str]] = []
        with active.cond:
            for i, job in enumerate(active.run.jobs):
                if i in active.dispatched or job.final:
                    continue
                deps = active.deps.get(i, ())
                states = [active.run.jobs[d] for d in deps]
                bad = next((d for d in states if d.final and not d.lets_dependents_run), None)
                if bad is not None:
                    need = f"{bad.stage} {bad.chunk}".rstrip()
                    why = "was skipped" if bad.verdict is Verdict.SKIPPED else bad.verdict.value
                    skipped.append((i, need, f"needs {need}, which {why}"))
                    active.dispatched.add(i)
                elif all(d.final for d in states):
                    ready.append(i)
                    active.dispatched.add(i)
        for i, need, why in skipped:
            self.complete(active, i, replace(active.run.jobs[i], verdict=Verdict.SKIPPED, blocked_by=need, summary=why))
        for i in ready:
            self._start_job(active, i)

    def _start_job(self, active: ActiveRun, i: int) -> None:
        assert self._starter is not None, "bind() a JobStarter first"
        planned = active.planned[i]
        stage = planned.stage
        job = active.run.jobs[i]
        if stage.kind == "external":  # (a run resumed after a restart keeps the time the wait began)
            # Saved before any watcher hears of the request (or sees it, polling: the wait's start time marks it):
            # a crash then finds the run as the reviewer saw it (the stages it needed done). Under the run's lock,
            # so that no later state (a cancel) is saved before it.
            with active.cond:
                self.update(
                    active,
                    i,
                    replace(job, start_time=job.start_time or time.time()),
                    "waiting for a reviewer's verdict",
                )
                if not active.suspended:
                    self.runs.save(active.run)
            self._on_review()
            return
        inputs = self._starter.inputs(active, planned)
        key = cache_key(stage.definition_hash(), inputs) if stage.cache else ""
        if key:
            hit = self.cache.get(key)
            if hit is not None:
                now = time.time()
                self.complete(
                    active,
                    i,
                    replace(
                        hit,
                        stage=job.stage,
                        scope=job.scope,
                        chunk=job.chunk,
                        path=job.path,
                        qualname=job.qualname,
                        cached=True,
                        duration_ms=0,
                        start_time=now,
                        end_time=now,
                    ),
                    key="",
                )
                return
        self.update(active, i, replace(job, verdict=Verdict.RUNNING, start_time=time.time()), "started")
        self._inline.submit(self._starter.run, active, i, key)

    # -- state changes -------------------------------------------------------------------

    def update(self, active: ActiveRun, i: int, job: JobResult, message: str) -> None:
        with active.cond:
            if active.suspended:
                return
            jobs = list(active.run.jobs)
            jobs[i] = job
            start = active.run.start_time or (job.start_time if job.verdict is Verdict.RUNNING else None)
            active.run = replace(active.run, jobs=tuple(jobs), verdict=overall_verdict(jobs), start_time=start)
            active.events.append(JobEvent(job.stage, job.chunk, job.verdict, time.time(), message))
            active.cond.notify_all()

    def complete(self, active: ActiveRun, i: int, job: JobResult, *, key: str = "") -> None:
        """Job ``i`` has its verdict (kept in the result cache under ``key`` if given); go on with the run."""
        with active.cond:
            if active.run.jobs[i].final or active.suspended:  # cancelled meanwhile (shutdown, a newer push)
                return
        if key:
            self.cache.put(key, job)
        if job.end_time is None:
            job = replace(job, end_time=time.time())
        self.update(active, i, job, job.summary)
        with active.cond:
            done = all(j.final for j in active.run.jobs)
            if done:
                active.run = replace(active.run, verdict=overall_verdict(active.run.jobs), end_time=time.time())
                active.cond.notify_all()
        if done:
            self._finish(active)
        else:
            self.dispatch_ready(active)

    def _finish(self, active: ActiveRun) -> None:
        with active.cond:
            if active.closing:
                return
            active.closing = True
            run = active.run
        self.runs.save(run)
        with self._guard:
            self._active.pop((run.repository, run.run_id), None)
        active.finished.set()
        with active.cond:
            active.cond.notify_all()
        self._on_finished(run.repository, run)

    def cancel(self, repository: str, run_id: str, why: str) -> None:
        """Cancel the jobs of a run that have not started (running ones finish)."""
        active = self.get(repository, run_id)
        if active is None:
            return
        with active.cond:
            waiting = [
                i
                for i, j in enumerate(active.run.jobs)
                if j.verdict is Verdict.PENDING
                and (i not in active.dispatched or active.planned[i].stage.kind == "external")
            ]
            active.dispatched.update(waiting)
            queued = [i for i, f in list(active.futures.items()) if f.cancel()]  # in the executor's queue, not started
        waiting += queued
        for i in waiting:
            self.complete(active, i, replace(active.run.jobs[i], verdict=Verdict.CANCELLED, summary=why))

    def close(self) -> None:
        """Stop: runs that wait for a reviewer are kept as they are (saved, to be resumed); the jobs of every
        other run are cancelled (running ones too) and the runs recorded."""
        for active in self.all():
            with active.cond:
                waiting = active.waits_for_review()
                if waiting:
                    active.suspended = True
                    run = active.run
            if waiting:
                self.runs.save(run)
                continue
            self.cancel(active.run.repository, active.run.run_id, "the server is shutting down")
            with active.cond:
                running = [i for i, j in enumerate(active.run.jobs) if not j.final]
            for i in running:
                self.complete(
                    active,
                    i,
                    replace(
                        active.run.jobs[i], verdict=Verdict.CANCELLED, summary="the server shut down while the job ran"
                    ),
                )

    def shutdown(self) -> None:
        """Stop the worker threads (after :meth:`close`)."""
        self._inline.shutdown(wait=False, cancel_futures=True)

    # -- following a run -----------------------------------------------------------------

    def wait(self, active: ActiveRun, timeout: float | None = None) -> Run:
        active.finished.wait(timeout)
        return active.run

    def watch(
        self, active: ActiveRun, *, poll: float = 0.5, alive: Callable[[], bool] = lambda: True
    ) -> Iterator[tuple[JobEvent | None, Run | None]]:
        """Yield (None, run) first, then (event, None) per job event, then (None, finished run)."""
        with active.cond:
            seen = len(active.events)
            first = active.run
        yield None, first
        if first.final:
            return
        while alive():
            with active.cond:
                while len(active.events) == seen and not active.finished.is_set():
                    if not active.cond.wait(poll) and not alive():
                        return
                fresh = active.events[seen:]
                seen = len(active.events)
                finished = active.finished.is_set() and seen == len(active.events)
                run = active.run
            for event in fresh:
                yield event, None
            if finished:
                yield None, run
                return
