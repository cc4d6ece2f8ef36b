"""The project's own test environment: declared dependencies read from the tree, a real venv built once
per digest of those inputs (offline, from a wheel made here), reused, rebuilt only when they change."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from trellis.ci.execution import LocalExecutor, bytecode
from trellis.ci.execution.environments import (
    READY,
    EnvironmentBuildError,
    ensure_environment,
    environment_files,
    environment_spec,
)
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


def _wheel(
    directory: Path, version: str, name: str = "helperpkg", module: str | None = "", entry_points: str = ""
) -> Path:
    """A minimal pure-Python wheel of ``name`` (so the test installs offline): ``name.py`` holds ``module``
    (by default a VERSION; None: no module, only the metadata); ``entry_points``: its entry_points.txt."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        if module is not None:
            wheel.writestr(f"{name}.py", module or f"VERSION = {version!r}\n")
        if entry_points:
            wheel.writestr(f"{info}/entry_points.txt", entry_points)
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
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


def test_the_projects_modules_come_from_the_workspaces_pycs():
    import lib

    with open(lib.__cached__, "rb") as f:  # a checked-hash pyc: the pool's (jobs write no bytecode)
        assert f.read(8)[4:] == b"\\x03\\x00\\x00\\x00"
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
                "lib.py": b"VALUE = 1\n",
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
    passed = [
        ("tests/test_env.py::test_runs_in_the_project_environment", "passed"),
        ("tests/test_env.py::test_the_projects_modules_come_from_the_workspaces_pycs", "passed"),
    ]
    assert run("1.0", "first") == passed
    built = {p.name: (p / READY).stat().st_mtime_ns for p in environments.iterdir() if p.is_dir()}
    assert len(built) == 1
    assert run("1.0", "again") == passed  # same inputs: the same environment, not built again
    assert {p.name: (p / READY).stat().st_mtime_ns for p in environments.iterdir() if p.is_dir()} == built
    assert run("2.0", "changed") == passed  # the requirements changed: a new environment
    assert len([p for p in environments.iterdir() if p.is_dir()]) == 2


PLUGIN_TESTS = b"""\
def test_the_environments_plugin_gives_its_fixture(helper_value):
    assert helper_value == 42


def test_the_servers_plugins_stay_out(request):
    assert request.config.pluginmanager.get_plugin("hypothesispytest") is None
"""


def test_the_environments_pytest_plugins_load_as_autoloading_would(tmp_path: Path, executor: LocalExecutor) -> None:
    """A plugin the project's test dependencies install (a ``pytest11`` entry point: pytest-benchmark's
    ``benchmark`` fixture, say) loads in its jobs as plain ``pytest`` would load it; the server's own do not
    (hypothesis's is installed there), and ``-p no:NAME`` in the stage's args keeps one out."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    plugin = "import pytest\n\n\n@pytest.fixture\ndef helper_value():\n    return 42\n"
    _wheel(wheels, "1.0", name="helperplug", module=plugin, entry_points="[pytest11]\nhelper = helperplug\n")
    requirements = f"--no-index\n--find-links {wheels}\nhelperplug\n".encode()
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit({"requirements-test.txt": requirements, "tests/test_plugin.py": PLUGIN_TESTS})
    spec = environment_spec({"requirements-test.txt": requirements}, requirements=["requirements-test.txt"])

    def run(job_id: str, *args: str) -> dict[str, str]:
        request = JobRequest(
            job_id,
            str(repo.path),
            tree,
            kind="pytest",
            pytest_args=("-q", *args, "tests"),
            limits=LIMITS,
            tests=TestPlan(),
            environment=spec,
        )
        outcome = submit_tests(executor, request).result(timeout=300)
        assert outcome.tests, outcome.output.decode()
        return {t.nodeid.rpartition("::")[2]: t.outcome for t in outcome.tests}

    assert run("loaded") == {
        "test_the_environments_plugin_gives_its_fixture": "passed",
        "test_the_servers_plugins_stay_out": "passed",
    }
    assert run("off", "-p", "no:helper")["test_the_environments_plugin_gives_its_fixture"] == "error"


SATISFIED_TESTS = b"""\
def test_the_declared_plugin_loads(request):
    assert request.config.pluginmanager.get_plugin("hypothesispytest") is not None
    assert request.config.getoption("hypothesis_profile") == "default"


