"""Pytest jobs split into shards on real executors: the same results as one process, per-test timeouts
that stop a hanging test (also one that swallows the timeout) while the rest goes on, fail-fast."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trellis.ci.execution import LocalExecutor, pytest_plugin
from trellis.ci.execution.jobs import JobLimits, JobOutcome, JobRequest, TestPlan
from trellis.ci.execution.pytest_plugin import assign, plan_files, shard_part, split_keys
from trellis.ci.execution.shards import HARD_EXIT, ITEM_OVERHEAD_S, shard_count, submit_tests

from .test_workspace import GitRepo

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:google.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:ray.*"),
    pytest.mark.filterwarnings("ignore:.*unclosed.*:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

LIMITS = JobLimits(timeout_s=120, cpu_s=120, memory_bytes=512 << 20, processes=64, output_bytes=256 << 10)


def _module(n: int) -> bytes:
    return f"""\
import pytest

import lib


@pytest.fixture(scope="module")
def base():
    return {n}


def test_double_{n}(base):
    assert lib.double(base) == 2 * base


@pytest.mark.parametrize("k", [1, 2, 3])
def test_param_{n}(base, k):
    assert lib.double(k) == k + k


class TestGroup{n}:
    def test_in_class(self, base):
        assert base == {n}

    def test_odd(self, base):
        assert base % 2 == 0, "odd base"
""".encode()


PROJECT: dict[str, bytes | tuple[str, bytes] | None] = {
    "lib.py": b"def double(x):\n    return 2 * x\n",
    "pytest.ini": b"[pytest]\naddopts = --doctest-modules\n",
    "docs_lib.py": b'def triple(x):\n    """\n    >>> triple(2)\n    6\n    """\n    return 3 * x\n',
    **{f"tests/test_m{n}.py": _module(n) for n in range(6)},
}

HANGING: dict[str, bytes | tuple[str, bytes] | None] = {
    "tests/test_hang.py": b"""\
import time


def test_before():
    pass


def test_hangs():
    while True:
        time.sleep(0.05)


def test_swallows_the_timeout():
    while True:
        try:
            time.sleep(0.05)
        except BaseException:
            pass


def test_after():
    pass
""",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[GitRepo, str]:
    repo = GitRepo(tmp_path_factory.mktemp("sharded") / "repo")
    return repo, repo.commit(PROJECT)


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    with tempfile.TemporaryDirectory(prefix="trellis-shards-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=2) as local:
            yield local


def request(project: tuple[GitRepo, str], plan: TestPlan, job_id: str = "unit") -> JobRequest:
    repo, tree = project
    return JobRequest(job_id, str(repo.path), tree, kind="pytest", pytest_args=("-q",), limits=LIMITS, tests=plan)


def results(outcome: JobOutcome) -> list[tuple[str, str]]:
    return [(t.nodeid, t.outcome) for t in outcome.tests]


def test_sharded_results_equal_one_process(project: tuple[GitRepo, str], executor: LocalExecutor) -> None:
    whole = submit_tests(executor, request(project, TestPlan(), "whole"), shards=1).result(timeout=300)
    seen: list[tuple[int, str]] = []
    sharded = submit_tests(
        executor,
        request(project, TestPlan(expected=(("tests/test_m0.py::test_double_0", 2.0),)), "sharded"),
        shards=3,
        on_shard=lambda outcome, k, n: seen.append((k, outcome.summary)),
    ).result(timeout=300)
    assert results(whole) == results(sharded)
    assert len(whole.tests) == 6 * 6 + 1 and ("docs_lib.py::docs_lib.triple", "passed") in results(whole)
    assert whole.summary == sharded.summary == "34 passed, 3 failed"
    assert (whole.status, whole.exit_code) == (sharded.status, sharded.exit_code) == ("failed", 1)
    assert sorted(k for k, _ in seen) == [0, 1, 2]  # each shard reported as it finished
    assert sharded.collected == whole.collected == 37 and sharded.collection


def _two_shards(
    executor: LocalExecutor, project: tuple[GitRepo, str], expected: tuple[tuple[str, float], ...], job_id: str
) -> tuple[JobOutcome, list[JobOutcome]]:
    """The merged outcome of a job run in two shards, and each shard's own outcome."""
    parts: list[JobOutcome] = []
    sharded = submit_tests(
        executor,
        request(project, TestPlan(expected=expected), job_id),
        shards=2,
        on_shard=lambda outcome, k, n: parts.append(outcome),
    ).result(timeout=300)
    return sharded, parts


