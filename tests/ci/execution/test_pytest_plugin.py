"""The job plugin on a real executor: what a selection leaves out of collection, and what it keeps."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from trellis.ci.execution import LocalExecutor
from trellis.ci.execution.jobs import JobLimits, JobOutcome, JobRequest, TestPlan
from trellis.ci.execution.shards import submit_tests

from .test_workspace import GitRepo

LIMITS = JobLimits(timeout_s=120, cpu_s=120, memory_bytes=512 << 20, processes=64, output_bytes=256 << 10)

# One selected file with classes and functions around the selected tests: unittest and plain classes,
# a nested class, a parametrised function, and names that are not tests at all.
TESTS = b"""\
import unittest

import pytest

HELPER = 1


class Selected(unittest.TestCase):
    def test_a(self):
        pass

    def test_b(self):
        pass


class Unselected(unittest.TestCase):
    def test_c(self):
        pass


class TestOuter:
    def test_outer(self):
        pass

    class TestInner:
        def test_inner(self):
            pass

    class TestOther:
        def test_other(self):
            pass


@pytest.mark.parametrize("k", [1, 2])
def test_param(k):
    pass


@pytest.mark.parametrize("k", [1, 2, 3])
def test_param_unselected(k):
    pass


def test_plain():
    pass
"""

PROJECT: dict[str, bytes | None] = {"tests/test_mixed.py": TESTS}
EVERY_ITEM = 12


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    with tempfile.TemporaryDirectory(prefix="trellis-plugin-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=1) as local:
            yield local


def run(
    executor: LocalExecutor, tmp_path: Path, files: dict[str, bytes | None], only: tuple[str, ...] | None
) -> JobOutcome:
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit(files)  # type: ignore[arg-type]
    request = JobRequest(
        "job", str(repo.path), tree, kind="pytest", pytest_args=("-q",), limits=LIMITS, tests=TestPlan(only=only)
    )
    return submit_tests(executor, request).result(timeout=300)


def ran(outcome: JobOutcome) -> list[str]:
    return [t.nodeid for t in outcome.tests if t.outcome == "passed"]


SELECTIONS = [
    (
        ("tests/test_mixed.py::Selected::test_a", "tests/test_mixed.py::test_param"),
        [
            "tests/test_mixed.py::Selected::test_a",
            "tests/test_mixed.py::test_param[1]",
            "tests/test_mixed.py::test_param[2]",
        ],
        1,  # Selected::test_b
    ),
    (
        ("tests/test_mixed.py::TestOuter::TestInner::test_inner", "tests/test_mixed.py::test_param[2]"),
        ["tests/test_mixed.py::TestOuter::TestInner::test_inner", "tests/test_mixed.py::test_param[2]"],
        1,  # test_param[1]
    ),
    (("tests/test_mixed.py::test_plain",), ["tests/test_mixed.py::test_plain"], 0),
]


def deselected(outcome: JobOutcome) -> int:
    """How many items pytest collected and the selection then left out (its summary line)."""
    found = re.search(rb"(\d+) deselected", outcome.output)
    return int(found.group(1)) if found else 0


def _records(outcome: JobOutcome) -> list[str]:
    """What the job observed, each record as canonical JSON, sorted."""
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in outcome.evals)


def _records_of(*records: dict[str, object]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def _recorded(executor: LocalExecutor, tmp_path: Path, files: dict[str, bytes | None]) -> JobOutcome:
    """A whole run of ``files``, recording what exec/eval ran and the computed imports; it passed."""
    repo = GitRepo(tmp_path / "repo")
    request = JobRequest(
        "job",
        str(repo.path),
        repo.commit(files),
        kind="pytest",
        pytest_args=("-q",),
        limits=LIMITS,
        tests=TestPlan(evals=()),
    )
    outcome = submit_tests(executor, request).result(timeout=300)
    assert outcome.status == "passed", outcome.output.decode()
    return outcome


@pytest.mark.parametrize(("only", "expected", "left_out"), SELECTIONS)
def test_a_selected_file_collects_only_the_classes_and_functions_that_hold_selected_tests(
    executor: LocalExecutor, tmp_path: Path, only: tuple[str, ...], expected: list[str], left_out: int
) -> None:
    outcome = run(executor, tmp_path, PROJECT, only)
    assert ran(outcome) == expected, outcome.output.decode()
    assert outcome.status == "passed"
    # Only the items under a name that holds a selected test were collected (and some deselected).
    assert deselected(outcome) == left_out, outcome.output.decode()


def test_a_selected_module_that_does_not_import_is_an_error_named_by_its_path(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    """pytest runs no test when a module does not collect: the job names the module and says why."""
    files = {**PROJECT, "tests/test_broken.py": b"from missing_module_xyz import thing\n\n\ndef test_x():\n    pass\n"}
    outcome = run(executor, tmp_path, files, ("tests/test_broken.py::test_x", "tests/test_mixed.py::test_plain"))
    errors = [t for t in outcome.tests if t.outcome == "error"]
    assert [t.nodeid for t in errors] == ["tests/test_broken.py"], outcome.output.decode()
    assert "missing_module_xyz" in errors[0].message
    assert outcome.status != "passed"


@pytest.mark.parametrize("only", [("tests/test_broken.py::test_x", "tests/test_fails.py::test_new"), None])
def test_a_module_that_does_not_import_hides_no_other_tests_result(
    executor: LocalExecutor, tmp_path: Path, only: tuple[str, ...] | None
) -> None:
    """pytest alone stops at a collection error and runs nothing: a module that already failed to import at the
    parent (a test committed before the name it imports) would then hide every failure a later commit makes, in
    a selection or a whole run. The job runs the other tests; the module stays an error of its path."""
    files = {
        **PROJECT,
        "tests/test_broken.py": b"from missing_module_xyz import thing\n\n\ndef test_x():\n    pass\n",
        "tests/test_fails.py": b"def test_new():\n    assert 1 == 2\n",
    }
    outcome = run(executor, tmp_path, files, only)
    by_id = {t.nodeid: t.outcome for t in outcome.tests}
    assert by_id.get("tests/test_broken.py") == "error", outcome.output.decode()
    assert by_id.get("tests/test_fails.py::test_new") == "failed", outcome.output.decode()
    assert outcome.status != "passed"


REPORTS = b"""\
import os

