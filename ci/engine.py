"""The verification engine: runs of a pipeline over a commit's changed chunks.

:class:`Verifier` is what the server holds. ``start`` resolves the pipeline,
diffs the commit against its parent (or a merge base), plans one job per
stage and chunk and schedules them: a job starts when the jobs it needs have
passed (dependents of a failed job are SKIPPED), answers from the result cache
when it can, runs built-in syntax checks in-process, sends commands and tests
to the executor (local warm pool or Ray), and waits for external stages'
verdicts. Every state change is an event for ``watch``; a run is written to
git (``refs/trellis/runs/<id>``) when it starts, when it finishes and when a
verdict is posted, so it survives a restart and the index can rebuild it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import pygit2

import semantic_diff
import vcs
from vcs import FailedPrecondition, Identity, InvalidArgument, NotFound

from .builtin import syntax_check
from .cache import ResultCache, cache_key, toolchain
from .pipeline.toml import parse_pipeline
from .execution.environments import EnvironmentBuildError, EnvironmentSpec, environment_spec
from .execution import Executor
from .gating import check_gate_run, gate_started, refuse_direct_write
from .execution.history import TestTimes
from .selection.reuse import Reused, TestResults, closure_keys, passed_tests
from .execution.jobs import JobLimits, JobOutcome, JobRequest, TestOutcome, TestPlan, summarize
from .pipeline.model import Pipeline, PipelineError, Stage
from .pipeline.plan import ChangedFile, ChangeSet, PlannedJob, dependencies, plan
from .runs import (
    PIPELINE_STAGE,
    JobResult,
    Run,
    TestCase,
    Verdict,
    new_run_id,
    overall_verdict,
    run_from_json,
    run_to_json,
)
from .selection.index import Selection
from .execution.shards import shard_count, submit_tests
from .selection.selector import TestSelector

__all__ = ["JobEvent", "Review", "Verifier"]

log = logging.getLogger("trellis.ci")

RUNS = "runs"
PIPELINES = "pipeline"
REPOSITORY_PIPELINE = "repository"
CONFIG_FILE = "trellis.toml"
ENGINE = Identity("trellis-ci")
MAX_OUTPUT_IN_GIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class JobEvent:
    stage: str
    chunk: str
    verdict: Verdict
    time: float
    message: str


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


_STATUS = {"passed": Verdict.PASSED, "failed": Verdict.FAILED, "timed_out": Verdict.TIMED_OUT,
           "killed": Verdict.ERROR, "error": Verdict.ERROR}
_TEST_VERDICTS = {"passed": Verdict.PASSED, "failed": Verdict.FAILED, "error": Verdict.ERROR,
                  "skipped": Verdict.SKIPPED}


class _Active:
    """A run being executed: its jobs, their dependencies and its event log."""

    def __init__(self, run: Run, pipeline: Pipeline, jobs: Sequence[PlannedJob], deps: dict[int, tuple[int, ...]],
                 tree_id: str, changes: ChangeSet, full: bool, diff: semantic_diff.DiffResult,
                 old_tree_id: str) -> None:
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
        self._guard = threading.Lock()
        self._active: dict[tuple[str, str], _Active] = {}
        self._latest_push: dict[tuple[str, str], str] = {}
        self._pipelines: dict[bytes, Pipeline] = {}
        self._review_cond = threading.Condition()
        self._review_epoch = 0
        self._inline = ThreadPoolExecutor(max_workers=4, thread_name_prefix="trellis-ci")
        self.tests = TestSelector()
        self.times = test_times if test_times is not None else TestTimes(cache.root.parent / "test-times")
        self.reused = TestResults(cache.root.parent / "tests")
        self._tree_blobs: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._closed = False

    # -- pipelines -------------------------------------------------------------

    def _parse(self, text: bytes, source: str) -> Pipeline:
        """Parse once per content (every push of a branch carries the same ``trellis.toml``)."""
        key = hashlib.sha256(text).digest()
        found = self._pipelines.get(key)
        if found is None:
            found = parse_pipeline(text, source=source)  # an error names this source
            if len(self._pipelines) > 512:
                self._pipelines.clear()
            self._pipelines[key] = found
        return found if found.source == source else replace(found, source=source)

    def _repository_pipeline(self, repository: str) -> bytes:
        try:
            return self.store.read_record(repository, PIPELINES, REPOSITORY_PIPELINE).get(CONFIG_FILE, b"")
        except NotFound:
            return b""

    def pipeline_at(self, repository: str, commit: pygit2.Commit) -> Pipeline | None:
        """The pipeline that applies to ``commit``: the repository's, else its ``trellis.toml``; None if none.

        Raises :class:`PipelineError` for an invalid definition.
        """
        text = self._repository_pipeline(repository)
        if text:
            return self._parse(text, "repository")
        try:
            entry = commit.tree[CONFIG_FILE]
        except KeyError:
            return None
        blob = self.store.open(repository)[entry.id]
        if not isinstance(blob, pygit2.Blob):
            return None
        return self._parse(blob.data, f"{str(commit.id)[:12]}:{CONFIG_FILE}")

    def get_pipeline(self, repository: str, revision: str = "") -> Pipeline:
        commit = self._commit(repository, revision)
        try:
            found = self.pipeline_at(repository, commit)
        except PipelineError as exc:
            raise FailedPrecondition(str(exc), reason="INVALID_PIPELINE") from None
        if found is None:
            raise NotFound(
                f"no pipeline applies to {revision or 'the default branch'} of {repository!r}: add a "
                f"{CONFIG_FILE} at the root of the code, or set one with SetPipeline",
                reason="PIPELINE_NOT_FOUND",
            )
        return found

    def set_pipeline(self, repository: str, text: str, actor: Identity) -> Pipeline | None:
        """Set (or, with empty text, remove) the repository-level pipeline; returns it."""
        self.store.open(repository)
        if text.strip():
            try:
                pipeline = parse_pipeline(text.encode(), source="repository")
            except PipelineError as exc:
                raise InvalidArgument(str(exc), reason="INVALID_PIPELINE") from None
        else:
            pipeline = None
        self.store.write_record(repository, PIPELINES, REPOSITORY_PIPELINE, {CONFIG_FILE: text.encode()},
                                "Set the repository pipeline" if pipeline else "Remove the repository pipeline",
                                actor)
        return pipeline

    def _commit(self, repository: str, revision: str) -> pygit2.Commit:
        from vcs.revisions import resolve_commit

        return resolve_commit(self.store.open(repository), revision)

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
        commit = self._commit(repository, revision)
        source = self._commit(repository, pipeline_branch) if pipeline_branch else commit
        try:
            pipeline = self.pipeline_at(repository, source)
        except PipelineError as exc:
            raise FailedPrecondition(str(exc), reason="INVALID_PIPELINE") from None
        if pipeline is None:
            raise NotFound(
                f"no pipeline applies to {revision!r} of {repository!r}: add a {CONFIG_FILE} "
                "at the root of the code, or set one with SetPipeline",
                reason="PIPELINE_NOT_FOUND",
            )
        try:
            selected = [s.name for s in pipeline.closure(stages)] if stages else []
        except PipelineError as exc:
            raise InvalidArgument(str(exc), reason="UNKNOWN_STAGE") from None
        with self._guard:
            if len(self._active) >= self._max_active:
                raise vcs.LimitExceeded(
                    f"{len(self._active)} runs are in progress, the most this server runs at once; "
                    "wait for some to finish and retry", reason="TOO_MANY_RUNS")
        base_id = str(self._commit(repository, base_revision).id) if base_revision else ""
        old = base_id or (str(commit.parents[0].id) if commit.parents else "")
        # A root commit has nothing to diff against: every file is a chunk. `full`
        # (run every test, to check test selection) does not widen the other stages.
        diff, old_tree_id, changes, all_files = self._changes(repository, commit, old)
        jobs = plan(pipeline, changes, stages=selected, full=bool(all_files), all_files=all_files or None)
        now = time.time()
        run = Run(
            repository=repository, run_id=new_run_id(), commit_id=str(commit.id), verdict=Verdict.PENDING,
            jobs=tuple(JobResult(j.stage.name, j.chunk.scope, j.chunk.label, j.chunk.path, j.chunk.qualname)
                       for j in jobs),
            create_time=now, branch=branch or pipeline_branch, trigger=trigger,
            pipeline_source=pipeline.source, session_id=session_id,
            stages=tuple(s.name for s in pipeline.stages if not selected or s.name in selected),
            base_commit_id=old, pipeline_blob=str(pygit2.hash(pipeline.text.encode())),
        )
        active = _Active(run, pipeline, jobs, dependencies(jobs, pipeline), str(commit.tree_id), changes, full,
                         diff, old_tree_id)
        if not jobs:
            active.run = replace(run, verdict=Verdict.PASSED, end_time=now, start_time=now)
        self._save(active.run)
        if not jobs:
            active.finished.set()
            self._on_finished(repository, active.run)
            return active.run
        with self._guard:
            self._active[(repository, run.run_id)] = active
        self._inline.submit(self._dispatch_ready, active)
        return active.run

    def _changes(
        self, repository: str, commit: pygit2.Commit, old: str
    ) -> tuple[semantic_diff.DiffResult, str, ChangeSet, list[ChangedFile]]:
        """The diff from ``old`` ("": none, every file is added), its tree, and the chunks to plan."""
        repo = self.store.open(repository)
        result = self._diff(repository, old, str(commit.id))
        old_tree = str(repo[old].tree_id) if old else ""  # type: ignore[attr-defined]
        changes = ChangeSet.from_diff(str(commit.id), result)
        all_files: list[ChangedFile] = []
        if not old:
            for path, _ in _blobs(repo, commit.tree):
                all_files.append(ChangedFile(path, "added", "", semantic_diff.language_for(path) or ""))
        return result, old_tree, changes, all_files

    def on_push(self, repository: str, branch: str, commit_id: str, session_id: str = "") -> Run | None:
        """Start the run a push triggers, if a valid pipeline applies; cancel what the push supersedes."""
        if self._closed:
            return None
        repo = self.store.open(repository)
        commit = repo[commit_id]
        assert isinstance(commit, pygit2.Commit)
        invalid: PipelineError | None = None
        try:
            if self.pipeline_at(repository, commit) is None:
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
                run = self._invalid_pipeline_run(repository, commit, invalid, trigger="push", branch=branch,
                                                 session_id=session_id)
            else:
                run = self.start(repository, commit_id, trigger="full" if full else "push", branch=branch,
                                 session_id=session_id, full=full)
        except Exception:  # noqa: BLE001 - the push is acknowledged already: a run that cannot start
            # (too many runs, a full disk) must not turn it into an error; Verify can start it later.
            log.warning("could not start the run of %s on %s/%s", commit_id[:12], repository, branch,
                        exc_info=True)
            return None
        with self._guard:
            self._latest_push[key] = run.run_id
        return run

    def _invalid_pipeline_run(self, repository: str, commit: pygit2.Commit, error: PipelineError, *,
                              trigger: str, branch: str, session_id: str = "") -> Run:
        """A finished run of ``commit`` that failed at once: its pipeline is invalid (the one job says why)."""
        now = time.time()
        job = JobResult(PIPELINE_STAGE, "commit", "", verdict=Verdict.FAILED, summary=str(error),
                        start_time=now, end_time=now)
        run = Run(repository=repository, run_id=new_run_id(), commit_id=str(commit.id), verdict=Verdict.FAILED,
                  jobs=(job,), create_time=now, start_time=now, end_time=now, branch=branch, trigger=trigger,
                  pipeline_source=getattr(error, "source", "") or f"{str(commit.id)[:12]}:{CONFIG_FILE}",
                  session_id=session_id)
        self._save(run)
        self._on_finished(repository, run)
        return run

    # -- scheduling ----------------------------------------------------------------

    def _dispatch_ready(self, active: _Active) -> None:
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
            self._complete(active, i, replace(active.run.jobs[i], verdict=Verdict.SKIPPED, blocked_by=need,
                                              summary=why))
        for i in ready:
            self._start_job(active, i)

    def _start_job(self, active: _Active, i: int) -> None:
        planned = active.planned[i]
        stage = planned.stage
        job = active.run.jobs[i]
        if stage.kind == "external":  # (a run resumed after a restart keeps the time the wait began)
            self._update(active, i, replace(job, start_time=job.start_time or time.time()),
                         "waiting for a reviewer's verdict")
            with self._review_cond:
                self._review_epoch += 1
                self._review_cond.notify_all()
            return
        inputs = self._inputs(active, planned)
        key = cache_key(stage.definition_hash(), inputs) if stage.cache else ""
        if key:
            hit = self.cache.get(key)
            if hit is not None:
                now = time.time()
                self._complete(active, i, replace(hit, stage=job.stage, scope=job.scope, chunk=job.chunk,
                                                   path=job.path, qualname=job.qualname, cached=True,
                                                   duration_ms=0, start_time=now, end_time=now), key="")
                return
        self._update(active, i, replace(job, verdict=Verdict.RUNNING, start_time=time.time()), "started")
        if stage.kind == "syntax":
            self._inline.submit(self._run_syntax, active, i, key)
        else:
            self._inline.submit(self._run_process, active, i, key)

    def _inputs(self, active: _Active, planned: PlannedJob) -> tuple[str, ...]:
        if planned.stage.kind == "syntax":
            repo = self.store.open(active.run.repository)
            tree = repo[active.tree_id]
            assert isinstance(tree, pygit2.Tree)
            try:
                return ("blob", str(tree[planned.chunk.path].id), planned.chunk.path)
            except KeyError:
                return ("missing", planned.chunk.path)
        # pytest's selection depends on the change, not only on the tree: the base is an input too.
        base = active.old_tree_id if planned.stage.kind == "pytest" else ""
        return ("tree", active.tree_id, base, planned.command, planned.chunk.label, "full" if active.full else "")

    def _run_syntax(self, active: _Active, i: int, key: str) -> None:
        job = active.run.jobs[i]
        if job.final:
            return
        repo = self.store.open(active.run.repository)
        tree = repo[active.tree_id]
        assert isinstance(tree, pygit2.Tree)
        try:
            blob = repo[tree[job.path].id]
            content = blob.data if isinstance(blob, pygit2.Blob) else b""
        except KeyError:
            content = None
        started = time.time()
        verdict, summary = syntax_check(job.path, content)
        self._complete(active, i, replace(job, verdict=verdict, summary=summary,
                                          duration_ms=int((time.time() - started) * 1000), end_time=time.time()),
                       key=key)

    def _run_process(self, active: _Active, i: int, key: str) -> None:
        """Select tests (pytest), then hand the job to the executor; ``_process_done`` takes the outcome."""
        planned = active.planned[i]
        stage = planned.stage
        job = active.run.jobs[i]
        if job.final:  # cancelled while it waited for a thread
            return
        pytest_args: tuple[str, ...] = ()
        named = False
        selected = total = 0
        selection = None
        plan: TestPlan | None = None
        environment: EnvironmentSpec | None = None
        shards = 1
        reuse = _Reuse({}, {})
        try:
            if stage.kind == "pytest":
                changed_environment = ""
                if stage.pytest.has_environment:
                    environment = self._environment(active, stage)
                    if active.old_tree_id:
                        try:
                            before = self._environment(active, stage, tree_id=active.old_tree_id)
                        except EnvironmentBuildError:
                            before = None
                        if before is None or before.digest != environment.digest:
                            changed_environment = "pyproject.toml / the environment's requirements"
                selection = self.tests.select(self.store.open(active.run.repository), active.tree_id,
                                              active.old_tree_id, active.diff, inert=stage.inert,
                                              always_full=stage.always_full, args=stage.args,
                                              environment_changed=changed_environment)
                total = selection.total
                if stage.select == "affected" and not active.full and not selection.run_all:
                    if not selection.tests:
                        self._complete(active, i, replace(
                            job, verdict=Verdict.PASSED, end_time=time.time(), total_tests=total,
                            summary=f"no test reaches the change (0 of {total} selected)"), key=key)
                        return
                    selected = len(selection.tests)
                    running = selection.tests
                    named = True
                else:
                    selected = total
                    running = self.tests.index(self.store.open(active.run.repository), active.tree_id).tests
                if stage.cache and not active.full:
                    reuse = self._reuse(active, stage, running, environment)
                    running = tuple(t for t in running if t not in reuse.hits)
                    if named:  # only the selected tests still to run
                        if not running:
                            now = time.time()
                            self._complete(active, i, replace(
                                job, verdict=Verdict.PASSED, start_time=now, end_time=now, total_tests=total,
                                selected_tests=selected, tests=reuse.cases(),
                                summary=f"{len(reuse.hits)} reused (closure unchanged since a passing run)",
                                fallback=selection.fallback if stage.select == "affected" else ""), key=key)
                            return
                # The project's own command line: selected tests are kept by the job's plugin from what
                # that command collects, never named (named paths skip collect_ignore, --ignore, hooks).
                pytest_args = stage.args
                plan, shards = self._test_plan(active.run.repository, stage, running)
                if named:
                    plan = replace(plan, only=tuple(running))
                if reuse.hits and not named:  # the whole suite is collected: leave out the reused
                    plan = replace(plan, reused=tuple(sorted(reuse.hits)))
            request = JobRequest(
                job_id=f"{active.run.run_id}-{i}",
                repo_path=str(self.store.repository_path(active.run.repository)),
                tree_id=active.tree_id,
                command=planned.command,
                env=stage.env,
                limits=_limits(stage),
                network=False,
                kind="pytest" if stage.kind == "pytest" else "command",
                pytest_args=pytest_args,
                tests=plan,
                environment=environment,
            )
            if plan is not None:
                future = submit_tests(self.executor, request, shards=shards,
                                      on_shard=lambda outcome, k, n: self._shard_done(active, i, outcome, k, n),
                                      on_progress=lambda tests: self._tests_so_far(active, i, tests))
            else:
                future = self.executor.submit(request)
        except Exception as exc:  # noqa: BLE001 - a broken check is a job ERROR, never a crashed engine
            self._complete(active, i, replace(job, verdict=Verdict.ERROR, end_time=time.time(),
                                              summary=f"the job could not run: {exc}"[:500]), key="")
            return
        with active.cond:
            active.futures[i] = future
        future.add_done_callback(lambda f: self._process_done(active, i, key, selection, selected, total, f, reuse))

    def _reuse(self, active: _Active, stage: Stage, tests: Sequence[str],
               environment: EnvironmentSpec | None) -> _Reuse:
        """The closure key of each test, and the tests that passed before under theirs."""
        repo = self.store.open(active.run.repository)
        blobs = self._tree_blobs.get(active.tree_id)
        if blobs is None:
            tree = repo[active.tree_id]
            assert isinstance(tree, pygit2.Tree)
            blobs = {path: str(oid) for path, oid in _blobs(repo, tree)}
            with self._guard:
                self._tree_blobs[active.tree_id] = blobs
                while len(self._tree_blobs) > 32:
                    self._tree_blobs.popitem(last=False)
        salt = "\0".join((active.run.repository, stage.definition_hash(), toolchain(),
                          environment.digest if environment is not None else ""))
        keys = closure_keys(self.tests.index(repo, active.tree_id), blobs, tests, salt=salt, inert=stage.inert)
        hits = {t: found for t, k in keys.items() if (found := self.reused.get(k)) is not None}
        return _Reuse({t: k for t, k in keys.items() if t not in hits}, hits)

    def _environment(self, active: _Active, stage: Stage, *, tree_id: str = "") -> EnvironmentSpec:
        """The stage's declared test dependencies, read from the commit's tree (or ``tree_id``'s)."""
        repo = self.store.open(active.run.repository)
        tree = repo[tree_id or active.tree_id]
        assert isinstance(tree, pygit2.Tree)
        options = stage.pytest
        files: dict[str, bytes] = {}
        for path in (*options.requirements, "pyproject.toml"):
            try:
                blob = repo[tree[path].id]
            except KeyError:
                continue
            if isinstance(blob, pygit2.Blob):
                files[path] = blob.data
        return environment_spec(files, requirements=options.requirements, extras=options.extras,
                                groups=options.groups, packages=options.packages)

    def _test_plan(self, repository: str, stage: Stage, tests: Sequence[str]) -> tuple[TestPlan, int]:
        """Timeouts and balance from the tests' recorded durations, and how many shards to run.

        ``tests``: the node ids that will run, as selection knows them (a parametrised test once).
        """
        options = stage.pytest
        expected = self.times.expected(repository)
        timeouts: dict[str, float] = {}
        if options.test_timeout_s > 0:
            timeouts = self.times.timeouts(repository, factor=options.test_timeout_factor,
                                           floor_s=options.test_timeout_floor_s, default_s=options.test_timeout_s,
                                           cap_s=stage.timeout_s)
        by_base: dict[str, float] = {}
        for nodeid, seconds in expected.items():
            base = nodeid.split("[", 1)[0]
            by_base[base] = by_base.get(base, 0.0) + seconds
        known = sum(by_base[t] for t in tests if t in by_base) if tests and all(t in by_base for t in tests) else None
        plan = TestPlan(expected=tuple(sorted(expected.items())), timeouts=tuple(sorted(timeouts.items())),
                        default_timeout_s=min(options.test_timeout_s, stage.timeout_s), fail_fast=options.fail_fast)
        return plan, shard_count(self.executor.slots, len(tests), known, requested=options.shards)

    def _tests_so_far(self, active: _Active, i: int, tests: tuple[TestOutcome, ...]) -> None:
        """Tests finished while the job runs: its result shows them, ``watch`` gets an event."""
        with active.cond:
            job = active.run.jobs[i]
            if job.final:
                return
        self._update(active, i, replace(job, tests=_cases_of(tests)), f"running: {summarize(tests)} so far")

    def _shard_done(self, active: _Active, i: int, outcome: JobOutcome, k: int, n: int) -> None:
        """A shard finished: its tests are part of the job's result from now on (``watch`` sees them)."""
        if n <= 1:
            return
        with active.cond:
            job = active.run.jobs[i]
            if job.final:
                return
        tests = tuple(sorted({t.test_id: t for t in (*job.tests, *_cases(outcome))}.values(), key=lambda t: t.test_id))
        self._update(active, i, replace(job, tests=tests), f"shard {k + 1} of {n}: {outcome.summary}")

    def _process_done(self, active: _Active, i: int, key: str, selection: Selection | None, selected: int,
                      total: int, future: Future[JobOutcome], reuse: _Reuse | None = None) -> None:
        stage = active.planned[i].stage
        job = active.run.jobs[i]
        with active.cond:
            active.futures.pop(i, None)
        if future.cancelled():
            return  # cancel() already recorded the verdict
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - the executor failed, not the code
            self._complete(active, i, replace(job, verdict=Verdict.ERROR, end_time=time.time(),
                                              summary=f"the executor failed: {exc}"[:500]), key="")
            return
        tests = _cases(outcome)
        if stage.kind == "pytest":
            self.times.record(active.run.repository, ((t.nodeid, t.outcome, t.duration_s) for t in outcome.tests))
        if reuse is not None and (reuse.keys or reuse.hits):
            outcomes = {t.nodeid: t.outcome for t in outcome.tests}
            durations: dict[str, float] = {}
            for t in outcome.tests:
                durations[t.nodeid.split("[", 1)[0]] = durations.get(t.nodeid.split("[", 1)[0], 0.0) + t.duration_s
            if outcome.status in ("passed", "failed"):  # the run itself completed: its passes are results
                for test_id in passed_tests(reuse.keys, outcomes):
                    self.reused.put(reuse.keys[test_id], Reused(active.run.run_id, active.run.commit_id,
                                                                int(durations.get(test_id, 0.0) * 1000)))
            tests = tuple(sorted((*tests, *reuse.cases()), key=lambda c: c.test_id))
        verdict = _STATUS.get(outcome.status, Verdict.ERROR)
        if stage.kind == "pytest" and verdict is Verdict.FAILED and outcome.exit_code != 1:
            # pytest's exit 5 is "no tests collected"; 2-4 are interruptions, internal and usage errors.
            verdict = Verdict.PASSED if outcome.exit_code == 5 else Verdict.ERROR
        summary = outcome.summary or outcome.reason or f"exit {outcome.exit_code}"
        if reuse is not None and reuse.hits:
            summary += f"; {len(reuse.hits)} reused (closure unchanged since a passing run)"
        result = replace(job, verdict=verdict, exit_code=outcome.exit_code or 0, output=outcome.output,
                         duration_ms=int(outcome.duration_s * 1000), summary=summary, tests=tests,
                         selected_tests=selected, total_tests=total, end_time=time.time(),
                         fallback=selection.fallback if selection is not None and stage.select == "affected"
                         and not active.full else "")
        if active.full and selection is not None:
            missed = self.tests.missed(selection, {t.test_id: t.verdict.value for t in tests})
            if missed:
                with active.cond:
                    active.run = replace(active.run, missed_tests=tuple(sorted({*active.run.missed_tests, *missed})))
        self._complete(active, i, result, key=key)

    # -- state changes -------------------------------------------------------------

    def _update(self, active: _Active, i: int, job: JobResult, message: str) -> None:
        with active.cond:
            if active.suspended:
                return
            jobs = list(active.run.jobs)
            jobs[i] = job
            start = active.run.start_time or (job.start_time if job.verdict is Verdict.RUNNING else None)
            active.run = replace(active.run, jobs=tuple(jobs), verdict=overall_verdict(jobs), start_time=start)
            active.events.append(JobEvent(job.stage, job.chunk, job.verdict, time.time(), message))
            active.cond.notify_all()

    def _complete(self, active: _Active, i: int, job: JobResult, *, key: str = "") -> None:
        with active.cond:
            if active.run.jobs[i].final or active.suspended:  # cancelled meanwhile (shutdown, a newer push)
                return
        if key:
            self.cache.put(key, job)
        if job.end_time is None:
            job = replace(job, end_time=time.time())
        self._update(active, i, job, job.summary)
        with active.cond:
            done = all(j.final for j in active.run.jobs)
            if done:
                active.run = replace(active.run, verdict=overall_verdict(active.run.jobs), end_time=time.time())
                active.cond.notify_all()
        if done:
            self._finish(active)
        else:
            self._dispatch_ready(active)

    def _finish(self, active: _Active) -> None:
        with active.cond:
            if active.closing:
                return
            active.closing = True
            run = active.run
        self._save(run)
        with self._guard:
            self._active.pop((run.repository, run.run_id), None)
        active.finished.set()
        with active.cond:
            active.cond.notify_all()
        self._on_finished(run.repository, run)

    def _save(self, run: Run) -> None:
        stored = replace(run, jobs=tuple(replace(j, output=j.output[-MAX_OUTPUT_IN_GIT:]) for j in run.jobs))
        self.store.write_record(run.repository, RUNS, run.run_id, {"run.json": run_to_json(stored)},
                                f"Run {run.run_id} of {run.commit_id[:12]}: {run.verdict.value}", ENGINE)

    def cancel(self, repository: str, run_id: str, why: str) -> None:
        """Cancel the jobs of a run that have not started (running ones finish)."""
        with self._guard:
            active = self._active.get((repository, run_id))
        if active is None:
            return
        with active.cond:
            waiting = [i for i, j in enumerate(active.run.jobs)
                       if j.verdict is Verdict.PENDING and (i not in active.dispatched
                                                            or active.planned[i].stage.kind == "external")]
            active.dispatched.update(waiting)
            queued = [i for i, f in list(active.futures.items()) if f.cancel()]  # in the executor's queue, not started
        waiting += queued
        for i in waiting:
            self._complete(active, i, replace(active.run.jobs[i], verdict=Verdict.CANCELLED, summary=why))

    # -- reading runs ----------------------------------------------------------------

    def get(self, repository: str, run_id: str) -> Run:
        with self._guard:
            active = self._active.get((repository, run_id))
        if active is not None:
            return active.run
        try:
            data = self.store.read_record(repository, RUNS, run_id)
        except (NotFound, InvalidArgument):
            raise NotFound(f"run {run_id!r} not found in {repository!r}", reason="RUN_NOT_FOUND") from None
        return run_from_json(data["run.json"])

    def list_runs(self, repository: str, commit_id: str = "", branch: str = "") -> list[str]:
        """Run ids of a repository, newest first; only those of a commit (its id or a prefix) or branch if given."""
        from vcs.revisions import full_commit_id

        ids = sorted(self.store.list_records(repository, RUNS), reverse=True)
        if commit_id:
            commit_id = full_commit_id(self.store.open(repository), commit_id, "commit_id")
        if commit_id or branch:
            runs = (self.get(repository, i) for i in ids)
            ids = [r.run_id for r in runs
                   if (not commit_id or r.commit_id == commit_id) and (not branch or r.branch == branch)]
        return ids

    def wait(self, repository: str, run_id: str, timeout: float | None = None) -> Run:
        with self._guard:
            active = self._active.get((repository, run_id))
        if active is not None:
            active.finished.wait(timeout)
            return active.run
        return self.get(repository, run_id)

    def watch(self, repository: str, run_id: str, *, poll: float = 0.5,
              alive: Callable[[], bool] = lambda: True) -> Iterator[tuple[JobEvent | None, Run | None]]:
        """Yield (None, run) first, then (event, None) per job event, then (None, finished run)."""
        with self._guard:
            active = self._active.get((repository, run_id))
        if active is None:
            yield None, self.get(repository, run_id)
            return
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

    # -- external stages --------------------------------------------------------------

    def post_verdict(self, repository: str, run_id: str, stage: str, chunk: str, verdict: Verdict,
                     summary: str, details_url: str, reviewer: Identity) -> JobResult:
        if verdict not in (Verdict.PASSED, Verdict.FAILED, Verdict.ERROR, Verdict.SKIPPED):
            raise InvalidArgument("a verdict must be PASSED, FAILED, ERROR or SKIPPED", reason="INVALID_VERDICT")
        with self._guard:
            active = self._active.get((repository, run_id))
        run = active.run if active is not None else self.get(repository, run_id)
        index = next((i for i, j in enumerate(run.jobs) if j.stage == stage and j.chunk == chunk), None)
        if index is None:
            raise NotFound(f"run {run_id} has no job for stage {stage!r} and chunk {chunk!r}",
                           reason="JOB_NOT_FOUND")
        job = run.jobs[index]
        if active is None or active.planned[index].stage.kind != "external":
            if active is None and job.final:
                raise FailedPrecondition(f"stage {stage!r} of run {run_id} already has the verdict "
                                         f"{job.verdict.value}", reason="VERDICT_FINAL")
            raise FailedPrecondition(f"stage {stage!r} is not an external stage; its verdict comes from its job",
                                     reason="NOT_EXTERNAL")
        if job.final:
            raise FailedPrecondition(f"stage {stage!r} chunk {chunk!r} of run {run_id} already has the verdict "
                                     f"{job.verdict.value}", reason="VERDICT_FINAL")
        if index not in active.dispatched:
            raise FailedPrecondition(f"stage {stage!r} is still waiting for the stages it needs; "
                                     "post the verdict once it is pending review", reason="NOT_READY")
        result = replace(job, verdict=verdict, summary=summary or verdict.value, details_url=details_url,
                         reviewer=reviewer.name, end_time=time.time(),
                         duration_ms=int((time.time() - (job.start_time or time.time())) * 1000))
        self._complete(active, index, result)
        with self._review_cond:
            self._review_epoch += 1
            self._review_cond.notify_all()
        if not active.finished.is_set():
            self._save(active.run)
        return result

    def pending_reviews(self, repository: str, stage: str = "") -> list[Review]:
        with self._guard:
            actives = [a for (repo, _), a in self._active.items() if repo == repository]
        reviews: list[Review] = []
        for active in sorted(actives, key=lambda a: a.run.run_id):
            with active.cond:
                jobs = list(enumerate(active.run.jobs))
            for i, job in jobs:
                planned = active.planned[i]
                if (planned.stage.kind == "external" and not job.final and i in active.dispatched
                        and (not stage or job.stage == stage)):
                    reviews.append(Review(repository, active.run.run_id, active.run.commit_id, job.stage,
                                          job.chunk, job.path, job.qualname, self._chunk_text(active, job)))
        return reviews

    def watch_reviews(self, repository: str, stage: str = "", *, poll: float = 0.5,
                      alive: Callable[[], bool] = lambda: True) -> Iterator[Review]:
        sent: set[tuple[str, str, str]] = set()
        while alive() and not self._closed:
            with self._review_cond:
                epoch = self._review_epoch
            for review in self.pending_reviews(repository, stage):
                key = (review.run_id, review.stage, review.chunk)
                if key not in sent:
                    sent.add(key)
                    yield review
            with self._review_cond:
                if self._review_epoch == epoch:
                    self._review_cond.wait(poll)

    def _chunk_text(self, active: _Active, job: JobResult, limit: int = 256 * 1024) -> bytes:
        if not job.path:
            return b""
        repo = self.store.open(active.run.repository)
        tree = repo[active.tree_id]
        assert isinstance(tree, pygit2.Tree)
        try:
            blob = repo[tree[job.path].id]
        except KeyError:
            return b""
        data = blob.data if isinstance(blob, pygit2.Blob) else b""
        if job.qualname:
            parsed = semantic_diff.extract_entities(job.path, data)
            for entity in parsed.entities:
                if entity.qualname == job.qualname:
                    return data[entity.start_byte:entity.end_byte]
        return data[:limit]

    # -- gating --------------------------------------------------------------------------

    def required_stages(self, repository: str, branch: str) -> tuple[str, ...]:
        """The stages the pipeline of ``branch``'s own head requires before it may move."""
        try:
            head = self._commit(repository, branch)
            pipeline = self.pipeline_at(repository, head)
        except (NotFound, PipelineError):
            return ()
        return pipeline.required_for(branch) if pipeline is not None else ()

    def check_gate(self, repository: str, branch: str, source_revision: str) -> None:
        """Refuse (FailedPrecondition) to move protected ``branch`` to ``source_revision`` until it passed.

        The required stages and their definitions come from the protected
        branch's head, never from the change: a gate run verifies the source
        with that pipeline (started here when none exists).
        """
        required = self.required_stages(repository, branch)
        if not required:
            return
        source = str(self._commit(repository, source_revision).id)
        latest: Run | None = None
        for run_id in self.list_runs(repository)[:200]:
            run = self.get(repository, run_id)
            if run.commit_id == source and run.trigger == "gate" and run.branch == branch:
                latest = run
                break
        if latest is None:
            try:
                self.pipeline_at(repository, self._commit(repository, source))
            except PipelineError as exc:  # merged, it would unprotect the branch: the gate fails at once
                run = self._invalid_pipeline_run(repository, self._commit(repository, source), exc, trigger="gate",
                                                 branch=branch)
                check_gate_run(branch, source, required, run)
            base = self.store.open(repository).merge_base(
                self._commit(repository, branch).id, pygit2.Oid(hex=source))
            run = self.start(repository, source, trigger="gate", stages=required, pipeline_branch=branch,
                             base_revision=str(base) if base is not None else "")
            raise gate_started(branch, source, required, run.run_id, repository=repository)
        check_gate_run(branch, source, required, latest, repository=repository)

    def check_direct_write(self, repository: str, branch: str) -> None:
        """A protected branch moves only through Merge."""
        refuse_direct_write(branch, self.required_stages(repository, branch))

    # -- lifecycle ----------------------------------------------------------------------

    def recover(self) -> int:
        """After a restart: resume the runs that wait for a reviewer, close the others a restart interrupted.

        A run with an external job still waiting goes on where it stopped: its
        reviews are pending again and the jobs the restart interrupted run
        again. Any other unfinished run is closed: its unfinished jobs become
        ERROR. Returns how many runs were closed.
        """
        count = 0
        for repository in _repositories(self.store):
            for run_id in sorted(self.store.list_records(repository, RUNS), reverse=True)[:100]:
                run = self.get(repository, run_id)
                if run.final or self._resume(run):
                    continue
                jobs = tuple(j if j.final else replace(j, verdict=Verdict.ERROR,
                                                       summary="interrupted by a server restart; verify again")
                             for j in run.jobs)
                self._save(replace(run, jobs=jobs, verdict=overall_verdict(jobs), end_time=time.time()))
                count += 1
        return count

    def _resume(self, run: Run) -> bool:
        """Take up ``run`` again if a reviewer still owes it a verdict and it can be planned exactly as before."""
        if not run.pipeline_blob:  # a run kept before runs recorded their pipeline
            return False
        repo = self.store.open(run.repository)
        try:
            blob, commit = repo[run.pipeline_blob], repo[run.commit_id]
        except (KeyError, ValueError):  # the object is gone
            return False
        if not isinstance(blob, pygit2.Blob) or not isinstance(commit, pygit2.Commit):
            return False
        try:
            pipeline = self._parse(blob.data, run.pipeline_source)
            if not any(not j.final and pipeline.stage(j.stage).kind == "external" for j in run.jobs):
                return False
            diff, old_tree_id, changes, all_files = self._changes(run.repository, commit, run.base_commit_id)
            jobs = plan(pipeline, changes, stages=run.stages, full=bool(all_files), all_files=all_files or None)
        except Exception:  # noqa: BLE001 - a run that cannot be planned again is closed, never a failed start
            log.warning("cannot resume run %s of %s", run.run_id, run.repository, exc_info=True)
            return False
        if [(j.stage.name, j.chunk.label) for j in jobs] != [(j.stage, j.chunk) for j in run.jobs]:
            return False  # planned differently now (another version of the differ): verify again
        again = tuple(j if j.final or jobs[i].stage.kind == "external"
                      else replace(j, verdict=Verdict.PENDING, start_time=None) for i, j in enumerate(run.jobs))
        resumed = replace(run, jobs=again, verdict=overall_verdict(again))
        active = _Active(resumed, pipeline, jobs, dependencies(jobs, pipeline), str(commit.tree_id), changes,
                         run.trigger == "full", diff, old_tree_id)
        with self._guard:
            self._active[(run.repository, run.run_id)] = active
            if run.trigger in ("push", "full") and run.branch:
                self._latest_push.setdefault((run.repository, run.branch), run.run_id)
        self._save(resumed)
        self._inline.submit(self._dispatch_ready, active)
        log.info("resumed run %s of %s: it waits for a reviewer", run.run_id, run.repository)
        return True

    def close(self) -> None:
        """Stop: runs that wait for a reviewer are kept as they are (``recover`` resumes them); the jobs of
        every other run are cancelled (running ones too) and the runs recorded. Then stop the executor."""
        self._closed = True
        with self._guard:
            actives = list(self._active.values())
        for active in actives:
            with active.cond:
                waiting = any(not j.final and active.planned[i].stage.kind == "external"
                              for i, j in enumerate(active.run.jobs))
                if waiting:
                    active.suspended = True
                    run = active.run
            if waiting:
                self._save(run)
                continue
            self.cancel(active.run.repository, active.run.run_id, "the server is shutting down")
            with active.cond:
                running = [i for i, j in enumerate(active.run.jobs) if not j.final]
            for i in running:
                self._complete(active, i, replace(active.run.jobs[i], verdict=Verdict.CANCELLED,
                                                  summary="the server shut down while the job ran"))
        self.executor.close()
        self._inline.shutdown(wait=False, cancel_futures=True)
        with self._review_cond:
            self._review_cond.notify_all()


@dataclass(frozen=True, slots=True)
class _Reuse:
    """Per-test reuse for one job: the closure keys of the tests that run, the results reused."""

    keys: dict[str, str]
    hits: dict[str, Reused]

    def cases(self) -> tuple[TestCase, ...]:
        return tuple(TestCase(t, Verdict.PASSED, 0, f"reused: passed in run {r.run_id} of {r.commit_id[:12]} "
                                                    f"({r.duration_ms} ms); its closure is unchanged")
                     for t, r in sorted(self.hits.items()))


def _cases(outcome: JobOutcome) -> tuple[TestCase, ...]:
    return _cases_of(outcome.tests)


def _cases_of(tests: Sequence[TestOutcome]) -> tuple[TestCase, ...]:
    return tuple(TestCase(t.nodeid, _TEST_VERDICTS.get(t.outcome, Verdict.ERROR), int(t.duration_s * 1000),
                          t.message) for t in tests)


def _limits(stage: Stage) -> JobLimits:
    limits = stage.limits
    return JobLimits(timeout_s=limits.timeout_s, cpu_s=limits.cpu_s, memory_bytes=limits.memory_bytes,
                     processes=limits.processes, output_bytes=limits.output_bytes)


def _blobs(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> Iterator[tuple[str, pygit2.Oid]]:
    for entry in tree:
        if entry.type_str == "tree":
            sub = repo[entry.id]
            assert isinstance(sub, pygit2.Tree)
            yield from _blobs(repo, sub, f"{prefix}{entry.name}/")
        elif entry.type_str == "blob":
            yield f"{prefix}{entry.name}", entry.id


def _repositories(store: vcs.Store) -> list[str]:
    names: list[str] = []
    token = ""
    while True:
        page = store.list_repositories(requested_page_size=1000, page_token=token)
        names.extend(r.repository_id for r in page.items)
        token = page.next_page_token
        if not token:
            return names