def test_shards_collect_only_their_own_files_once_durations_are_recorded(
    project: tuple[GitRepo, str], executor: LocalExecutor
) -> None:
    whole = submit_tests(executor, request(project, TestPlan(), "whole-again"), shards=1).result(timeout=300)
    expected = tuple((t.nodeid, 0.1 if "m5" not in t.nodeid else 0.0) for t in whole.tests if "m4" not in t.nodeid)
    sharded, parts = _two_shards(executor, project, expected, "by-file")
    assert results(sharded) == results(whole)  # the same tests, outcomes and order as one process
    # tests/test_m4.py has no recorded test: both shards collect it (and agree on it); each of the
    # others, doctest module included, is collected by one shard only.
    assert sorted(p.collected for p in parts) != [37, 37] and sum(p.collected for p in parts) == 37 + 6
    assert len({p.collection for p in parts}) == 1


SPECS: dict[str, bytes | tuple[str, bytes] | None] = {
    # A project's own collector (as YAML test suites do): items of .spec files, made by a conftest hook.
    "conftest.py": b"""\
import pytest


class SpecFile(pytest.File):
    def collect(self):
        for line in self.path.read_text().splitlines():
            name, _, value = line.partition("=")
            yield SpecItem.from_parent(self, name=name.strip(), value=value.strip())


class SpecItem(pytest.Item):
    def __init__(self, *, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def runtest(self):
        assert self.value == "ok", self.value


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".spec":
        return SpecFile.from_parent(parent, path=file_path)
""",
    **{
        f"specs/s{n}.spec": "\n".join(f"case{k} = {'ok' if (n, k) != (2, 1) else 'bad'}" for k in range(3)).encode()
        for n in range(4)
    },
    **{f"tests/test_m{n}.py": _module(n) for n in range(3)},
    "lib.py": b"def double(x):\n    return 2 * x\n",
}


def test_a_projects_own_collectors_items_go_with_their_file(tmp_path: Path, executor: LocalExecutor) -> None:
    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit(SPECS))
    whole = submit_tests(executor, request(project, TestPlan(), "specs-whole"), shards=1).result(timeout=300)
    assert sum(1 for t in whole.tests if ".spec::" in t.nodeid) == 12
    expected = tuple((t.nodeid, 0.05) for t in whole.tests)
    sharded, parts = _two_shards(executor, project, expected, "specs-sharded")
    assert results(sharded) == results(whole)
    assert ("specs/s2.spec::case1", "failed") in results(sharded)
    assert sum(p.collected for p in parts) == whole.collected  # every file collected by one shard


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 9)), unique=True, max_size=50),
    st.integers(1, 5),
    st.dictionaries(st.integers(0, 49), st.floats(0, 30), max_size=40),
    st.sets(st.integers(0, 6), max_size=2),
)
# Three durations of one file, summed in another order, rounded differently: the plan must not depend on the order.
@example(
    [(2, 0), (0, 0), (0, 1), (0, 2), (1, 0), (2, 1)], 1, {0: 1.6188355778759527, 1: 6.0, 5: 4.3395006031062975}, set()
)
def test_files_and_shared_items_give_every_item_to_exactly_one_shard(
    items: list[tuple[int, int]], shards: int, known: dict[int, float], stale: set[int]
) -> None:
    nodeids = [f"tests/test_{m}.py::test_{t}" for m, t in items]
    # Recorded durations: some of the items, and tests of files that are gone now (``stale``).
    expected = {nodeids[i]: s for i, s in known.items() if i < len(nodeids)}
    expected.update({f"tests/gone_{m}.py::test_x": 1.0 for m in stale})
    owner_of, load = plan_files(expected, shards)
    assert plan_files(dict(reversed(expected.items())), shards) == (owner_of, load)  # the same in every shard
    runs: list[set[str]] = []
    for k in range(shards):
        collected = [(n, owner_of.get(n.split("::")[0])) for n in nodeids]
        collected = [(n, o) for n, o in collected if o is None or o == k]  # what shard k collects
        runs.append(shard_part(collected, shards, k, expected, load))
    assert sorted(n for part in runs for n in part) == sorted(nodeids)


