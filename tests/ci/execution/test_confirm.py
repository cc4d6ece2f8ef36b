"""A subset's failures confirmed after their collection prefix: a test that fails only because the tests pytest
runs before it did not run is order-dependent (a pass, named), a real fault still fails, fail_fast runs the rest."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from pathlib import Path

import pytest

from trellis.ci.execution import LocalExecutor
from trellis.ci.execution.confirm import confirm_failures, is_subset, prefix_seconds
from trellis.ci.execution.history import TestTimes
from trellis.ci.execution.jobs import JobLimits, JobOutcome, JobRequest, TestPlan
from trellis.ci.execution.shards import submit_tests

from .test_workspace import GitRepo

LIMITS = JobLimits(timeout_s=120, cpu_s=120, memory_bytes=512 << 20, processes=64, output_bytes=256 << 10)

# test_b passes only once test_a imported pkg.sub (in the test, as click's tests import click._termui_impl) (an attribute of pkg only then); test_d only once test_c set a
# module global; test_e is independent of the order.
ORDER: dict[str, bytes | tuple[str, bytes] | None] = {
    "pkg/__init__.py": b"",
    "pkg/sub.py": b"def value():\n    return 1\n\n\ndef double(x):\n    return 2 * x\n",
    "pkg/state.py": b"READY = False\n",
    "tests/test_a.py": b"def test_a():\n    import pkg.sub\n\n    assert pkg.sub.value() == 1\n",
    "tests/test_b.py": b"import pkg\n\n\ndef test_b():\n    assert pkg.sub.double(2) == 4\n",
    "tests/test_c.py": b"from pkg import state\n\n\ndef test_c():\n    state.READY = True\n",
    "tests/test_d.py": b"from pkg import state\n\n\ndef test_d():\n    assert state.READY\n",
    "tests/test_e.py": b"def test_e():\n    import pkg.sub\n\n    assert pkg.sub.double(1) == 2\n",
}
ALL = ("tests/test_a.py::test_a", "tests/test_b.py::test_b", "tests/test_c.py::test_c", "tests/test_d.py::test_d")
PASSED_BEFORE = tuple((t, 0.01) for t in (*ALL, "tests/test_e.py::test_e"))  # recorded: each passed in a full run


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    with tempfile.TemporaryDirectory(prefix="trellis-confirm-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=2) as local:
            yield local


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return GitRepo(tmp_path_factory.mktemp("order") / "repo")


def _tree(repo: GitRepo, changes: dict[str, bytes | tuple[str, bytes] | None] | None = None) -> str:
    """ORDER with ``changes``, whatever an earlier test committed."""
    return repo.commit({**ORDER, "tests/test_cc.py": None, "tests/test_f.py": None, **(changes or {})})


def _request(repo: GitRepo, tree: str, plan: TestPlan, job_id: str) -> JobRequest:
    return JobRequest(job_id, str(repo.path), tree, kind="pytest", pytest_args=("-q",), limits=LIMITS, tests=plan)


def _confirmed(
    executor: LocalExecutor, repo: GitRepo, tree: str, plan: TestPlan, job_id: str, *, budget_s: float = 60.0
) -> JobOutcome:
    request = _request(repo, tree, plan, job_id)
    first = submit_tests(executor, request, shards=1)
    return confirm_failures(
        lambda r, n: submit_tests(executor, r, shards=n),
        request,
        first,
        shards=1,
        expected=dict(PASSED_BEFORE),
        budget_s=budget_s,
    ).result(timeout=300)


def _results(outcome: JobOutcome) -> dict[str, str]:
    return {t.nodeid: t.outcome for t in outcome.tests}


def test_until_runs_the_collection_prefix_of_a_test_and_nothing_after_it(
    executor: LocalExecutor, repo: GitRepo
) -> None:
    tree = _tree(repo)
    plan = TestPlan(until=("tests/test_b.py::test_b",))
    outcome = submit_tests(executor, _request(repo, tree, plan, "until"), shards=1).result(timeout=300)
    assert _results(outcome) == {"tests/test_a.py::test_a": "passed", "tests/test_b.py::test_b": "passed"}


def test_a_test_that_passes_only_after_its_prefix_is_order_dependent_not_failed(
    executor: LocalExecutor, repo: GitRepo
) -> None:
    tree = _tree(repo)
    plan = TestPlan(only=("tests/test_b.py::test_b", "tests/test_d.py::test_d", "tests/test_e.py::test_e"))
    alone = submit_tests(executor, _request(repo, tree, plan, "alone"), shards=1).result(timeout=300)
    assert _results(alone)["tests/test_b.py::test_b"] == "failed" and alone.status == "failed"  # what it was

    outcome = _confirmed(executor, repo, tree, plan, "subset")
    assert outcome.status == "passed" and outcome.exit_code == 0, outcome.output.decode()
    assert _results(outcome) == dict.fromkeys(plan.only or (), "passed")
    assert outcome.order_dependent == (("tests/test_b.py::test_b", 1), ("tests/test_d.py::test_d", 3))
    by_id = {t.nodeid: t for t in outcome.tests}
    assert by_id["tests/test_b.py::test_b"].message.startswith(
        "order-dependent: fails without the 1 test collected before it"
    )
    assert "AttributeError" in by_id["tests/test_b.py::test_b"].message  # the failure alone, kept
    assert outcome.summary == (
        "3 passed; 2 order-dependent: tests/test_b.py::test_b fails without the 1 test collected before it, "
        "tests/test_d.py::test_d fails without the 3 tests collected before it"
    )
    assert by_id["tests/test_e.py::test_e"].message == ""


def test_a_real_fault_fails_alone_and_after_its_prefix(executor: LocalExecutor, repo: GitRepo) -> None:
    tree = _tree(repo, {"pkg/sub.py": b"def value():\n    return 1\n\n\ndef double(x):\n    return 3 * x\n"})
    plan = TestPlan(only=("tests/test_b.py::test_b", "tests/test_e.py::test_e"))
    outcome = _confirmed(executor, repo, tree, plan, "fault")
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert _results(outcome) == {"tests/test_b.py::test_b": "failed", "tests/test_e.py::test_e": "failed"}
    assert outcome.order_dependent == () and "order-dependent" not in outcome.summary
    assert b"the failures after their collection prefix" in outcome.output


def test_fail_fast_runs_the_rest_of_the_selection_after_an_order_dependent_stop(
    executor: LocalExecutor, repo: GitRepo
) -> None:
    tree = _tree(repo, {"tests/test_e.py": b"def test_e():\n    assert False, 'broken'\n"})
    plan = TestPlan(only=("tests/test_b.py::test_b", "tests/test_e.py::test_e"), fail_fast=True)
    outcome = _confirmed(executor, repo, tree, plan, "ff")
    assert _results(outcome) == {"tests/test_b.py::test_b": "passed", "tests/test_e.py::test_e": "failed"}
    assert outcome.order_dependent == (("tests/test_b.py::test_b", 1),)
    assert outcome.status == "failed" and outcome.exit_code == 1  # the real failure after it is not hidden


def test_failures_over_the_budget_or_never_passed_stand(executor: LocalExecutor, repo: GitRepo) -> None:
    tree = _tree(repo)
    plan = TestPlan(only=("tests/test_b.py::test_b",))
    over = _confirmed(executor, repo, tree, plan, "budget", budget_s=0.001)
    assert over.status == "failed" and over.order_dependent == ()
    assert "not confirmed after their prefix" in over.summary
    new = _tree(repo, {"tests/test_f.py": b"import pkg\n\n\ndef test_f():\n    assert pkg.sub.value()\n"})
    never = _confirmed(executor, repo, new, TestPlan(only=("tests/test_f.py::test_f",)), "new")
    assert never.status == "failed" and never.order_dependent == ()  # no recorded pass: nothing to blame


def test_what_counts_as_a_subset_and_the_prefix_cost() -> None:
    assert not is_subset(None) and not is_subset(TestPlan())
    assert is_subset(TestPlan(only=())) and is_subset(TestPlan(reused=("t.py::x",)))
    assert is_subset(TestPlan(), 2)  # each shard runs part of the collection
    expected = {"tests/a.py::x": 1.0, "tests/b/c.py::y": 2.0, "tests/b/c.py::z": 4.0, "tests/d.py::w": 8.0}
    assert prefix_seconds("tests/b/c.py::y", expected) == 7.0
    assert prefix_seconds("tests/a.py::x", expected) == 1.0


def test_a_subset_test_failing_after_its_prefix_is_failed_as_the_whole_run_fails_it(
    executor: LocalExecutor, repo: GitRepo
) -> None:
    # test_cc passes alone and fails once test_c set the global: found on the way, where a confirmation runs.
    cc = b"from pkg import state\n\n\ndef test_cc():\n    assert not state.READY\n"
    tree = _tree(repo, {"tests/test_cc.py": cc})
    plan = TestPlan(only=("tests/test_cc.py::test_cc", "tests/test_d.py::test_d"))
    outcome = _confirmed(executor, repo, tree, plan, "reverse")
    assert _results(outcome) == {"tests/test_cc.py::test_cc": "failed", "tests/test_d.py::test_d": "passed"}
    assert outcome.status == "failed" and outcome.order_dependent == (("tests/test_d.py::test_d", 4),)
    by_id = {t.nodeid: t for t in outcome.tests}
    assert by_id["tests/test_cc.py::test_cc"].message.startswith(
        "order-dependent: passes alone, fails after the 3 tests collected before it"
    )
    assert "1 failing after the tests collected before them: tests/test_cc.py::test_cc passes alone" in outcome.summary


def test_cancelling_the_job_cancels_its_confirmation(executor: LocalExecutor, repo: GitRepo) -> None:
    slow = b"import time\n\n\ndef test_a():\n    import pkg.sub\n\n    time.sleep(60)\n"
    tree = _tree(repo, {"tests/test_a.py": slow})
    request = _request(repo, tree, TestPlan(only=("tests/test_b.py::test_b",)), "cancel")
    submitted: list[Future[JobOutcome]] = []

    def submit(r: JobRequest, n: int) -> Future[JobOutcome]:
        submitted.append(submit_tests(executor, r, shards=n))
        return submitted[-1]

    result = confirm_failures(submit, request, submit(request, 1), shards=1, expected=dict(PASSED_BEFORE))
    deadline = time.monotonic() + 120
    while len(submitted) < 2 and time.monotonic() < deadline:  # the prefix job, sleeping in test_a
        time.sleep(0.1)
    assert len(submitted) == 2 and not result.done()
    started = time.monotonic()
    assert result.cancel()
    assert submitted[1].cancelled()
    with pytest.raises(CancelledError):
        submitted[1].result(timeout=30)
    assert time.monotonic() - started < 30


def test_every_failing_item_of_a_parametrised_test_is_confirmed_in_one_prefix_run(
    executor: LocalExecutor, repo: GitRepo
) -> None:
    many = b"import pytest\n\nimport pkg\n\n\n@pytest.mark.parametrize('k', range(40))\ndef test_b(k):\n"
    many += b"    assert pkg.sub.double(k) == 2 * k\n"
    tree = _tree(repo, {"tests/test_b.py": many})  # click's test_echo_via_pager is 61 items
    outcome = _confirmed(executor, repo, tree, TestPlan(only=("tests/test_b.py::test_b",)), "many")
    assert outcome.status == "passed" and len(outcome.tests) == 40, outcome.summary
    assert "40 order-dependent: " in outcome.summary and "and 37 more" in outcome.summary
    assert len(outcome.order_dependent) == 40 and outcome.output.count(b"the failures after their collection") == 1


def test_a_shard_runs_a_subset_too(executor: LocalExecutor, repo: GitRepo) -> None:
    # Whole suite, two shards: balanced by equal durations, test_b and test_d go where test_a and test_c do not.
    tree = _tree(repo)
    plan = TestPlan(expected=tuple((t, 1.0) for t, _ in PASSED_BEFORE))
    sharded = submit_tests(executor, _request(repo, tree, plan, "shards"), shards=2).result(timeout=300)
    assert _results(sharded)["tests/test_b.py::test_b"] == "failed"  # what it was
    assert is_subset(plan, 2)
    request = _request(repo, tree, plan, "shards-confirmed")
    outcome = confirm_failures(
        lambda r, n: submit_tests(executor, r, shards=n),
        request,
        submit_tests(executor, request, shards=2),
        shards=2,
        expected=dict(PASSED_BEFORE),
    ).result(timeout=300)
    assert outcome.status == "passed" and set(_results(outcome).values()) == {"passed"}, outcome.summary
    assert [t for t, _ in outcome.order_dependent] == ["tests/test_b.py::test_b", "tests/test_d.py::test_d"]


def test_the_tests_an_order_dependent_test_needs_are_narrowed_once_and_run_alone_next_time(
    executor: LocalExecutor, repo: GitRepo, tmp_path: Path
) -> None:
    # test_d needs one test of test_c.py (it sets a module global), not test_a, test_b nor test_c.py's others: its
    # whole prefix is 6 tests, what it needs 1. Its files are bisected, then the one file left test by test.
    c = b"from pkg import state\n\n\ndef test_c1():\n    pass\n\n\ndef test_c2():\n    pass\n\n\n"
    c += b"def test_c():\n    state.READY = True\n\n\ndef test_c4():\n    pass\n"
    d = b"import pytest\n\nfrom pkg import state\n\n\n@pytest.mark.parametrize('k', range(2))\n"
    d += b"def test_d(k):\n    assert state.READY\n"
    tree = _tree(repo, {"tests/test_c.py": c, "tests/test_d.py": d})
    times = TestTimes(tmp_path)  # where the engine keeps them, per repository and stage definition
    prefixes: list[JobOutcome] = []

    def confirmed(job_id: str, item: str) -> JobOutcome:
        request = _request(repo, tree, TestPlan(only=(item,)), job_id)

        def submit(r: JobRequest, n: int) -> Future[JobOutcome]:
            future = submit_tests(executor, r, shards=n)
            if r.tests is not None and r.tests.until is not None and "-narrow" not in r.job_id:
                prefixes.append(future.result(timeout=300))  # a confirmation (not a narrowing run)
            return future

        return confirm_failures(
            submit,
            request,
            submit_tests(executor, request, shards=1),
            shards=1,
            expected=dict(PASSED_BEFORE),
            needs=times.needs("repo", "stage"),
            remember=lambda learned: times.remember_needs("repo", "stage", learned),
        ).result(timeout=300)

    first = confirmed("learn", "tests/test_d.py::test_d[0]")
    assert first.status == "passed" and first.order_dependent == (("tests/test_d.py::test_d[0]", 6),), first.summary
    assert len(prefixes[-1].tests) == 7  # the whole prefix
    assert "narrowed in 7 runs" in first.summary
    needs = ("tests/test_c.py::test_c",)
    learned = {"tests/test_d.py::test_d[0]": needs, "tests/test_d.py::test_d": needs}  # the item, its test
    assert TestTimes(tmp_path).needs("repo", "stage") == learned
    assert TestTimes(tmp_path).needs("repo", "other stage") == {}

    # Another item of the test fails alone next time: only what the test needed runs before it.
    second = confirmed("known", "tests/test_d.py::test_d[1]")
    assert second.status == "passed" and second.order_dependent == (("tests/test_d.py::test_d[1]", 1),), second.summary
    assert len(prefixes) == 2 and _results(prefixes[-1]) == {
        "tests/test_c.py::test_c": "passed",
        "tests/test_d.py::test_d[1]": "passed",
    }
    assert "narrowed" not in second.summary


def test_a_test_that_fails_after_what_it_needed_is_confirmed_after_its_whole_prefix(
    executor: LocalExecutor, repo: GitRepo
) -> None:
    stale = {"tests/test_d.py::test_d": ("tests/test_a.py::test_a",)}  # learned on an older tree
    learned: dict[str, tuple[str, ...]] = {}
    for job_id, tree in (
        ("stale", _tree(repo)),
        ("stale-fault", _tree(repo, {"tests/test_d.py": b"def test_d():\n    assert False, 'broken'\n"})),
    ):
        request = _request(repo, tree, TestPlan(only=("tests/test_d.py::test_d",)), job_id)
        outcome = confirm_failures(
            lambda r, n: submit_tests(executor, r, shards=n),
            request,
            submit_tests(executor, request, shards=1),
            shards=1,
            expected=dict(PASSED_BEFORE),
            needs=learned or stale,
            remember=learned.update,
        ).result(timeout=300)
        if job_id == "stale":  # fails after test_a, passes after its whole prefix: narrowed again
            assert outcome.status == "passed" and outcome.order_dependent == (("tests/test_d.py::test_d", 3),)
            assert learned == {"tests/test_d.py::test_d": ("tests/test_c.py::test_c",)}
        else:  # a real fault fails after what it needs and after its whole prefix
            assert outcome.status == "failed" and outcome.order_dependent == ()
            assert outcome.output.count(b"the failures after their collection prefix") == 2
