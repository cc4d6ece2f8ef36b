"""How one job of each kind of stage runs: syntax checks here, commands and tests on the executor.

A ``syntax`` job parses one file in-process. A ``command`` job goes to the
executor as it is. A ``pytest`` job is prepared first: the stage's test
environment is read from the tree, test selection picks the tests that can
reach the change (or all of them), tests whose whole closure is unchanged
since they passed are reused instead of run, and recorded durations set
per-test timeouts and the number of shards. Results go back to the
:class:`~trellis.ci.engine.scheduler.Scheduler`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Protocol

from trellis import vcs

from ..execution import Executor
from ..execution.confirm import confirm_failures, is_subset
from ..execution.environments import EnvironmentBuildError, EnvironmentSpec, environment_files, environment_spec
from ..execution.history import TestTimes
from ..execution.jobs import JobLimits, JobOutcome, JobRequest, TestOutcome, TestPlan, summarize
from ..execution.shards import shard_count, submit_tests
from ..pipeline.model import Stage
from ..pipeline.plan import PlannedJob
from ..runs import JobResult, TestCase, Verdict
from ..selection.index import Selection
from ..selection.reuse import Reused, TestResults, closure_keys, owners, passed_tests
from ..selection.selector import TestSelector
from . import trees
from .builtin import syntax_check
from .cache import toolchain
from .scheduler import ActiveRun

__all__ = ["Progress", "StageRunner"]

log = logging.getLogger(__name__)

_STATUS = {
    "passed": Verdict.PASSED,
    "failed": Verdict.FAILED,
    "timed_out": Verdict.TIMED_OUT,
    "killed": Verdict.ERROR,
    "error": Verdict.ERROR,
}
_TEST_VERDICTS = {
    "passed": Verdict.PASSED,
    "failed": Verdict.FAILED,
    "error": Verdict.ERROR,
    "skipped": Verdict.SKIPPED,
}
TREE_BLOBS_KEPT = 32


class Progress(Protocol):
    """Where a job reports: a change while it runs, and its verdict (cached under ``key`` if given)."""

    def update(self, active: ActiveRun, i: int, job: JobResult, message: str) -> None: ...

    def complete(self, active: ActiveRun, i: int, job: JobResult, *, key: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class _Reuse:
    """Per-test reuse for one job: the closure keys of the tests that run, the results reused."""

    keys: dict[str, str]
    hits: dict[str, Reused]

    def cases(self) -> tuple[TestCase, ...]:
        return tuple(
            TestCase(
                t,
                Verdict.PASSED,
                0,
                f"reused: passed in run {r.run_id} of {r.commit_id[:12]} "
                f"({r.duration_ms} ms); its closure is unchanged",
            )
            for t, r in sorted(self.hits.items())
        )


@dataclass(frozen=True, slots=True)
class _Observing:
    """What a pytest job's end needs to keep what exec/eval ran: the closure keys' salt, the tests it runs."""

    salt: str
    running: frozenset[str]


def _stops_early(args: Sequence[str]) -> bool:
    """Do the stage's own pytest arguments stop the session at a failure (some tests then never run)?"""
    return any(
        a in ("-x", "--exitfirst") or a.startswith("--maxfail") or (a[:1] == "-" and a[1:2] != "-" and "x" in a)
        for a in args
    )