def test_plan_files_keeps_large_new_and_package_files_shared() -> None:
    expected = {
        "tests/test_big.py::test_a": 10.0,
        "tests/test_big.py::test_b": 10.0,
        "tests/test_s1.py::test_a": 3.0,
        "tests/test_s2.py::test_a": 2.0,
        "tests/test_s3.py::test_a": 1.0,
        "tests/conftest.py::test_in_conftest": 1.0,
        "pkg/__init__.py::pkg": 1.0,
    }
    owner_of, load = plan_files(expected, 2)
    assert owner_of == {"tests/test_s1.py": 0, "tests/test_s2.py": 1, "tests/test_s3.py": 1}
    assert load == [pytest.approx(3.0 + ITEM_OVERHEAD_S), pytest.approx(3.0 + 2 * ITEM_OVERHEAD_S)]
    assert plan_files({}, 2) == ({}, [0.0, 0.0])


def test_a_hanging_test_times_out_and_the_rest_of_the_shard_goes_on(tmp_path: Path, executor: LocalExecutor) -> None:
    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit(HANGING))
    plan = TestPlan(timeouts=(("tests/test_hang.py::test_hangs", 1.0),), default_timeout_s=1.5)
    outcome = submit_tests(executor, request(project, plan), shards=1).result(timeout=300)
    assert results(outcome) == [
        ("tests/test_hang.py::test_before", "passed"),
        ("tests/test_hang.py::test_hangs", "failed"),
        ("tests/test_hang.py::test_swallows_the_timeout", "failed"),
        ("tests/test_hang.py::test_after", "passed"),
    ], outcome.output.decode()
    by_id = {t.nodeid: t for t in outcome.tests}
    assert by_id["tests/test_hang.py::test_hangs"].message == "timed out after 1 s"
    swallowed = by_id["tests/test_hang.py::test_swallows_the_timeout"].message
    assert swallowed.startswith("timed out after 1.5 s") and "killed" in swallowed  # the watchdog, then a re-run
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "tests/test_hang.py::test_hangs timed out after 1 s" in outcome.summary


def test_fail_fast_stops_at_the_first_failure(project: tuple[GitRepo, str], executor: LocalExecutor) -> None:
    outcome = submit_tests(executor, request(project, TestPlan(fail_fast=True), "ff"), shards=2).result(timeout=300)
    failed = [t for t in outcome.tests if t.outcome == "failed"]
    assert failed and len(outcome.tests) < 37
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.reason is not None and "fail_fast" in outcome.reason


def test_the_ray_executor_runs_shards_with_the_same_results(
    ray_instance: object, project: tuple[GitRepo, str], executor: LocalExecutor, tmp_path: Path
) -> None:
    from trellis.ci.execution import RayExecutor

    ray = RayExecutor(workspace_root=str(tmp_path / "ray"), ship_trees=False)
    try:
        remote = submit_tests(ray, request(project, TestPlan(), "ray"), shards=2).result(timeout=300)
    finally:
        ray.close()
    local = submit_tests(executor, request(project, TestPlan(), "local"), shards=1).result(timeout=300)
    assert results(remote) == results(local)
    assert all(part.startswith("ray:") for part in remote.executor.split(","))


