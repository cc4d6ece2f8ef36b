"""Per-test reuse keys: a test's key changes exactly when its closure does (the files its code may run,
conftest and configuration, non-inert data files), and there is none when the closure is unknown."""

from __future__ import annotations

import hashlib
from pathlib import Path

from trellis.ci.selection.index import TestIndex
from trellis.ci.selection.reuse import Reused, TestResults, closure_keys, passed_tests

FILES = {
    "app/__init__.py": b"",
    "app/a.py": b"def f():\n    return 1\n",
    "app/b.py": b"def g():\n    return 2\n",
    "tests/test_a.py": b"from app.a import f\n\ndef test_f():\n    assert f() == 1\n",
    "tests/test_b.py": b"from app.b import g\n\ndef test_g():\n    assert g() == 2\n",
    "tests/test_dyn.py": b"def test_dyn():\n    eval('1 + 1')\n",
    "tests/test_imports.py": b"import importlib\n\ndef test_imports():\n    importlib.import_module('app.' + 'a')\n",
    "README.md": b"hello\n",
    "data.json": b"{}\n",
}
A, B, DYN = "tests/test_a.py::test_f", "tests/test_b.py::test_g", "tests/test_dyn.py::test_dyn"


def keys(files: dict[str, bytes], inert: tuple[str, ...] = ("*.md",)) -> dict[str, str]:
    index = TestIndex.build(files)
    blobs = {p: hashlib.sha1(c).hexdigest() for p, c in files.items()}
    return closure_keys(index, blobs, index.tests, salt="stage", inert=inert)


def test_a_key_changes_with_the_closure_and_only_with_it() -> None:
    before = keys(FILES)
    assert A in before and B in before
    after = keys({**FILES, "app/b.py": b"def g():\n    return 3\n"})
    assert after[A] == before[A] and after[B] != before[B]
    assert keys({**FILES, "README.md": b"changed\n"}) == before  # inert by the stage's globs
    data = keys({**FILES, "data.json": b"[]\n"})  # a file a test may read: every closure
    assert data[A] != before[A] and data[B] != before[B]
    conftest = keys({**FILES, "tests/conftest.py": b"import pytest\n"})
    assert conftest[A] != before[A]


def test_no_key_when_the_closure_is_unknown() -> None:
    assert DYN not in keys(FILES)  # eval: it may run anything
    # A computed import imports any module: the key covers every Python file.
    imports = "tests/test_imports.py::test_imports"
    assert keys({**FILES, "app/b.py": b"def g():\n    return 3\n"})[imports] != keys(FILES)[imports]
    assert keys({**FILES, "app/broken.py": b"def (:\n"}) == {}  # a file that does not parse


def test_passed_tests_need_every_parameter_to_pass(tmp_path: Path) -> None:
    results = {"t.py::p[1]": "passed", "t.py::p[2]": "failed", "t.py::q[1]": "passed", "t.py::r": "passed"}
    assert passed_tests(["t.py::p", "t.py::q", "t.py::r", "t.py::s"], results) == {"t.py::q", "t.py::r"}
    store = TestResults(tmp_path)
    store.put("ab" * 32, Reused("run1", "c" * 40, 12))
    assert TestResults(tmp_path).get("ab" * 32) == Reused("run1", "c" * 40, 12)
    assert store.get("cd" * 32) is None


def test_results_remembered_are_found_at_once_and_saved_ones_after_a_restart(tmp_path: Path) -> None:
    # A job's passes: in memory before its verdict (the next push's lookup in this process finds them), in their
    # files after it (what a restarted server finds).
    store = TestResults(tmp_path)
    entries = [("ab" * 32, Reused("run1", "c" * 40, 12)), ("cd" * 32, Reused("run1", "c" * 40, 3))]
    store.remember(entries)
    assert [store.get(k) for k, _ in entries] == [r for _, r in entries]
    assert TestResults(tmp_path).get("ab" * 32) is None  # not saved yet
    store.save(entries)
    assert [TestResults(tmp_path).get(k) for k, _ in entries] == [r for _, r in entries]
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_python_file_read_as_data_is_in_the_closure_of_the_tests_whose_code_names_it() -> None:
    # tests/cases/*.py: no one imports them (pytest.ini keeps pytest out of the directory), a test may read them;
    # as selection counts a change to one, for the tests reaching code that names them.
    files = {k: v for k, v in FILES.items() if k != "tests/test_imports.py"}
    files |= {
        "pytest.ini": b"[pytest]\nnorecursedirs = cases\n",
        "tests/cases/tabs.py": b"if 1:\n        a\n\tb\n",
        "tests/test_cases.py": b"from pathlib import Path\n\n\ndef test_cases():\n"
        b"    assert list((Path(__file__).parent / 'cases').glob('*.py'))\n",
    }
    before = keys(files)
    assert A in before  # the case that does not parse is no code
    after = keys({**files, "tests/cases/tabs.py": b"x = 1\n"})
    cases = "tests/test_cases.py::test_cases"
    assert after[cases] != before[cases] and after[A] == before[A] and after[B] == before[B]