class StageRunner:
    """Runs the jobs the scheduler starts (the scheduler's :class:`~trellis.ci.engine.scheduler.JobStarter`)."""

    def __init__(
        self,
        store: vcs.Store,
        executor: Executor,
        progress: Progress,
        *,
        tests: TestSelector,
        times: TestTimes,
        reused: TestResults,
    ) -> None:
        self.store = store
        self.executor = executor
        self.progress = progress
        self.tests = tests
        self.times = times
        self.reused = reused
        self._guard = threading.Lock()
        self._tree_blobs: OrderedDict[str, dict[str, str]] = OrderedDict()

    def inputs(self, active: ActiveRun, planned: PlannedJob) -> tuple[str, ...]:
        """What the job's verdict depends on, for its result-cache key."""
        if planned.stage.kind == "syntax":
            blob = self.store.tree_entry_id(active.run.repository, active.tree_id, planned.chunk.path)
            return ("blob", blob, planned.chunk.path) if blob is not None else ("missing", planned.chunk.path)
        # pytest's selection depends on the change, not only on the tree: the base is an input too.
        base = active.old_tree_id if planned.stage.kind == "pytest" else ""
        return ("tree", active.tree_id, base, planned.command, planned.chunk.label, "full" if active.full else "")

    def run(self, active: ActiveRun, i: int, key: str) -> None:
        if active.planned[i].stage.kind == "syntax":
            self._run_syntax(active, i, key)
        else:
            self._run_process(active, i, key)

    def _run_syntax(self, active: ActiveRun, i: int, key: str) -> None:
        job = active.run.jobs[i]
        if job.final:
            return
        content = trees.file_in_tree(self.store, active.run.repository, active.tree_id, job.path)
        started = time.time()
        verdict, summary = syntax_check(job.path, content)
        self.progress.complete(
            active,
            i,
            replace(
                job,
                verdict=verdict,
                summary=summary,
                duration_ms=int((time.time() - started) * 1000),
                end_time=time.time(),
            ),
            key=key,
        )

    def _run_process(self, active: ActiveRun, i: int, key: str) -> None:
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
        observing: _Observing | None = None
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
                salt = self._salt(active, stage, environment)
                selection = self.tests.select(
                    self.store,
                    active.run.repository,
                    active.tree_id,
                    active.old_tree_id,
                    active.diff,
                    inert=stage.inert,
                    always_full=stage.always_full,
                    args=stage.args,
                    environment_changed=changed_environment,
                    load_tests=stage.pytest.load_tests,
                    salt=salt,
                )
                total = selection.total
                if stage.select == "affected" and not active.full and not selection.run_all:
                    if not selection.tests:
                        self.progress.complete(
                            active,
                            i,
                            replace(
                                job,
                                verdict=Verdict.PASSED,
                                end_time=time.time(),
                                total_tests=total,
                                summary=f"no test reaches the change (0 of {total} selected)",
                            ),
                            key=key,
                        )
                        return
                    selected = len(selection.tests)
                    running = selection.tests
                    named = True
                else:
                    selected = total
                    index = self.tests.index(self.store, active.run.repository, active.tree_id, args=stage.args)
                    running = (*index.tests, *(index.load_tests if stage.pytest.load_tests else ()))
                if stage.cache and not active.full:
                    reuse = self._reuse(active, stage, running, environment)
                    running = tuple(t for t in running if t not in reuse.hits)
                    if named:  # only the selected tests still to run
                        if not running:
                            now = time.time()
                            self.progress.complete(
                                active,
                                i,
                                replace(
                                    job,
                                    verdict=Verdict.PASSED,
                                    start_time=now,
                                    end_time=now,
                                    total_tests=total,
                                    selected_tests=selected,
                                    tests=reuse.cases(),
                                    summary=f"{len(reuse.hits)} reused (closure unchanged since a passing run)",
                                    fallback=selection.fallback if stage.select == "affected" else "",
                                ),
                                key=key,
                            )
                            return
                # The project's own command line: selected tests are kept by the job's plugin from what
                # that command collects, never named (named paths skip collect_ignore, --ignore, hooks).
                pytest_args = stage.args
                plan, shards = self._test_plan(active.run.repository, stage, running)
                if shards > 1:  # a test storing state and the tests of its file after it: one process, in order
                    index = self.tests.index(self.store, active.run.repository, active.tree_id, args=stage.args)
                    if index.order_coupled(running):
                        shards = 1
                plan = replace(plan, evals=tuple(sorted(self.tests.observations.known_sources(active.run.repository))))
                observing = _Observing(salt, frozenset(running))
                if named:
                    plan = replace(plan, only=tuple(running))
                if reuse.hits and not named:  # the whole suite is collected: leave out the reused
                    plan = replace(plan, reused=tuple(sorted(reuse.hits)))
            request = JobRequest(
                job_id=f"{active.run.run_id}-{i}",
                repo_path=str(self.store.repository_path(active.run.repository)),
                tree_id=active.tree_id,
                commit_id=active.run.commit_id,
                command=planned.command,
                env=stage.env,
                limits=_limits(stage),
                network=False,
                kind="pytest" if stage.kind == "pytest" else "command",
                pytest_args=pytest_args,
                tests=plan,
                environment=environment,
                tool_caches=stage.pytest.tool_caches if stage.kind == "pytest" else (),
                cache_scope="\0".join(
                    (active.run.repository, stage.name, environment.digest if environment is not None else "")
                ),
            )
            if plan is not None:
                future = submit_tests(
                    self.executor,
                    request,
                    shards=shards,
                    on_shard=lambda outcome, k, n: self._shard_done(active, i, outcome, k, n),
                    on_progress=lambda tests: self._tests_so_far(active, i, tests),
                )
                if is_subset(plan, shards):  # a failure may be the project's test order's: confirm it after its prefix
                    repository = active.run.repository
                    scope = "\0".join((stage.definition_hash(), environment.digest if environment is not None else ""))
                    future = confirm_failures(
                        lambda request, shards: submit_tests(self.executor, request, shards=shards),
                        request,
                        future,
                        shards=shards,
                        expected=self.times.expected(repository),
                        needs=self.times.needs(repository, scope),
                        remember=lambda learned: self.times.remember_needs(repository, scope, learned),
                    )
            else:
                future = self.executor.submit(request)
        except Exception as exc:  # noqa: BLE001 - a broken check is a job ERROR, never a crashed engine
            self.progress.complete(
                active,
                i,
                replace(
                    job, verdict=Verdict.ERROR, end_time=time.time(), summary=f"the job could not run: {exc}"[:500]
                ),
                key="",
            )
            return
        with active.cond:
            active.futures[i] = future
        future.add_done_callback(
            lambda f: self._process_done(active, i, key, selection, selected, total, f, reuse, observing)
        )

    def _reuse(
        self, active: ActiveRun, stage: Stage, tests: Sequence[str], environment: EnvironmentSpec | None
    ) -> _Reuse:
        """The closure key of each test, and the tests that passed before under theirs."""
        blobs = self._tree_blobs.get(active.tree_id)
        if blobs is None:
            blobs = self.store.tree_blobs(active.run.repository, active.tree_id)
            with self._guard:
                self._tree_blobs[active.tree_id] = blobs
                while len(self._tree_blobs) > TREE_BLOBS_KEPT:
                    self._tree_blobs.popitem(last=False)
        salt = self._salt(active, stage, environment)
        index = self.tests.index(self.store, active.run.repository, active.tree_id, args=stage.args)
        reads = self.tests.observations.reads(active.run.repository)
        keys = closure_keys(index, blobs, tests, salt=salt, inert=stage.inert, reads=reads)
        hits = {t: found for t, k in keys.items() if (found := self.reused.get(k)) is not None}
        # A test storing into state the tests after it read runs again whenever a test of its file runs: reused,
        # it would be left out and they would run without what it sets (TestIndex.writers).
        running = {t.split("::", 1)[0] for t in keys if t not in hits}
        for writer in index.writers(tests):
            if writer in hits and writer.split("::", 1)[0] in running:
                del hits[writer]
        return _Reuse({t: k for t, k in keys.items() if t not in hits}, hits)

    @staticmethod
    def _salt(active: ActiveRun, stage: Stage, environment: EnvironmentSpec | None) -> str:
        """What a test's closure key hashes beside files: repository, stage, toolchain, environment."""
        return "\0".join(
            (
                active.run.repository,
                stage.definition_hash(),
                toolchain(),
                environment.digest if environment is not None else "",
            )
        )

    def _observed(self, active: ActiveRun, stage: Stage, outcome: JobOutcome, observing: _Observing) -> None:
        """Keep the code exec/eval ran in the job; the tests it ran to the end count as observed."""
        complete = (
            outcome.status in ("passed", "failed")
            and outcome.exit_code in (0, 1)
            and not _stops_early(stage.args)
            and not (stage.pytest.fail_fast and any(t.outcome in ("failed", "error") for t in outcome.tests))
        )
        # A test stopped by its timeout ran only part of its code (a busy machine's timeout is not repeatable).
        cut = {o for t in outcome.tests if t.message.startswith("timed out") for o in owners(t.nodeid)}
        ran = ({o for t in outcome.tests for o in owners(t.nodeid)} & observing.running) - cut if complete else set()
        self.tests.observe(
            self.store,
            active.run.repository,
            active.tree_id,
            outcome.evals,
            sorted(ran),
            salt=observing.salt,
            inert=stage.inert,
        )

    def _environment(self, active: ActiveRun, stage: Stage, *, tree_id: str = "") -> EnvironmentSpec:
        """The stage's declared test dependencies, read from the commit's tree (or ``tree_id``'s)."""
        options = stage.pytest
        repository, tree = active.run.repository, tree_id or active.tree_id
        files = environment_files(lambda paths: self.store.tree_files(repository, tree, paths), options.requirements)
        return environment_spec(
            files,
            requirements=options.requirements,
            extras=options.extras,
            groups=options.groups,
            packages=options.packages,
        )

    def _test_plan(self, repository: str, stage: Stage, tests: Sequence[str]) -> tuple[TestPlan, int]:
        """Timeouts and balance from the tests' recorded durations, and how many shards to run.

        ``tests``: the node ids that will run, as selection knows them (a parametrised test once).
        """
        options = stage.pytest
        expected = self.times.expected(repository)
        timeouts: dict[str, float] = {}
        if options.test_timeout_s > 0:
            timeouts = self.times.timeouts(
                repository,
                factor=options.test_timeout_factor,
                floor_s=options.test_timeout_floor_s,
                default_s=options.test_timeout_s,
                cap_s=stage.timeout_s,
            )
        by_base: dict[str, float] = {}
        items_of: dict[str, int] = {}
        for nodeid, seconds in expected.items():
            for owner in owners(nodeid):
                by_base[owner] = by_base.get(owner, 0.0) + seconds
                items_of[owner] = items_of.get(owner, 0) + 1
        known = sum(by_base[t] for t in tests if t in by_base) if tests and all(t in by_base for t in tests) else None
        items = sum(items_of.get(t, 1) for t in tests)
        plan = TestPlan(
            expected=tuple(sorted(expected.items())),
            timeouts=tuple(sorted(timeouts.items())),
            default_timeout_s=min(options.test_timeout_s, stage.timeout_s),
            fail_fast=options.fail_fast,
            load_tests=options.load_tests,
        )
        return plan, shard_count(self.executor.slots, len(tests), known, requested=options.shards, items=items)

    def _tests_so_far(self, active: ActiveRun, i: int, tests: tuple[TestOutcome, ...]) -> None:
        """Tests finished while the job runs: its result shows them, ``watch`` gets an event."""
        with active.cond:
            job = active.run.jobs[i]
            if job.final:
                return
        self.progress.update(active, i, replace(job, tests=_cases_of(tests)), f"running: {summarize(tests)} so far")

    def _shard_done(self, active: ActiveRun, i: int, outcome: JobOutcome, k: int, n: int) -> None:
        """A shard finished: its tests are part of the job's result from now on (``watch`` sees them)."""
        if n <= 1:
            return
        with active.cond:
            job = active.run.jobs[i]
            if job.final:
                return
        tests = tuple(sorted({t.test_id: t for t in (*job.tests, *_cases(outcome))}.values(), key=lambda t: t.test_id))
        self.progress.update(active, i, replace(job, tests=tests), f"shard {k + 1} of {n}: {outcome.summary}")

    def _process_done(
        self,
        active: ActiveRun,
        i: int,
        key: str,
        selection: Selection | None,
        selected: int,
        total: int,
        future: Future[JobOutcome],
        reuse: _Reuse | None = None,
        observing: _Observing | None = None,
    ) -> None:
        stage = active.planned[i].stage
        job = active.run.jobs[i]
        with active.cond:
            active.futures.pop(i, None)
        if future.cancelled():
            return  # cancel() already recorded the verdict
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - the executor failed, not the code
            self.progress.complete(
                active,
                i,
                replace(job, verdict=Verdict.ERROR, end_time=time.time(), summary=f"the executor failed: {exc}"[:500]),
                key="",
            )
            return
        tests = _cases(outcome)
        if stage.kind == "pytest":
            self.times.record(active.run.repository, ((t.nodeid, t.outcome, t.duration_s) for t in outcome.tests))
        passes: list[tuple[str, Reused]] = []  # results to reuse: in memory now, in their files after the verdict
        if reuse is not None and (reuse.keys or reuse.hits):
            outcomes = {t.nodeid: t.outcome for t in outcome.tests}
            # A test that passed only after the tests collected before it did not pass alone: never reused as a pass.
            outcomes.update((nodeid, "failed") for nodeid, _ in outcome.order_dependent)
            durations: dict[str, float] = {}
            for t in outcome.tests:
                for owner in owners(t.nodeid):
                    durations[owner] = durations.get(owner, 0.0) + t.duration_s
            if outcome.status in ("passed", "failed"):  # the run itself completed: its passes are results
                passes = [
                    (
                        reuse.keys[test_id],
                        Reused(active.run.run_id, active.run.commit_id, int(durations.get(test_id, 0.0) * 1000)),
                    )
                    for test_id in passed_tests(reuse.keys, outcomes)
                ]
                self.reused.remember(passes)
            tests = tuple(sorted((*tests, *reuse.cases()), key=lambda c: c.test_id))
        verdict = _STATUS.get(outcome.status, Verdict.ERROR)
        if stage.kind == "pytest" and verdict is Verdict.FAILED and outcome.exit_code != 1:
            # pytest's exit 5 is "no tests collected"; 2-4 are interruptions, internal and usage errors.
            verdict = Verdict.PASSED if outcome.exit_code == 5 else Verdict.ERROR
        summary = outcome.summary or outcome.reason or f"exit {outcome.exit_code}"
        if reuse is not None and reuse.hits:
            summary += f"; {len(reuse.hits)} reused (closure unchanged since a passing run)"
        result = replace(
            job,
            verdict=verdict,
            exit_code=outcome.exit_code or 0,
            output=outcome.output,
            duration_ms=int(outcome.duration_s * 1000),
            summary=summary,
            tests=tests,
            selected_tests=selected,
            total_tests=total,
            end_time=time.time(),
            fallback=selection.fallback
            if selection is not None and stage.select == "affected" and not active.full
            else "",
        )
        if active.full and selection is not None:
            missed = self.tests.missed(selection, {t.test_id: t.verdict.value for t in tests})
            if missed:
                with active.cond:
                    active.run = replace(active.run, missed_tests=tuple(sorted({*active.run.missed_tests, *missed})))
        if observing is not None:  # handed to the background before the verdict: the next selection waits for it
            self._observed(active, stage, outcome, observing)
        self.progress.complete(active, i, result, key=key)
        if passes:  # after the verdict (a whole suite's files: tens of ms); this process's lookups have them already
            try:
                self.reused.save(passes)
            except OSError:  # a full disk: those tests run again after a restart, nothing worse
                log.warning("could not save the reusable results of run %s", active.run.run_id, exc_info=True)


def _cases(outcome: JobOutcome) -> tuple[TestCase, ...]:
    return _cases_of(outcome.tests)


def _cases_of(tests: Sequence[TestOutcome]) -> tuple[TestCase, ...]:
    return tuple(
        TestCase(t.nodeid, _TEST_VERDICTS.get(t.outcome, Verdict.ERROR), int(t.duration_s * 1000), t.message)
        for t in tests
    )


def _limits(stage: Stage) -> JobLimits:
    limits = stage.limits
    return JobLimits(
        timeout_s=limits.timeout_s,
        cpu_s=limits.cpu_s,
        memory_bytes=limits.memory_bytes,
        processes=limits.processes,
        output_bytes=limits.output_bytes,
    )
