"""Executors run real jobs on real trees: in parallel here, as pytest jobs with per-test outcomes,
and on a real local Ray instance with the same outcomes (also for a tree shipped to a node)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from trellis.ci.execution import Executor, LocalExecutor
from trellis.ci.execution.jobs import JobLimits, JobOutcome, JobRequest, TestOutcome, summarize
from trellis.ci.execution.pytest_job import HASH_SEED, parse_junit
from trellis.ci.execution.workspace import WorkspaceError

from .test_workspace import GitRepo

pytestmark = [
    # Ray's own import-time and shutdown warnings; nothing of ours is silenced.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:google.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:ray.*"),
    pytest.mark.filterwarnings("ignore:.*unclosed.*:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

SEEDED_HASH = subprocess.run(
    [sys.executable, "-c", "print(hash('trellis'))"], env={"PYTHONHASHSEED": HASH_SEED}, capture_output=True, check=True
).stdout.strip()
LIMITS = JobLimits(timeout_s=30, cpu_s=30, memory_bytes=512 << 20, processes=64, output_bytes=256 << 10)

PROJECT: dict[str, bytes | tuple[str, bytes] | None] = {
    "calc.py": b"def add(a, b):\n    return a + b\n",
    "tests/__init__.py": b"",
    "tests/test_calc.py": b"""\
import os
import sys

import pytest

from calc import add


def test_adds():
    assert add(1, 2) == 3


def test_fails():
    assert add(1, 1) == 3, "one and one"


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_errors(broken):
    pass


class TestInClass:
    @pytest.mark.parametrize("n", [1, 2])
    def test_param(self, n):
        assert n


def test_sees_only_its_own_world(pytestconfig):
    assert os.environ.get("GIVEN") == "1"
    assert hash("trellis") == SEEDED_HASH  # every job, warm or cold, local or on Ray, hashes with one seed
    assert "TRELLIS_HOST_SECRET" not in os.environ
    assert not pytestconfig.pluginmanager.hasplugin("xdist")    # installed on the host
    assert not pytestconfig.pluginmanager.hasplugin("timeout")  # installed on the host
    assert "trellis.vcs" not in sys.modules and "pygit2" not in sys.modules  # nothing of Trellis
