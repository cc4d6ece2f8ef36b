"""Verification through the real server: pipelines, runs, DAG, fan-out, cache, external stages, gating."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from tests.conftest import git, raw_unary, repo_path, snapshot
from tests.e2e.test_durability import server_process
from trellis import ci, vcs
from trellis.ci.engine.store import RunStore
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import RunningServer, build_server
from trellis.v1 import pipelines_pb2

PIPELINE = """
[stages.syntax]
kind = "syntax"
scope = "file"
when.languages = ["python"]

[stages.size]
run = "test -s {path} && echo checked {path}"
scope = "file"
when.paths = ["**/*.py"]
needs = ["syntax"]

[stages.all]
run = "echo {paths} && ls"
needs = ["size"]
"""


def _push(client: Client, files: dict[str, bytes | str], branch: str = "main", **options: object) -> object:
    head = client.get_branch("demo", branch).head_commit_id
    return client.commit("demo", branch, files, "change", expected_head=head, **options)


@pytest.fixture
def demo(client: Client) -> Client:
    client.create_repository("demo")
    return client


def _by(run: ci.Run) -> dict[tuple[str, str], ci.JobResult]:
    return {(j.stage, j.chunk): j for j in run.jobs}


def test_a_push_starts_a_run_fanned_out_per_file_in_dag_order(demo: Client, data_dir: Path) -> None:
    reply = _push(
        demo,
        {"trellis.toml": PIPELINE, "src/a.py": "A = 1\n", "src/b py.py": "B = 2\n", "notes.txt": "n\n"},
        wait_for_verdict=True,
    )
    run = reply.run  # type: ignore[attr-defined]
    assert run is not None and run.verdict is ci.Verdict.PASSED, run
    jobs = _by(run)
    assert set(jobs) == {
        ("syntax", "src/a.py"),
        ("syntax", "src/b py.py"),
        ("size", "src/a.py"),
        ("size", "src/b py.py"),
        ("all", ""),
    }
    # {path} was substituted (and shell-quoted: the space survived).
    assert b"checked src/b py.py" in jobs[("size", "src/b py.py")].output
    assert jobs[("syntax", "src/a.py")].summary == "parses as python"
    # needs: every size job started after its file's syntax job ended; `all` after every size job.
    for path in ("src/a.py", "src/b py.py"):
        assert jobs[("size", path)].start_time >= jobs[("syntax", path)].end_time  # type: ignore[operator]
    assert jobs[("all", "")].start_time >= max(jobs[("size", p)].end_time for p in ("src/a.py", "src/b py.py"))  # type: ignore[operator]
    assert run.trigger == "push" and run.branch == "main"
    # The run is in git, readable with plain git, and GetRun answers the same.
    stored = json.loads(git(repo_path(data_dir, "demo"), "show", f"refs/trellis/runs/{run.run_id}:run.json"))
    assert stored["verdict"] == "passed" and len(stored["jobs"]) == 5
    assert demo.get_run("demo", run.run_id).verdict is ci.Verdict.PASSED
    assert [r.run_id for r in demo.list_runs("demo")] == [run.run_id]


def test_a_failed_job_skips_its_dependents_and_fails_the_run(demo: Client) -> None:
    reply = _push(
        demo,
        {"trellis.toml": PIPELINE, "src/ok.py": "x = 1\n", "src/bad.py": "def f(:\n  pass\n", "src/empty.py": ""},
        wait_for_verdict=True,
    )
    run = reply.run  # type: ignore[attr-defined]
    jobs = _by(run)
    assert run.verdict is ci.Verdict.FAILED
    assert jobs[("syntax", "src/bad.py")].verdict is ci.Verdict.FAILED
    assert jobs[("syntax", "src/bad.py")].summary.startswith("src/bad.py:1:")
    assert jobs[("size", "src/bad.py")].verdict is ci.Verdict.SKIPPED
    assert "syntax" in jobs[("size", "src/bad.py")].summary
    assert jobs[("size", "src/empty.py")].verdict is ci.Verdict.FAILED  # test -s fails on an empty file
    assert jobs[("size", "src/ok.py")].verdict is ci.Verdict.PASSED
    assert jobs[("all", "")].verdict is ci.Verdict.SKIPPED


NEEDS_CHAIN = """
[stages.syntax]
kind = "syntax"

