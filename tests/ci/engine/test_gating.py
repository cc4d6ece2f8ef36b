"""Gating decisions: a protected branch moves only after a finished gate run with every required stage good."""

from __future__ import annotations

import pytest

from trellis.ci.engine import Verifier
from trellis.ci.engine.gating import check_gate_run, gate_started, refuse_direct_write
from trellis.ci.errors import GateClosed
from trellis.ci.runs import JobResult, Run, Verdict

from .fakes import FakeExecutor, Repo

SOURCE = "a" * 40


def _run(verdicts: dict[str, Verdict], final: bool = True) -> Run:
    jobs = tuple(JobResult(stage, "commit", "", verdict=v) for stage, v in verdicts.items())
    overall = Verdict.PASSED if final else Verdict.RUNNING
    return Run("demo", "0" * 20, SOURCE, overall, jobs, 0.0, branch="main", trigger="gate")


def test_an_unprotected_branch_takes_direct_commits_and_a_protected_one_refuses_them() -> None:
    refuse_direct_write("main", ())
    with pytest.raises(GateClosed) as refused:
        refuse_direct_write("main", ("unit",))
    assert refused.value.reason == "PROTECTED_BRANCH" and "Merge" in refused.value.message


def test_a_passed_or_skipped_required_stage_lets_the_merge_through() -> None:
    check_gate_run(
        "main",
        SOURCE,
        ("unit", "lint"),
        _run({"unit": Verdict.PASSED, "lint": Verdict.SKIPPED, "extra": Verdict.FAILED}),
    )


def test_a_required_stage_skipped_because_its_need_failed_refuses_the_merge() -> None:
    jobs = (
        JobResult("syntax", "file", "a.py", verdict=Verdict.FAILED),
        JobResult("unit", "commit", "", verdict=Verdict.SKIPPED, blocked_by="syntax a.py"),
    )
    run = Run("demo", "0" * 20, SOURCE, Verdict.FAILED, jobs, 0.0, branch="main", trigger="gate")
    with pytest.raises(GateClosed) as refused:
        check_gate_run("main", SOURCE, ("unit",), run)
    assert refused.value.reason == "GATE_FAILED" and "unit (skipped)" in refused.value.message


@pytest.mark.parametrize("bad", [Verdict.FAILED, Verdict.ERROR, Verdict.TIMED_OUT, Verdict.CANCELLED])
def test_a_required_stage_that_did_not_pass_refuses_the_merge_naming_it(bad: Verdict) -> None:
    with pytest.raises(GateClosed) as refused:
        check_gate_run("main", SOURCE, ("unit",), _run({"unit": bad}))
    assert refused.value.reason == "GATE_FAILED"
    assert f"unit ({bad.value})" in refused.value.message and refused.value.metadata["run_id"] == "0" * 20


def test_an_unfinished_gate_run_is_pending_and_a_started_one_says_how_to_follow_it() -> None:
    with pytest.raises(GateClosed) as pending:
        check_gate_run("main", SOURCE, ("unit",), _run({"unit": Verdict.PASSED}, final=False))
    assert pending.value.reason == "GATE_PENDING"
    assert f"trellis watch REPOSITORY {'0' * 20}" in pending.value.message
    started = gate_started("main", SOURCE, ("unit",), "1" * 20, repository="demo")
    # The hint is a command that runs as printed: `trellis watch` takes the repository first.
    assert started.reason == "GATE_PENDING" and f"(trellis watch demo {'1' * 20})" in started.message
    with pytest.raises(GateClosed) as pending:
        check_gate_run("main", SOURCE, ("unit",), _run({"unit": Verdict.PASSED}, final=False), repository="demo")
    assert f"trellis watch demo {'0' * 20}" in pending.value.message


# -- the gate over a real store (a test double of the executor only) ------------------------------

GATED = '[stages.lint]\nrun = "lint"\n\n[protect.main]\nrequired = ["lint"]\n'


def test_a_protected_branch_starts_a_gate_run_then_lets_the_source_in(
    verifier: Verifier, repo: Repo, executor: FakeExecutor
) -> None:
    repo.commit({"trellis.toml": GATED})
    source = _topic(repo)
    assert verifier.required_stages(repo.name, "main") == ("lint",)
    with pytest.raises(GateClosed) as pending:
        verifier.check_gate(repo.name, "main", "topic")
    assert pending.value.reason == "GATE_PENDING"
    run_id = pending.value.metadata["run_id"]
    gate_run = verifier.wait(repo.name, run_id, 30)
    assert (gate_run.trigger, gate_run.branch, gate_run.commit_id, gate_run.verdict) == (
        "gate",
        "main",
        source,
        Verdict.PASSED,
    )
    verifier.check_gate(repo.name, "main", "topic")  # passed: no refusal
    assert len(executor.requests) == 1
    with pytest.raises(GateClosed) as direct:
        verifier.check_direct_write(repo.name, "main")
    assert direct.value.reason == "PROTECTED_BRANCH"


def test_an_unprotected_branch_needs_nothing(verifier: Verifier, repo: Repo) -> None:
    repo.commit({"trellis.toml": '[stages.lint]\nrun = "lint"\n'})
    assert verifier.required_stages(repo.name, "main") == ()
    verifier.check_gate(repo.name, "main", _topic(repo))
    verifier.check_direct_write(repo.name, "main")


def test_a_source_with_an_invalid_pipeline_fails_its_gate_at_once(verifier: Verifier, repo: Repo) -> None:
    repo.commit({"trellis.toml": GATED})
    _topic(repo, {"trellis.toml": "[stages.lint]\nkind = 'nope'\n"})
    with pytest.raises(GateClosed) as failed:
        verifier.check_gate(repo.name, "main", "topic")
    assert failed.value.reason == "GATE_FAILED" and "its pipeline is invalid" in str(failed.value)


def _topic(repo: Repo, files: dict[str, str | None] | None = None) -> str:
    """A branch ``topic`` from main's head with one more commit; its id."""
    repo.store.create_branch(repo.name, "topic", "main")
    return repo.commit(files or {"a.py": "x = 1\n"}, branch="topic")