def test_load_tests_items_shard_select_and_reuse_like_the_others(tmp_path: Path, executor: LocalExecutor) -> None:
    from tests.ci.selection.test_load_tests import PROJECT as UNITTEST

    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit({p: t.encode() for p, t in UNITTEST.items()}))
    plain = submit_tests(executor, request(project, TestPlan(), "plain"), shards=1).result(timeout=300)
    assert plain.collected == 2  # pytest alone: the two TestCase methods
    whole = submit_tests(executor, request(project, TestPlan(load_tests=True), "lt"), shards=1).result(timeout=300)
    sharded = submit_tests(executor, request(project, TestPlan(load_tests=True), "lt2"), shards=2).result(timeout=300)
    assert whole.collected == sharded.collected == 6 and whole.collection == sharded.collection
    assert results(whole) == results(sharded) and whole.status == "passed"
    doctests = [
        "tests/test_text.py::load_tests::pkg.text.clean",
        "tests/test_text.py::load_tests::pkg.text.shout",
        "tests/test_text.py::load_tests::pkg.text.slug",
    ]
    only = TestPlan(load_tests=True, only=("tests/test_text.py::load_tests",))
    assert [
        t.nodeid for t in submit_tests(executor, request(project, only, "only")).result(timeout=300).tests
    ] == doctests
    reused = TestPlan(load_tests=True, reused=("tests/test_text.py::load_tests",))
    left = submit_tests(executor, request(project, reused, "reused")).result(timeout=300)
    assert not {t.nodeid for t in left.tests} & set(doctests) and len(left.tests) == 3


OUTCOMES = {
    "cases.py": b"""\
import unittest


class Outcomes(unittest.TestCase):
    def test_pass(self):
        pass

    def test_skip(self):
        self.skipTest("not here")

    @unittest.expectedFailure
    def test_xfail(self):
        self.assertEqual(1, 2)

    @unittest.expectedFailure
    def test_xpass(self):
        pass

    def test_sub(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)

    def test_error(self):
        raise ValueError("broken")
""",
    "test_outcomes.py": b"import cases\n\n\ndef load_tests(loader, tests, pattern):\n"
    b"    tests.addTests(loader.loadTestsFromTestCase(cases.Outcomes))\n    return tests\n",
}


def test_load_tests_items_report_as_unittest_does(tmp_path: Path, executor: LocalExecutor) -> None:
    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit(OUTCOMES))
    outcome = submit_tests(executor, request(project, TestPlan(load_tests=True), "outcomes")).result(timeout=300)
    by_id = {t.nodeid.rpartition(".")[2]: (t.outcome, t.message) for t in outcome.tests}
    assert {k: v[0] for k, v in by_id.items()} == {
        "test_error": "failed",
        "test_pass": "passed",
        "test_skip": "skipped",
        "test_sub": "failed",
        "test_xfail": "skipped",
        "test_xpass": "failed",
    }, outcome.output.decode()
    assert by_id["test_skip"][1] == "not here" and by_id["test_xfail"][1] == "expected failure: AssertionError: 1 != 2"
    assert "ValueError: broken" in by_id["test_error"][1] and "(i=2)" in by_id["test_sub"][1]
    assert by_id["test_xpass"][1].startswith("unexpected success")


def test_a_test_module_that_does_not_import_is_pytests_collection_error(
    tmp_path: Path, executor: LocalExecutor
) -> None:
    repo = GitRepo(tmp_path / "repo")
    broken = b"import not_a_module\n\n\ndef load_tests(loader, tests, pattern):\n    return tests\n"
    project = (repo, repo.commit({"test_broken.py": broken, "test_ok.py": b"def test_ok():\n    pass\n"}))
    outcome = submit_tests(executor, request(project, TestPlan(load_tests=True), "broken")).result(timeout=300)
    output = outcome.output.decode()
    assert "INTERNALERROR" not in output and "not_a_module" in output, output
    # pytest's own collection error, of the module's path; the job goes on with the other modules (exit 1, not 2)
    assert {t.nodeid: t.outcome for t in outcome.tests}.get("test_broken.py") == "error", output
    assert outcome.exit_code == 1, output