from _pytest.junitxml import xml_key


def test_the_report_written(request):
    report = request.config.stash.get(xml_key, None)
    expected = os.environ["EXPECTED_REPORT"]
    assert (report.logfile if report is not None else "") == (os.path.abspath(expected) if expected else "")
"""


@pytest.mark.parametrize(("args", "expected"), [(("-q",), ""), (("-q", "--junitxml=own.xml"), "own.xml")])
def test_the_jobs_own_junit_report_is_not_written_while_the_plugin_streams_the_results(
    executor: LocalExecutor, tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    # The job's command line names a junit report, read only when the plugin never ran: the plugin, running, keeps
    # pytest from writing it. A report the stage's own arguments ask for is written.
    repo = GitRepo(tmp_path / "repo")
    request = JobRequest(
        "job",
        str(repo.path),
        repo.commit({"tests/test_reports.py": REPORTS}),
        kind="pytest",
        pytest_args=args,
        env=(("EXPECTED_REPORT", expected),),
        limits=LIMITS,
        tests=TestPlan(),
    )
    outcome = submit_tests(executor, request).result(timeout=300)
    assert [(t.nodeid, t.outcome) for t in outcome.tests] == [
        ("tests/test_reports.py::test_the_report_written", "passed")
    ]


def test_everything_is_collected_without_a_selection(executor: LocalExecutor, tmp_path: Path) -> None:
    outcome = run(executor, tmp_path, PROJECT, None)
    assert len(ran(outcome)) == EVERY_ITEM


def test_a_project_hook_that_makes_items_keeps_the_whole_file(executor: LocalExecutor, tmp_path: Path) -> None:
    # The project's own pytest_pycollect_makeitem names its items as it likes: nothing may be left out.
    conftest = b"""\
import pytest


def pytest_pycollect_makeitem(collector, name, obj):
    if name == "Unselected":
        return [pytest.Function.from_parent(collector, name="renamed", callobj=lambda: None)]
