"""pytest stages through the real server: affected-test selection, injected faults, full runs, and Ray."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures import sample_project
from trellis import ci
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import RunningServer, build_server

PIPELINE = b"""
[stages.syntax]
kind = "syntax"
when.languages = ["python"]

[stages.tests]
kind = "pytest"
select = "affected"
needs = ["syntax"]
"""


@pytest.fixture
def sample(client: Client) -> tuple[Client, dict[str, bytes], str]:
    files = {**sample_project.small(), "trellis.toml": PIPELINE}
    client.create_repository("sample")
    seeded = client.commit("sample", "main", files, "seed", wait_for_verdict=True)
    assert seeded.run is not None and seeded.run.verdict is ci.Verdict.PASSED, seeded.run
    return client, files, seeded.commit.commit_id


def _tests_job(run: ci.Run) -> ci.JobResult:
    return next(j for j in run.jobs if j.stage == "tests")


def _seeded(client: Client, name: str, files: dict[str, bytes]) -> Callable[[str, bytes], ci.JobResult]:
    """A repository seeded with ``files`` (its first run passed), and a push of one file that returns its tests job."""
    client.create_repository(name)
    seed = client.commit(name, "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    head = seed.commit.commit_id

    def push(path: str, content: bytes) -> ci.JobResult:
        nonlocal head
        reply = client.commit(name, "main", {path: content}, "edit", expected_head=head, wait_for_verdict=True)
        assert reply.run is not None
        head = reply.commit.commit_id
        return _tests_job(reply.run)

    return push


def test_a_body_change_runs_only_the_tests_that_reach_it(sample: tuple[Client, dict[str, bytes], str]) -> None:
    client, files, head = sample
    edited, path, qualname = sample_project.micro_edit(files, seed=3)
    reply = client.commit(
        "sample", "main", {path: edited[path]}, "micro-edit", expected_head=head, wait_for_verdict=True
    )
    assert reply.run is not None and reply.run.verdict is ci.Verdict.PASSED
    job = _tests_job(reply.run)
    reaching = set(sample_project.call_graph(edited).tests_reaching(qualname))
    ran = {t.test_id for t in job.tests}
    assert reaching and reaching <= ran  # every test that calls the edited function ran...
    assert job.selected_tests == len(ran) < job.total_tests  # ...and far from all of them
    assert all(t.verdict is ci.Verdict.PASSED for t in job.tests)


@pytest.mark.parametrize("seed", [1, 7])
def test_an_injected_fault_fails_and_a_full_run_finds_no_selection_miss(
    sample: tuple[Client, dict[str, bytes], str], seed: int
) -> None:
    client, files, head = sample
    fault = sample_project.inject_fault(files, seed=seed)
    reply = client.commit(
        "sample",
        "main",
        {fault.path: fault.files[fault.path]},
        fault.description,
        expected_head=head,
        wait_for_verdict=True,
    )
    run = reply.run
    assert run is not None and run.verdict is ci.Verdict.FAILED, run
    job = _tests_job(run)
    failed = {t.test_id for t in job.tests if t.verdict is ci.Verdict.FAILED}
    assert failed and set(fault.expected_failures) <= failed | {t for t in fault.expected_failures if "[" in t}
    assert job.selected_tests < job.total_tests
    # On demand, the whole suite runs and is compared with what selection chose: nothing was missed.
    full = client.wait_run("sample", client.verify("sample", reply.commit.commit_id, full=True).run_id, timeout=120)
    assert full.trigger == "full" and full.verdict is ci.Verdict.FAILED
    assert _tests_job(full).selected_tests == _tests_job(full).total_tests
    assert full.missed_tests == ()
    assert {t.test_id for t in _tests_job(full).tests if t.verdict is ci.Verdict.FAILED} >= failed


@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore:.*unclosed.*:ResourceWarning",
)
def test_the_ray_executor_gives_the_same_verdicts(ray_instance: object, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0", executor="ray"))
    try:
        with Client(running.address, agent="alice", timeout=120) as client:
            client.create_repository("sample")
            files = {**sample_project.small(), "trellis.toml": PIPELINE + b'\n[stages.count]\nrun = "ls sampleapp"\n'}
            seeded = client.commit("sample", "main", files, "seed", wait_for_verdict=True)
            assert seeded.run is not None and seeded.run.verdict is ci.Verdict.PASSED, seeded.run
            count = next(j for j in seeded.run.jobs if j.stage == "count")
            assert b"__init__.py" in count.output
            fault = sample_project.inject_fault(files, seed=1)
            broken = client.commit(
                "sample", "main", {fault.path: fault.files[fault.path]}, "fault", wait_for_verdict=True
            )
            assert broken.run is not None and broken.run.verdict is ci.Verdict.FAILED
    finally:
        running.stop(grace=1)


def test_a_scheduled_full_run_checks_selection_on_every_nth_push(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0", full_run_every=2))
    try:
        with Client(running.address, agent="alice", timeout=120) as client:
            client.create_repository("sample")
            files = {**sample_project.small(), "trellis.toml": PIPELINE}
            first = client.commit("sample", "main", files, "seed", wait_for_verdict=True).run
            edited, path, _ = sample_project.micro_edit(files, seed=2)
            second = client.commit("sample", "main", {path: edited[path]}, "edit", wait_for_verdict=True).run
            assert first is not None and second is not None
            assert (first.trigger, second.trigger) == ("push", "full")
            job = _tests_job(second)
            assert job.selected_tests == job.total_tests and second.missed_tests == ()
    finally:
        running.stop(grace=1)


def test_a_hanging_test_fails_by_name_and_the_suite_runs_in_shards(client: Client) -> None:
    hanging = b"import time\n\n\ndef test_hangs():\n    while True:\n        time.sleep(0.05)\n"
    pipeline = PIPELINE.replace(b'"affected"', b'"all"') + b'shards = 2\ntest_timeout = "2s"\n'
    files = {**sample_project.small(), "trellis.toml": pipeline, "tests/test_zz_hang.py": hanging}
    client.create_repository("hangs")
    run = client.commit("hangs", "main", files, "seed", wait_for_verdict=True).run
    assert run is not None and run.verdict is ci.Verdict.FAILED
    job = _tests_job(run)
    verdicts = {t.test_id: (t.verdict, t.message) for t in job.tests}
    assert verdicts.pop("tests/test_zz_hang.py::test_hangs") == (ci.Verdict.FAILED, "timed out after 2 s")
    assert verdicts and all(v is ci.Verdict.PASSED for v, _ in verdicts.values())  # the rest went on
    assert "tests/test_zz_hang.py::test_hangs timed out after 2 s" in job.summary


def test_results_are_reused_per_test_until_their_closure_changes(client: Client) -> None:
    pipeline = PIPELINE.replace(b'"affected"', b'"all"')
    files = {**sample_project.small(), "trellis.toml": pipeline}
    client.create_repository("reuse")
    seed = client.commit("reuse", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED
    everything = {t.test_id for t in _tests_job(seed.run).tests}
    assert not any(t.message.startswith("reused") for t in _tests_job(seed.run).tests)

    edited, path, qualname = sample_project.micro_edit(files, seed=3)
    reaching = set(sample_project.call_graph(edited).tests_reaching(qualname))
    reply = client.commit(
        "reuse", "main", {path: edited[path]}, "edit", expected_head=seed.commit.commit_id, wait_for_verdict=True
    )
    assert reply.run is not None and reply.run.verdict is ci.Verdict.PASSED
    job = _tests_job(reply.run)
    reused = {t.test_id for t in job.tests if t.message.startswith("reused: passed in run")}
    ran = {t.test_id for t in job.tests} - reused
    assert reaching and reaching <= ran  # the closure changed: they ran again

    def base(ids: set[str]) -> set[str]:
        return {t.split("[", 1)[0] for t in ids}

    assert reused and not reused & reaching and base(reused | ran) == base(everything)  # the others: reused
    assert "reused (closure unchanged since a passing run)" in job.summary

    # Another branch, the same edit plus a module no test reaches: every closure is one that passed.
    client.create_branch("reuse", "feature", seed.commit.commit_id)
    other = client.commit(
        "reuse", "feature", {path: edited[path], "unreached.py": b"X = 1\n"}, "same edit", wait_for_verdict=True
    )
    assert other.run is not None and other.run.verdict is ci.Verdict.PASSED
    again = _tests_job(other.run)
    assert again.tests and all(t.message.startswith("reused") for t in again.tests)  # nothing ran again
    assert {t.test_id for t in again.tests} == base(everything)


def test_selected_tests_run_as_the_projects_own_command_collects_them(client: Client) -> None:
    # attrs' conftest leaves out a module on older Pythons (collect_ignore); a selection that reaches
    # it must not make pytest collect it by naming it, nor run a module's tests in another order.
    files = {
        "trellis.toml": PIPELINE,
        "lib.py": b"def value():\n    return 1\n",
        "conftest.py": b"import sys\n\ncollect_ignore = ['tests/test_future.py'] if sys.version_info < (3, 99) else []\n",
        "tests/test_future.py": b"import lib\n\n\ndef test_future():\n    assert lib.value() == 0, 'collected'\n",
        "tests/test_order.py": b"import lib\n\nSEEN = []\n\n\ndef test_zz_first():\n    SEEN.append(lib.value())\n"
        b"\n\ndef test_aa_second():\n    assert SEEN == [lib.value()]\n",
    }
    client.create_repository("own")
    seed = client.commit("own", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    reply = client.commit(
        "own",
        "main",
        {"lib.py": b"def value():\n    return 1 + 0\n"},
        "edit",
        expected_head=seed.commit.commit_id,
        wait_for_verdict=True,
    )
    assert reply.run is not None
    job = _tests_job(reply.run)
    assert job.selected_tests == 3  # the static selection names the ignored test too...
    assert reply.run.verdict is ci.Verdict.PASSED, job.output  # ...but it runs what `pytest` collects
    assert {t.test_id for t in job.tests} == {
        "tests/test_order.py::test_zz_first",
        "tests/test_order.py::test_aa_second",
    }


def test_doctests_are_selected_and_run_as_the_projects_own_command_runs_them(client: Client) -> None:
    from tests.ci.selection.test_selection import DOCS

    pipeline = PIPELINE + b'args = ["--doctest-modules"]\n'
    client.create_repository("docs")
    seed = client.commit(
        "docs",
        "main",
        {**{p: t.encode() for p, t in DOCS.items()}, "trellis.toml": pipeline},
        "seed",
        wait_for_verdict=True,
    )
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    # What `pytest --doctest-modules` collects: every module's examples, and the plain test.
    everything = {t.test_id for t in _tests_job(seed.run).tests}
    assert everything == {
        "app/numbers.py::app.numbers.__test__.unrelated",
        "app/text.py::app.text",
        "app/text.py::app.text.slug",
        "app/text.py::app.text.Box.size",
        "tests/test_plain.py::test_other",
    }, everything
    broken = DOCS["app/helper.py"].replace("return text.lower()", "return text.upper()")
    reply = client.commit(
        "docs",
        "main",
        {"app/helper.py": broken.encode()},
        "break clean",
        expected_head=seed.commit.commit_id,
        wait_for_verdict=True,
    )
    assert reply.run is not None and reply.run.verdict is ci.Verdict.FAILED
    job = _tests_job(reply.run)
    assert job.selected_tests == 1  # app/text.py's doctests: slug's example calls clean
    assert {t.test_id: t.verdict for t in job.tests} == {
        "app/text.py::app.text": ci.Verdict.PASSED,
        "app/text.py::app.text.slug": ci.Verdict.FAILED,
        "app/text.py::app.text.Box.size": ci.Verdict.PASSED,
    }
    full = client.wait_run("docs", client.verify("docs", reply.commit.commit_id, full=True).run_id, timeout=120)
    assert full.missed_tests == () and {t.test_id for t in _tests_job(full).tests} == everything


def test_load_tests_collects_what_python_m_unittest_runs_and_selects_it_soundly(client: Client, tmp_path: Path) -> None:
    from tests.ci.selection.test_load_tests import PROJECT

    files = {**{p: t.encode() for p, t in PROJECT.items()}, "trellis.toml": PIPELINE + b"load_tests = true\n"}
    for path, content in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    unittest_run = subprocess.run(
        [sys.executable, "-m", "unittest"], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120
    )
    ran = int(re.search(r"Ran (\d+) tests?", unittest_run.stderr).group(1))  # type: ignore[union-attr]
    client.create_repository("lt")
    seed = client.commit("lt", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    everything = {t.test_id for t in _tests_job(seed.run).tests}
    assert len(everything) == ran == 6, (everything, unittest_run.stderr)
    assert everything == {
        "tests/test_extra.py::DoubleTests::test_double",
        "tests/test_extra.py::load_tests::tests.helpers.SharedChecks.test_shout",
        "tests/test_text.py::SlugTests::test_slug",
        "tests/test_text.py::load_tests::pkg.text.clean",
        "tests/test_text.py::load_tests::pkg.text.shout",
        "tests/test_text.py::load_tests::pkg.text.slug",
    }

    # A change to the function a doctest documents: its DocTestSuite item is selected, fails the verdict.
    broken = PROJECT["pkg/text.py"].replace('return text.upper() + "!"', 'return text.upper() + "?"')
    reply = client.commit(
        "lt",
        "main",
        {"pkg/text.py": broken.encode()},
        "break",
        expected_head=seed.commit.commit_id,
        wait_for_verdict=True,
    )
    assert reply.run is not None and reply.run.verdict is ci.Verdict.FAILED
    job = _tests_job(reply.run)
    verdicts = {t.test_id: t.verdict for t in job.tests}
    assert verdicts["tests/test_text.py::load_tests::pkg.text.shout"] is ci.Verdict.FAILED
    assert verdicts["tests/test_extra.py::load_tests::tests.helpers.SharedChecks.test_shout"] is ci.Verdict.FAILED
    assert "tests/test_text.py::SlugTests::test_slug" not in verdicts  # it does not reach shout
    failure = next(t for t in job.tests if t.test_id == "tests/test_text.py::load_tests::pkg.text.shout")
    assert failure.message.startswith("Failed doctest test for pkg.text.shout"), failure.message
    assert "Failed example" in failure.message and "'A!'" in failure.message, failure.message
    full = client.wait_run("lt", client.verify("lt", reply.commit.commit_id, full=True).run_id, timeout=120)
    assert full.missed_tests == () and {t.test_id for t in _tests_job(full).tests} == everything

    # A load_tests that raises: unittest's failing _FailedTest, never a silently missing test.
    raising = b"def load_tests(loader, tests, pattern):\n    raise RuntimeError('no suite today')\n"
    again = client.commit(
        "lt",
        "main",
        {"pkg/text.py": files["pkg/text.py"], "tests/test_raises.py": raising},
        "raise",
        expected_head=reply.commit.commit_id,
        wait_for_verdict=True,
    )
    assert again.run is not None and again.run.verdict is ci.Verdict.FAILED
    failed = [t for t in _tests_job(again.run).tests if t.verdict is ci.Verdict.FAILED]
    assert [t.test_id for t in failed] == [
        "tests/test_raises.py::load_tests::unittest.loader._FailedTest.tests.test_raises"
    ]
    assert "no suite today" in failed[0].message and "Failed to call load_tests" in failed[0].message


GENERATED = {
    "trellis.toml": PIPELINE,
    "gen/__init__.py": b'''def make(name, fields):
    """A class whose __init__ is generated code, as attrs and dataclasses write theirs."""
    source = f"def __init__(self, {', '.join(fields)}):\\n"
    source += "".join(f"    self.{f} = {f}\\n" for f in fields) + "    self.check()\\n"
    namespace = {}
    exec(compile(source, f"<generated {name}>", "exec"), {}, namespace)
    return type(name, (Base,), {"__init__": namespace["__init__"]})


class Base:
    def check(self):
        return True

    def unused(self):
        return 1
''',
    "gen/other.py": b"def helper():\n    return 2\n",
    "tests/test_gen.py": b"from gen import make\n\n\ndef test_make():\n    assert make('P', ['x', 'y'])(1, 2).x == 1\n",
    "tests/test_other.py": b"from gen.other import helper\n\n\ndef test_helper():\n    assert helper() == 2\n",
}


def test_code_exec_ran_bounds_selection_once_observed(client: Client) -> None:
    """A test that runs generated code (exec) reaches what that code names, as observed when it ran: an
    unrelated change no longer selects it, a change to what the generated code calls does."""
    push = _seeded(client, "gen", GENERATED)

    job = push("gen/other.py", b"def helper():\n    return 1 + 1\n")  # test_make ran observed: not selected
    assert job.verdict is ci.Verdict.PASSED and {t.test_id for t in job.tests} == {"tests/test_other.py::test_helper"}
    source = GENERATED["gen/__init__.py"]
    job = push("gen/__init__.py", source.replace(b"return 1\n", b"return 2\n"))  # `unused`: no name reaches it
    assert job.verdict is ci.Verdict.PASSED and job.selected_tests == 0, job.summary
    broken = source.replace(b"return 1\n", b"return 2\n").replace(b"return True", b"raise ValueError('broken')")
    job = push("gen/__init__.py", broken)  # `check`, called only by the generated code, by name
    assert job.verdict is ci.Verdict.FAILED
    assert {t.test_id: t.verdict for t in job.tests} == {"tests/test_gen.py::test_make": ci.Verdict.FAILED}


IMPORTED = {
    "trellis.toml": PIPELINE,
    "pkg/__init__.py": b"",
    "pkg/loader.py": b"from importlib import import_module\n\n\ndef load(name):\n    return import_module(f'pkg.{name}')\n",
    "pkg/a.py": b"def run():\n    return 1\n",
    "pkg/b.py": b"def run():\n    return 2\n",
    "pkg/things.py": b"class Thing:\n    def __init__(self, x):\n        self.x = x\n\n\nclass Other:\n    pass\n",
    "pkg/store.py": b"import pickle\nimport tempfile\n\n\ndef round_trip(obj):\n"
    b"    with tempfile.TemporaryFile() as f:\n        pickle.dump(obj, f)\n        f.seek(0)\n"
    b"        return pickle.load(f)\n",
    "tests/test_load.py": b"from pkg.loader import load\n\n\ndef test_a():\n    assert load('a').run() == 1\n",
    "tests/test_thing.py": b"from pkg.store import round_trip\nfrom pkg.things import Thing\n\n\n"
    b"def test_thing():\n    assert round_trip(Thing(1)).x == 1\n",
    "tests/test_b.py": b"from pkg import b\n\n\ndef test_b():\n    assert b.run() == 2\n",
}


def test_computed_imports_and_unpickling_bound_selection_once_observed(client: Client) -> None:
    """A computed import reaches the modules it was observed to import (not every module), unpickling the
    classes it was observed to find (not any code); a change to those still selects the test."""
    push = _seeded(client, "imp", IMPORTED)

    job = push("pkg/b.py", b"def run():\n    return 1 + 1\n")  # only pkg.a was imported by name, one class unpickled
    assert {t.test_id for t in job.tests} == {"tests/test_b.py::test_b"}, job.summary
    broken = IMPORTED["pkg/things.py"].replace(
        b"class Other", b"    def __setstate__(self, state):\n        self.x = 0\n\n\nclass Other"
    )
    job = push("pkg/things.py", broken)  # Thing, unpickled: selected, and fails
    assert {t.test_id: t.verdict for t in job.tests} == {"tests/test_thing.py::test_thing": ci.Verdict.FAILED}
    job = push("pkg/a.py", b"def run():\n    return 3\n")  # imported by name: selected, and fails
    assert {t.test_id: t.verdict for t in job.tests} == {"tests/test_load.py::test_a": ci.Verdict.FAILED}
    job = push("pkg/things.py", broken + b"    def __setstate__(self, state):\n        pass\n")
    assert job.selected_tests == 0, job.summary  # Other: never unpickled


FETCHING = {
    "trellis.toml": PIPELINE,
    "pkg/__init__.py": b"",
    "pkg/dispatch.py": b"def call(obj, name):\n    return getattr(obj, name)()\n",
    "pkg/things.py": b"class Runner:\n    def launch(self):\n        return 1\n\n    def spare(self):\n        return 2\n",
    "pkg/names.py": b"NAMES = {'a': 'lau' + 'nch'}\n",
    "tests/test_run.py": b"from pkg.dispatch import call\nfrom pkg.names import NAMES\nfrom pkg.things import Runner\n\n\n"
    b"def test_run():\n    assert call(Runner(), NAMES['a']) == 1\n",
}


def test_a_computed_getattr_bounds_selection_once_observed(client: Client) -> None:
    """``getattr(obj, name)`` with a computed name reaches the attributes it was observed to fetch, not every method
    of every class in use; a change to what computes the name selects the test, which then fetches the new one."""
    push = _seeded(client, "fetch", FETCHING)

    things = FETCHING["pkg/things.py"]
    job = push("pkg/things.py", things.replace(b"return 2", b"return 3"))  # only launch was fetched
    assert job.selected_tests == 0, job.summary
    job = push("pkg/names.py", b"NAMES = {'a': 'spa' + 're'}\n")  # the name changes: selected, and fails
    assert {t.test_id: t.verdict for t in job.tests} == {"tests/test_run.py::test_run": ci.Verdict.FAILED}
    job = push("pkg/things.py", things.replace(b"return 2", b"return 1"))  # spare fetched now: selected, passes
    assert {t.test_id: t.verdict for t in job.tests} == {"tests/test_run.py::test_run": ci.Verdict.PASSED}


READING = {
    "trellis.toml": PIPELINE,
    "pkg/__init__.py": b"# License: MIT\n",
    "pkg/core.py": b"# License: MIT\n\n\ndef double(x):\n    return 2 * x\n",
    "pkg/spare.py": b"# License: MIT\n\n\ndef unused():\n    return 1\n",  # no code imports it
    "tests/test_core.py": b"from pkg.core import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
    # parso's test_on_itself, a license check: it walks its package and reads every module as text.
    "tests/test_itself.py": b"""\