[stages.unit]
run = "true"
needs = ["syntax"]

[stages.slow]
run = "echo slow ran"
needs = ["unit"]
"""


def test_a_job_whose_need_was_skipped_after_a_failure_is_skipped_too(demo: Client) -> None:
    run = _push(demo, {"trellis.toml": NEEDS_CHAIN, "bad.py": "def f(:\n  pass\n"}, wait_for_verdict=True).run  # type: ignore[attr-defined]
    jobs = _by(run)
    assert jobs[("syntax", "bad.py")].verdict is ci.Verdict.FAILED
    assert jobs[("unit", "")].verdict is ci.Verdict.SKIPPED
    assert jobs[("unit", "")].summary == "needs syntax bad.py, which failed"
    # slow needs unit, which did not pass: it never runs.
    slow = jobs[("slow", "")]
    assert slow.verdict is ci.Verdict.SKIPPED and slow.output == b"", slow
    assert slow.summary == "needs unit, which was skipped" and slow.blocked_by == "unit"
    assert run.verdict is ci.Verdict.FAILED


NOT_APPLICABLE = """
[stages.syntax]
kind = "syntax"

[stages.js]
run = "false"
when.paths = ["**/*.js"]

[stages.review]
kind = "external"
when.paths = ["*.py"]

[stages.after]
run = "echo after ran"
needs = ["syntax", "js", "review"]
"""


def test_a_need_that_does_not_apply_to_the_change_does_not_hold_its_dependents_back(demo: Client) -> None:
    # js selects no file (its `when` did not match): no job, nothing to wait for; syntax has no job
    # for notes.txt (a language it does not parse) either; a reviewer skips the review: not a failure.
    _push(demo, {"trellis.toml": NOT_APPLICABLE, "a.py": "a = 1\n", "notes.txt": "n\n"})
    run = next(demo.list_runs("demo"))
    next(iter(demo.watch_reviews("demo", timeout=30)))
    demo.post_verdict("demo", run.run_id, "review", "", "skipped", "nothing to review")
    run = demo.wait_run("demo", run.run_id, timeout=60)
    jobs = _by(run)
    assert ("js", "") not in jobs and ("syntax", "notes.txt") not in jobs
    assert jobs[("review", "")].verdict is ci.Verdict.SKIPPED
    assert jobs[("after", "")].verdict is ci.Verdict.PASSED and b"after ran" in jobs[("after", "")].output
    assert run.verdict is ci.Verdict.PASSED


def test_entity_scope_fans_out_per_changed_entity(demo: Client) -> None:
    pipeline = (
        PIPELINE
        + """
[stages.each]
run = "echo {qualname} {kind}"
scope = "entity"
when.entities = ["function"]
when.changes = ["added", "modified"]
"""
    )
    _push(demo, {"trellis.toml": pipeline, "m.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n"})
    reply = _push(
        demo,
        {"m.py": "def f():\n    return 10\n\n\ndef g():\n    return 2\n\n\ndef h():\n    pass\n"},
        wait_for_verdict=True,
    )
    jobs = _by(reply.run)  # type: ignore[attr-defined]
    each = {chunk: job for (stage, chunk), job in jobs.items() if stage == "each"}
    assert set(each) == {"m.py::m.f", "m.py::m.h"}
    assert each["m.py::m.f"].output.strip() == b"m.f function"


def test_a_repeated_verification_answers_from_the_cache(demo: Client) -> None:
    first = _push(demo, {"trellis.toml": PIPELINE, "a.py": "a = 1\n"}, wait_for_verdict=True).run  # type: ignore[attr-defined]
    assert not any(j.cached for j in first.jobs)
    again = demo.wait_run("demo", demo.verify("demo", first.commit_id).run_id, timeout=60)
    assert again.verdict is ci.Verdict.PASSED
    assert all(j.cached for j in again.jobs) and all(j.duration_ms == 0 for j in again.jobs)
    # A change to one file misses for that file only.
    third = _push(demo, {"a.py": "a = 2\n", "b.py": "b = 1\n"}, wait_for_verdict=True).run  # type: ignore[attr-defined]
    assert not _by(third)[("syntax", "a.py")].cached


def test_verify_runs_only_the_named_stages_and_what_they_need(demo: Client) -> None:
    commit = _push(demo, {"trellis.toml": PIPELINE, "a.py": "a = 1\n"}).commit  # type: ignore[attr-defined]
    run = demo.wait_run("demo", demo.verify("demo", commit.commit_id, stages=["size"]).run_id, timeout=60)
    assert {j.stage for j in run.jobs} == {"syntax", "size"}


def test_watch_run_streams_events_from_the_first_state_to_the_verdict(demo: Client) -> None:
    commit = _push(demo, {"trellis.toml": PIPELINE, "a.py": "a = 1\n"}).commit  # type: ignore[attr-defined]
    run = demo.verify("demo", commit.commit_id)
    messages = list(demo.watch_run("demo", run.run_id, timeout=60))
    assert messages[0][1] is not None and messages[-1][1] is not None
    assert messages[-1][1].verdict is ci.Verdict.PASSED
    # Either the run was already over (one message) or events came between.
    if len(messages) > 1:
        assert all(event is not None for event, _ in messages[1:-1])


EXTERNAL = """
[stages.syntax]
kind = "syntax"
scope = "file"