"""
    outcome = run(
        executor,
        tmp_path,
        {**PROJECT, "conftest.py": conftest},
        ("tests/test_mixed.py::renamed", "tests/test_mixed.py::test_plain"),
    )
    assert ran(outcome) == ["tests/test_mixed.py::renamed", "tests/test_mixed.py::test_plain"]
    assert deselected(outcome) == EVERY_ITEM - 2  # everything but the two selected (Unselected became "renamed")


def test_a_selected_load_tests_keeps_the_whole_module(executor: LocalExecutor, tmp_path: Path) -> None:
    # What a module's load_tests adds is told from everything its classes hold (the unittest protocol).
    tests = TESTS + b"\n\ndef load_tests(loader, tests, pattern):\n    return tests\n"
    outcome = run(
        executor,
        tmp_path,
        {"tests/test_mixed.py": tests},
        ("tests/test_mixed.py::load_tests", "tests/test_mixed.py::test_plain"),
    )
    assert "tests/test_mixed.py::test_plain" in ran(outcome)
    assert deselected(outcome) == EVERY_ITEM - 1  # every item but test_plain


# A unittest project (load_tests): one test module turns warnings into errors at import (Python-Markdown's
# test_legacy.py), a later one imports a class whose name pytest matches but that has its own __init__
# (``from unittest import TestSuite``). pytest declines it with a PytestCollectionWarning, an error under that
# filter: the collection failed and no test ran. unittest never looks at a class that is no TestCase.
UNITTEST_RUN: dict[str, bytes | None] = {
    "tests/test_a_strict.py": b"import unittest\nimport warnings\n\nwarnings.simplefilter('error')\n\n\n"
    b"class TestStrict(unittest.TestCase):\n    def test_one(self):\n        pass\n",
    "tests/test_b_suite.py": b"import unittest\nfrom unittest import TestSuite\n\n\n"
    b"class TestCases(unittest.TestCase):\n    def test_two(self):\n        pass\n\n\n"
    b"class TestHelper:\n    def __init__(self, value):\n        self.value = value\n\n"
    b"    def test_never(self):\n        pass\n\n\n"
    b"def load_tests(loader, tests, pattern):\n    suite = TestSuite()\n"
    b"    suite.addTests(loader.loadTestsFromTestCase(TestCases))\n    return suite\n",
}


def test_a_unittest_run_declines_classes_that_are_no_test_case_without_a_collection_warning(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit(UNITTEST_RUN)  # type: ignore[arg-type]
    request = JobRequest(
        "job", str(repo.path), tree, kind="pytest", pytest_args=("-q",), limits=LIMITS, tests=TestPlan(load_tests=True)
    )
    outcome = submit_tests(executor, request).result(timeout=300)
    assert outcome.status == "passed", outcome.output.decode()
    assert sorted(ran(outcome)) == [
        "tests/test_a_strict.py::TestStrict::test_one",
        "tests/test_b_suite.py::TestCases::test_two",
    ]


DOCTESTED: dict[str, bytes | None] = {
    "lib.py": b'def double(x):\n    """\n    >>> double(2)\n    4\n    """\n    return 2 * x\n',
    "tests/test_lib.py": b"""\
import lib


def helper():
    \"\"\"
    >>> 1 + 1
    2
    \"\"\"


def test_double():
    assert lib.double(3) == 6
""",
}


def run_doctests(executor: LocalExecutor, tmp_path: Path, only: tuple[str, ...]) -> JobOutcome:
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit(DOCTESTED)  # type: ignore[arg-type]
    args = ("-q", "--doctest-modules", "lib.py", "tests")
    request = JobRequest(
        "job", str(repo.path), tree, kind="pytest", pytest_args=args, limits=LIMITS, tests=TestPlan(only=only)
    )
    return submit_tests(executor, request).result(timeout=300)


@pytest.mark.parametrize(
    ("only", "expected", "left_out"),
    [
        (("tests/test_lib.py::test_double",), ["tests/test_lib.py::test_double"], 0),  # its doctest not collected
        (("tests/test_lib.py", "lib.py"), ["lib.py::lib.double", "tests/test_lib.py::test_lib.helper"], 0),
        (
            ("tests/test_lib.py::test_lib.helper", "tests/test_lib.py::test_double"),
            ["tests/test_lib.py::test_lib.helper", "tests/test_lib.py::test_double"],
            0,
        ),
    ],
)
def test_a_selected_files_doctests_are_collected_only_when_selected(
    executor: LocalExecutor, tmp_path: Path, only: tuple[str, ...], expected: list[str], left_out: int
) -> None:
    outcome = run_doctests(executor, tmp_path, only)
    assert sorted(ran(outcome)) == sorted(expected), outcome.output.decode()
    assert deselected(outcome) == left_out, outcome.output.decode()


def test_the_code_exec_and_eval_run_is_recorded_from_the_first_conftest_on(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # Generated code runs at import time (a conftest, before pytest_configure), inside class bodies and
    # lambdas, from compiled sources and from code objects with no source; the interpreter's own exec of
    # every imported module is not the tree's.
    files: dict[str, bytes | None] = {
        "conftest.py": b"import gen\n\nFIRST = gen.make('a')\n",
        "gen.py": b"""\
import types


def make(name):
    exec(compile(f"def {name}(self):\\n    return self.check_{name}()\\n", f"<gen {name}>", "exec"), {}, {})
    return eval('lambda: 1')


