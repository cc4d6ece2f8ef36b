"""The project's own test environment: declared dependencies read from the tree, a real venv built once
per digest of those inputs (offline, from a wheel made here), reused, rebuilt only when they change."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.ci.execution import LocalExecutor
from trellis.ci.execution.environments import READY, EnvironmentBuildError, environment_spec
from trellis.ci.execution.jobs import JobLimits, JobRequest, TestPlan
from trellis.ci.execution.shards import submit_tests

from .test_workspace import GitRepo

LIMITS = JobLimits(timeout_s=120, cpu_s=120, memory_bytes=1 << 30, processes=64, output_bytes=256 << 10)

PYPROJECT = b"""
[project]
name = "demo"
dependencies = ["base-dep"]
[project.optional-dependencies]
tests = ["demo[fast]", "hypothesis"]
fast = ["speedy>=2"]
[dependency-groups]
lint = ["ruff"]
test = [{ include-group = "lint" }, "pytest-thing"]
"""


def test_the_declared_dependencies_are_read_from_the_tree() -> None:
    files = {"pyproject.toml": PYPROJECT, "req/test.txt": b"pympler\n"}
    spec = environment_spec(
        files, requirements=["req/test.txt"], extras=["tests"], groups=["test"], packages=["extra-one"]
    )
    assert spec.packages == ("base-dep", "speedy>=2", "hypothesis", "ruff", "pytest-thing", "extra-one")
    assert spec.requirements == (("req/test.txt", b"pympler\n"),)
    same = environment_spec(
        dict(files), requirements=["req/test.txt"], extras=["tests"], groups=["test"], packages=["extra-one"]
    )
    assert same.digest == spec.digest
    changed = environment_spec(
        {**files, "req/test.txt": b"pympler==1\n"},
        requirements=["req/test.txt"],
        extras=["tests"],
        groups=["test"],
        packages=["extra-one"],
    )
    assert changed.digest != spec.digest
    with pytest.raises(EnvironmentBuildError, match="no extra 'nope'"):
        environment_spec(files, extras=["nope"])
    with pytest.raises(EnvironmentBuildError, match="missing.txt is not in the tree"):
        environment_spec(files, requirements=["missing.txt"])


def _wheel(directory: Path, version: str) -> Path:
    """A minimal pure-Python wheel of ``helperpkg`` (so the test installs offline)."""
    path = directory / f"helperpkg-{version}-py3-none-any.whl"
    info = f"helperpkg-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("helperpkg.py", f"VERSION = {version!r}\n")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: helperpkg\nVersion: {version}\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


TEST_FILE = b"""\
import sys

import helperpkg


def test_runs_in_the_project_environment():
    assert sys.prefix != sys.base_prefix and "environments" in sys.prefix
    assert helperpkg.VERSION == EXPECTED
"""


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    with tempfile.TemporaryDirectory(prefix="trellis-envs-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=1) as local:
            yield local


def test_jobs_run_in_an_environment_built_once_per_inputs(tmp_path: Path, executor: LocalExecutor) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "1.0")
    _wheel(wheels, "2.0")
    repo = GitRepo(tmp_path / "repo")

    def run(version: str, job_id: str) -> list[tuple[str, str]]:
        requirements = f"--no-index\n--find-links {wheels}\nhelperpkg=={version}\n".encode()
        tree = repo.commit(
            {
                "requirements-test.txt": requirements,
                "tests/test_env.py": TEST_FILE.replace(b"EXPECTED", repr(version).encode()),
            }
        )
        spec = environment_spec({"requirements-test.txt": requirements}, requirements=["requirements-test.txt"])
        request = JobRequest(
            job_id,
            str(repo.path),
            tree,
            kind="pytest",
            pytest_args=("-q", "tests"),
            limits=LIMITS,
            tests=TestPlan(),
            environment=spec,
        )
        outcome = submit_tests(executor, request).result(timeout=300)
        assert outcome.tests, outcome.output.decode()
        return [(t.nodeid, t.outcome) for t in outcome.tests]

    environments = executor.pool.root / "environments"
    passed = [("tests/test_env.py::test_runs_in_the_project_environment", "passed")]
    assert run("1.0", "first") == passed
    built = {p.name: (p / READY).stat().st_mtime_ns for p in environments.iterdir() if p.is_dir()}
    assert len(built) == 1
    assert run("1.0", "again") == passed  # same inputs: the same environment, not built again
    assert {p.name: (p / READY).stat().st_mtime_ns for p in environments.iterdir() if p.is_dir()} == built
    assert run("2.0", "changed") == passed  # the requirements changed: a new environment
    assert len([p for p in environments.iterdir() if p.is_dir()]) == 2