""",
}
PROJECT["tests/test_calc.py"] = cast(bytes, PROJECT["tests/test_calc.py"]).replace(b"SEEDED_HASH", SEEDED_HASH)
EXPECTED = [
    ("tests/test_calc.py::test_adds", "passed"),
    ("tests/test_calc.py::test_fails", "failed"),
    ("tests/test_calc.py::test_skipped", "skipped"),
    ("tests/test_calc.py::test_errors", "error"),
    ("tests/test_calc.py::TestInClass::test_param[1]", "passed"),
    ("tests/test_calc.py::TestInClass::test_param[2]", "passed"),
    ("tests/test_calc.py::test_sees_only_its_own_world", "passed"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[GitRepo, str]:
    repo = GitRepo(tmp_path_factory.mktemp("project") / "repo")
    return repo, repo.commit(PROJECT)


@pytest.fixture(scope="module")
def workspace_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="trellis-exec-") as d:
        os.chmod(d, 0o755)
        yield Path(d)


def pytest_job(project: tuple[GitRepo, str], job_id: str = "unit") -> JobRequest:
    repo, tree = project
    return JobRequest(
        job_id, str(repo.path), tree, kind="pytest", pytest_args=("-q", "tests"), limits=LIMITS, env=(("GIVEN", "1"),)
    )


def outcomes(outcome: JobOutcome) -> list[tuple[str, str]]:
    return [(t.nodeid, t.outcome) for t in outcome.tests]


def assert_pytest_outcome(outcome: JobOutcome) -> None:
    assert outcome.status == "failed" and outcome.exit_code == 1, outcome.output.decode()
    assert outcomes(outcome) == EXPECTED, outcome.output.decode()
    assert outcome.summary == "4 passed, 1 failed, 1 error, 1 skipped"
    failed = next(t for t in outcome.tests if t.outcome == "failed")
    assert "one and one" in failed.message
    assert next(t for t in outcome.tests if t.outcome == "skipped").message == "not today"
    assert b"1 failed, 4 passed, 1 skipped, 1 error" in outcome.output
    # The runner uses a supported entry point: no deprecation warning of its own in any job's output.
    assert b"PytestRemovedIn" not in outcome.output and b"deprecated" not in outcome.output, outcome.output.decode()


def test_the_local_executor_runs_jobs_in_parallel(project: tuple[GitRepo, str], workspace_root: Path) -> None:
    repo, tree = project
    stamp = "date +%s.%N; sleep 0.4; date +%s.%N"
    with LocalExecutor(workspace_root / "parallel", workers=2, warm_pytest=False) as executor:
        assert (executor.name, executor.slots) == ("local", 2)
        futures = [
            executor.submit(JobRequest(f"j{i}", str(repo.path), tree, command=stamp, limits=LIMITS)) for i in range(4)
        ]
        results = [f.result(timeout=60) for f in futures]
    assert all(r.status == "passed" for r in results)
    spans = sorted(tuple(float(x) for x in r.output.split()) for r in results)
    overlapping = sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
    assert overlapping >= 1, spans  # two slots: some job started before another ended
    assert {r.job_id for r in results} == {"j0", "j1", "j2", "j3"}


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_pytest_jobs_report_each_test(
    project: tuple[GitRepo, str], workspace_root: Path, warm: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRELLIS_HOST_SECRET", "x")
    with LocalExecutor(workspace_root / f"pytest-{warm}", workers=1, warm_pytest=warm) as executor:
        outcome = executor.submit(pytest_job(project)).result(timeout=60)
        assert executor.warm is None or executor.warm.fallbacks == 0
    assert_pytest_outcome(outcome)
    assert outcome.executor == "local" and outcome.setup_s >= 0


def test_the_warm_runner_comes_back_after_dying(project: tuple[GitRepo, str], workspace_root: Path) -> None:
    with LocalExecutor(workspace_root / "warm-restart", workers=1) as executor:
        assert executor.warm is not None and executor.warm.wait_ready()
        process = executor.warm._process
        assert process is not None
        process.kill()
        process.wait()
        assert_pytest_outcome(executor.submit(pytest_job(project)).result(timeout=60))
        assert executor.warm._process is not None and executor.warm._process.pid != process.pid


def test_one_job_breaking_its_sandbox_leaves_the_others_fine(
    project: tuple[GitRepo, str], workspace_root: Path
) -> None:
    repo, tree = project

    def job(job_id: str, command: str) -> JobRequest:
        return JobRequest(job_id, str(repo.path), tree, command=command, limits=LIMITS)

    with LocalExecutor(workspace_root / "isolation", workers=2) as executor:
        futures = [
            executor.submit(job("bomb", "f() { f | f; }; f")),
            executor.submit(job("eater", f"{sys.executable} -c \"x = []\nwhile True: x.append(b'x' * (32 << 20))\"")),
            executor.submit(job("vandal", "rm -rf calc.py tests; echo junk > junk")),
            executor.submit(job("fine", "cat calc.py && ls")),
            executor.submit(pytest_job(project, "unit")),
        ]
        results = {r.job_id: r for r in (f.result(timeout=120) for f in futures)}
    assert results["bomb"].status == "killed" and results["eater"].status == "killed"
    assert results["fine"].status == "passed"
    assert results["fine"].output == PROJECT["calc.py"] + b"calc.py\ntests\n"  # no junk, whatever ran before
    assert_pytest_outcome(results["unit"])


def test_an_unknown_tree_fails_the_future(project: tuple[GitRepo, str], workspace_root: Path) -> None:
    repo, _ = project
    with LocalExecutor(workspace_root / "unknown", workers=1, warm_pytest=False) as executor:
        future = executor.submit(JobRequest("x", str(repo.path), "1" * 40, command="true"))
        with pytest.raises(WorkspaceError) as e:
            future.result(timeout=60)
    assert e.value.reason == "TREE_NOT_FOUND"


def test_junit_reports_become_test_outcomes() -> None:
    report = b"""<?xml version="1.0"?><testsuites><testsuite name="pytest">
      <testcase classname="pkg.test_m.TestA" name="test_x[a-b]" file="pkg/test_m.py" line="3" time="0.5"/>
      <testcase classname="test_top" name="test_y" file="test_top.py" time="0.1"><failure message="boom">tb</failure></testcase>
    </testsuite></testsuites>"""
    assert parse_junit(report) == (
        TestOutcome("pkg/test_m.py::TestA::test_x[a-b]", "passed", 0.5, ""),
        TestOutcome("test_top.py::test_y", "failed", 0.1, "boom"),
    )
    assert parse_junit(b"not xml") == ()
    assert summarize(parse_junit(report)) == "1 passed, 1 failed"
    assert summarize(()) == "no tests ran"


# --- Ray ------------------------------------------------------------------------------------------


def test_the_ray_executor_runs_the_same_jobs_with_the_same_outcomes(
    ray_instance: object, project: tuple[GitRepo, str], workspace_root: Path
) -> None:
    from trellis.ci.execution import RayExecutor

    repo, tree = project
    executor: Executor = RayExecutor(workspace_root=str(workspace_root / "ray"), ship_trees=False)
    try:
        assert (executor.name, executor.slots) == ("ray", 2)
        command = executor.submit(JobRequest("c", str(repo.path), tree, command="cat calc.py", limits=LIMITS))
        unit = executor.submit(pytest_job(project))
        bomb = executor.submit(JobRequest("b", str(repo.path), tree, command="f() { f | f; }; f", limits=LIMITS))
        assert command.result(timeout=120).output == PROJECT["calc.py"]
        outcome = unit.result(timeout=120)
        assert_pytest_outcome(outcome)
        assert outcome.executor.startswith("ray:")
        assert bomb.result(timeout=120).status == "killed"
    finally:
        executor.close()


def test_the_ray_executor_ships_the_tree_to_a_node_without_the_repository(
    ray_instance: object, project: tuple[GitRepo, str], workspace_root: Path, tmp_path: Path
) -> None:
    from trellis.ci.execution import RayExecutor

    source, _ = project
    repo = GitRepo(tmp_path / "moving")
    tree = repo.commit(PROJECT)
    executor = RayExecutor(workspace_root=str(workspace_root / "ray-shipped"), ship_trees=True)
    try:
        request = JobRequest(
            "first",
            str(repo.path),
            tree,
            kind="pytest",
            pytest_args=("-q", "tests"),
            limits=LIMITS,
            env=(("GIVEN", "1"),),
        )
        assert_pytest_outcome(executor.submit(request).result(timeout=120))  # packed and shipped once
        shutil.rmtree(repo.path)  # from now on no machine has the repository
        again = executor.submit(JobRequest("again", str(repo.path), tree, command="cat calc.py", limits=LIMITS))
        assert again.result(timeout=120).output == PROJECT["calc.py"]
    finally:
        executor.close()
    assert source.path.exists()


def test_without_a_usable_warm_runner_pytest_jobs_take_the_cold_path(
    project: tuple[GitRepo, str], workspace_root: Path
) -> None:
    from trellis.ci.execution import WarmPytestLauncher

    broken = WarmPytestLauncher(python="/bin/false")  # exits at once, as a helper without pytest would
    assert not broken.wait_ready() and broken.unavailable
    with LocalExecutor(workspace_root / "no-warm", workers=1, warm_pytest=False) as executor:
        executor.warm = broken
        broken.fallback.python = sys.executable
        assert_pytest_outcome(executor.submit(pytest_job(project)).result(timeout=60))
    assert broken.fallbacks == 1


PRELOADED = b"""\
import os
import sys