class Holder:
    value = eval("len('abc')")
    pick = staticmethod(lambda: eval(compile("seven", "<pick>", "eval"), {"seven": 7}))


def without_source():
    code = compile("x.attr_from_bytecode", "<x>", "eval").replace(co_filename="<elsewhere>")
    return eval(code, {"x": types.SimpleNamespace(attr_from_bytecode=3)})


def same_name():  # two sources under one file name, the first run twice: each code gets its own source
    first = compile("first_name", "<same>", "eval")
    second = compile("second_name", "<same>", "eval")
    space = {"first_name": 1, "second_name": 2}
    return eval(first, space) + eval(first, space) + eval(second, space)
""",
        "tests/test_gen.py": b"import sys\n\nimport gen\n\n\ndef test_gen(monkeypatch):\n"
        b"    monkeypatch.delattr(sys, '_getframe')  # as attrs' own tests do\n"
        b"    gen.make('b')\n    assert gen.Holder.pick() == 7\n    assert gen.without_source() == 3\n"
        b"    assert gen.same_name() == 4\n",
    }
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit(files)
    plan = TestPlan(evals=())
    request = JobRequest("job", str(repo.path), tree, kind="pytest", pytest_args=("-q",), limits=LIMITS, tests=plan)
    outcome = submit_tests(executor, request).result(timeout=300)
    assert outcome.status == "passed", outcome.output.decode()
    records = [json.loads(line) for line in outcome.evals]
    assert records[0] == {"eval": "", "recording": 4}  # the recorder ran (it hears processes: none here)
    records = records[1:]
    by_site: dict[str, list[dict[str, object]]] = {}
    for record in records:
        by_site.setdefault(str(record["eval"]), []).append(record)
    assert set(by_site) == {"gen.py::make", "gen.py::Holder", "gen.py::without_source", "gen.py::same_name"}
    same = by_site["gen.py::same_name"]
    assert sorted(str(r.get("source", r.get("names"))) for r in same) == ["['first_name']", "first_name", "second_name"]
    sources = {str(r["source"]) for r in by_site["gen.py::make"]}
    assert sources == {
        "def a(self):\n    return self.check_a()\n",
        "def b(self):\n    return self.check_b()\n",
        "lambda: 1",
    }
    assert {str(r.get("source")) for r in by_site["gen.py::Holder"]} == {"len('abc')", "seven"}
    (bytecode,) = by_site["gen.py::without_source"]
    assert "source" not in bytecode and "attr_from_bytecode" in bytecode["names"]  # type: ignore[operator]
    assert all("pair" in r for r in records if "source" in r)  # source digest / code fingerprint
    # Sources the engine knows are not sent again, nor compiled again to check them; a job without ``evals``
    # records nothing.
    known = tuple(str(r[k]) for r in records for k in ("sha", "pair") if k in r)
    again = replace(request, tests=TestPlan(evals=known))
    assert sorted(json.loads(line)["eval"] for line in submit_tests(executor, again).result(timeout=300).evals) == [
        "",  # the recorder's first line
        "gen.py::same_name",  # the second run of `first`, by its bytecode
        "gen.py::without_source",
    ]
    assert submit_tests(executor, replace(request, tests=TestPlan())).result(timeout=300).evals == ()


def test_computed_imports_and_unpickling_are_recorded_at_their_site(executor: LocalExecutor, tmp_path: Path) -> None:
    # Every call is recorded, a module already imported too (pytest imports every test module before the first
    # test runs: an import only the interpreter's own import events saw would miss those); relative names
    # absolute; what unpickling looks up, by the function that unpickles.
    files: dict[str, bytes | None] = {
        "pkg/__init__.py": b"",
        "pkg/a.py": b"X = 1\n",
        "pkg/data/__init__.py": b"",
        "pkg/data/x.txt": b"hi",
        "pkg/use.py": b"""\
import importlib
import importlib.resources
import pickle
from importlib import import_module


class Thing:
    pass


def load(name):
    return import_module(name)


def rel(name):
    return importlib.import_module("." + name, "pkg")


def data():
    return importlib.resources.files("pkg.data").joinpath("x.txt").read_text()


def unpickle(data):
    return pickle.loads(data)
