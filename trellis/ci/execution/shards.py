"""A pytest job split into shards across an executor's workers, merged back into one outcome.

:func:`submit_tests` sends shard ``k`` of ``n`` of one pytest job to the
executor for every ``k`` (each shard collects its own files and the shared
ones, and keeps its part: :mod:`trellis.ci.execution.pytest_plugin`), reports each finished shard as it
comes (``on_shard``), stops the others at the first failure when asked
(``fail_fast``), runs the rest of a shard again when its watchdog had to kill
a test that ignored its timeout, and merges the shards into one
:class:`~trellis.ci.execution.jobs.JobOutcome` whose tests are in collection order (files in
the order pytest walks directories, then each file's own order).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Protocol

from .jobs import JobOutcome, JobRequest, TestOutcome, TestPlan, summarize

__all__ = ["HARD_EXIT", "MAX_RERUNS", "merge", "shard_count", "submit_tests"]

HARD_EXIT = 86  # = pytest_plugin.HARD_EXIT (that module runs in the job and imports nothing of ours)
MAX_RERUNS = 8  # per shard: tests that had to be killed before the shard gives up
MIN_TESTS_PER_SHARD = 4
# Below this much known work (the tests' recorded durations plus pytest's own work per item), one process is
# quicker than several: a shard costs a fork, pytest's start-up and the shared collection (conftest files, the
# packages every test file imports), ~0.1 s of CPU, and a job waits for its slowest shard.
MIN_SHARDED_SECONDS = 0.3
# pytest's own work per item besides the test's recorded duration (its setup, call and teardown): the runtest
# protocol's hooks, reports, the terminal's progress, the job's stream. ~0.3-0.6 ms on a 2020s server core; for a
# suite of many quick tests it is most of the run (716 items of the sample project: 0.05 s recorded, 0.45 s run).
# = pytest_plugin.ITEM_OVERHEAD_S (that module runs in the job and imports nothing of ours).
ITEM_OVERHEAD_S = 0.0005


PROGRESS_EVERY_S = 0.5


class _Submits(Protocol):
    def submit(self, request: JobRequest) -> Future[JobOutcome]: ...

    def cancel(self, job_id: str) -> None: ...


def collection_order(test: TestOutcome) -> tuple[bool, tuple[str, ...], int]:
    """Where a test comes in one unsharded run: its file in the order pytest walks directories (entries by
    name), then its position within the file (the plugin's ``index``, the same in every shard)."""
    return (test.index < 0, tuple(test.nodeid.split("::", 1)[0].split("/")), test.index)


def shard_count(
    slots: int, tests: int, known_seconds: float | None, *, requested: int = 0, items: int | None = None
) -> int:
    """How many shards: ``requested`` when set, else one per slot when enough tests run.

    ``tests``: how many tests will run; ``known_seconds``: their recorded total, or None when
    some have no recorded duration (then the count alone decides); ``items``: how many items
    those durations were recorded for (a parametrised test's each; default ``tests``), each of
    which costs pytest :data:`ITEM_OVERHEAD_S` besides its duration.
    """
    if requested > 0:
        return requested
    work = None if known_seconds is None else known_seconds + (tests if items is None else items) * ITEM_OVERHEAD_S
    if work is not None and work < MIN_SHARDED_SECONDS:
        return 1
    return max(1, min(slots, tests // MIN_TESTS_PER_SHARD))


class _Sharded:
    def __init__(
        self,
        executor: _Submits,
        request: JobRequest,
        shards: int,
        on_shard: Callable[[JobOutcome, int, int], None],
        on_progress: Callable[[tuple[TestOutcome, ...]], None] | None = None,
    ) -> None:
        self.executor = executor
        self.request = request
        self.plan = request.tests or TestPlan()
        self.shards = shards
        self.on_shard = on_shard
        self.result: Future[JobOutcome] = Future()
        self.lock = threading.Lock()
        self.parts: dict[int, list[JobOutcome]] = {k: [] for k in range(shards)}
        self.running: dict[int, tuple[str, Future[JobOutcome]]] = {}
        self.finished: set[int] = set()
        self.stopped_by = ""
        self.started = time.monotonic()
        self.on_progress = on_progress
        self.result.add_done_callback(self._on_result)

    def start(self) -> None:
        for k in range(self.shards):
            self._submit(k, ())
        progress = getattr(self.executor, "progress", None)
        if self.on_progress is not None and progress is not None:
            threading.Thread(target=self._stream, args=(progress,), name="trellis-test-progress", daemon=True).start()

    def _stream(self, progress: Callable[[str], tuple[TestOutcome, ...]]) -> None:
        """Report the tests finished so far, as they come, until the job is done (executors that can tell)."""
        assert self.on_progress is not None
        reported = 0
        while not self.result.done():
            time.sleep(PROGRESS_EVERY_S)
            with self.lock:
                done = [t for parts in self.parts.values() for o in parts for t in o.tests]
                running = [job_id for job_id, _ in self.running.values()]
            seen = {t.nodeid: t for t in done}
            for job_id in running:
                seen.update((t.nodeid, t) for t in progress(job_id))
            if len(seen) != reported and not self.result.done():
                reported = len(seen)
                try:
                    self.on_progress(tuple(sorted(seen.values(), key=collection_order)))
                except Exception:  # noqa: BLE001, S110 - progress reporting must not break the job
                    pass

    def _submit(self, k: int, exclude: tuple[str, ...]) -> None:
        rerun = len(self.parts[k])
        suffix = f"-s{k}" if self.shards > 1 else ""
        job_id = f"{self.request.job_id}{suffix}{f'-r{rerun}' if rerun else ''}"
        request = replace(
            self.request,
            job_id=job_id,
            tests=replace(self.plan, shard=(k, self.shards), exclude=(*self.plan.exclude, *exclude)),
        )
        future = self.executor.submit(request)
        with self.lock:
            self.running[k] = (job_id, future)
        future.add_done_callback(lambda f: self._done(k, f))

    def _done(self, k: int, future: Future[JobOutcome]) -> None:
        with self.lock:
            if self.result.done():
                return
            stopping = bool(self.stopped_by)
        if future.cancelled() or (stopping and future.exception() is not None):
            self._finish_shard(k)
            return
        error = future.exception()
        if error is not None:
            self._stop_all()
            self.result.set_exception(error)
            return
        outcome = future.result()
        with self.lock:
            self.parts[k].append(outcome)
            reruns = len(self.parts[k])
        failed = next((t for t in outcome.tests if t.outcome in ("failed", "error")), None)
        if (
            outcome.exit_code == HARD_EXIT
            and not stopping
            and reruns <= MAX_RERUNS
            and not (self.plan.fail_fast and failed is not None)
        ):
            done = tuple(t.nodeid for part in self.parts[k] for t in part.tests)
            try:
                self._submit(k, done)
            except Exception as exc:  # noqa: BLE001 - the executor refused: report it as the job's failure
                self.result.set_exception(exc)
            return
        if self.plan.fail_fast and (failed is not None or outcome.exit_code == 1):
            with self.lock:
                self.stopped_by = self.stopped_by or (failed.nodeid if failed is not None else f"shard {k + 1}")
            self._stop_all(except_shard=k)
        try:
            self.on_shard(outcome, k, self.shards)
        except Exception:  # noqa: BLE001, S110 - progress reporting must not break the job
            pass
        self._finish_shard(k)

    def _finish_shard(self, k: int) -> None:
        with self.lock:
            self.running.pop(k, None)
            self.finished.add(k)
            complete = len(self.finished) == self.shards
            parts = [o for k2 in sorted(self.parts) for o in self.parts[k2]]
        if complete and not self.result.done():
            merged = merge(
                self.request.job_id, parts, duration_s=time.monotonic() - self.started, stopped_by=self.stopped_by
            )
            try:
                self.result.set_result(merged)
            except Exception:  # noqa: BLE001, S110 - cancelled meanwhile
                pass

    def _stop_all(self, except_shard: int = -1) -> None:
        with self.lock:
            running = [(k, job_id, f) for k, (job_id, f) in self.running.items() if k != except_shard]
        for _, job_id, future in running:
            if not future.cancel():
                self.executor.cancel(job_id)

    def _on_result(self, result: Future[JobOutcome]) -> None:
        if result.cancelled():
            with self.lock:
                self.stopped_by = self.stopped_by or "cancelled"
            self._stop_all()


def submit_tests(
    executor: _Submits,
    request: JobRequest,
    *,
    shards: int = 1,
    on_shard: Callable[[JobOutcome, int, int], None] = lambda outcome, k, n: None,
    on_progress: Callable[[tuple[TestOutcome, ...]], None] | None = None,
) -> Future[JobOutcome]:
    """Run a pytest job as ``shards`` jobs; the future holds the merged outcome.

    Cancelling the returned future stops every shard (queued ones are dropped, running ones
    killed). ``on_shard(outcome, k, n)`` is called as each shard finishes; ``on_progress(tests)``
    with every test finished so far, as they come, when the executor can tell (``progress``).
    """
    sharded = _Sharded(executor, request, max(1, shards), on_shard, on_progress)
    sharded.start()
    return sharded.result


def merge(job_id: str, parts: Sequence[JobOutcome], *, duration_s: float, stopped_by: str = "") -> JobOutcome:
    """One outcome from the outcomes of a job's shards (and their re-runs).

    The tests come in collection order. The status is the worst of the shards', except
    that a shard stopped because another failed first (``stopped_by``) does not count; shards
    that saw different collections make the job fail as a usage error (exit 3) rather than
    silently run a different set of tests.
    """
    if not parts:
        return JobOutcome(
            job_id=job_id,
            status="failed",
            exit_code=3,
            output=b"",
            duration_s=duration_s,
            cpu_s=0.0,
            max_rss=0,
            isolation=(),
            reason="no shard ran",
        )
    seen: dict[str, TestOutcome] = {}
    for part in parts:
        for test in part.tests:
            seen[test.nodeid] = test  # a re-run's report of a test wins (never happens: done tests are excluded)
    tests = tuple(sorted(seen.values(), key=collection_order))
    collections = {p.collection for p in parts if p.collected >= 0}
    counted = [p for p in parts if not (stopped_by and p.status == "killed")]
    status = "passed"
    exit_code: int | None = 0
    reason: str | None = None
    broken = next((p for p in counted if p.status in ("timed_out", "killed")), None)
    odd = next((p for p in counted if p.exit_code not in (0, 1, 5, HARD_EXIT) and p.status == "failed"), None)
    if broken is not None:
        status, exit_code, reason = broken.status, broken.exit_code, broken.reason
    elif len(collections) > 1:
        status, exit_code = "failed", 3
        reason = (
            "the shards collected different tests (pytest's collection is not the same in every "
            "process here); set shards = 1 on the stage"
        )
    elif odd is not None:
        status, exit_code, reason = "failed", odd.exit_code, odd.reason
    elif any(t.outcome in ("failed", "error") for t in tests) or any(p.exit_code in (1, HARD_EXIT) for p in counted):
        status, exit_code = "failed", 1
    elif not tests and all(p.exit_code == 5 for p in counted):
        status, exit_code = "failed", 5
    if stopped_by and status == "failed" and exit_code == 1:
        reason = f"stopped at the first failure ({stopped_by}): fail_fast"
    if len(parts) == 1:
        output = parts[0].output
    else:
        output = b"".join(
            f"===== {p.job_id} ({p.status}, exit {p.exit_code}) =====\n".encode()
            + p.output
            + (b"" if p.output.endswith(b"\n") or not p.output else b"\n")
            for p in parts
        )
    summary = summarize(tests)
    notes = tuple(dict.fromkeys(note for p in parts for note in p.notes))
    if notes:
        summary += "; " + "; ".join(notes)
    timed_out = [t for t in tests if t.outcome == "failed" and t.message.startswith("timed out after")]
    if timed_out:
        summary += "; " + ", ".join(f"{t.nodeid} {t.message.split(' (')[0]}" for t in timed_out[:3])
        if len(timed_out) > 3:
            summary += f" and {len(timed_out) - 3} more"
    return JobOutcome(
        job_id=job_id,
        status=status,  # type: ignore[arg-type]
        exit_code=exit_code,
        output=output,
        duration_s=duration_s if len(parts) > 1 else parts[0].duration_s,
        cpu_s=sum(p.cpu_s for p in parts),
        max_rss=max(p.max_rss for p in parts),
        isolation=parts[0].isolation,
        reason=reason,
        output_size=sum(p.output_size for p in parts),
        tests=tests,
        summary=summary,
        setup_s=max(p.setup_s for p in parts),
        executor=",".join(dict.fromkeys(p.executor for p in parts)),
        collected=max(p.collected for p in parts),
        collection=next(iter(collections), ""),
        evals=tuple(line for p in parts for line in p.evals),
        notes=notes,
    )
