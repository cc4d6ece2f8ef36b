"""A project's compiled extensions are built into its pytest jobs as ``pip install -e .`` builds them: in the job's
sandbox, cached by the digest of their inputs, a failed build being the project's install failing.

The fixture is simplejson's shape in ten lines of C: a module that imports its extension optionally and takes a
branch only with it (``c_make_encoder``), so a fault there is caught only when the extension is built."""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from trellis.ci.execution import LocalExecutor
from trellis.ci.execution.environments import unmet
from trellis.ci.execution.extensions import CythonSource, build_requirements, cython_sources, inputs_digest
from trellis.ci.execution.jobs import JobLimits, JobOutcome, JobRequest, TestPlan
from trellis.ci.execution.shards import submit_tests
from trellis.ci.project import Project

from .test_environments import _wheel
from .test_workspace import GitRepo

LIMITS = JobLimits(timeout_s=120, cpu_s=120, memory_bytes=1 << 30, processes=64, output_bytes=256 << 10)

SPEEDUPS_C = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *double_it(PyObject *self, PyObject *arg) {
    long x = PyLong_AsLong(arg);
    return PyLong_FromLong(x * FACTOR);
}
static PyMethodDef methods[] = {{"double", double_it, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
"""

INIT = """\
try:
    from ._speedups import double as c_double
except ImportError:
    c_double = None


def double(x):
    if c_double is not None:
        return c_double(x)  # the branch only the extension takes
    return x * 2


def has_speedups():
    return c_double is not None
"""

SETUP = """\
from setuptools import Extension, setup

setup(
    name="fastdemo",
    version="1.0",
    packages=["fastdemo"],
    ext_modules=[Extension("fastdemo._speedups", ["fastdemo/_speedups.c"], depends=["fastdemo/factor.h"])],
)
"""

# simplejson's setup.py: the extension built in a function, the build retried without it when it fails.
SETUP_FALLING_BACK = """\
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildFailed(Exception):
    pass


class optional_build_ext(build_ext):
    def build_extension(self, ext):
        try:
            build_ext.build_extension(self, ext)
        except Exception:
            raise BuildFailed()


def run_setup(with_binary):
    kw = {}
    if with_binary:
        kw = dict(
            ext_modules=[Extension("fastdemo._speedups", sources=["fastdemo/_speedups.c"])],
            cmdclass={"build_ext": optional_build_ext},
        )
    setup(name="fastdemo", version="1.0", packages=["fastdemo"], **kw)


try:
    run_setup(True)
except BuildFailed:
    print("WARNING: The C extension could not be compiled, speedups are not enabled.")
    run_setup(False)
"""

TESTS = """\
import fastdemo


def test_double():
    assert fastdemo.double(21) == 42
"""


def _tree(**changes: str) -> dict[str, bytes]:
    files = {
        "setup.py": SETUP,
        "fastdemo/__init__.py": INIT,
        "fastdemo/_speedups.c": '#include "factor.h"\n' + SPEEDUPS_C,
        "fastdemo/factor.h": "#define FACTOR 2\n",
        "tests/test_double.py": TESTS,
    }
    return {path: text.encode() for path, text in {**files, **changes}.items()}


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    with tempfile.TemporaryDirectory(prefix="trellis-extensions-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=1) as local:
            yield local


def _job(executor: LocalExecutor, repo: GitRepo, files: dict[str, bytes], job_id: str) -> JobOutcome:
    tree = repo.commit(files)
    request = JobRequest(
        job_id, str(repo.path), tree, kind="pytest", pytest_args=("-q", "tests"), limits=LIMITS, tests=TestPlan()
    )
    return submit_tests(executor, request).result(timeout=300)


def _first_line(outcome: JobOutcome) -> str:
    return outcome.output.decode(errors="replace").splitlines()[0]


def test_a_fault_in_code_only_the_extension_runs_fails_the_job(executor: LocalExecutor, tmp_path: Path) -> None:
    """``pip install -e .`` builds the extension, so the project's tests run the branch taken only with it; without
    the build, every test passed on the fallback and a fault there was never verified."""
    repo = GitRepo(tmp_path / "repo")
    faulty = INIT.replace("return c_double(x)  #", "return c_double(x) + 1  #")
    fault = _job(executor, repo, _tree(**{"fastdemo/__init__.py": faulty}), "fault")
    assert fault.status == "failed" and [t.outcome for t in fault.tests] == ["failed"], fault.output.decode()[-3000:]
    clean = _job(executor, repo, _tree(), "clean")
    assert clean.status == "passed", clean.output.decode()[-3000:]
    assert _first_line(clean).startswith("trellis: compiled extensions"), clean.output.decode()[:2000]


def test_an_unchanged_extension_is_copied_not_rebuilt_and_a_changed_source_rebuilds(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    """The built module is kept by the digest of its inputs: the next job with the same sources gets a copy (its
    workspace was reset to the tree in between), a change to a header builds again, and the tests run the new one."""
    repo = GitRepo(tmp_path / "repo")
    first = _job(executor, repo, _tree(), "first")
    assert first.status == "passed" and "compiled extensions built" in _first_line(first)
    # Another Python file changes: the extension's inputs do not.
    again = _job(executor, repo, _tree(**{"tests/test_more.py": "def test_more():\n    pass\n"}), "again")
    assert again.status == "passed", again.output.decode()[-3000:]
    assert _first_line(again).startswith("trellis: compiled extensions from the cache"), _first_line(again)
    assert _first_line(again).split(": ")[-1] == _first_line(first).split(": ")[-1]  # the same module file
    changed = _job(executor, repo, _tree(**{"fastdemo/factor.h": "#define FACTOR 3\n"}), "changed")
    assert "compiled extensions built" in _first_line(changed), _first_line(changed)
    assert changed.status == "failed" and "63" in changed.tests[0].message, changed.output.decode()[-3000:]


def test_a_build_that_fails_is_the_projects_install_failing(executor: LocalExecutor, tmp_path: Path) -> None:
    """A broken source: a plain ``setup(ext_modules=...)`` exits non-zero, as its ``pip install -e .`` fails, so the
    job fails as an error (exit 3, no test run) with the build's output; a setup.py that retries without the
    extension (simplejson's) exits 0, and its tests run without it, the summary saying so."""
    broken = {"fastdemo/factor.h": "#define FACTOR 2 +\n"}
    repo = GitRepo(tmp_path / "repo")
    fatal = _job(executor, repo, _tree(**broken), "fatal")
    assert (fatal.status, fatal.exit_code, fatal.tests) == ("failed", 3, ()), fatal.output.decode()[-3000:]
    assert "compiled extensions did not build" in fatal.summary and "error" in fatal.output.decode()
    other = GitRepo(tmp_path / "other")
    fallback = _job(executor, other, _tree(**broken, **{"setup.py": SETUP_FALLING_BACK}), "fallback")
    assert fallback.status == "passed" and [t.outcome for t in fallback.tests] == ["passed"]
    assert "compiled extensions not built" in fallback.summary and "ran without them" in fallback.summary
    assert b"speedups are not enabled" in fallback.output
    # Kept too: the same inputs are not tried again by every job (PyYAML's optional extension without libyaml).
    again = _job(
        executor, other, _tree(**broken, **{"setup.py": SETUP_FALLING_BACK, "tests/test_more.py": ""}), "again"
    )
    assert "from the cache" in _first_line(again) and "ran without them" in again.summary, _first_line(again)


def test_a_test_crashing_the_interpreter_fails_by_name_and_the_rest_still_runs(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    """C code can kill the process (simplejson's 4.2 extension segfaulted under 4.3's tests): the test that was
    running fails by name, as pytest-xdist reports a crashed worker's test, and the tests after it run again
    in a new process instead of never running (a fault among them went unseen, the job only an error)."""
    crash = SPEEDUPS_C.replace("long x = PyLong_AsLong(arg);", "long x = PyLong_AsLong(arg);\n    if (x < 0) abort();")
    tests = TESTS + "\n\ndef test_crash():\n    fastdemo.double(-1)\n\n\ndef test_zz_after():\n    assert False\n"
    repo = GitRepo(tmp_path / "repo")
    outcome = _job(
        executor,
        repo,
        _tree(
            **{
                "fastdemo/_speedups.c": '#include <stdlib.h>\n#include "factor.h"\n' + crash,
                "tests/test_double.py": tests,
            }
        ),
        "crash",
    )
    found = {t.nodeid.rpartition("::")[2]: (t.outcome, t.message[:60]) for t in outcome.tests}
    assert found == {
        "test_double": ("passed", ""),
        "test_crash": ("failed", "crashed the interpreter (SIGABRT); the rest of its shard ran"),
        "test_zz_after": ("failed", found["test_zz_after"][1]),
    }, outcome.output.decode()[-3000:]
    assert outcome.status == "failed" and outcome.exit_code == 1


# A stand-in for Cython (so the test installs offline): ``python -m cython X.pyx -o X.c`` writes the C that the
# ``.pyx``'s ``FACTOR = N`` makes, under Cython's first line.
FAKE_CYTHON = f"""\
import re
import sys

BODY = {SPEEDUPS_C!r}


def main():
    args = sys.argv[1:]
    pyx = next(a for a in args if a.endswith(".pyx"))
    factor = re.search(r"FACTOR = (\\d+)", open(pyx).read()).group(1)
    with open(args[args.index("-o") + 1], "w") as out:
        out.write("/* Generated by Cython 3.3.0 */\\n#define FACTOR " + factor + "\\n" + BODY)


if __name__ == "__main__":
    main()
"""


def _cython_tree(wheel: Path, **changes: str | None) -> dict[str, bytes]:
    """msgpack's shape: setup.py compiles the C file Cython generated from the ``.pyx``, which the tree ships beside
    it; Cython is no requirement of the job's interpreter, only of the build."""
    pyproject = f'[build-system]\nrequires = ["setuptools", "Cython @ {wheel.as_uri()}"]\n'
    setup = SETUP.replace(', depends=["fastdemo/factor.h"]', "")
    files: dict[str, str | None] = {
        "pyproject.toml": pyproject,
        "setup.py": setup,
        "fastdemo/__init__.py": INIT,
        "fastdemo/_speedups.pyx": "FACTOR = 2\n",
        "fastdemo/_speedups.c": "/* Generated by Cython 3.3.0 */\n#define FACTOR 2\n" + SPEEDUPS_C,
        "tests/test_double.py": TESTS,
        **changes,
    }
    return {path: text.encode() for path, text in files.items() if text is not None}


def test_a_fault_in_a_cython_source_is_built_into_the_tests(executor: LocalExecutor, tmp_path: Path) -> None:
    """The project's build runs Cython on the ``.pyx`` before compiling (msgpack's ``make cython``), with the build
    requirements pip's isolated build installs: a fault in the ``.pyx`` fails the tests. Before, the job compiled
    the C file generated before the change, and the fault passed; a tree that does not track the generated C file
    failed to build."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _wheel(wheels, "3.3.0", name="Cython", module=None)
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("cython.py", FAKE_CYTHON)
    repo = GitRepo(tmp_path / "repo")
    clean = _job(executor, repo, _cython_tree(wheel), "clean")
    assert clean.status == "passed", clean.output.decode()[-3000:]
    assert "python -m cython fastdemo/_speedups.pyx" in _first_line(clean), _first_line(clean)
    fault = _job(executor, repo, _cython_tree(wheel, **{"fastdemo/_speedups.pyx": "FACTOR = 3\n"}), "fault")
    assert fault.status == "failed" and "63" in fault.tests[0].message, fault.output.decode()[-3000:]
    other = GitRepo(tmp_path / "other")  # a repository that does not track the generated file
    untracked = _job(executor, other, _cython_tree(wheel, **{"fastdemo/_speedups.c": None}), "untracked")
    assert untracked.status == "passed" and "compiled extensions built" in _first_line(untracked)


def test_the_build_requirements_are_pyprojects_and_the_cython_that_generated_the_tree() -> None:
    """pip's isolated build installs ``[build-system] requires``; Cython is added for the ``.pyx`` modules, of the
    version that wrote the tree's C files (the unchanged tree then compiles the same C), unless they name it."""
    project = Project("msgpack", "1.2.4", build_requires=("setuptools >= 78.1.1",), extensions=("msgpack._cmsgpack",))
    sources = (CythonSource("msgpack/_cmsgpack.pyx", "msgpack/_cmsgpack.c", "3.3.0"),)
    assert build_requirements(project, sources) == ("setuptools >= 78.1.1", "Cython==3.3.0")
    assert build_requirements(project, (CythonSource("a.pyx", "a.c"),)) == ("setuptools >= 78.1.1", "Cython")
    own = replace(project, build_requires=("setuptools", "cython>=3"))
    assert build_requirements(own, sources) == ("setuptools", "cython>=3")
    assert build_requirements(project, ()) == ("setuptools >= 78.1.1",)
    assert unmet(
        ["setuptools >= 1", "setuptools < 1", "Cython", "pywin32; sys_platform == 'win32'"], sys.executable
    ) == (
        "setuptools < 1",
        "Cython",
    )


def test_cython_sources_are_the_pyx_beside_a_generated_or_declared_c_file(tmp_path: Path) -> None:
    files = {
        "pkg/_gen.pyx": "",
        "pkg/_gen.c": "/* Generated by Cython 3.1.2 */\n",
        "pkg/_own.pyx": "",
        "pkg/_own.c": "/* written by hand */\n",
        "pkg/_cpp.pyx": "",
        "pkg/_untracked.pyx": "",
        "pkg/_included.pyx": "",
        "setup.py": 'Extension("pkg._untracked", ["pkg/_untracked.c"])\nExtension("pkg._cpp", ["pkg/_cpp.cpp"])\n',
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert cython_sources(tmp_path) == (
        CythonSource("pkg/_cpp.pyx", "pkg/_cpp.cpp"),
        CythonSource("pkg/_gen.pyx", "pkg/_gen.c", "3.1.2"),
        CythonSource("pkg/_untracked.pyx", "pkg/_untracked.c"),
    )
    assert CythonSource("pkg/_cpp.pyx", "pkg/_cpp.cpp").command("py")[3] == "--cplus"


def test_a_new_compiler_builds_again(tmp_path: Path) -> None:
    """The compiler is an input of the build: an upgraded gcc at the same path gives other inputs (the modules the
    old one made are not copied into the jobs of the new one), the same compiler the same inputs."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "setup.py").write_text(SETUP)
    cc = tmp_path / "bin" / "cc"
    cc.parent.mkdir()
    cc.write_text("#!/bin/sh\n# version 12\n")
    cc.chmod(0o755)
    env = {"CC": "cc -O2", "PATH": str(cc.parent)}
    first = inputs_digest(workspace, sys.executable, env)
    assert inputs_digest(workspace, sys.executable, env) == first
    cc.write_text("#!/bin/sh\n# version 13.1\n")
    assert inputs_digest(workspace, sys.executable, env) != first