""",
        # A module attributing its warning to its importer, past import_module (warnings pass over the import
        # system's frames): the recording wrapper is one of those.
        "pkg/warns.py": b"import warnings\n\nwarnings.warn('old', DeprecationWarning, stacklevel=3)\n",
        "tests/test_use.py": b"import pickle\nimport warnings\n\nimport pkg.a\nfrom pkg import use\n\n\ndef test_use():\n"
        b"    assert use.load('pkg.a') is use.rel('a') is pkg.a\n    assert use.data() == 'hi'\n"
        b"    assert isinstance(use.unpickle(pickle.dumps(use.Thing())), use.Thing)\n"
        b"    with warnings.catch_warnings(record=True) as caught:\n        warnings.simplefilter('always')\n"
        b"        use.load('pkg.warns')\n    assert [w.filename for w in caught] == [use.__file__]\n",
    }
    outcome = _recorded(executor, tmp_path, files)
    assert _records(outcome) == _records_of(
        {"eval": "", "recording": 4},
        {"import": "pkg/use.py::load", "module": "pkg.a"},
        {"import": "pkg/use.py::load", "module": "pkg.warns"},
        {"import": "pkg/use.py::rel", "module": "pkg.a"},
        {"import": "pkg/use.py::data", "module": "pkg.data"},
        {"unpickle": "pkg/use.py::unpickle", "global": "pkg.use Thing"},
        {"reads": "pkg/use.py::data", "file": "pkg/data/x.txt"},  # a resource read through the loader: a data file
    )


def test_processes_are_recorded_at_their_site_by_what_they_may_run(executor: LocalExecutor, tmp_path: Path) -> None:
    # A program that runs no Python code of the tree by its name; a Python interpreter by its arguments (a script
    # of the tree relative to it); a shell command or script by its simple commands; another script, a shell command
    # it cannot read, the tree's own non-Python program: any code. Started under a library function: the tree's caller.
    files: dict[str, bytes | None] = {
        "pkg/__init__.py": b"",
        "pkg/run.py": b"""\
import os
import subprocess
import sys


def run(cmd, **kwargs):
    return subprocess.run(cmd, **kwargs).returncode


def system(command):
    return os.system(command)


def python(*args):
    return run([sys.executable, *args])
""",
        "scripts/tool.py": b"print('tool')\n",
        "scripts/tool.sh": b"#!/bin/sh\ntrue\n",
        "tests/test_run.py": b"""\
import os
import stat
import subprocess

import pytest

from pkg.run import python, run, system


def test_run(tmp_path):
    assert run(["true"]) == 0 and run("true", shell=True) == 0 and system("true && ls > /dev/null") == 0
    assert python("-c", "import sys") == 0 and python("scripts/tool.py") == 0
    assert run("$TRUE_PROGRAM", shell=True, env={"TRUE_PROGRAM": "true", "PATH": os.environ["PATH"]}) == 0
    for name, text in (("fake-pager", "#!/bin/sh\\n# pages\\n\\nls > /dev/null\\n"), ("script", "#!/bin/sh\\nexec \\"$@\\"\\n")):
        script = tmp_path / name
        script.write_text(text)
        script.chmod(0o755)
        assert run([str(script), "true"]) == 0
    os.chmod("scripts/tool.sh", 0o755)
    assert run(["scripts/tool.sh"]) == 0
    with pytest.raises(FileNotFoundError):
        run(["no-such-program-here"])
    assert subprocess.run(["true"]).returncode == 0  # the test's own: its site is the test function