[stages.review]
kind = "external"
scope = "entity"
when.paths = ["pay/**"]
when.entities = ["function"]
needs = ["syntax"]
"""


def test_external_stages_wait_for_verdicts_streamed_to_reviewers(demo: Client) -> None:
    reply = _push(demo, {"trellis.toml": EXTERNAL, "pay/card.py": "def charge():\n    return 1\n"})
    run = demo.list_runs("demo").__next__()
    assert run.commit_id == reply.commit.commit_id  # type: ignore[attr-defined]
    reviews = []
    for review in demo.watch_reviews("demo", timeout=30):
        reviews.append(review)
        break
    assert reviews[0].stage == "review" and reviews[0].chunk == "pay/card.py::pay.card.charge"
    assert reviews[0].content.startswith(b"def charge")
    assert demo.get_run("demo", run.run_id).verdict is ci.Verdict.RUNNING
    job = demo.post_verdict(
        "demo", run.run_id, "review", "pay/card.py::pay.card.charge", "passed", "LGTM", "https://example.invalid/r/1"
    )
    assert job.verdict is ci.Verdict.PASSED and job.summary == "LGTM"
    final = demo.wait_run("demo", run.run_id, timeout=30)
    assert final.verdict is ci.Verdict.PASSED
    with pytest.raises(vcs.FailedPrecondition) as twice:
        demo.post_verdict("demo", run.run_id, "review", "pay/card.py::pay.card.charge", "failed")
    assert twice.value.reason == "VERDICT_FINAL"
    with pytest.raises(vcs.FailedPrecondition) as builtin:
        demo.post_verdict("demo", run.run_id, "syntax", "pay/card.py", "failed")
    assert builtin.value.reason in ("NOT_EXTERNAL", "VERDICT_FINAL")
    with pytest.raises(vcs.NotFound):
        demo.post_verdict("demo", run.run_id, "review", "pay/other.py::x", "passed")


GATED = """
[stages.check]
run = "python3 check.py"

