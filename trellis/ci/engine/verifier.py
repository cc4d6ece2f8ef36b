"""The verifier: what the server holds, a small facade over the parts of the engine.

``start`` resolves the pipeline (:mod:`~trellis.ci.engine.source`), diffs the commit
against its parent (or a merge base), plans one job per stage and chunk and
hands them to the :mod:`~trellis.ci.engine.scheduler`, whose jobs run through the
:mod:`~trellis.ci.engine.stages` runner (the result cache first, syntax checks
in-process, commands and tests on the executor). External stages wait for
verdicts (:mod:`~trellis.ci.engine.reviews`); protected branches are gated on runs
(:mod:`~trellis.ci.engine.gating`); runs are kept in git (:mod:`~trellis.ci.engine.store`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from trellis import semantic_diff, vcs
from trellis.vcs import Identity

from ..errors import InvalidRequest, PipelineNotFound, Refused, TooManyRuns
from ..execution import Executor
from ..execution.history import TestTimes
from ..pipeline.model import Pipeline, PipelineError
from ..pipeline.plan import ChangedFile, CommitChanges, dependencies, plan
from ..runs import PIPELINE_STAGE, JobResult, Run, Verdict, new_run_id, overall_verdict
from ..selection.observed import Observations
from ..selection.reuse import TestResults
from ..selection.selector import TestSelector
from .cache import ResultCache
from .gating import Gate
from .reviews import Review, Reviews
from .scheduler import ActiveRun, JobEvent, Scheduler
from .source import CONFIG_FILE, PipelineSource
from .stages import StageRunner
from .store import RunStore

__all__ = ["JobEvent", "Review", "Verifier"]

log = logging.getLogger("trellis.ci")


class Verifier:
    def __init__(
        self,
        store: vcs.Store,
        executor: Executor,
        cache: ResultCache,
        *,
        diff: Callable[[str, str, str], semantic_diff.DiffResult],
        on_finished: Callable[[str, Run], None] = lambda repository, run: None,
        max_active_runs: int = 256,
        full_run_every: int = 0,
        test_times: TestTimes | None = None,
    ) -> None:
        """``diff(repository, old_commit_id, new_commit_id)`` is the semantic diff ("" old: the parent).

        ``full_run_every``: every N-th push to a branch gets a full run (every test, and selection
        misses reported) instead of affected tests only; 0 turns the schedule off. ``test_times``:
        where tests' recorded durations are kept (default: beside the result cache).
        """
        self.store = store
        self.executor = executor
        self.cache = cache
        self._diff = diff
        self._on_finished = on_finished
        self._max_active = max_active_runs
        self._full_every = full_run_every
        self._pushes: dict[tuple[str, str], int] = {}
        self._latest_push: dict[tuple[str, str], str] = {}
        self._guard = threading.Lock()
        self._closed = False
        self.tests = TestSelector(observations=Observations(cache.root.parent / "observed"))
        self.times = test_times if test_times is not None else TestTimes(cache.root.parent / "test-times")
        self.reused = TestResults(cache.root.parent / "tests")
        self.source = PipelineSource(store)
        self.runs = RunStore(store)
        self.scheduler = Scheduler(self.runs, cache, on_finished=on_finished, on_review=self._review_waiting)
        self.stages = StageRunner(
            store, executor, self.scheduler, tests=self.tests, times=self.times, reused=self.reused
        )
        self.scheduler.bind(self.stages)
        self.reviews = Reviews(self.scheduler, self.runs)
        self.gate = Gate(
            store, self.source, self.runs, get=self.get, start=self._start_gate_run, invalid_run=self._invalid_gate_run
        )

    def _review_waiting(self) -> None:
        self.reviews.notify()

    # -- pipelines -------------------------------------------------------------

    def pipeline_at(self, repository: str, commit: vcs.Commit) -> Pipeline | None:
        """The pipeline that applies to ``commit``: the repository's, else its ``trellis.toml``; None if none."""
        return self.source.at(repository, commit)

    def get_pipeline(self, repository: str, revision: str = "") -> Pipeline:
        return self.source.get(repository, revision)

    def set_pipeline(self, repository: str, text: str, actor: Identity) -> Pipeline | None:
        """Set (or, with empty text, remove) the repository-level pipeline; returns it."""
        return self.source.set(repository, text, actor)

    # -- starting runs -----------------------------------------------------------

    def start(
        self,
        repository: str,
        revision: str,
        *,
        trigger: str = "verify",
        branch: str = "",
        stages: Sequence[str] = (),
        full: bool = False,
        pipeline_branch: str = "",
        base_revision: str = "",
        session_id: str = "",
    ) -> Run:
        """Start a run of ``revision``; it executes in the background (follow it with ``watch``)."""
        commit = self.store.get_commit(repository, revision)
        source = self.store.get_commit(repository, pipeline_branch) if pipeline_branch else commit
        try:
            pipeline = self.source.at(repository, source)
        except PipelineError as exc:
            raise Refused(str(exc), reason="INVALID_PIPELINE") from None
        if pipeline is None:
            raise PipelineNotFound(
                f"no pipeline applies to {revision!r} of {repository!r}: add a {CONFIG_FILE} "
                "at the root of the code, or set one with SetPipeline",
                reason="PIPELINE_NOT_FOUND",
            )
        try:
            selected = [s.name for s in pipeline.closure(stages)] if stages else []
        except PipelineError as exc:
            raise InvalidRequest(str(exc), reason="UNKNOWN_STAGE") from None
        active_runs = self.scheduler.count()
        if active_runs >= self._max_active:
            raise TooManyRuns(
                f"{active_runs} runs are in progress, the most this server runs at once; "
                "wait for some to finish and retry",
                reason="TOO_MANY_RUNS",
            )
        base_id = self.store.get_commit(repository, base_revision).commit_id if base_revision else ""
        old = base_id or (commit.parent_ids[0] if commit.parent_ids else "")
        # A root commit has nothing to diff against: every file is a chunk. `full`
        # (run every test, to check test selection) does not widen the other stages.
        diff, old_tree_id, changes, all_files = self._changes(repository, commit, old)
        jobs = plan(pipeline, changes, stages=selected, full=bool(all_files), all_files=all_files or None)
        now = time.time()
        run = Run(
            repository=repository,
            run_id=new_run_id(),
            commit_id=commit.commit_id,
            verdict=Verdict.PENDING,
            jobs=tuple(
                JobResult(j.stage.name, j.chunk.scope, j.chunk.label, j.chunk.path, j.chunk.qualname) for j in jobs
            ),
            create_time=now,
            branch=branch or pipeline_branch,
            trigger=trigger,
            pipeline_source=pipeline.source,
            session_id=session_id,
            stages=tuple(s.name for s in pipeline.stages if not selected or s.name in selected),
            base_commit_id=old,
            pipeline_blob=vcs.blob_id(pipeline.text.encode()),
        )
        active = ActiveRun(
            run, pipeline, jobs, dependencies(jobs, pipeline), commit.tree_id, changes, full, diff, old_tree_id
        )
        if not jobs:
            active.run = replace(run, verdict=Verdict.PASSED, end_time=now, start_time=now)
        self.runs.save(active.run)
        if not jobs:
            active.finished.set()
            self._on_finished(repository, active.run)
            return active.run
        self.scheduler.launch(active)
        return active.run

    def _changes(
        self, repository: str, commit: vcs.Commit, old: str
    ) -> tuple[semantic_diff.DiffResult, str, CommitChanges, list[ChangedFile]]:
        """The diff from ``old`` ("": none, every file is added), its tree, and the chunks to plan."""
        result = self._diff(repository, old, commit.commit_id)
        old_tree = self.store.get_commit(repository, old).tree_id if old else ""
        changes = CommitChanges.from_diff(commit.commit_id, result)
        all_files: list[ChangedFile] = []
        if not old:
            for path in self.store.tree_blobs(repository, commit.tree_id):
                all_files.append(ChangedFile(path, "added", "", semantic_diff.language_for(path) or ""))
        return result, old_tree, changes, all_files

    def on_push(
        self, repository: str, branch: str, commit_id: str, session_id: str = "", *, commit: vcs.Commit | None = None
    ) -> Run | None:
        """Start the run a push triggers, if a valid pipeline applies; cancel what the push supersedes.

        ``commit`` is the pushed commit's value when the caller has it (it just wrote it): not read again.
        """
        if self._closed:
            return None
        if commit is None or commit.commit_id != commit_id:
            commit = self.store.get_commit(repository, commit_id)
        invalid: PipelineError | None = None
        try:
            if self.source.at(repository, commit) is None:
                return None
        except PipelineError as exc:
            invalid = exc  # the push still gets its run: one that fails at once, saying why
        key = (repository, branch)
        with self._guard:
            previous = self._latest_push.get(key)
            pushes = self._pushes[key] = self._pushes.get(key, 0) + 1
        full = bool(self._full_every) and pushes % self._full_every == 0
        if previous:
            self.cancel(repository, previous, f"superseded by a newer push ({commit_id[:12]}) to {branch}")
        try:
            if invalid is not None:
                run = self._invalid_pipeline_run(
                    repository, commit, invalid, trigger="push", branch=branch, session_id=session_id
                )
            else:
                run = self.start(
                    repository,
                    commit_id,
                    trigger="full" if full else "push",
                    branch=branch,
                    session_id=session_id,
                    full=full,
                )
        except Exception:  # noqa: BLE001 - the push is acknowledged already: a run that cannot start
            # (too many runs, a full disk) must not turn it into an error; Verify can start it later.
            log.warning("could not start the run of %s on %s/%s", commit_id[:12], repository, branch, exc_info=True)
            return None
        with self._guard:
            self._latest_push[key] = run.run_id
        return run

    def _invalid_pipeline_run(
        self,
        repository: str,
        commit: vcs.Commit,
        error: PipelineError,
        *,
        trigger: str,
        branch: str,
        session_id: str = "",
    ) -> Run:
        """A finished run of ``commit`` that failed at once: its pipeline is invalid (the one job says why)."""
        now = time.time()
        job = JobResult(
            PIPELINE_STAGE, "commit", "", verdict=Verdict.FAILED, summary=str(error), start_time=now, end_time=now
        )
        run = Run(
            repository=repository,
            run_id=new_run_id(),
            commit_id=commit.commit_id,
            verdict=Verdict.FAILED,
            jobs=(job,),
            create_time=now,
            start_time=now,
            end_time=now,
            branch=branch,
            trigger=trigger,
            pipeline_source=getattr(error, "source", "") or f"{commit.commit_id[:12]}:{CONFIG_FILE}",
            session_id=session_id,
        )
        self.runs.save(run)
        self._on_finished(repository, run)
        return run

    def _start_gate_run(
        self, repository: str, source: str, stages: Sequence[str], branch: str, base_revision: str
    ) -> Run:
        return self.start(
            repository, source, trigger="gate", stages=stages, pipeline_branch=branch, base_revision=base_revision
        )

    def _invalid_gate_run(self, repository: str, commit: vcs.Commit, error: PipelineError, branch: str) -> Run:
        return self._invalid_pipeline_run(repository, commit, error, trigger="gate", branch=branch)

    # -- reading and following runs ----------------------------------------------------

    def get(self, repository: str, run_id: str) -> Run:
        active = self.scheduler.get(repository, run_id)
        if active is not None:
            return active.run
        return self.runs.get(repository, run_id)

    def list_runs(self, repository: str, commit_id: str = "", branch: str = "") -> list[str]:
        """Run ids of a repository, newest first; only those of a commit (its id or a prefix) or branch if given."""
        return self.runs.find(repository, commit_id, branch, get=self.get)

    def wait(self, repository: str, run_id: str, timeout: float | None = None) -> Run:
        active = self.scheduler.get(repository, run_id)
        if active is not None:
            return self.scheduler.wait(active, timeout)
        return self.get(repository, run_id)

    def watch(
        self, repository: str, run_id: str, *, poll: float = 0.5, alive: Callable[[], bool] = lambda: True
    ) -> Iterator[tuple[JobEvent | None, Run | None]]:
        """Yield (None, run) first, then (event, None) per job event, then (None, finished run)."""
        active = self.scheduler.get(repository, run_id)
        if active is None:
            yield None, self.get(repository, run_id)
            return
        yield from self.scheduler.watch(active, poll=poll, alive=alive)

    def cancel(self, repository: str, run_id: str, why: str) -> None:
        """Cancel the jobs of a run that have not started (running ones finish)."""
        self.scheduler.cancel(repository, run_id, why)

    # -- external stages --------------------------------------------------------------

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
        return self.reviews.post_verdict(repository, run_id, stage, chunk, verdict, summary, details_url, reviewer)

    def pending_reviews(self, repository: str, stage: str = "") -> list[Review]:
        return self.reviews.pending(repository, stage)

    def watch_reviews(
        self, repository: str, stage: str = "", *, poll: float = 0.5, alive: Callable[[], bool] = lambda: True
    ) -> Iterator[Review]:
        return self.reviews.watch(repository, stage, poll=poll, alive=alive)

    # -- gating --------------------------------------------------------------------------

    def required_stages(self, repository: str, branch: str) -> tuple[str, ...]:
        """The stages the pipeline of ``branch``'s own head requires before it may move."""
        return self.gate.required_stages(repository, branch)

    def check_gate(self, repository: str, branch: str, source_revision: str) -> None:
        """Refuse (:class:`~trellis.ci.errors.GateClosed`) to move protected ``branch`` to ``source_revision`` until it passed."""
        self.gate.check(repository, branch, source_revision)

    def check_direct_write(self, repository: str, branch: str) -> None:
        """A protected branch moves only through Merge."""
        self.gate.check_direct_write(repository, branch)

    # -- lifecycle ----------------------------------------------------------------------

    def recover(self) -> int:
        """After a restart: resume the runs that wait for a reviewer, close the others a restart interrupted.

        A run with an external job still waiting goes on where it stopped: its
        reviews are pending again and the jobs the restart interrupted run
        again. Any other unfinished run is closed: its unfinished jobs become
        ERROR. Returns how many runs were closed.
        """
        return self.runs.recover(self._resume)

    def _resume(self, run: Run) -> bool:
        """Take up ``run`` again if a reviewer still owes it a verdict and it can be planned exactly as before."""
        if not run.pipeline_blob:  # a run kept before runs recorded their pipeline
            return False
        text = self.store.read_blob(run.repository, run.pipeline_blob)
        try:
            commit = self.store.get_commit(run.repository, run.commit_id)
        except (vcs.NotFound, vcs.InvalidArgument):  # the object is gone
            return False
        if text is None:
            return False
        try:
            pipeline = self.source.parse(text, run.pipeline_source)
            if not any(not j.final and pipeline.stage(j.stage).kind == "external" for j in run.jobs):
                return False
            diff, old_tree_id, changes, all_files = self._changes(run.repository, commit, run.base_commit_id)
            jobs = plan(pipeline, changes, stages=run.stages, full=bool(all_files), all_files=all_files or None)
        except Exception:  # noqa: BLE001 - a run that cannot be planned again is closed, never a failed start
            log.warning("cannot resume run %s of %s", run.run_id, run.repository, exc_info=True)
            return False
        if [(j.stage.name, j.chunk.label) for j in jobs] != [(j.stage, j.chunk) for j in run.jobs]:
            return False  # planned differently now (another version of the differ): verify again
        again = tuple(
            j if j.final or jobs[i].stage.kind == "external" else replace(j, verdict=Verdict.PENDING, start_time=None)
            for i, j in enumerate(run.jobs)
        )
        resumed = replace(run, jobs=again, verdict=overall_verdict(again))
        active = ActiveRun(
            resumed,
            pipeline,
            jobs,
            dependencies(jobs, pipeline),
            commit.tree_id,
            changes,
            run.trigger == "full",
            diff,
            old_tree_id,
        )
        with self._guard:
            if run.trigger in ("push", "full") and run.branch:
                self._latest_push.setdefault((run.repository, run.branch), run.run_id)
        self.runs.save(resumed)
        self.scheduler.launch(active)
        log.info("resumed run %s of %s: it waits for a reviewer", run.run_id, run.repository)
        return True

    def close(self) -> None:
        """Stop: runs that wait for a reviewer are kept as they are (``recover`` resumes them); the jobs of
        every other run are cancelled (running ones too) and the runs recorded. Then stop the executor."""
        self._closed = True
        self.reviews.closed = True
        self.scheduler.close()
        self.executor.close()
        self.scheduler.shutdown()
        self.reviews.close()