UNSTABLE_IDS: dict[str, bytes | tuple[str, bytes] | None] = {
    # Parameter ids that are not the same in every process: a time, the order of a set of strings (the hash
    # seed: the same in the warm runner's forks, not in a cold start or another host's worker). pytest-xdist refuses such a suite ("Different tests were collected"); one
    # process runs it, and so must the shards, each item once.
    "tests/test_unstable.py": b"""\
import time

import pytest

WORDS = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"}


@pytest.mark.parametrize("when", [time.time_ns(), time.perf_counter_ns(), 3])
def test_at(when):
    assert when


@pytest.mark.parametrize("word", WORDS)
def test_word(word):
    assert word in WORDS


@pytest.mark.parametrize("k", range(6))
def test_k(k):
    assert k < 6
""",
}


def test_shards_split_alike_when_parameter_ids_differ_between_processes(
    tmp_path: Path, executor: LocalExecutor
) -> None:
    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit(UNSTABLE_IDS))
    whole = submit_tests(executor, request(project, TestPlan(), "unstable-whole"), shards=1).result(timeout=300)
    assert (whole.status, whole.summary) == ("passed", "19 passed")
    sharded, parts = _two_shards(executor, project, (), "unstable-sharded")
    assert (sharded.status, sharded.exit_code, sharded.summary) == ("passed", 0, "19 passed"), sharded.reason
    assert len(parts) == 2 and all(p.tests for p in parts) and len({p.collection for p in parts}) == 1
    words = sorted(t.nodeid for t in sharded.tests if "test_word" in t.nodeid)
    assert words == sorted(t.nodeid for t in whole.tests if "test_word" in t.nodeid)  # each word once


def test_split_keys_number_the_parametrisations_of_each_test() -> None:
    ids = ["a.py::t[x]", "a.py::t[y]", "a.py::u", "a.py::C::t[0]", "b.py::t[x]", "a.py::t[z-1]", "b.py::d"]
    assert split_keys(ids) == [
        "a.py::t[#0]",
        "a.py::t[#1]",
        "a.py::u",
        "a.py::C::t[#0]",
        "b.py::t[#0]",
        "a.py::t[#2]",
        "b.py::d",
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9)), unique=True, max_size=40),
    st.integers(1, 6),
    st.dictionaries(st.integers(0, 39), st.floats(0, 30), max_size=20),
)
def test_every_item_goes_to_exactly_one_shard_and_the_split_is_deterministic(
    items: list[tuple[int, int]], shards: int, known: dict[int, float]
) -> None:
    nodeids = [f"tests/test_{m}.py::test_{t}" for m, t in items]
    expected = {nodeids[i]: s for i, s in known.items() if i < len(nodeids)}
    owner = assign(nodeids, shards, expected)
    assert len(owner) == len(nodeids) and all(0 <= s < shards for s in owner)
    assert assign(list(nodeids), shards, dict(expected)) == owner


def test_the_plugin_and_the_engine_agree_on_the_watchdog_exit_and_the_cost_of_an_item() -> None:
    assert pytest_plugin.HARD_EXIT == HARD_EXIT
    assert pytest_plugin.ITEM_OVERHEAD_S == ITEM_OVERHEAD_S


def test_shard_count() -> None:
    assert shard_count(2, 3, None) == 1  # a few tests: one process
    assert shard_count(2, 100, None) == 2
    assert shard_count(2, 100, 0.1) == 1  # known to be quick: not worth a second process
    # Many quick items: pytest's own work per item is most of the run (the sample project's 716 items, 0.05 s).
    assert shard_count(2, 544, 0.05, items=716) == 2
    assert shard_count(2, 40, 0.05, items=60) == 1
    assert shard_count(4, 100, 60.0) == 4
    assert shard_count(2, 1, None, requested=3) == 3


