"""Tests made at import time under computed names (mistune's data-driven suite): the index cannot name them,
so a module making them has one more id, ``path::*``, every item of the file; selected when what they may run
changes, and only then."""

from __future__ import annotations

from textwrap import dedent

import pytest

from trellis.ci.selection.index import ChangedEntity, Selection, TestIndex, missed_failures
from trellis.ci.selection.reuse import owners, passed_tests

LIB = dedent("""
    def parse(text):
        return text.strip()


    def render(text):
        return "<p>" + text + "</p>"


    def unused(text):
        return text
""")

# A base class whose classmethod attaches one test per case (mistune's tests/__init__.py ``load_fixtures``).
BASE = dedent("""
    from unittest import TestCase


    class BaseTestCase(TestCase):
        @classmethod
        def load_fixtures(cls, cases):
            def attach_case(n, text, expected):
                def method(self):
                    self.assert_case(text, expected)

                name = "test_" + n
                method.__name__ = name
                setattr(cls, name, method)

            for n, text, expected in cases:
                attach_case(n, text, expected)

        def assert_case(self, text, expected):
            self.assertEqual(self.parse(text), expected)
""")

MADE: dict[str, str] = {
    "lib.py": LIB,
    "tests/__init__.py": BASE,
    # a class of the file whose tests the base attaches, and a named test of its own
    "tests/test_cases.py": dedent("""
        from lib import parse, render
        from tests import BaseTestCase


        class TestCases(BaseTestCase):
            def parse(self, text):
                return parse(text)

            def test_named(self):
                self.assertEqual(render("a"), "<p>a</p>")


        TestCases.load_fixtures([("one", " a ", "a"), ("two", "b ", "b")])
    """),
    # classes bound under computed module names, one per plugin (mistune's test_plugins.py)
    "tests/test_plugins.py": dedent("""
        from lib import render
        from tests import BaseTestCase


        def load_plugin(name):
            class TestPlugin(BaseTestCase):
                def parse(self, text):
                    return render(text)

            TestPlugin.load_fixtures([(name, "x", "<p>x</p>")])
            globals()["TestPlugin_" + name] = TestPlugin


        load_plugin("url")
        load_plugin("math")
    """),
    # named tests only: setattr on self, a constant name
    "tests/test_plain.py": dedent("""
        from lib import parse


        class Thing:
            def __init__(self, **kw):
                for k, v in kw.items():
                    setattr(self, k, v)


        def test_parse():
            setattr(Thing, "kind", "x")
            assert parse(Thing(a=1).a and " a ") == "a"
    """),
}


def select(changed: str) -> Selection:
    files = {path: text.encode() for path, text in MADE.items()}
    index = TestIndex.build(files)
    return index.select([ChangedEntity(path="lib.py", qualname=changed, change="modified")], old_index=index)


def test_a_module_making_tests_under_computed_names_has_an_id_for_every_item_of_it() -> None:
    index = TestIndex.build({path: text.encode() for path, text in MADE.items()})
    assert sorted(index.tests) == [
        "tests/test_cases.py::*",
        "tests/test_cases.py::TestCases::test_named",
        "tests/test_plain.py::test_parse",
        "tests/test_plugins.py::*",
    ]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        # the made tests of test_cases.py parse (so may its named test: its module code makes them)
        (
            "parse",
            ["tests/test_cases.py::*", "tests/test_cases.py::TestCases::test_named", "tests/test_plain.py::test_parse"],
        ),
        # the plugins' made tests render, and so does the named test (and its class, in the file's id)
        (
            "render",
            ["tests/test_cases.py::*", "tests/test_cases.py::TestCases::test_named", "tests/test_plugins.py::*"],
        ),
        ("unused", []),
    ],
)
def test_the_file_id_is_selected_when_what_its_made_tests_run_changes(changed: str, expected: list[str]) -> None:
    selection = select(changed)
    assert not selection.run_all
    assert sorted(selection.tests) == expected


def test_the_file_id_covers_the_made_tests_failures() -> None:
    failing = {"tests/test_plugins.py::TestPlugin_url::test_url": "failed", "tests/test_plain.py::test_parse": "passed"}
    assert missed_failures(select("render"), failing) == ()
    assert missed_failures(select("unused"), failing) == ("tests/test_plugins.py::TestPlugin_url::test_url",)


def test_the_file_id_owns_every_item_of_its_file_and_passes_when_they_all_pass() -> None:
    """A job's results count for ``path::*`` (observed, reused) through every item of the file: the engine keeps a
    test's observation and its passing result by the ids owning its items (``owners``), and ``path::*`` was never
    an item's owner, so a file making tests never counted as observed and bounded no computed import."""
    assert owners("tests/t.py::TestPlugin_url::test_one[1]") == (
        "tests/t.py::TestPlugin_url::test_one",
        "tests/t.py::TestPlugin_url",
        "tests/t.py::*",
    )
    ids = ["tests/t.py::*", "tests/t.py::TestNamed::test_named"]
    made = "tests/t.py::TestPlugin_url::test_one"
    assert passed_tests(ids, {made: "passed", ids[1]: "passed"}) == set(ids)
    assert passed_tests(ids, {made: "failed", ids[1]: "passed"}) == {ids[1]}
