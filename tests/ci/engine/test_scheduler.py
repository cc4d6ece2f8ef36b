"""The job graph: dependency order, skips, the result cache, cancellation, events and shutdown.

Through the real engine parts with a test double of the executor (tests/ci/engine/fakes.py).
"""

from __future__ import annotations

from pathlib import Path

from trellis import vcs
from trellis.ci.engine import JobEvent, Verifier
from trellis.ci.execution.jobs import JobOutcome, JobRequest
from trellis.ci.runs import Run, Verdict

from .fakes import PIPELINE, FakeExecutor, Finished, Repo, make_verifier, outcome

APP = "def f():\n    return 1\n"


def jobs(run: Run) -> list[tuple[str, str, Verdict]]:
    return [(j.stage, j.chunk, j.verdict) for j in run.jobs]


def test_jobs_run_in_dependency_order_and_wait_for_the_reviewer(
    verifier: Verifier, repo: Repo, executor: FakeExecutor
) -> None:
    commit_id = repo.commit({"trellis.toml": PIPELINE, "app.py": APP})
    run = verifier.start(repo.name, commit_id)
    review = next(verifier.watch_reviews(repo.name, poll=0.05))
    assert (review.run_id, review.stage, review.chunk, review.content) == (run.run_id, "review", "app.py", APP.encode())
    assert [request.command for request in executor.requests] == ["lint app.py trellis.toml"]
    now = verifier.get(repo.name, run.run_id)
    assert jobs(now) == [
        ("syntax", "app.py", Verdict.PASSED),
        ("syntax", "trellis.toml", Verdict.PASSED),
        ("lint", "", Verdict.PASSED),
        ("review", "app.py", Verdict.PENDING),
    ]
    assert now.verdict is Verdict.RUNNING
    active = verifier.scheduler.get(repo.name, run.run_id)
    assert active is not None
    stages = [e.stage for e in active.events]
    assert stages.index("lint") > max(i for i, s in enumerate(stages) if s == "syntax")
    assert stages[-1] == "review" and active.events[-1].message == "waiting for a reviewer's verdict"


def test_a_failed_job_skips_its_dependents(store: vcs.Store, repo: Repo, tmp_path: Path) -> None:
    def failing(request: JobRequest) -> JobOutcome:
        return outcome(request, status="failed", exit_code=1, output=b"app.py:1: bad\n")

    finished = Finished()
    verifier = make_verifier(store, repo, FakeExecutor(failing), tmp_path, finished)
    try:
        run = verifier.wait(
            repo.name, verifier.start(repo.name, repo.commit({"trellis.toml": PIPELINE, "app.py": APP})).run_id, 30
        )
    finally:
        verifier.close()
    assert run.verdict is Verdict.FAILED and finished.wait_for(1) == [run]
    lint, review = run.jobs[2], run.jobs[3]
    assert lint.verdict is Verdict.FAILED and lint.output == b"app.py:1: bad\n" and lint.exit_code == 1
    assert review.verdict is Verdict.SKIPPED and review.blocked_by == "lint"
    assert review.summary == "needs lint, which failed"


def test_a_repeated_job_is_answered_from_the_result_cache(
    verifier: Verifier, repo: Repo, executor: FakeExecutor
) -> None:
    commit_id = repo.commit({"trellis.toml": '[stages.lint]\nrun = "lint"\n', "app.py": APP})
    first = verifier.wait(repo.name, verifier.start(repo.name, commit_id).run_id, 30)
    second = verifier.wait(repo.name, verifier.start(repo.name, commit_id).run_id, 30)
    assert first.verdict is second.verdict is Verdict.PASSED
    assert len(executor.requests) == 1
    assert not first.jobs[0].cached and second.jobs[0].cached and second.jobs[0].summary == first.jobs[0].summary


def test_cancel_stops_what_has_not_started_and_lets_running_jobs_finish(
    store: vcs.Store, repo: Repo, tmp_path: Path
) -> None:
    executor = FakeExecutor(hold=True)
    verifier = make_verifier(store, repo, executor, tmp_path)
    try:
        pipeline = '[stages.a]\nrun = "a"\n\n[stages.b]\nrun = "b"\nneeds = ["a"]\n'
        run = verifier.start(repo.name, repo.commit({"trellis.toml": pipeline}))
        executor.wait_for(1)
        verifier.cancel(repo.name, run.run_id, "not needed")
        executor.release()  # the running job finishes; nothing was waiting for it
        done = verifier.wait(repo.name, run.run_id, 30)
    finally:
        verifier.close()
    assert done.final and done.verdict is Verdict.CANCELLED
    assert [(j.stage, j.verdict) for j in done.jobs] == [("a", Verdict.PASSED), ("b", Verdict.CANCELLED)]
    assert done.jobs[1].summary == "not needed"
    assert [r.command for r in executor.requests] == ["a"]


def test_watch_gives_the_run_then_its_events_then_the_finished_run(verifier: Verifier, repo: Repo) -> None:
    run = verifier.start(repo.name, repo.commit({"trellis.toml": '[stages.lint]\nrun = "lint"\n'}))
    seen = list(verifier.watch(repo.name, run.run_id, poll=0.05))
    assert seen[0] == (None, seen[0][1]) and seen[0][1] is not None and seen[0][1].run_id == run.run_id
    events = [e for e, _ in seen[1:-1]]
    assert all(isinstance(e, JobEvent) for e in events) and events[-1].verdict is Verdict.PASSED
    last = seen[-1][1]
    assert seen[-1][0] is None and last is not None and last.final
    assert list(verifier.watch(repo.name, run.run_id)) == [(None, last)]  # a finished run: read from git


def test_close_cancels_running_jobs_and_keeps_runs_waiting_for_a_reviewer(
    store: vcs.Store, repo: Repo, tmp_path: Path
) -> None:
    executor = FakeExecutor(hold=True)
    verifier = make_verifier(store, repo, executor, tmp_path)
    running = verifier.start(repo.name, repo.commit({"trellis.toml": '[stages.lint]\nrun = "lint"\n'}))
    executor.wait_for(1)
    waiting = verifier.start(
        repo.name, repo.commit({"trellis.toml": PIPELINE.replace('needs = ["lint"]', ""), "app.py": APP})
    )
    next(verifier.watch_reviews(repo.name, poll=0.05))
    verifier.close()
    stopped = verifier.get(repo.name, running.run_id)
    assert executor.closed and stopped.verdict is Verdict.CANCELLED
    assert stopped.jobs[0].summary == "the server shut down while the job ran"
    kept = verifier.runs.get(repo.name, waiting.run_id)
    assert not kept.final and kept.jobs[-1].verdict is Verdict.PENDING and kept.jobs[-1].start_time is not None

    again = make_verifier(store, repo, FakeExecutor(), tmp_path)  # the restarted server takes it up again
    try:
        assert again.recover() == 0
        assert [r.run_id for r in again.pending_reviews(repo.name)] == [waiting.run_id]
    finally:
        again.close()