[protect.main]
required = ["check"]
"""


def test_gating_uses_the_protected_branch_pipeline_and_cannot_be_bypassed(demo: Client) -> None:
    _push(
        demo,
        {
            "trellis.toml": GATED,
            "check.py": "import sys\nsys.exit(0 if open('ok').read() == 'yes' else 1)\n",
            "ok": "yes",
        },
    )
    # main is now protected: no direct commits.
    with pytest.raises(vcs.FailedPrecondition) as direct:
        _push(demo, {"ok": "no"})
    assert direct.value.reason == "PROTECTED_BRANCH"
    # An agent breaks the code and, in the same change, "fixes" the pipeline to pass anything.
    demo.create_branch("demo", "agents/alice/x", "main")
    _push(demo, {"ok": "no", "trellis.toml": GATED.replace("python3 check.py", "true")}, branch="agents/alice/x")
    with pytest.raises(vcs.FailedPrecondition) as pending:
        demo.merge("demo", "main", "agents/alice/x")
    assert pending.value.reason == "GATE_PENDING"
    assert f"(trellis watch demo {pending.value.metadata['run_id']})" in pending.value.message  # runnable as printed
    gate = demo.wait_run("demo", pending.value.metadata["run_id"], timeout=60)
    assert gate.trigger == "gate" and gate.verdict is ci.Verdict.FAILED  # main's check.py ran, not `true`
    with pytest.raises(vcs.FailedPrecondition) as failed:
        demo.merge("demo", "main", "agents/alice/x")
    assert failed.value.reason == "GATE_FAILED"
    # Fixed for real: the gate passes and the merge lands.
    _push(demo, {"ok": "yes"}, branch="agents/alice/x")
    with pytest.raises(vcs.FailedPrecondition) as again:
        demo.merge("demo", "main", "agents/alice/x")
    demo.wait_run("demo", again.value.metadata["run_id"], timeout=60)
    result = demo.merge("demo", "main", "agents/alice/x")
    assert result.clean and result.commit is not None
    assert demo.get_branch("demo", "main").head_commit_id == result.commit.commit_id


def test_repository_pipeline_takes_precedence_and_can_be_removed(demo: Client) -> None:
    commit = _push(demo, {"trellis.toml": PIPELINE, "a.py": "a = 1\n"}).commit  # type: ignore[attr-defined]
    pipeline = demo.set_pipeline("demo", '[stages.only]\nrun = "true"\n')
    assert list(pipeline.stages) == ["only"] and pipeline.source == "repository"
    assert list(demo.get_pipeline("demo", commit.commit_id).stages) == ["only"]
    demo.set_pipeline("demo", "")
    assert list(demo.get_pipeline("demo", commit.commit_id).stages) == ["syntax", "size", "all"]


def test_no_pipeline_means_no_run_and_a_clear_not_found(demo: Client) -> None:
    reply = _push(demo, {"a.py": "a = 1\n"}, wait_for_verdict=True)
    assert reply.run is None  # type: ignore[attr-defined]
    with pytest.raises(vcs.NotFound) as missing:
        demo.verify("demo", "main")
    assert "trellis.toml" in missing.value.message


# -- bad input: status, message, nothing written ------------------------------------------------


@pytest.mark.parametrize(
    ("config", "reason_part"),
    [
        ('[stages.x]\nkind = "nope"\n', "stages.x.kind"),
        ("[stages.x\n", "line"),
        ('[stages.a]\nrun = "true"\nneeds = ["b"]\n[stages.b]\nrun = "true"\nneeds = ["a"]\n', "cycle"),
        ('[stages.x]\nrun = "echo {qualname}"\nscope = "file"\n', "qualname"),
        ('[stages.t]\nkind = "pytest"\nload_tests = "yes"\n', "stages.t.load_tests: expected true or false"),
    ],
)
def test_an_invalid_pipeline_is_refused_with_the_field_and_writes_nothing(
    demo: Client, data_dir: Path, config: str, reason_part: str
) -> None:
    before = snapshot(data_dir, "demo")
    with pytest.raises(vcs.InvalidArgument) as bad:
        demo.set_pipeline("demo", config)
    assert reason_part in bad.value.message and "repository" in bad.value.message
    assert snapshot(data_dir, "demo") == before


def test_a_push_with_an_invalid_pipeline_gets_a_run_that_failed_at_once_saying_why(
    demo: Client, server: RunningServer
) -> None:
    reply = _push(demo, {"trellis.toml": "[stages.x]\nkind = 1\n", "a.py": "a = 1\n"}, wait_for_verdict=True)
    run = reply.run  # type: ignore[attr-defined]
    assert run is not None and run.final and run.verdict is ci.Verdict.FAILED, run
    (job,) = run.jobs
    assert job.stage == "trellis.toml" and job.verdict is ci.Verdict.FAILED and "stages.x.kind" in job.summary
    assert run.trigger == "push" and run.pipeline_source.endswith(":trellis.toml")
    assert [r.run_id for r in demo.list_runs("demo")] == [run.run_id]
    assert demo.get_run("demo", run.run_id).jobs[0].summary == job.summary
    # The index has it too.
    assert server.index.wait_idle(60)
    rows = demo.query_rows(
        f"SELECT r.status, s.stage, s.message FROM verification_runs r JOIN job_results s "
        f"USING (repository, run_id) WHERE r.run_id = '{run.run_id}'"
    )
    assert rows == [{"status": "failed", "stage": "trellis.toml", "message": job.summary}]


def test_a_source_with_an_invalid_pipeline_cannot_merge_into_a_protected_branch(demo: Client) -> None:
    _push(demo, {"trellis.toml": GATED, "check.py": "import sys\nsys.exit(0)\n", "ok": "yes"})
    demo.create_branch("demo", "agents/alice/x", "main")
    # Merged, this pipeline would leave main unprotected: the gate fails at once, with the error.
    _push(demo, {"trellis.toml": GATED + "[stages.oops]\nrun = 1\n"}, branch="agents/alice/x")
    with pytest.raises(vcs.FailedPrecondition) as refused:
        demo.merge("demo", "main", "agents/alice/x")
    assert refused.value.reason == "GATE_FAILED" and "stages.oops.run" in refused.value.message
    gate = demo.get_run("demo", refused.value.metadata["run_id"])
    assert gate.trigger == "gate" and gate.verdict is ci.Verdict.FAILED
    with pytest.raises(vcs.FailedPrecondition) as again:
        demo.merge("demo", "main", "agents/alice/x")
    assert again.value.reason == "GATE_FAILED"
    assert demo.get_branch("demo", "main").head_commit_id != demo.get_branch("demo", "agents/alice/x").head_commit_id


def test_an_invalid_trellis_toml_fails_verify_with_a_precondition(demo: Client) -> None:
    _push(demo, {"trellis.toml": "[stages.x]\nkind = 1\n"})
    with pytest.raises(vcs.FailedPrecondition) as bad:
        demo.verify("demo", "main")
    assert "stages.x.kind" in bad.value.message


@pytest.mark.parametrize(
    ("method", "request_", "code", "text"),
    [
        (
            "GetRun",
            pipelines_pb2.GetRunRequest(name="repositories/demo/runs/../x"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "runs/{run}",
        ),
        (
            "GetRun",
            pipelines_pb2.GetRunRequest(name="repositories/demo/runs/0123456789abcdef0123"),
            grpc.StatusCode.NOT_FOUND,
            "not found",
        ),
        (
            "Verify",
            pipelines_pb2.VerifyRequest(parent="repositories/demo", revision=""),
            grpc.StatusCode.INVALID_ARGUMENT,
            "revision is required",
        ),
        (
            "Verify",
            pipelines_pb2.VerifyRequest(parent="repositories/demo", revision="main", stages=["nope"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "nope",
        ),
        (
            "PostVerdict",
            pipelines_pb2.PostVerdictRequest(
                name="repositories/demo/runs/0123456789abcdef0123", stage="s", verdict=pipelines_pb2.VERDICT_RUNNING
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "PASSED, FAILED",
        ),
        (
            "SetPipeline",
            pipelines_pb2.SetPipelineRequest(parent="repositories/demo", config_toml="x" * 70_000),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "65536",
        ),
        (
            "ListRuns",
            pipelines_pb2.ListRunsRequest(parent="repositories/demo", page_token="zz"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_token",
        ),
    ],
)
def test_malformed_pipeline_requests_get_clear_statuses_and_write_nothing(
    demo: Client,
    channel: grpc.Channel,
    data_dir: Path,
    method: str,
    request_: object,
    code: grpc.StatusCode,
    text: str,
) -> None:
    _push(demo, {"trellis.toml": PIPELINE, "a.py": "a = 1\n"}, wait_for_verdict=True)
    before = snapshot(data_dir, "demo")
    with pytest.raises(grpc.RpcError) as caught:
        raw_unary(channel, f"/trellis.v1.PipelineService/{method}", request_)  # type: ignore[arg-type]
    assert caught.value.code() == code, caught.value.details()
    assert text in caught.value.details()
    assert snapshot(data_dir, "demo") == before


# -- durability -------------------------------------------------------------------------------


def test_runs_survive_a_restart_and_interrupted_runs_are_closed(data_dir: Path) -> None:
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address, agent="alice") as c:
            c.create_repository("demo")
            c.commit("demo", "main", {"trellis.toml": '[stages.slow]\nrun = "sleep 30"\n'}, "slow")
            run = next(c.list_runs("demo"))
    finally:
        running.stop(grace=1)  # stops mid-run: the job is cancelled, the run closed
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address, agent="alice") as c:
            again = c.get_run("demo", run.run_id)
            assert again.final and again.verdict in (ci.Verdict.CANCELLED, ci.Verdict.ERROR)
    finally:
        running.stop(grace=1)


REVIEWED = """
[stages.syntax]
kind = "syntax"