def test_timeouts_come_from_recorded_durations_once_there_are_enough(tmp_path: Path) -> None:
    from trellis.ci.execution.history import TRUSTED, TestTimes

    times = TestTimes(tmp_path)
    times.record("repo", [("t::quick", "passed", 0.01), ("t::slow", "passed", 4.0), ("t::bad", "failed", 99.0)])
    settings = {"factor": 10.0, "floor_s": 15.0, "default_s": 30.0, "cap_s": 600.0}
    assert times.timeouts("repo", **settings) == {"t::quick": 30.0, "t::slow": 40.0}  # one run: not trusted yet
    for _ in range(TRUSTED - 1):
        times.record("repo", [("t::quick", "passed", 0.01), ("t::slow", "passed", 4.0)])
    assert TestTimes(tmp_path).timeouts("repo", **settings) == {"t::quick": 15.0, "t::slow": 40.0}  # persisted
    assert times.expected("repo") == {"t::quick": 0.01, "t::slow": 4.0}


STREAMED: dict[str, bytes | tuple[str, bytes] | None] = {
    "tests/test_stream.py": b"""\
import os
import time


def test_first():
    pass


def test_waits_for_the_first_to_be_reported():
    go = os.path.join(os.environ["TMPDIR"], "go")
    for _ in range(600):
        if os.path.exists(go):
            return
        time.sleep(0.1)
    raise AssertionError("test_first was not reported while the job ran")
""",
}


def test_results_stream_while_the_job_runs(tmp_path: Path, executor: LocalExecutor) -> None:
    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit(STREAMED))
    seen: list[list[str]] = []

    def progress(tests: tuple[object, ...]) -> None:
        ids = [t.nodeid for t in tests]  # type: ignore[attr-defined]
        seen.append(ids)
        if "tests/test_stream.py::test_first" in ids:  # reported before the job ended: let the other one finish
            for tmp in executor.pool.root.glob("ws-*/.trellis-tmp"):
                (tmp / "go").write_text("")

    outcome = submit_tests(executor, request(project, TestPlan(), "stream"), on_progress=progress).result(timeout=300)
    assert results(outcome) == [
        ("tests/test_stream.py::test_first", "passed"),
        ("tests/test_stream.py::test_waits_for_the_first_to_be_reported", "passed"),
    ]
    assert seen and seen[0] == ["tests/test_stream.py::test_first"]


# A project whose own command skips some test files (conftest collect_ignore, a pytest_ignore_collect
# hook, --ignore in addopts) and whose tests depend on the order of the file: naming the tests on the
# command line would collect the skipped files (pytest collects named paths whatever the ignores say)
# and run named tests in the order named.
OWN_COLLECTION: dict[str, bytes | tuple[str, bytes] | None] = {
    "pytest.ini": b"[pytest]\naddopts = --ignore=tests/test_opt_ignored.py\n",
    "conftest.py": b"""\
import sys

collect_ignore = ["tests/test_future.py"] if sys.version_info < (3, 99) else []


def pytest_ignore_collect(collection_path, config):
    if collection_path.name == "test_hook_ignored.py":
        return True
""",
    "tests/test_future.py": b"def test_needs_a_future_python():\n    assert False, 'collected'\n",
    "tests/test_hook_ignored.py": b"def test_ignored_by_a_hook():\n    assert False, 'collected'\n",
    "tests/test_opt_ignored.py": b"def test_ignored_by_addopts():\n    assert False, 'collected'\n",
    "tests/test_order.py": b"""\
import pytest

SEEN = []


def test_zz_first():
    SEEN.append(1)


@pytest.mark.parametrize("k", [1, 2])
def test_aa_second(k):
    assert SEEN == [1]


def test_unselected():
    pass
""",
    "tests/test_other.py": b"def test_other():\n    pass\n",
}