def test_the_job_plugin_was_imported_before_the_job():
    plugin = sys.modules["_trellis_pytest"]
    assert not plugin.__file__.startswith(os.environ["TMPDIR"]), plugin.__file__


def test_code_exec_runs_is_still_recorded():
    exec(compile("VALUE = 1", "<generated>", "exec"), {})
"""


def test_the_warm_runner_imports_the_job_plugin_once_before_its_jobs(tmp_path: Path, workspace_root: Path) -> None:
    """The warm runner imports the job plugin before it forks any job, so no job compiles and runs it again
    (~25 ms of every job); what its import does for a job (the eval recorder) still happens in the job, and
    pytest, told the module is not rewritten, does not warn that it was imported already (``-W error``)."""
    from trellis.ci.execution.jobs import TestPlan

    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit({"tests/test_preloaded.py": PRELOADED})
    request = JobRequest(
        "preloaded",
        str(repo.path),
        tree,
        kind="pytest",
        pytest_args=("-q", "-W", "error", "tests"),
        limits=LIMITS,
        tests=TestPlan(evals=()),
    )
    with LocalExecutor(workspace_root / "preload", workers=1) as executor:
        outcome = executor.submit(request).result(timeout=120)
    assert outcomes(outcome) == [
        ("tests/test_preloaded.py::test_the_job_plugin_was_imported_before_the_job", "passed"),
        ("tests/test_preloaded.py::test_code_exec_runs_is_still_recorded", "passed"),
    ], outcome.output.decode()
    assert any(b'"recording"' in line.encode() for line in outcome.evals), outcome.evals
    assert any("test_code_exec_runs_is_still_recorded" in line for line in outcome.evals), outcome.evals
