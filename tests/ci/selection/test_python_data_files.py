"""Python files read as data: cases of a checker or a parser kept as ``.py`` files in a directory pytest does not
enter (``norecursedirs``) and no code imports (parso's ``test/normalizer_issue_files/*.py``, listed by its root
conftest's ``pytest_generate_tests``; some of them do not parse, on purpose). Pytest never imports them, so one
that does not parse breaks no collection: it is not a reason to run every test on every commit. A change to one
counts for the tests reaching the code that names it, as for any data file (:mod:`test_data_files`).
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, build, selected
from trellis.ci.selection.index import ChangedPath

CHECKER = {
    "pytest.ini": "[pytest]\nnorecursedirs = .* cases\n",
    "checker/__init__.py": "def check(code):\n    return [line for line in code.splitlines() if '\\t' in line]\n",
    "checker/other.py": "def twice(x):\n    return 2 * x\n",
    "conftest.py": """
        import os


        def pytest_generate_tests(metafunc):
            if "case" in metafunc.fixturenames:
                base = os.path.join(os.path.dirname(__file__), "tests", "cases")
                names = sorted(f for f in os.listdir(base) if f.endswith(".py"))
                metafunc.parametrize("case", [os.path.join(base, n) for n in names], ids=names)
    """,
    "tests/__init__.py": "",
    "tests/test_cases.py": """
        import checker


        def test_case(case):
            with open(case) as f:
                checker.check(f.read())
    """,
    "tests/test_other.py": """
        from checker.other import twice


        def test_twice():
            assert twice(2) == 4
    """,
    "tests/cases/mixed_tabs.py": "if True:\n        x = 1\n\ty = 2\n",
    "tests/cases/plain.py": "x = 1\n",
}
EVERY_TEST = {"tests/test_cases.py::test_case", "tests/test_other.py::test_twice"}


def test_a_python_file_pytest_never_imports_may_not_parse() -> None:
    # Before: parse-error on every commit (tests/cases/mixed_tabs.py), whatever changed.
    assert selected(CHECKER, body("checker/other.py", "twice"), old=CHECKER) == {"tests/test_other.py::test_twice"}


@pytest.mark.parametrize("path", ["tests/cases/mixed_tabs.py", "tests/cases/plain.py"])
def test_a_changed_python_data_file_selects_the_tests_naming_its_directory(path: str) -> None:
    # Before: parse-error (every test); with the file that does not parse left out, the parsing case's change selected
    # nothing (a module no test imports), though test_case reads it.
    new = {**CHECKER, path: CHECKER[path] + "z = 3\n"}
    # The conftest's hook runs for every test: both are selected, as for a non-Python case file.
    assert selected(new, ChangedPath(path), old=CHECKER) == EVERY_TEST


def test_an_added_python_data_file_is_seen_by_the_tests_listing_its_directory() -> None:
    new = {**CHECKER, "tests/cases/more.py": "def f(:\n"}
    assert "tests/test_cases.py::test_case" in selected(new, ChangedPath("tests/cases/more.py", "added"), old=CHECKER)


def test_a_python_file_that_does_not_parse_and_that_code_imports_still_runs_everything() -> None:
    files = {**CHECKER, "tests/test_import.py": "from tests.cases import mixed_tabs\n\n\ndef test_x():\n    pass\n"}
    selection = build(files).select([body("checker/other.py", "twice")], old_index=build(files))
    assert selection.run_all and selection.rule == "parse-error"


def test_a_python_file_that_does_not_parse_in_a_directory_pytest_collects_doctests_of_runs_everything() -> None:
    files = {**CHECKER, "pytest.ini": "[pytest]\naddopts = --doctest-modules\n"}
    selection = build(files).select([body("checker/other.py", "twice")], old_index=build(files))
    assert selection.run_all and selection.rule == "parse-error"


def test_a_python_data_file_that_does_not_parse_and_that_no_code_names_runs_everything_when_it_changes() -> None:
    conftest = CHECKER["conftest.py"].replace('if f.endswith(".py")', "")  # no extension that names every file
    files = {**CHECKER, "conftest.py": conftest, "tests/other_cases/broken.py": "def f(:\n"}
    new = {**files, "tests/other_cases/broken.py": "def g(:\n"}
    assert selected(new, body("checker/other.py", "twice"), old=files) == {"tests/test_other.py::test_twice"}
    selection = build(new).select([ChangedPath("tests/other_cases/broken.py")], old_index=build(files))
    assert selection.run_all and selection.rule == "data-file"


def test_a_changed_python_data_file_that_parses_is_no_module_no_test_imports() -> None:
    # Before: a module no test imports, so no test (test_case, which reads it, missed).
    files = {p: t for p, t in CHECKER.items() if p != "tests/cases/mixed_tabs.py"}
    new = {**files, "tests/cases/plain.py": "x = 2\n"}
    assert "tests/test_cases.py::test_case" in selected(new, body("tests/cases/plain.py", "x"), old=files)


FUZZ = """
    import sys


    def main(name):
        debugger = __import__(name)
        return debugger


    if __name__ == "__main__":
        main(sys.argv[1])
"""


def test_a_computed_import_in_a_function_no_test_reaches_imports_no_data_file() -> None:
    # parso's test/fuzz_diff_parser.py, a script pytest imports for its doctests: `pdb = __import__(debugger)` in main.
    ini = "[pytest]\naddopts = --doctest-modules\ntestpaths = checker tests\nnorecursedirs = .* cases\n"
    files = {**CHECKER, "pytest.ini": ini, "tests/fuzz.py": FUZZ}
    assert selected(files, body("checker/other.py", "twice"), old=files) == {"tests/test_other.py::test_twice"}
    # A test running it: the computed import may import any module, the case that does not parse among them.
    called = {**files, "tests/test_fuzz.py": "from tests import fuzz\n\n\ndef test_fuzz():\n    fuzz.main('os')\n"}
    selection = build(called).select([body("checker/other.py", "twice")], old_index=build(called))
    assert selection.run_all and selection.rule == "parse-error"
