"""The project itself is installed into its jobs as ``pip install -e .`` installs it, from the job's workspace:
its package root (a src layout too) and metadata on ``sys.path``, its console scripts on ``PATH``, its own
``pytest11`` plugin loaded; the project's own ``addopts`` keep plugins out with ``-p no:NAME``. One real
environment (offline, from a wheel made here) serves the whole module."""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.ci.execution import LocalExecutor
from trellis.ci.execution.environments import EnvironmentSpec, environment_spec
from trellis.ci.execution.jobs import JobLimits, JobRequest, TestPlan
from trellis.ci.execution.project_install import write_install
from trellis.ci.execution.shards import submit_tests
from trellis.ci.project import FALLBACK_VERSION, Project

from .test_environments import _wheel
from .test_workspace import GitRepo

LIMITS = JobLimits(timeout_s=120, cpu_s=120, memory_bytes=1 << 30, processes=64, output_bytes=256 << 10)
PLUGIN = "import pytest\n\n\n@pytest.fixture\ndef helper_value():\n    return 42\n"


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalExecutor, EnvironmentSpec, str]]:
    """A local executor and one environment (holding a pytest plugin, ``helper``) for every test here."""
    wheels = tmp_path_factory.mktemp("wheels")
    _wheel(wheels, "1.0", name="helperplug", module=PLUGIN, entry_points="[pytest11]\nhelper = helperplug\n")
    requirements = f"--no-index\n--find-links {wheels}\nhelperplug\n"
    spec = environment_spec({"requirements-test.txt": requirements.encode()}, requirements=["requirements-test.txt"])
    with tempfile.TemporaryDirectory(prefix="trellis-project-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=1) as local:
            yield local, spec, requirements


def _run(
    setting: tuple[LocalExecutor, EnvironmentSpec, str], path: Path, files: dict[str, str], *args: str
) -> dict[str, str]:
    executor, spec, requirements = setting
    repo = GitRepo(path)
    tree = repo.commit({"requirements-test.txt": requirements.encode(), **{k: v.encode() for k, v in files.items()}})
    return _outcomes(executor, spec, repo, tree, path.name, *args)


def _outcomes(
    executor: LocalExecutor, spec: EnvironmentSpec, repo: GitRepo, tree: str, job_id: str, *args: str, at: bool = False
) -> dict[str, str]:
    """Each test's outcome (by name) of a pytest job over ``tree`` (``at``: of the repository's HEAD commit, whose
    tags a version from git is described from)."""
    request = JobRequest(
        job_id,
        str(repo.path),
        tree,
        commit_id=repo.git("rev-parse", "HEAD").decode().strip() if at else "",
        kind="pytest",
        pytest_args=("-q", *args),
        limits=LIMITS,
        tests=TestPlan(),
        environment=spec,
    )
    outcome = submit_tests(executor, request).result(timeout=300)
    assert outcome.tests, outcome.output.decode()[-2000:]
    return {t.nodeid.rpartition("::")[2]: t.outcome for t in outcome.tests}


SRC_LAYOUT = {
    "pyproject.toml": """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "demo-pkg"
description = "A demo."
requires-python = ">=3.10"
license = { text = "MIT" }
authors = [{ name = "Ada" }, { name = "Bo", email = "bo@example.org" }]
classifiers = ["Topic :: Utilities"]
dynamic = ["version"]
dependencies = ["helperplug"]

[project.optional-dependencies]
fast = ["helperplug>=1.0,<2"]

[project.urls]
Repository = "https://example.org/demo"

[project.scripts]
demo-cli = "demo_pkg.cli:main"

[tool.setuptools.dynamic]
version = { attr = "demo_pkg._about.VERSION" }
""",
    "src/demo_pkg/__init__.py": 'from importlib.metadata import version\n\n__version__ = version("demo-pkg")\n',
    "src/demo_pkg/_about.py": 'VERSION = "1.4.2"\n',
    "src/demo_pkg/cli.py": "def main():\n    print('demo says hi')\n    return 3\n",
    "tests/test_installed.py": """\
import importlib.metadata
import subprocess

import demo_pkg


def test_the_package_imports_and_knows_its_version():
    assert demo_pkg.__version__ == importlib.metadata.version("demo-pkg") == "1.4.2"
    assert importlib.metadata.metadata("demo-pkg")["Name"] == "demo-pkg"
    assert "demo_pkg" in importlib.metadata.packages_distributions()


def test_the_metadata_the_packaging_states_is_installed():
    meta = importlib.metadata.metadata("demo-pkg")
    assert (meta["Summary"], meta["Requires-Python"], meta["License"]) == ("A demo.", ">=3.10", "MIT")
    assert (meta["Author"], meta["Author-email"]) == ("Ada", "Bo <bo@example.org>")
    assert meta.get_all("Classifier") == ["Topic :: Utilities"]
    assert meta.get_all("Project-URL") == ["Repository, https://example.org/demo"]
    assert meta.get_all("Provides-Extra") == ["fast"]
    assert importlib.metadata.requires("demo-pkg") == ["helperplug", "helperplug>=1.0,<2; extra == 'fast'"]


def test_its_console_script_runs():
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="demo-cli")
    assert script.value == "demo_pkg.cli:main"
    done = subprocess.run(["demo-cli"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (3, "demo says hi\\n")
""",
}


def test_a_src_layout_imports_and_is_installed_without_pythonpath(
    tmp_path: Path, setting: tuple[LocalExecutor, EnvironmentSpec, str]
) -> None:
    assert _run(setting, tmp_path / "src-layout", SRC_LAYOUT, "tests") == {
        "test_the_package_imports_and_knows_its_version": "passed",
        "test_the_metadata_the_packaging_states_is_installed": "passed",
        "test_its_console_script_runs": "passed",
    }


OWN_PLUGIN = {
    "setup.cfg": """\
[metadata]
name = ownplug
version = 0.3

[options]
packages = find:

[options.entry_points]
pytest11 =
    ownplug = ownplug.plugin
""",
    "ownplug/__init__.py": "",
    "ownplug/plugin.py": "import pytest\n\n\n@pytest.fixture\ndef own_value():\n    return 'own'\n",
    "tests/test_own.py": """\
def test_the_projects_own_plugin_gives_its_fixture(own_value, helper_value):
    assert (own_value, helper_value) == ("own", 42)
""",
}


def test_the_projects_own_pytest11_plugin_loads(
    tmp_path: Path, setting: tuple[LocalExecutor, EnvironmentSpec, str]
) -> None:
    assert _run(setting, tmp_path / "own-plugin", OWN_PLUGIN, "tests") == {
        "test_the_projects_own_plugin_gives_its_fixture": "passed"
    }


@pytest.mark.parametrize(
    ("config", "text", "kept_out"),
    [
        ("pytest.ini", "[pytest]\naddopts = -p no:helper\n", ["helper_value"]),
        (
            "pyproject.toml",
            '[project]\nname = "ownplug"\nversion = "0.3"\n[tool.pytest.ini_options]\naddopts = "-pno:ownplug -pno:helper"\n',
            ["helper_value", "own_value"],
        ),
        ("tox.ini", "[pytest]\naddopts = -p no:helper -p no:ownplug\n", ["helper_value", "own_value"]),
    ],
)
def test_the_projects_addopts_keep_plugins_out(
    tmp_path: Path, setting: tuple[LocalExecutor, EnvironmentSpec, str], config: str, text: str, kept_out: list[str]
) -> None:
    """``-p no:NAME`` in the project's own ini addopts keeps out an environment's plugin and the project's own."""
    files = {
        **OWN_PLUGIN,
        config: text,
        "tests/test_own.py": f"""\
import pytest


def test_the_plugins_that_addopts_keep_out_give_no_fixture(request):
    for name in ("helper_value", "own_value"):
        if name in {kept_out!r}:
            with pytest.raises(pytest.FixtureLookupError):
                request.getfixturevalue(name)
        else:
            assert request.getfixturevalue(name) in (42, "own")
""",
    }
    assert _run(setting, tmp_path / "addopts", files, "tests") == {
        "test_the_plugins_that_addopts_keep_out_give_no_fixture": "passed"
    }


SCM_PROJECT = {
    "pyproject.toml": """\
[project]
name = "scmdemo"
dynamic = ["version"]

[tool.hatch.version]
source = "vcs"
raw-options = { local_scheme = "no-local-version" }
""",
    "src/scmdemo/__init__.py": 'from importlib.metadata import version\n\n__version__ = version("scmdemo")\n',
    "tests/test_version.py": """\
import scmdemo


def test_version():
    assert scmdemo.__version__ == EXPECTED
""",
}


def test_a_version_from_git_is_described_from_the_jobs_commit(
    tmp_path: Path, setting: tuple[LocalExecutor, EnvironmentSpec, str]
) -> None:
    """hatch-vcs and setuptools_scm derive the version from the repository's tags, as the project's own
    command does in a clone: no tag yet gives 0.1.devN (N commits), a tag its version, one commit after
    it the next version's .dev1."""
    executor, spec, requirements = setting
    repo = GitRepo(tmp_path / "scm")

    def run(expected: str, job_id: str) -> dict[str, str]:
        files = {**SCM_PROJECT, "requirements-test.txt": requirements, "job.txt": job_id}
        files["tests/test_version.py"] = files["tests/test_version.py"].replace("EXPECTED", repr(expected))
        tree = repo.commit({k: v.encode() for k, v in files.items()})
        return _outcomes(executor, spec, repo, tree, job_id, "tests", at=True)

    assert run("0.1.dev1", "untagged") == {"test_version": "passed"}
    repo.git("tag", "v1.2.0")
    assert run("1.2.1.dev1", "after-the-tag") == {"test_version": "passed"}


VERSION_FILE_PROJECT = {
    "pyproject.toml": """\
[project]
name = "vfdemo"
dynamic = ["version"]

[tool.setuptools_scm]
version_file = "src/vfdemo/_version.py"
local_scheme = "no-local-version"
""",
    ".gitignore": "src/vfdemo/_version.py\n",
    "src/vfdemo/__init__.py": "from ._version import __version_tuple__, version as __version__\n",
    "tests/test_version.py": """\
import importlib.metadata

import vfdemo


def test_version():
    assert vfdemo.__version__ == importlib.metadata.version("vfdemo") == EXPECTED
    assert vfdemo.__version_tuple__[:2] == (1, 2)
""",
}


def test_a_version_file_the_tree_ignores_is_written_as_the_install_writes_it(
    tmp_path: Path, setting: tuple[LocalExecutor, EnvironmentSpec, str]
) -> None:
    """setuptools_scm's ``version_file`` is git-ignored, so the tree never holds it, and the package imports it:
    the project's install writes it with the version it describes (pluggy <= 1.6: ``from ._version import
    version``); without it every test, and pytest itself for pluggy, failed to import."""
    executor, spec, requirements = setting
    repo = GitRepo(tmp_path / "vf")
    files = {**VERSION_FILE_PROJECT, "requirements-test.txt": requirements}
    repo.commit({k: v.encode() for k, v in files.items()})
    repo.git("tag", "v1.2.0")
    files["tests/test_version.py"] = files["tests/test_version.py"].replace("EXPECTED", repr("1.2.1.dev1"))
    tree = repo.commit({k: v.encode() for k, v in files.items()})
    assert _outcomes(executor, spec, repo, tree, "version-file", "tests", at=True) == {"test_version": "passed"}


def test_what_the_tree_declares_is_written_only_inside_the_jobs_directory(tmp_path: Path) -> None:
    """The version and the entry points are the tree's text: a version naming another directory falls back,
    and a console script whose target is not a dotted name gets no script."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "job").mkdir()
    project = Project(
        name="evil",
        version="../../../escaped",
        entry_points=(("console_scripts", "ok", "evil.cli:main"), ("console_scripts", "bad", "os; import x:y")),
    )
    paths, bin_dir = write_install(project, tmp_path / "ws", tmp_path / "job", "/usr/bin/python3")
    assert paths == [str(tmp_path / "job")]  # no package root declared: the checkout is on sys.path already
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["bin", f"evil-{FALLBACK_VERSION}.dist-info"]
    assert sorted(p.name for p in bin_dir.iterdir()) == ["ok"]
    assert not (tmp_path / "escaped.dist-info").exists()


# A src-layout tree of a distribution the server's own interpreter has installed (attrs: hypothesis needs it).
SERVER_HAS_IT = {
    "pyproject.toml": """\
[project]
name = "attrs"
version = "99.1.0"

[project.scripts]
attr-demo = "attr.cli:main"

[project.entry-points.pytest11]
attrtree = "attr.plugin"
""",
    "src/attr/__init__.py": "FROM_THE_TREE = True\n",
    "src/attr/plugin.py": "import pytest\n\n\n@pytest.fixture\ndef tree_value():\n    return 'tree'\n",
    "src/attr/cli.py": "def main():\n    print('the tree')\n    return 3\n",
    "tests/test_tree.py": """\
import importlib.metadata
import subprocess

import attr


def test_the_trees_package_and_version_win_over_the_servers(tree_value):
    assert attr.FROM_THE_TREE and tree_value == "tree"
    assert importlib.metadata.version("attrs") == "99.1.0"


def test_its_console_script_runs():
    done = subprocess.run(["attr-demo"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (3, "the tree\\n")
""",
}


@pytest.mark.parametrize(
    "env",
    [(), (("PYTHONPATH", "src"),), (("PYTHONPATH", "vendor"),)],
    ids=["installed", "the-stages-pythonpath", "a-pythonpath-without-the-package"],
)
def test_without_an_environment_the_tree_wins_over_the_servers_installed_release(
    tmp_path: Path, env: tuple[tuple[str, str], ...]
) -> None:
    """A stage without an environment runs on the server's interpreter, whose site-packages hold a release of
    attrs: the tree's package (its src root, or the stage's own PYTHONPATH) and its dist-info come first, its
    console script is on PATH and its own pytest11 plugin loads (the server's plugins stay out). A stage's own
    PYTHONPATH comes first and the package roots after it, as with an environment: one that does not hold the
    package still tests the tree's."""
    assert importlib.metadata.version("attrs") != "99.1.0"  # the server's release is there to be shadowed
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit({k: v.encode() for k, v in SERVER_HAS_IT.items()})
    request = JobRequest(
        "server", str(repo.path), tree, kind="pytest", pytest_args=("-q", "tests"), limits=LIMITS, env=env
    )
    with tempfile.TemporaryDirectory(prefix="trellis-project-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=1) as local:
            outcome = submit_tests(local, request).result(timeout=300)
    assert {t.nodeid.rpartition("::")[2]: t.outcome for t in outcome.tests} == {
        "test_the_trees_package_and_version_win_over_the_servers": "passed",
        "test_its_console_script_runs": "passed",
    }, outcome.output.decode()[-2000:]


def test_a_project_pytest_itself_imports_is_the_trees_in_a_warm_job(tmp_path: Path) -> None:
    """The warm runner has imported pytest and what pytest imports (iniconfig, pluggy...) before any job: a
    tree whose project is one of them (its package on the job's path) must be the one its tests import and
    pytest itself runs on, as in a fresh ``python -m pytest`` — not the runner's copy from site-packages."""
    import iniconfig

    installed = Path(iniconfig.__file__).parent
    files = {f"src/iniconfig/{p.name}": p.read_text() for p in installed.glob("*.py")}
    files["src/iniconfig/__init__.py"] += "\nFROM_THE_TREE = True\n"
    files["pyproject.toml"] = '[project]\nname = "iniconfig"\nversion = "99.0"\n'
    files["tests/test_tree.py"] = """\
import sys

import _pytest.config.findpaths
import iniconfig


def test_the_tree_is_imported_by_the_tests_and_by_pytest():
    assert getattr(iniconfig, "FROM_THE_TREE", False), iniconfig.__file__
    assert _pytest.config.findpaths.iniconfig is sys.modules["iniconfig"] is iniconfig
"""
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit({k: v.encode() for k, v in files.items()})
    request = JobRequest("own", str(repo.path), tree, kind="pytest", pytest_args=("-q", "tests"), limits=LIMITS)
    with tempfile.TemporaryDirectory(prefix="trellis-project-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=1) as local:
            assert local.warm is not None and local.warm.wait_ready()
            outcome = submit_tests(local, request).result(timeout=300)
    assert {t.nodeid.rpartition("::")[2]: t.outcome for t in outcome.tests} == {
        "test_the_tree_is_imported_by_the_tests_and_by_pytest": "passed"
    }, outcome.output.decode()[-2000:]