import ast
import os


def modules():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for root, dirs, names in os.walk(os.path.join(here, "pkg")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(names):
            if name.endswith(".py"):
                with open(os.path.join(root, name)) as f:
                    yield name, f.read()


def test_every_module_has_its_license_and_parses():
    found = dict(modules())
    assert len(found) >= 3
    for name, text in found.items():
        assert text.startswith("# License: MIT"), name
        ast.parse(text)
""",
}


def test_a_change_to_a_file_a_test_was_observed_to_read_selects_it(client: Client) -> None:
    """A test reads the modules of its package as text (``os.walk``, ``open``), one no test imports among them: the
    job records what it read, and a change to that module, which no test reaches as code, selects it and fails."""
    push = _seeded(client, "reads", READING)
    itself = "tests/test_itself.py::test_every_module_has_its_license_and_parses"

    def verdicts(job: ci.JobResult) -> dict[str, ci.Verdict]:
        return {t.test_id: t.verdict for t in job.tests}

    # A comment of a module tests import: no test reaches it as code; the reader is selected, and fails.
    job = push("pkg/core.py", READING["pkg/core.py"].replace(b"# License: MIT\n", b""))
    assert verdicts(job) == {itself: ci.Verdict.FAILED}, job.summary
    assert verdicts(push("pkg/core.py", READING["pkg/core.py"])) == {itself: ci.Verdict.PASSED}
    # A module no code imports (read as data): before, no test was selected and the verdict passed.
    job = push("pkg/spare.py", b"def unused():\n    return 1\n")
    assert verdicts(job) == {itself: ci.Verdict.FAILED}, job.summary
    assert verdicts(push("pkg/spare.py", READING["pkg/spare.py"])) == {itself: ci.Verdict.PASSED}
    # A module added to a directory it lists.
    job = push("pkg/extra.py", b"X = 1\n")
    assert verdicts(job) == {itself: ci.Verdict.FAILED}, job.summary


def test_an_observation_carries_over_a_commit_that_did_not_select_the_test(client: Client) -> None:
    """A commit changing a file of an observed test's closure, in a part the test does not reach, leaves it out
    and keeps it observed: the next change elsewhere does not select it again as not observed in this tree."""
    files = {**GENERATED, "gen/shared.py": b"def used():\n    return True\n\n\ndef unused():\n    return 1\n"}
    files["tests/test_gen.py"] = (
        b"from gen import make\nfrom gen.shared import used\n\n\n"
        b"def test_make():\n    assert make('P', ['x'])(1).x == 1 and used()\n"
    )
    client.create_repository("carry")
    seed = client.commit("carry", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    head = seed.commit.commit_id

    def push(path: str, content: bytes) -> set[str]:
        nonlocal head
        reply = client.commit("carry", "main", {path: content}, "edit", expected_head=head, wait_for_verdict=True)
        assert reply.run is not None and reply.run.verdict is ci.Verdict.PASSED, _tests_job(reply.run).output
        head = reply.commit.commit_id
        return {t.test_id for t in _tests_job(reply.run).tests}

    assert push("gen/shared.py", files["gen/shared.py"].replace(b"return 1", b"return 2")) == set()
    assert push("gen/other.py", b"def helper():\n    return 1 + 1\n") == {"tests/test_other.py::test_helper"}


def test_nearly_every_test_selected_through_code_that_may_run_anything_is_reported_as_a_fallback(
    client: Client,
) -> None:
    helper = b"import subprocess\n\n\ndef check(command=None):\n    if command:\n        subprocess.run(command)\n    return True\n"
    files = {"trellis.toml": PIPELINE, "helpers.py": helper, "lib.py": b"def f():\n    return 1\n"}
    files["tests/test_lib.py"] = b"from lib import f\n\n\ndef test_f():\n    assert f() == 1\n"
    for k in range(12):
        files[f"tests/test_{k}.py"] = f"from helpers import check\n\n\ndef test_{k}():\n    assert check()\n".encode()
    # One test has it start Python code the analysis cannot bound: the site may run any code, for every test.
    files["tests/test_0.py"] = (
        b"import sys\n\nfrom helpers import check\n\n\ndef test_0():\n    assert check([sys.executable, '-c', 'import lib'])\n"
    )
    client.create_repository("near")
    seed = client.commit("near", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED
    reply = client.commit("near", "main", {"lib.py": b"def f():\n    return 2 - 1\n"}, "edit", wait_for_verdict=True)
    assert reply.run is not None
    job = _tests_job(reply.run)
    assert job.selected_tests == job.total_tests == 13
    assert job.fallback == (
        "any-code: helpers.py::check may run any code (subprocess.run of a command the analysis cannot read, which "
        "started python -c import lib (a Python interpreter)): 13 of 13 tests selected, 12 through it"
    )


STARTS = {
    "trellis.toml": PIPELINE,
    "helpers.py": b"import subprocess\n\n\ndef run(cmd):\n    subprocess.run(cmd, check=True)\n    return True\n",
    "lib.py": b"def f():\n    return 1\n",
    "other.py": b"def g():\n    return 2\n",
    "tool.py": b"from lib import f\n\nif __name__ == '__main__':\n    print(f())\n",
    "tests/test_true.py": b"from helpers import run\n\n\ndef test_true():\n    assert run(['true'])\n",
    "tests/test_never.py": b"from helpers import run\n\n\ndef test_never():\n    assert run\n",
    "tests/test_tool.py": b"import sys\n\nfrom helpers import run\n\n\ndef test_tool():\n"
    b"    assert run([sys.executable, 'tool.py'])\n",
    "tests/test_lib.py": b"from lib import f\n\n\ndef test_f():\n    assert f() == 1\n",
    "tests/test_other.py": b"from other import g\n\n\ndef test_g():\n    assert g() == 2\n",
}


def test_processes_started_with_computed_commands_bound_selection_once_observed(client: Client) -> None:
    """A site starting a process whose command the analysis cannot read reaches what its processes were observed
    to run: nothing for a program that runs no Python code, the script a Python interpreter ran; a process that
    may run any Python code keeps it unbounded; a change to the site still selects its tests."""
    client.create_repository("starts")
    seed = client.commit("starts", "main", STARTS, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    head = seed.commit.commit_id

    def push(files: dict[str, bytes]) -> set[str]:
        nonlocal head
        reply = client.commit("starts", "main", files, "edit", expected_head=head, wait_for_verdict=True)
        assert reply.run is not None and reply.run.verdict is ci.Verdict.PASSED, _tests_job(reply.run).output
        head = reply.commit.commit_id
        return {t.test_id for t in _tests_job(reply.run).tests}

    assert push({"other.py": b"def g():\n    return 1 + 1\n"}) == {"tests/test_other.py::test_g"}
    # The site's union: what any observed test started there (tool.py, which imports lib), for every test through it.
    assert push({"lib.py": b"def f():\n    return 2 - 1\n"}) == {
        "tests/test_lib.py::test_f",
        "tests/test_tool.py::test_tool",
        "tests/test_true.py::test_true",
        "tests/test_never.py::test_never",
    }
    assert push({"helpers.py": STARTS["helpers.py"].replace(b"return True", b"return 1 == 1")}) == {
        "tests/test_true.py::test_true",
        "tests/test_never.py::test_never",
        "tests/test_tool.py::test_tool",
    }
    python = b"import sys\n\nfrom helpers import run\n\n\ndef test_true():\n    assert run([sys.executable, '-c', 'import other'])\n"
    assert push({"tests/test_true.py": python}) == {"tests/test_true.py::test_true"}
    assert push({"other.py": b"def g():\n    return 2\n"}) == {  # Python code: any code, for every test through it
        "tests/test_other.py::test_g",
        "tests/test_true.py::test_true",
        "tests/test_never.py::test_never",
        "tests/test_tool.py::test_tool",
    }


def test_a_test_stopped_by_its_timeout_is_not_observed(client: Client) -> None:
    slow = b"import time\n\nfrom gen import make\n\n\ndef test_slow():\n    make('Q', ['z'])\n    while True:\n        time.sleep(0.05)\n"
    files = {**GENERATED, "trellis.toml": PIPELINE + b'test_timeout = "2s"\n', "tests/test_slow.py": slow}
    client.create_repository("slow")
    seed = client.commit("slow", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.FAILED
    reply = client.commit(
        "slow", "main", {"gen/other.py": b"def helper():\n    return 1 + 1\n"}, "edit", wait_for_verdict=True
    )
    assert reply.run is not None
    job = _tests_job(reply.run)  # test_make ran to its end, observed; test_slow was cut short: it may run anything
    assert {t.test_id for t in job.tests} == {"tests/test_other.py::test_helper", "tests/test_slow.py::test_slow"}


def test_tool_caches_are_kept_from_one_job_to_the_next(client: Client) -> None:
    # A warm checkout keeps what tools cache in the project's directory; a job's workspace is reset to
    # its tree, so a stage names the directories to keep (`tool_caches`).
    pipeline = b'[stages.tests]\nkind = "pytest"\nselect = "all"\ntool_caches = ["build/cache"]\n'
    writes = (
        b"from pathlib import Path\n\n\ndef test_writes():\n    cache = Path('build/cache')\n"
        b"    cache.mkdir(parents=True, exist_ok=True)\n    (cache / 'table').write_text('computed once')\n"
    )
    reads = b"from pathlib import Path\n\n\ndef test_reads():\n    assert Path('build/cache/table').read_text() == 'computed once'\n"
    client.create_repository("caches")
    seed = client.commit(
        "caches", "main", {"trellis.toml": pipeline, "tests/test_cache.py": writes}, "seed", wait_for_verdict=True
    )
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    kept = client.commit(
        "caches",
        "main",
        {"tests/test_cache.py": reads},
        "reads",
        expected_head=seed.commit.commit_id,
        wait_for_verdict=True,
    )
    assert kept.run is not None and kept.run.verdict is ci.Verdict.PASSED, _tests_job(kept.run).output
    # The default keeps only hypothesis's caches: the next job starts from its tree alone.
    default = client.commit(
        "caches",
        "main",
        {"trellis.toml": b'[stages.tests]\nkind = "pytest"\nselect = "all"\n'},
        "default caches",
        expected_head=kept.commit.commit_id,
        wait_for_verdict=True,
    )
    assert default.run is not None and default.run.verdict is ci.Verdict.FAILED
    assert "No such file or directory" in _tests_job(default.run).tests[0].message


# test_b passes only once test_a imported pkg.sub (an attribute of pkg only then), as click's
# test_echo_via_pager needs another test to have imported click._termui_impl first.
ORDER_DEPENDENT = {
    "pkg/__init__.py": b"",
    "pkg/sub.py": b"def value():\n    return 1\n\n\ndef double(x):\n    return 2 * x\n",
    "tests/test_a.py": b"def test_a():\n    import pkg.sub\n\n    assert pkg.sub.value() == 1\n",
    "tests/test_b.py": b"import pkg\n\n\ndef test_b():\n    assert pkg.sub.double(2) == 4\n",
}


def test_a_test_failing_only_without_the_tests_before_it_is_reported_order_dependent(
    server: RunningServer, client: Client
) -> None:
    client.create_repository("order")
    seed = client.commit("order", "main", {**ORDER_DEPENDENT, "trellis.toml": PIPELINE}, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    # A change only test_b reaches: the selection runs test_b without test_a, where it fails.
    reply = client.commit(
        "order",
        "main",
        {"pkg/sub.py": b"def value():\n    return 1\n\n\ndef double(x):\n    return x + x\n"},
        "double by addition",
        expected_head=seed.commit.commit_id,
        wait_for_verdict=True,
    )
    assert reply.run is not None
    job = _tests_job(reply.run)
    assert job.selected_tests == 1 and [t.test_id for t in job.tests] == ["tests/test_b.py::test_b"]
    assert reply.run.verdict is ci.Verdict.PASSED, job.output  # what the project's own `pytest` says
    assert job.tests[0].verdict is ci.Verdict.PASSED
    assert job.tests[0].message.startswith("order-dependent: fails without the 1 test collected before it")
    assert "order-dependent: tests/test_b.py::test_b fails without the 1 test collected before it" in job.summary
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    listed = subprocess.run(
        [sys.executable, "-m", "trellis", "runs", "--server", server.address, "order", "--limit", "1"],
        capture_output=True,
        text=True,
        check=False,
        env={**env, "COLUMNS": "200"},
        timeout=120,
    )
    assert "1 order-dependent" in listed.stdout, listed.stdout + listed.stderr

    # A real fault in what test_b reaches fails it alone and after its prefix: the verdict is failed.
    fault = client.commit(
        "order",
        "main",
        {"pkg/sub.py": b"def value():\n    return 1\n\n\ndef double(x):\n    return 3 * x\n"},
        "fault",
        expected_head=reply.commit.commit_id,
        wait_for_verdict=True,
    )
    assert fault.run is not None and fault.run.verdict is ci.Verdict.FAILED
    failed = _tests_job(fault.run)
    assert [(t.test_id, t.verdict) for t in failed.tests] == [("tests/test_b.py::test_b", ci.Verdict.FAILED)]
    assert "order-dependent" not in failed.summary


# test_b passes only once test_a set a module global; test_a reaches nothing test_b's change touches.
ORDER_GLOBAL = {
    "pkg/__init__.py": b"",
    "pkg/state.py": b"READY = False\n",
    "pkg/calc.py": b"def double(x):\n    return 2 * x\n",
    "tests/test_a.py": b"from pkg import state\n\n\ndef test_a():\n    state.READY = True\n",
    "tests/test_b.py": b"from pkg import calc, state\n\n\ndef test_b():\n    assert state.READY and calc.double(2) == 4\n",
}


def test_a_pass_after_its_prefix_is_never_reused_as_a_pass_of_the_test_alone(client: Client) -> None:
    pipeline = PIPELINE.replace(b'"affected"', b'"all"')  # every test, the reused left out
    client.create_repository("order-reuse")
    seed = client.commit(
        "order-reuse", "main", {**ORDER_GLOBAL, "trellis.toml": pipeline}, "seed", wait_for_verdict=True
    )
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED
    edit = {"pkg/calc.py": b"def double(x):\n    return x + x\n"}
    first = client.commit(
        "order-reuse", "main", edit, "edit", expected_head=seed.commit.commit_id, wait_for_verdict=True
    )
    assert first.run is not None and first.run.verdict is ci.Verdict.PASSED, _tests_job(first.run).output
    by_id = {t.test_id: t for t in _tests_job(first.run).tests}
    assert by_id["tests/test_a.py::test_a"].message.startswith("reused")  # test_a left out: test_b ran alone
    assert by_id["tests/test_b.py::test_b"].message.startswith("order-dependent")
    # The same closures on another branch: test_a is reused again, test_b runs again (confirmed again).
    client.create_branch("order-reuse", "feature", seed.commit.commit_id)
    again = client.commit("order-reuse", "feature", {**edit, "unreached.py": b"X = 1\n"}, "same", wait_for_verdict=True)
    assert again.run is not None and again.run.verdict is ci.Verdict.PASSED
    by_id = {t.test_id: t for t in _tests_job(again.run).tests}
    assert by_id["tests/test_b.py::test_b"].message.startswith("order-dependent")


STATEFUL = {
    "pkg/__init__.py": b"",
    "pkg/cache.py": b"def cached(text):\n    return text.upper()\n",
    "pkg/core.py": b"from pkg.cache import cached\n\n\nclass Parser:\n    fast = False\n\n    def parse(self, text):\n"
    b"        return cached(text) if Parser.fast else text.upper()\n",
    # Test2_EnableFast stores what the setUp of the tests after it restores (pyparsing's Test03_EnablePackratParsing
    # before Test04_WithPackrat): only after it do Test3_Fast's tests run pkg.cache, which it does not reach. Its
    # recorded 0.5 s puts it alone in one of two shards.
    "tests/test_state.py": b"import time\nimport unittest\n\nfrom pkg.core import Parser\n\n\n"
    b"class Test1_Plain(unittest.TestCase):\n    fast = False\n\n    def setUp(self):\n        Parser.fast = Test1_Plain.fast\n\n"
    + b"".join(
        f"    def test_{k}(self):\n        self.assertEqual(Parser().parse('a'), 'A')\n\n".encode() for k in range(8)
    )
    + b"\nclass Test2_EnableFast(unittest.TestCase):\n    def runTest(self):\n        time.sleep(0.5)\n"
    b"        Test1_Plain.fast = True\n\n\n"
    b"class Test3_Fast(Test1_Plain):\n    pass\n",
}


def test_a_test_storing_state_runs_before_the_tests_of_its_file_in_one_process(client: Client) -> None:
    """The writer is selected (a change to pkg.cache reaches only the tests that run it once it ran), is not
    reused (its closure did not change), and the job does not split its file across shards, even two asked for:
    every test of Test3_Fast fails on the fault, as in the project's own run."""
    files = {**STATEFUL, "trellis.toml": PIPELINE + b"shards = 2\n"}
    client.create_repository("stateful")
    seed = client.commit("stateful", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    broken = STATEFUL["pkg/cache.py"].replace(b"upper", b"lower")
    reply = client.commit(
        "stateful",
        "main",
        {"pkg/cache.py": broken},
        "fault",
        expected_head=seed.commit.commit_id,
        wait_for_verdict=True,
    )
    assert reply.run is not None
    job = _tests_job(reply.run)
    failed = {t.test_id for t in job.tests if t.verdict is ci.Verdict.FAILED}
    assert failed == {f"tests/test_state.py::Test3_Fast::test_{k}" for k in range(8)}, job.output
    assert reply.run.verdict is ci.Verdict.FAILED


def test_code_only_a_compiled_extension_runs_is_verified_with_it_built(client: Client) -> None:
    # simplejson's shape: a module imports its C extension optionally and takes a branch only with it. The project's
    # command (pip install -e . + pytest) builds it, so a fault in that branch fails it; so must the stage's verdict.
    from tests.ci.execution.test_extensions import INIT, _tree

    files = {**_tree(), "trellis.toml": PIPELINE}
    client.create_repository("speedups")
    seed = client.commit("speedups", "main", files, "seed", wait_for_verdict=True)
    assert seed.run is not None and seed.run.verdict is ci.Verdict.PASSED, _tests_job(seed.run).output
    faulty = INIT.replace("return c_double(x)  #", "return c_double(x) + 1  #").encode()
    reply = client.commit(
        "speedups",
        "main",
        {"fastdemo/__init__.py": faulty},
        "fault in the branch only the extension takes",
        expected_head=seed.commit.commit_id,
        wait_for_verdict=True,
    )
    assert reply.run is not None and reply.run.verdict is ci.Verdict.FAILED, _tests_job(reply.run).output
    job = _tests_job(reply.run)
    assert [t.verdict for t in job.tests] == [ci.Verdict.FAILED]
    assert job.output.startswith(b"trellis: compiled extensions from the cache"), job.output
    assert _tests_job(seed.run).output.startswith(b"trellis: compiled extensions built"), _tests_job(seed.run).output