[stages.review]
kind = "external"
scope = "entity"
when.entities = ["function"]
needs = ["syntax"]

[stages.deploy]
run = "echo deployed {commit}"
needs = ["review"]
"""


@pytest.mark.parametrize("stop", ["stopped", "killed"])
def test_a_run_waiting_for_a_review_survives_a_restart_with_its_review_request(
    data_dir: Path, tmp_path: Path, stop: str
) -> None:
    def wait_for_review(address: str) -> tuple[pipelines_pb2.WatchReviewsResponse, str]:
        with Client(address, agent="alice") as c:
            c.create_repository("demo")
            c.commit("demo", "main", {"trellis.toml": REVIEWED, "pay.py": "def charge():\n    return 1\n"}, "pay")
            review = next(iter(c.watch_reviews("demo", timeout=30)))
            return review, review.run.rsplit("/", 1)[-1]

    if stop == "stopped":
        running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
        try:
            before, run_id = wait_for_review(running.address)
        finally:
            running.stop(grace=1)
    else:  # SIGKILL: nothing is recorded at the end, the run is as its last write left it
        with server_process(data_dir, tmp_path / "server.log") as process:
            before, run_id = wait_for_review(process.address)
    # As saved, before any engine resumes it: the review was asked for with the stage it needs done.
    saved = RunStore(vcs.Store(data_dir)).get("demo", run_id)
    assert _by(saved)[("syntax", "pay.py")].verdict is ci.Verdict.PASSED
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address, agent="alice") as c:
            waiting = c.get_run("demo", run_id)
            assert not waiting.final, waiting  # not closed as "interrupted"
            assert _by(waiting)[("syntax", "pay.py")].verdict is ci.Verdict.PASSED
            after = next(iter(c.watch_reviews("demo", timeout=30)))
            assert (after.run, after.stage, after.chunk, after.content) == (
                before.run,
                "review",
                "pay.py::pay.charge",
                before.content,
            )
            c.post_verdict("demo", run_id, "review", "pay.py::pay.charge", "passed", "LGTM")
            final = c.wait_run("demo", run_id, timeout=60)
            assert final.verdict is ci.Verdict.PASSED, final
            assert _by(final)[("deploy", "")].output.strip() == f"deployed {final.commit_id}".encode()
    finally:
        running.stop(grace=1)


def test_independent_jobs_run_in_parallel(demo: Client) -> None:
    pipeline = '[stages.slow]\nrun = "sleep 0.6"\nscope = "file"\n'
    run = _push(demo, {"trellis.toml": pipeline, "a.py": "a = 1\n", "b.py": "b = 1\n"}, wait_for_verdict=True).run  # type: ignore[attr-defined]
    slow = sorted((j for j in run.jobs if j.stage == "slow"), key=lambda j: j.start_time)
    assert len(slow) == 3 and run.verdict is ci.Verdict.PASSED  # a.py, b.py, trellis.toml
    # On a machine with two or more workers, the second job started before the first ended.
    assert slow[1].start_time < slow[0].end_time


def test_waiting_for_a_verdict_answers_before_the_callers_deadline(server: RunningServer) -> None:
    with Client(server.address, agent="alice", timeout=2.0) as hurried:
        hurried.create_repository("slow")
        reply = hurried.commit(
            "slow", "main", {"trellis.toml": '[stages.slow]\nrun = "sleep 30"\n'}, "slow", wait_for_verdict=True
        )
    # The commit landed and came back in time, with the run as it was: still running.
    assert reply.run is not None and not reply.run.final
    assert server.store.get_branch("slow", "main").head_commit_id == reply.commit.commit_id