""",
    }
    outcome = _recorded(executor, tmp_path, files)
    run, system, test = "pkg/run.py::run", "pkg/run.py::system", "tests/test_run.py::test_run"
    assert _records(outcome) == _records_of(
        {"eval": "", "recording": 4},
        {"process": run, "started": "true"},
        {"process": run, "started": "sh"},  # the shell's builtins only
        {"process": system, "started": "ls"},
        {"process": run, "python": ["python", "-c", "import sys"]},
        {"process": run, "python": ["python", "scripts/tool.py"]},
        {"process": run, "any": "sh (a shell running what the job cannot read)"},
        {"process": run, "any": "script (a script: #!/bin/sh)"},
        {"process": run, "started": "ls"},  # a shell script's simple commands
        {"process": run, "any": "scripts/tool.sh (a program of the tree)"},
        {"process": run, "started": ""},
        {"process": test, "started": "true"},
    )


def test_the_job_records_the_computed_imports_selection_bounds_by_what_was_observed() -> None:
    from trellis.ci.execution import pytest_plugin
    from trellis.ci.sandbox.runner import TMPDIR_NAME
    from trellis.ci.selection.python_calls import OBSERVED_IMPORT_CALLS

    assert set(pytest_plugin._IMPORTERS) == OBSERVED_IMPORT_CALLS
    assert pytest_plugin.TMPDIR_NAME == TMPDIR_NAME  # the job's own files, not the tree's


def test_a_module_of_the_tree_imported_before_the_job_could_observe_makes_the_record_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It would hold the functions the job wraps as they were: its computed imports would go unrecorded.
    import importlib
    import sys
    import types

    from trellis.ci.execution import pytest_plugin

    for dotted in pytest_plugin._IMPORTERS:  # put back what the job's wrappers replace, after the test
        owner, _, name = dotted.rpartition(".")
        monkeypatch.setattr(importlib.import_module(owner), name, getattr(importlib.import_module(owner), name))
    stream = tmp_path / "stream.jsonl"
    early = types.ModuleType("early")
    early.__file__ = str(tmp_path / "early.py")
    monkeypatch.setitem(sys.modules, "early", early)
    own = types.ModuleType("_trellis_pytest")  # the job's own files, under the working directory too
    own.__file__ = str(tmp_path / ".trellis-tmp" / "plugin" / "_trellis_pytest.py")
    monkeypatch.setitem(sys.modules, "_trellis_pytest", own)
    pytest_plugin._observe_imports(pytest_plugin.EvalRecorder(str(tmp_path), str(stream), []))
    assert [json.loads(line)["lost"] for line in stream.read_text().splitlines()] == [
        "early was imported before the job could observe its imports"
    ]


def test_a_child_forked_while_another_thread_holds_the_recorders_lock_still_writes(tmp_path: Path) -> None:
    """os.spawn* on POSIX forks, then execs: the exec's audit event is heard in the child, whose copy of the
    recorder's lock stays held forever if another thread held it at the fork. The child gets a lock of its own."""
    from trellis.ci.execution import pytest_plugin

    stream = tmp_path / "stream.jsonl"
    recorder = pytest_plugin.EvalRecorder(str(tmp_path), str(stream), [])
    with recorder.lock, warnings.catch_warnings():  # held, as by another thread, across the fork
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads
        pid = os.fork()
        if pid == 0:
            recorder.write({"process": "child", "started": "cat"})
            os._exit(0)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if done == (0, 0):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert done[1] == 0, "the forked child hung on the recorder's lock"
    assert json.loads(stream.read_text()) == {"process": "child", "started": "cat"}


# Tests made at import time under computed names (a data-driven suite): the index cannot name them, and
# selects the file's ``path::*`` id (trellis.ci.selection.generated_tests): every item of the file runs.
MADE_AT_IMPORT = b"""\
import unittest


class TestCases(unittest.TestCase):
    def test_named(self):
        pass


for n in ("one", "two"):
    setattr(TestCases, "test_" + n, lambda self: None)
    globals()["TestMade_" + n] = type("TestMade_" + n, (unittest.TestCase,), {"test_it": lambda self: None})
"""


