"""Tests that store into state outliving them are selected with the tests of their file.

pyparsing's ``Test03_EnablePackratParsing.runTest`` enables packrat parsing and stores the context in a class
attribute that the ``setUp`` of ``Test04_WithPackrat``'s tests (collected after it) restores: those tests run
with packrat only after it. A change to the packrat cache selected ``Test04``'s tests, which reach it, and not
``Test03``, which reaches nothing of the cache: they ran without packrat and a fault in the cache passed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

from trellis.ci.selection.index import TestIndex, changes_from_diff
from trellis.ci.selection.python_refs import file_facts
from trellis.semantic_diff import diff_files

CORE = """\
class Parser:
    fast = False

    def parse(self, text):
        return self._cached(text) if Parser.fast else text.upper()

    def _cached(self, text):
        return text.upper()
"""

TESTS = """\
import unittest

from pkg.core import Parser


class Test1_Plain(unittest.TestCase):
    fast = False

    def setUp(self):
        Parser.fast = Test1_Plain.fast

    def test_parse(self):
        self.assertEqual(Parser().parse("a"), "A")


class Test2_EnableFast(unittest.TestCase):
    def runTest(self):
        Test1_Plain.fast = True


class Test3_Fast(Test1_Plain):
    pass


class Test4_Other(unittest.TestCase):
    def test_other(self):
        self.assertTrue(True)
"""


BROKEN = CORE[: CORE.rindex("return text.upper()")] + "return text.lower()\n"  # the fault: in _cached only


def _files(core: str) -> dict[str, bytes]:
    return {"pkg/__init__.py": b"", "pkg/core.py": core.encode(), "tests/test_it.py": TESTS.encode()}


def test_a_test_storing_state_of_its_module_is_selected_with_the_tests_of_its_file() -> None:
    old, new = _files(CORE), _files(BROKEN)
    diff = diff_files({"pkg/core.py": old["pkg/core.py"]}, {"pkg/core.py": new["pkg/core.py"]})
    selection = TestIndex.build(new).select(changes_from_diff(diff), old_index=TestIndex.build(old))
    assert set(selection.tests) == {
        "tests/test_it.py::Test1_Plain::test_parse",
        "tests/test_it.py::Test3_Fast::test_parse",
        "tests/test_it.py::Test2_EnableFast::runTest",  # it sets Test1_Plain.fast for Test3_Fast after it
    }
    assert "stores into state" in selection.reasons["tests/test_it.py::Test2_EnableFast::runTest"]


def test_the_fault_needs_the_writer_to_fail(tmp_path: Path) -> None:
    """What the selection guards against, with real pytest: without the writer the fault passes."""
    for path, content in _files(BROKEN).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)

    def run(*ids: str) -> int:
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *ids]
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, check=False).returncode

    assert run("tests/test_it.py::Test1_Plain", "tests/test_it.py::Test3_Fast") == 0
    assert run("tests/test_it.py") == 1


def test_state_writers_are_stores_into_names_the_function_does_not_own() -> None:
    source = dedent(
        """\
        CACHE = {}
        import mod


        def sets_global():
            global FLAG
            FLAG = True


        def stores_item():
            CACHE["k"] = 1


        def stores_module_attr():
            mod.Thing.flag = True


        def own_only(obj, items):
            local = object()
            local.x = 1
            obj.y = 2
            items[0] = 3
            count = 0

            def action(tokens):
                nonlocal count
                count += 1
                tokens["seen"] = True

            return action


        def reads_only():
            return CACHE["k"] + mod.Thing.flag


        class Holder:
            def method(self):
                self.x = 1

            def writes_class(self):
                Holder.shared = 1

            class Inner:
                def deep(self):
                    del CACHE["k"]
        """
    )
    facts = file_facts("tests/test_x.py", source.encode())
    assert set(facts.state_writers) == {
        "sets_global",
        "stores_item",
        "stores_module_attr",
        "Holder.writes_class",
        "Holder.Inner.deep",
    }


def test_the_writer_is_selected_when_the_tests_name_their_mixin_through_a_module_alias() -> None:
    """pyparsing's own shape once its alias resolves (``ppt = pp.pyparsing_test``, ``class
    Test02_WithoutPackrat(ppt.TestParseResultsAsserts, TestCase)``): the class is no longer open, and the writer
    is still selected with the tests after it."""
    tests = TESTS.replace("import unittest\n", "import unittest\n\nimport pkg.testing\n\nppt = pkg.testing\n", 1)
    tests = tests.replace("class Test1_Plain(unittest.TestCase):", "class Test1_Plain(ppt.Mixin, unittest.TestCase):")

    def files(core: str) -> dict[str, bytes]:
        mixin = b"class Mixin:\n    def check(self):\n        return 1\n"
        return {**_files(core), "pkg/testing.py": mixin, "tests/test_it.py": tests.encode()}

    old, new = files(CORE), files(BROKEN)
    assert file_facts("tests/test_it.py", new["tests/test_it.py"]).aliases == {"ppt": (("pkg", "testing"),)}
    diff = diff_files({"pkg/core.py": old["pkg/core.py"]}, {"pkg/core.py": new["pkg/core.py"]})
    selection = TestIndex.build(new).select(changes_from_diff(diff), old_index=TestIndex.build(old))
    assert set(selection.tests) == {
        "tests/test_it.py::Test1_Plain::test_parse",
        "tests/test_it.py::Test3_Fast::test_parse",
        "tests/test_it.py::Test2_EnableFast::runTest",
    }