def test_an_undeclared_one_stays_out(request):
    assert request.config.pluginmanager.get_plugin("timeout") is None
"""


def test_a_declared_plugin_the_server_already_has_loads(tmp_path: Path, executor: LocalExecutor) -> None:
    """pip leaves out of the environment what the server's interpreter already satisfies (the environment
    layers on it): a test dependency with a pytest plugin there (hypothesis, whose ``--hypothesis-profile``
    natsort's own command passes) still loads, as in the project's own environment, through what the
    declared requirements need; a plugin of the server's that they do not need (pytest-timeout) stays out."""
    requirements = b"--no-index\nhypothesis  # the server's own\n"
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit({"requirements-test.txt": requirements, "tests/test_plugin.py": SATISFIED_TESTS})
    spec = environment_spec({"requirements-test.txt": requirements}, requirements=["requirements-test.txt"])
    request = JobRequest(
        "satisfied",
        str(repo.path),
        tree,
        kind="pytest",
        pytest_args=("-q", "--hypothesis-profile=default", "tests"),
        limits=LIMITS,
        tests=TestPlan(),
        environment=spec,
    )
    outcome = submit_tests(executor, request).result(timeout=300)
    assert {t.nodeid.rpartition("::")[2]: t.outcome for t in outcome.tests} == {
        "test_the_declared_plugin_loads": "passed",
        "test_an_undeclared_one_stays_out": "passed",
    }, outcome.output.decode()


def test_no_rewritten_pycs_for_an_environment_with_another_pytest(tmp_path: Path, executor: LocalExecutor) -> None:
    """pytest reads only its own version's rewritten pycs (``-pytest-<version>.pyc``): for a job in an
    environment that installs another pytest than the server's, the lease does not rewrite the test modules
    with the server's pytest (work its pytest would never read); the project's modules still get theirs."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # Only the distribution's metadata (no module: the job still imports the server's pytest, and passes).
    _wheel(wheels, "7.0.1", name="pytest", module=None)
    repo = GitRepo(tmp_path / "repo")
    test = b"import lib\n\n\ndef test_value():\n    assert lib.VALUE == 1\n"

    def run(job_id: str, requirements: bytes) -> list[str]:
        tree = repo.commit({"requirements-test.txt": requirements, "lib.py": b"VALUE = 1\n", "tests/test_lib.py": test})
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
        assert [(t.nodeid, t.outcome) for t in outcome.tests] == [("tests/test_lib.py::test_value", "passed")], (
            outcome.output.decode()
        )
        workspace = executor.pool.root / "ws-0"
        return sorted(
            p.name for d in (workspace / "__pycache__", workspace / "tests" / "__pycache__") for p in d.glob("*.pyc")
        )

    tag = bytecode.pytest_tag()
    assert tag is not None
    own = run("own", f"--no-index\n--find-links {wheels}\npytest==7.0.1\n".encode())
    assert not any("-pytest-" in name for name in own) and any(name.startswith("lib.") for name in own), own
    servers = run("servers", f"--no-index\n--find-links {wheels}\n".encode())  # no pytest of its own
    assert f"test_lib{tag}" in servers, servers


def _sdist(directory: Path, marker: Path) -> Path:
    """A source distribution whose in-tree build backend writes ``marker`` when pip imports it:
    building it would run the change's code outside the sandbox, with the network."""
    import io
    import tarfile

    path = directory / "buildme-1.0.tar.gz"
    files = {
        "buildme-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: buildme\nVersion: 1.0\n",
        "buildme-1.0/pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
            '[project]\nname = "buildme"\nversion = "1.0"\n'
        ),
        "buildme-1.0/backend.py": f"open({str(marker)!r}, 'w').write('ran')\n",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("how", ["index", "direct"])
def test_a_build_from_source_is_refused_and_runs_nothing(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "built-outside-the-sandbox"
    dists = tmp_path / "dists"
    dists.mkdir()
    sdist = _sdist(dists, marker)
    line = f"--find-links {dists}\nbuildme\n" if how == "index" else f"buildme @ {sdist.as_uri()}\n"
    requirements = f"--no-index\n{line}".encode()
    spec = environment_spec({"requirements.txt": requirements}, requirements=["requirements.txt"])
    with pytest.raises(EnvironmentBuildError, match="wheels only") as failure:
        ensure_environment(spec, tmp_path / "environments")
    assert "buildme" in str(failure.value)
    assert not marker.exists()  # the backend never ran
    assert not (tmp_path / "environments" / spec.digest / READY).exists()


@pytest.mark.parametrize(
    ("requirements", "packages"),
    [
        (b"--no-binary :all:\nhypothesis\n", ()),
        (b"-e .\n", ()),
        (b"git+https://example.invalid/repo.git\n", ()),
        (b"", ("demo @ file:///tmp/demo-1.0.tar.gz",)),
        (b"", ("./vendored/lib",)),
    ],
)
def test_requirements_that_would_build_from_source_are_refused_before_pip(
    tmp_path: Path, requirements: bytes, packages: tuple[str, ...]
) -> None:
    files = {"requirements.txt": requirements}
    spec = environment_spec(files, requirements=["requirements.txt"] if requirements else [], packages=packages)
    with pytest.raises(EnvironmentBuildError, match="wheels only"):
        ensure_environment(spec, tmp_path / "environments")
    assert not list((tmp_path / "environments").glob("*/.trellis-inputs"))  # pip never got them


def test_wheels_and_version_pins_stay_allowed() -> None:
    from trellis.ci.execution.environments import _source_reference

    for requirement in (
        "hypothesis",
        "torch==2.1+cpu",
        'pkg[x]>=2; python_version > "3"',
        "p @ https://h/p-1-py3-none-any.whl",
    ):
        assert not _source_reference(requirement), requirement


def test_a_requirements_file_including_others_builds_with_them(tmp_path: Path) -> None:
    """arrow's ``requirements/requirements-tests.txt`` starts with ``-r requirements.txt``: pip reads an included
    file (``-r``, ``-c``) from beside the including one, so the environment needs it too, and a change to it is a
    change of the environment."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "1.0")
    _wheel(wheels, "2.0")
    _wheel(wheels, "1.0", name="basepkg")
    tree = {
        "requirements/requirements-tests.txt": b"-r requirements.txt\n--constraint=../constraints/pins.txt\nhelperpkg\n",
        "requirements/requirements.txt": f"--no-index\n--find-links {wheels}\nbasepkg\n".encode(),
        "constraints/pins.txt": b"helperpkg==1.0\n",
        "pyproject.toml": PYPROJECT,
        "lib.py": b"",
    }
    asked: list[list[str]] = []

    def read(paths: Iterable[str]) -> dict[str, bytes]:
        asked.append(list(paths))
        return {p: tree[p] for p in asked[-1] if p in tree}

    declared = ["requirements/requirements-tests.txt"]
    files = environment_files(read, declared)
    assert set(files) == set(tree) - {"lib.py"}  # the closure of the includes, nothing else of the tree
    spec = environment_spec(files, requirements=declared)
    target = ensure_environment(spec, tmp_path / "environments")
    site = next((target / "lib").glob("python*/site-packages"))
    assert (site / "basepkg.py").exists()  # the -r file's requirement
    assert (site / "helperpkg.py").read_text() == "VERSION = '1.0'\n"  # the -c file's pin
    changed = environment_spec({**files, "constraints/pins.txt": b"helperpkg==2.0\n"}, requirements=declared)
    assert changed.digest != spec.digest
    with pytest.raises(EnvironmentBuildError, match="includes requirements/requirements.txt, which is not in the tree"):
        environment_spec({declared[0]: tree[declared[0]]}, requirements=declared)
    outside = {"req.txt": b"-r ../secrets.txt\n"}
    with pytest.raises(EnvironmentBuildError, match=r"includes \.\./secrets\.txt, which is not in the tree"):
        environment_spec(outside, requirements=["req.txt"])


# A stand-in for pytest-cov with its shape: options read from the early namespace it registers its plugin with
# (pytest_load_initial_conftests), --no-cov checked at session start, a threshold failing the session after the
# test loop; its "coverage" is the share of the suite's four tests that ran.
COVERAGE_PLUGIN = """\
import pytest


def pytest_addoption(parser):
    parser.addoption("--cov-fail-under", type=float, default=None)
    parser.addoption("--no-cov", action="store_true", default=False)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    early_config.pluginmanager.register(Threshold(early_config.known_args_namespace), "_cov")


class Threshold:
    def __init__(self, options):
        self.options, self.ran, self.disabled = options, 0, False

    def pytest_sessionstart(self, session):
        self.disabled = self.options.no_cov

    def pytest_runtest_logreport(self, report):
        self.ran += report.when == "call"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session):
        result = yield
        if not self.disabled and (self.options.cov_fail_under or 0) > 100 * self.ran / 4:
            session.testsfailed += 1
        return result
"""

COVERED_TESTS = b"""\
def test_a():
    pass


def test_b():
    pass


def test_c():
    pass


def test_d():
    pass
"""


def test_a_coverage_threshold_judges_whole_runs_only(tmp_path: Path, executor: LocalExecutor) -> None:
    """arrow's ``addopts`` has ``--cov-fail-under=99``: a job running selected tests (or a shard) covers part
    of the code, and pytest-cov failed it though every test passed (verdict failed, no failing test). A job
    running part of the suite is run with pytest-cov's ``--no-cov``; a whole run keeps the project's threshold,
    as its own command does (``-k`` leaving tests out is the project's own choice)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "1.0", name="covlike", module=COVERAGE_PLUGIN, entry_points="[pytest11]\ncovlike = covlike\n")
    requirements = f"--no-index\n--find-links {wheels}\ncovlike\n".encode()
    repo = GitRepo(tmp_path / "repo")
    files = {
        "requirements-test.txt": requirements,
        "pytest.ini": b"[pytest]\naddopts = --cov-fail-under=99\n",
        "tests/test_covered.py": COVERED_TESTS,
    }
    tree = repo.commit(files)
    spec = environment_spec(files, requirements=["requirements-test.txt"])

    def run(job_id: str, plan: TestPlan, *args: str) -> tuple[int | None, list[str]]:
        request = JobRequest(
            job_id, str(repo.path), tree, kind="pytest", pytest_args=args, limits=LIMITS, tests=plan, environment=spec
        )
        outcome = submit_tests(executor, request).result(timeout=300)
        assert all(t.outcome == "passed" for t in outcome.tests), outcome.output.decode()
        return outcome.exit_code, sorted(t.nodeid.rpartition("::")[2] for t in outcome.tests)

    assert run("selected", TestPlan(only=("tests/test_covered.py::test_b",))) == (0, ["test_b"])
    assert run("shard", TestPlan(shard=(1, 2), expected=(("tests/test_covered.py::test_a", 1.0),)))[0] == 0
    assert run("reused", TestPlan(reused=("tests/test_covered.py::test_a",)))[0] == 0
    assert run("whole", TestPlan()) == (0, ["test_a", "test_b", "test_c", "test_d"])
    assert run("own choice", TestPlan(), "-k", "not test_d")[0] == 1