def test_a_selected_file_id_of_tests_made_under_computed_names_keeps_every_item_of_the_file(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    files = {"tests/test_made.py": MADE_AT_IMPORT, **PROJECT}
    outcome = run(executor, tmp_path, files, ("tests/test_made.py::*",))
    assert sorted(ran(outcome)) == [
        "tests/test_made.py::TestCases::test_named",
        "tests/test_made.py::TestCases::test_one",
        "tests/test_made.py::TestCases::test_two",
        "tests/test_made.py::TestMade_one::test_it",
        "tests/test_made.py::TestMade_two::test_it",
    ]


def test_the_names_getattr_fetched_are_recorded_at_their_site(executor: LocalExecutor, tmp_path: Path) -> None:
    # Every call of the builtin by a function of the tree, once per site and name (a method's, a nested function's,
    # a comprehension's: its function's); a name that is no identifier names nothing; what getattr does is unchanged
    # (its default, its error and its message, pytest's own calls, which are not the tree's).
    files: dict[str, bytes | None] = {
        "pkg/__init__.py": b"",
        "pkg/use.py": b"""\
def call(obj, name):
    return getattr(obj, name)()


class Box:
    size = 3

    def read(self, name):
        def inner(n):
            return getattr(self, n, None)

        return [inner(name) for _ in range(2)] + [getattr(self, k) for k in ("size",)]
""",
        "tests/test_use.py": b"""\
import pytest

from pkg.use import Box, call


def test_use():
    assert call(Box(), "__repr__").startswith("<")
    assert Box().read("size") == [3, 3, 3] and Box().read("missing") == [None, None, 3]
    assert getattr(Box(), "not an identifier", 1) == 1
    with pytest.raises(AttributeError, match="'Box' object has no attribute 'gone'"):
        call(Box(), "gone")
""",
    }
    outcome = _recorded(executor, tmp_path, files)
    assert _records(outcome) == _records_of(
        {"eval": "", "recording": 4},
        {"getattr": "pkg/use.py::call", "name": "__repr__"},
        {"getattr": "pkg/use.py::call", "name": "gone"},
        {"getattr": "pkg/use.py::Box.read.inner", "name": "size"},
        {"getattr": "pkg/use.py::Box.read.inner", "name": "missing"},
        {"getattr": "pkg/use.py::Box.read", "name": "size"},
    )


def test_identical_functions_of_two_files_are_two_sites(executor: LocalExecutor, tmp_path: Path) -> None:
    # Code objects of equal source compare and hash equal whatever their file (copied helpers, a vendored module and
    # its installed twin): each call is written at the site of its own file, never at the other's (a site with no
    # record made no such call: its names would be lost).
    fetch = b"def fetch(obj, name):\n    return getattr(obj, name)\n\n\ndef names(obj):\n    return sorted(vars(obj))\n"
    files: dict[str, bytes | None] = {
        "pkg/__init__.py": b"",
        "pkg/one.py": fetch,
        "pkg/two.py": fetch,
        "tests/test_twins.py": b"""\
from types import SimpleNamespace

from pkg import one, two


def test_twins():
    assert one.fetch(SimpleNamespace(x=1), "x") == 1 and two.fetch(SimpleNamespace(y=2), "y") == 2
    assert one.names(SimpleNamespace(a=1)) == ["a"] and two.names(SimpleNamespace(b=2)) == ["b"]
""",
    }
    outcome = _recorded(executor, tmp_path, files)
    fetched = {(r["getattr"], r["name"]) for r in map(json.loads, _records(outcome)) if "getattr" in r}
    assert {("pkg/one.py::fetch", "x"), ("pkg/two.py::fetch", "y")} <= fetched
    assert not {("pkg/one.py::fetch", "y"), ("pkg/two.py::fetch", "x")} & fetched
    if sys.version_info < (3, 13):  # vars heard
        assert {("pkg/one.py::names", "a"), ("pkg/two.py::names", "b")} <= fetched
        assert not {("pkg/one.py::names", "b"), ("pkg/two.py::names", "a")} & fetched


def test_the_names_vars_handed_out_are_recorded_at_their_site(executor: LocalExecutor, tmp_path: Path) -> None:
    # Every name of each namespace the builtin vars hands to a function of the tree (an instance's, a module's), once
    # per site and name; a namespace that is not a plain dict or mappingproxy is not iterated (any name); vars()
    # without an argument is still the caller's namespace (a function's locals, a module's globals).
    files: dict[str, bytes | None] = {
        "pkg/__init__.py": b"",
        "pkg/fields.py": b"""\
import string


def fields(obj):
    return sorted(vars(obj))


def module_names():
    return "ascii_letters" in vars(string)


def own(a, b=2):
    found = vars()
    return sorted(found)


class Odd:
    @property
    def __dict__(self):
        return ["not", "a", "dict"]


def odd():
    return vars(Odd())


TOP = sorted(k for k in vars() if k == "TOP")
""",
        "tests/test_fields.py": b"""\
from pkg.fields import TOP, Odd, fields, module_names, odd, own


class Point:
    def __init__(self):
        self.x, self.y = 1, 2


def test_fields():
    assert fields(Point()) == ["x", "y"]
    assert module_names()
    assert own(1) == ["a", "b"]
    assert odd() == ["not", "a", "dict"]
    assert TOP == []
    assert Odd
""",
    }
    outcome = _recorded(executor, tmp_path, files)
    records = [json.loads(line) for line in outcome.evals]
    assert {"getattr": "pkg/fields.py::fields", "name": "x"} in records
    assert {"getattr": "pkg/fields.py::fields", "name": "y"} in records
    assert {"getattr": "pkg/fields.py::module_names", "name": "ascii_letters"} in records
    assert {"getattr": "pkg/fields.py::odd", "any": True} in records
    assert not any(r.get("getattr") == "pkg/fields.py::own" for r in records)  # vars(): no name handed out


def test_an_import_by_the_jobs_own_files_is_no_site_of_the_tree(executor: LocalExecutor, tmp_path: Path) -> None:
    # The job's own files live under <workspace>/.trellis-tmp (this plugin, the entry points' shim importing
    # pytest_cov.plugin by name, the tests' tmp_path): no tree file, so no site (a new random directory each job).
    files: dict[str, bytes | None] = {
        "tests/test_tmp.py": b"import sys\n\n\ndef test_tmp(tmp_path):\n"
        b"    (tmp_path / 'made.py').write_text('import importlib\\nM = importlib.import_module(\"json\")\\n')\n"
        b"    sys.path.insert(0, str(tmp_path))\n    import made\n    assert made.M.dumps(1) == '1'\n",
    }
    outcome = _recorded(executor, tmp_path, files)
    assert [json.loads(line) for line in outcome.evals] == [{"eval": "", "recording": 4}]


def test_a_file_id_of_tests_made_under_computed_names_reused_in_a_whole_run_leaves_out_no_item(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # ``path::*`` passing with an unchanged closure leaves its made tests out of a selected run (not named there);
    # in a whole run it is no item's id: its named tests, whose closures may have changed, still run.
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit({"tests/test_made.py": MADE_AT_IMPORT})  # type: ignore[arg-type]
    plan = TestPlan(reused=("tests/test_made.py::*",))
    request = JobRequest("job", str(repo.path), tree, kind="pytest", pytest_args=("-q",), limits=LIMITS, tests=plan)
    outcome = submit_tests(executor, request).result(timeout=300)
    assert len(ran(outcome)) == 5


def test_the_files_of_the_tree_read_and_the_directories_listed_are_recorded_at_their_site(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # Read as text and found by listing (os.walk, Path.iterdir), at the innermost function of the tree on the stack
    # (a module body's: ``path::``), once per site and path; not the import system's own reads of modules, bytecode
    # and package directories, nor a file opened to write, nor files outside the tree (tmp_path).
    files: dict[str, bytes | None] = {
        "VERSION": b"1.0\n",
        "pkg/__init__.py": b"",
        "pkg/used.py": b"X = 1\n",
        "pkg/unused.py": b"def f(:\n",  # no one imports it; test_walk reads it
        "data/case.txt": b"case\n",
        "tests/test_reads.py": b"""\
import os
import pathlib

from pkg.used import X

HERE = pathlib.Path(__file__).parent
VERSION = (HERE.parent / "VERSION").read_text()


def sources():
    out = []
    for root, dirs, names in os.walk("pkg"):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(names):
            if name.endswith(".py"):
                with open(os.path.join(root, name)) as f:
                    out.append(f.read())
    return out


def test_walk(tmp_path):
    assert len(sources()) == 3 and len(sources()) == 3
    (tmp_path / "own.txt").write_text("x")
    assert (tmp_path / "own.txt").read_text() == "x"


def test_listing():
    names = sorted(p.name for p in (HERE.parent / "data").iterdir())
    assert [(HERE.parent / "data" / n).read_text() for n in names] == ["case\\n"]
    with open(HERE.parent / "written.txt", "w") as f:
        f.write(VERSION)
    assert X == 1
""",
    }
    outcome = _recorded(executor, tmp_path, files)
    assert _records(outcome) == _records_of(
        {"eval": "", "recording": 4},
        {"reads": "tests/test_reads.py::", "file": "VERSION"},
        {"reads": "tests/test_reads.py::sources", "dir": "pkg"},
        {"reads": "tests/test_reads.py::sources", "file": "pkg/__init__.py"},
        {"reads": "tests/test_reads.py::sources", "file": "pkg/unused.py"},
        {"reads": "tests/test_reads.py::sources", "file": "pkg/used.py"},
        {"reads": "tests/test_reads.py::test_listing", "dir": "data"},
        {"reads": "tests/test_reads.py::test_listing", "file": "data/case.txt"},
    )


def test_a_finder_of_installed_distributions_lists_path_entries_as_dists(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # importlib.metadata lists every entry of sys.path (a test directory pytest put there) looking for *.dist-info and
    # *.egg-info: written as "dists" (only such an entry counts), not as a listing of every entry.
    files: dict[str, bytes | None] = {
        "pkg/__init__.py": b"import importlib.metadata\n\n\ndef version():\n    try:\n"
        b"        return importlib.metadata.version('no-such-distribution-here')\n"
        b"    except importlib.metadata.PackageNotFoundError:\n        return None\n",
        "tests/test_version.py": b"import pkg\n\n\ndef test_version():\n    assert pkg.version() is None\n",
    }
    outcome = _recorded(executor, tmp_path, files)
    records = [json.loads(line) for line in outcome.evals]
    mine = [r for r in records if r.get("reads") == "pkg/__init__.py::version"]
    assert {"reads": "pkg/__init__.py::version", "dists": "tests"} in mine  # pytest put tests/ on sys.path
    assert not [r for r in mine if "dir" in r], mine