@pytest.mark.parametrize("shards", [1, 2])
def test_selected_tests_are_kept_from_the_projects_own_collection(
    tmp_path: Path, executor: LocalExecutor, shards: int
) -> None:
    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit(OWN_COLLECTION))
    selected = (
        "tests/test_future.py::test_needs_a_future_python",
        "tests/test_hook_ignored.py::test_ignored_by_a_hook",
        "tests/test_opt_ignored.py::test_ignored_by_addopts",
        "tests/test_order.py::test_aa_second",
        "tests/test_order.py::test_zz_first",
    )
    outcome = submit_tests(executor, request(project, TestPlan(only=selected), f"own-{shards}"), shards=shards).result(
        timeout=300
    )
    # What `pytest` alone collects, less what was not selected, in its order: the ignored files stay out.
    expected = [
        ("tests/test_order.py::test_zz_first", "passed"),
        ("tests/test_order.py::test_aa_second[1]", "passed"),
        ("tests/test_order.py::test_aa_second[2]", "passed"),
    ]
    if shards == 1:
        assert results(outcome) == expected, outcome.output.decode()
        assert outcome.status == "passed"
    else:  # a large module may be split across shards (as pytest-xdist does): order holds within each
        assert [t.nodeid for t in outcome.tests] == [nodeid for nodeid, _ in expected], outcome.output.decode()
    everything = submit_tests(executor, request(project, TestPlan(), f"all-{shards}"), shards=1).result(timeout=300)
    assert {t.nodeid for t in everything.tests} == {t.nodeid for t in outcome.tests} | {
        "tests/test_order.py::test_unselected",
        "tests/test_other.py::test_other",
    }


SEEDED_ORDER: dict[str, bytes | tuple[str, bytes] | None] = {
    # A plugin of the project's environment that orders the tests by a seed it draws in each process unless told
    # one, as pytest-randomly does (its option's dest and default, "randomly_seed" / "default", its shuffle a sort
    # by crc32 of seed and node id): the shards of one job, and a failure's confirmation, must order alike.
    "conftest.py": b"""\
import random
import zlib

import pytest


def pytest_addoption(parser):
    parser.addoption("--randomly-seed", dest="randomly_seed", default="default")


def pytest_configure(config):
    if config.option.randomly_seed == "default":
        config.option.randomly_seed = random.Random().getrandbits(32)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    seed = config.option.randomly_seed
    items.sort(key=lambda item: zlib.crc32(f"{seed}::{item.nodeid}".encode()))
""",
    "tests/test_seeded.py": b"""\
import pytest

RAN = []


@pytest.mark.parametrize("k", range(12))
def test_k(k):
    RAN.append(k)


def test_z_last():
    assert len(RAN) <= 12
""",
}


def test_a_plugin_drawing_its_seed_per_process_gets_one_seed_in_every_shard(
    tmp_path: Path, executor: LocalExecutor
) -> None:
    """pytest-randomly draws its seed in each process: two shards of a job ordered its items differently and split
    them differently (an item in both, another in none: "the shards collected different tests"), and a failure's
    confirmation ran another order than the job's. Every job gives it one seed (pytest_plugin.SEED)."""
    repo = GitRepo(tmp_path / "repo")
    project = (repo, repo.commit(SEEDED_ORDER))
    orders = set()
    for run in range(2):
        whole = submit_tests(executor, request(project, TestPlan(), f"seeded-whole-{run}"), shards=1).result(
            timeout=300
        )
        assert (whole.status, whole.summary) == ("passed", "13 passed"), whole.reason
        orders.add(tuple(t.nodeid for t in sorted(whole.tests, key=lambda t: t.index)))
    assert len(orders) == 1
    sharded, parts = _two_shards(executor, project, (), "seeded-sharded")
    assert (sharded.status, sharded.summary) == ("passed", "13 passed"), sharded.reason
    assert len(parts) == 2 and all(p.tests for p in parts) and len({p.collection for p in parts}) == 1
