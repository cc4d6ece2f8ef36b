"""External stages: chunks that wait for a verdict posted from outside (a reviewer, another system).

A job of an external stage starts like any other, once the jobs it needs
have passed, and then waits: it is a pending :class:`Review` until someone
posts its verdict with :meth:`Reviews.post_verdict`. ``watch`` streams the
reviews of a repository as they become pending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from trellis import semantic_diff
from trellis.vcs import Identity

from ..errors import InvalidRequest, Refused, RunNotFound
from ..runs import JobResult, Verdict
from . import trees
from .scheduler import ActiveRun, Scheduler
from .store import RunStore

__all__ = ["Review", "Reviews"]

MAX_CHUNK_TEXT = 256 * 1024


@dataclass(frozen=True, slots=True)
class Review:
    """A chunk of an external stage waiting for a verdict."""

    repository: str
    run_id: str
    commit_id: str
    stage: str
    chunk: str
    path: str
    qualname: str
    content: bytes


class Reviews:
    """The pending reviews of the runs in progress, and the verdicts posted for them."""

    def __init__(self, scheduler: Scheduler, runs: RunStore) -> None:
        self.scheduler = scheduler
        self.runs = runs
        self._cond = threading.Condition()
        self._epoch = 0
        self.closed = False

    def notify(self) -> None:
        """Something changed: a review became pending or got its verdict (wakes ``watch``)."""
        with self._cond:
            self._epoch += 1
            self._cond.notify_all()

    def close(self) -> None:
        self.closed = True
        with self._cond:
            self._cond.notify_all()

    def post_verdict(
        self,
        repository: str,
        run_id: str,
        stage: str,
        chunk: str,
        verdict: Verdict,
        summary: str,
        details_url: str,
        reviewer: Identity,
    ) -> JobResult:
        if verdict not in (Verdict.PASSED, Verdict.FAILED, Verdict.ERROR, Verdict.SKIPPED):
            raise InvalidRequest("a verdict must be PASSED, FAILED, ERROR or SKIPPED", reason="INVALID_VERDICT")
        active = self.scheduler.get(repository, run_id)
        run = active.run if active is not None else self.runs.get(repository, run_id)
        index = next((i for i, j in enumerate(run.jobs) if j.stage == stage and j.chunk == chunk), None)
        if index is None:
            raise RunNotFound(
                f"run {run_id} has no job for stage {stage!r} and chunk {chunk!r}", reason="JOB_NOT_FOUND"
            )
        job = run.jobs[index]
        if active is None or active.planned[index].stage.kind != "external":
            if active is None and job.final:
                raise Refused(
                    f"stage {stage!r} of run {run_id} already has the verdict {job.verdict.value}",
                    reason="VERDICT_FINAL",
                )
            raise Refused(
                f"stage {stage!r} is not an external stage; its verdict comes from its job", reason="NOT_EXTERNAL"
            )
        if job.final:
            raise Refused(
                f"stage {stage!r} chunk {chunk!r} of run {run_id} already has the verdict {job.verdict.value}",
                reason="VERDICT_FINAL",
            )
        if index not in active.dispatched:
            raise Refused(
                f"stage {stage!r} is still waiting for the stages it needs; post the verdict once it is pending review",
                reason="NOT_READY",
            )
        result = replace(
            job,
            verdict=verdict,
            summary=summary or verdict.value,
            details_url=details_url,
            reviewer=reviewer.name,
            end_time=time.time(),
            duration_ms=int((time.time() - (job.start_time or time.time())) * 1000),
        )
        self.scheduler.complete(active, index, result)
        self.notify()
        if not active.finished.is_set():
            self.runs.save(active.run)
        return result

    def pending(self, repository: str, stage: str = "") -> list[Review]:
        reviews: list[Review] = []
        for active in sorted(self.scheduler.of(repository), key=lambda a: a.run.run_id):
            with active.cond:
                jobs = list(enumerate(active.run.jobs))
            for i, job in jobs:
                planned = active.planned[i]
                if (
                    planned.stage.kind == "external"
                    and not job.final
                    and i in active.dispatched
                    and job.start_time is not None  # dispatched, and the wait recorded (and saved) already
                    and (not stage or job.stage == stage)
                ):
                    reviews.append(
                        Review(
                            repository,
                            active.run.run_id,
                            active.run.commit_id,
                            job.stage,
                            job.chunk,
                            job.path,
                            job.qualname,
                            self._chunk_text(active, job),
                        )
                    )
        return reviews

    def watch(
        self, repository: str, stage: str = "", *, poll: float = 0.5, alive: Callable[[], bool] = lambda: True
    ) -> Iterator[Review]:
        sent: set[tuple[str, str, str]] = set()
        while alive() and not self.closed:
            with self._cond:
                epoch = self._epoch
            for review in self.pending(repository, stage):
                key = (review.run_id, review.stage, review.chunk)
                if key not in sent:
                    sent.add(key)
                    yield review
            with self._cond:
                if self._epoch == epoch:
                    self._cond.wait(poll)

    def _chunk_text(self, active: ActiveRun, job: JobResult, limit: int = MAX_CHUNK_TEXT) -> bytes:
        if not job.path:
            return b""
        data = trees.file_in_tree(self.runs.store, active.run.repository, active.tree_id, job.path) or b""
        if job.qualname:
            parsed = semantic_diff.extract_entities(job.path, data)
            for entity in parsed.entities:
                if entity.qualname == job.qualname:
                    return data[entity.start_byte : entity.end_byte]
        return data[:limit]
