"""Selection of what test modules' ``load_tests`` add (a stage's ``load_tests = true``): sound, and no wider.

``PROJECT`` is also the project of the end-to-end test (tests/e2e/test_verification_tests.py): its
``python -m unittest`` runs 6 tests where plain pytest collects 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from textwrap import dedent

import pytest

from trellis.ci.selection.index import ChangedEntity, ChangedPath, TestIndex
from trellis.ci.selection.reuse import closure_keys, owners, passed_tests

PROJECT: dict[str, str] = {
    "pkg/__init__.py": "",
    "pkg/text.py": '''
        """Text helpers."""


        def slug(text):
            """
            >>> slug(" Hello World ")
            'hello-world'
            """
            return clean(text).replace(" ", "-")


        def clean(text):
            """Strip and lowercase.

            >>> clean(" A ")
            'a'
            """
            return text.strip().lower()


        def shout(text):
            """
            >>> shout("a")
            'A!'
            """
            return text.upper() + "!"
        ''',
    "pkg/numbers.py": """
        def double(x):
            return 2 * x
        """,
    "tests/__init__.py": "",
    "tests/helpers.py": """
        import unittest

        from pkg import text


        class SharedChecks(unittest.TestCase):
            def test_shout(self):
                self.assertEqual(text.shout("b"), "B!")
        """,
    "tests/test_text.py": """
        import unittest
        from doctest import DocTestSuite

        from pkg import text


        def load_tests(loader, tests, pattern):
            tests.addTests(DocTestSuite("pkg.text"))
            return tests


        class SlugTests(unittest.TestCase):
            def test_slug(self):
                self.assertEqual(text.slug("A b"), "a-b")
        """,
    "tests/test_extra.py": """
        import unittest

        from pkg import numbers
        from tests import helpers


        def load_tests(loader, tests, pattern):
            tests.addTests(loader.loadTestsFromTestCase(helpers.SharedChecks))
            return tests


        class DoubleTests(unittest.TestCase):
            def test_double(self):
                self.assertEqual(numbers.double(2), 4)
        """,
}
PROJECT = {path: dedent(text).lstrip("\n") for path, text in PROJECT.items()}


def build(files: Mapping[str, str]) -> TestIndex:
    return TestIndex.build({path: dedent(text).encode() for path, text in files.items()})


def chosen(files: Mapping[str, str], change: ChangedEntity, *, load_tests: bool = True) -> set[str]:
    selection = build(files).select([change], old_index=build(files), load_tests=load_tests)
    assert not selection.run_all, selection.reason
    return set(selection.tests)


def body(path: str, qualname: str) -> ChangedEntity:
    return ChangedEntity(path, qualname, "modified", ("body",))


def test_each_test_module_with_load_tests_is_one_more_test() -> None:
    index = build(PROJECT)
    assert index.load_tests == ("tests/test_extra.py::load_tests", "tests/test_text.py::load_tests")
    assert "tests/test_text.py::load_tests" not in index.tests  # pytest's own items are the others
    everything = index.select([ChangedPath("setup.cfg")], load_tests=True)
    assert everything.run_all and set(everything.tests) >= set(index.load_tests)
    assert not set(index.select([ChangedPath("setup.cfg")]).tests) & set(index.load_tests)  # only when asked


def test_a_doctest_suite_is_selected_like_its_modules_doctests() -> None:
    # What the examples call, and the docstrings' owners: as --doctest-modules maps pkg/text.py.
    assert chosen(PROJECT, body("pkg/text.py", "pkg.text.clean")) == {
        "tests/test_text.py::SlugTests::test_slug",
        "tests/test_text.py::load_tests",
    }
    assert chosen(PROJECT, body("pkg/text.py", "pkg.text.shout")) == {
        "tests/test_text.py::load_tests",  # shout's own example
        "tests/test_extra.py::load_tests",  # SharedChecks.test_shout, the test case it adds, calls shout
    }
    assert chosen(PROJECT, body("pkg/numbers.py", "pkg.numbers.double")) == {
        "tests/test_extra.py::DoubleTests::test_double"
    }
    # The function itself is code of the test module; so is the test case it adds, wherever it is defined.
    assert chosen(PROJECT, body("tests/test_text.py", "tests.test_text.load_tests")) == {
        "tests/test_text.py::load_tests"
    }
    assert chosen(PROJECT, body("tests/helpers.py", "tests.helpers.SharedChecks.test_shout")) == {
        "tests/test_extra.py::load_tests"
    }
    # Without the stage setting, no load_tests id is a test.
    assert chosen(PROJECT, body("pkg/text.py", "pkg.text.clean"), load_tests=False) == {
        "tests/test_text.py::SlugTests::test_slug"
    }


@pytest.mark.parametrize(
    "added",
    [
        "loader.loadTestsFromTestCase(helpers.SharedChecks)",
        "unittest.TestLoader().loadTestsFromTestCase(helpers.SharedChecks)",
        'helpers.SharedChecks("test_shout")',
    ],
)
def test_a_test_case_it_adds_is_reached_like_a_test_of_its_class(added: str) -> None:
    files = {
        **PROJECT,
        "tests/test_extra.py": PROJECT["tests/test_extra.py"]
        .replace("loader.loadTestsFromTestCase(helpers.SharedChecks)", added)
        .replace("tests.addTests(", "tests.addTest(" if '("' in added else "tests.addTests("),
    }
    assert "tests/test_extra.py::load_tests" in chosen(files, body("pkg/text.py", "pkg.text.shout"))
    assert "tests/test_extra.py::load_tests" not in chosen(files, body("pkg/numbers.py", "pkg.numbers.double"))


def test_an_opaque_load_tests_says_why_and_is_never_reused() -> None:
    files = {
        **PROJECT,
        "tests/test_extra.py": PROJECT["tests/test_extra.py"].replace(
            "loader.loadTestsFromTestCase(helpers.SharedChecks)", "loader.discover('tests', pattern)"
        ),
    }
    index = build(files)
    selection = index.select([body("pkg/text.py", "pkg.text.clean")], old_index=index, load_tests=True)
    why = selection.reasons["tests/test_extra.py::load_tests"]
    assert "load_tests calls loader.discover" in why and "may run any code" in why
    blobs = {path: f"blob-{hash(text)}" for path, text in files.items()}
    keys = closure_keys(index, blobs, index.load_tests, salt="s", inert=())
    assert set(keys) == {"tests/test_text.py::load_tests"}  # the bounded one has a closure key


@pytest.mark.parametrize(
    ("source", "modules"),
    [
        ("from doctest import DocTestSuite\n\ndef load_tests(l, t, p):\n    return DocTestSuite('pkg.text')\n", True),
        (
            "import doctest\n\ndef load_tests(l, t, p):\n    t.addTests(doctest.DocTestSuite('pkg.text'))\n    return t\n",
            True,
        ),
        (
            "import doctest\nimport pkg.text\n\ndef load_tests(l, t, p):\n    return doctest.DocTestSuite(pkg.text)\n",
            True,
        ),
        (
            "import doctest\nfrom pkg import text as m\n\ndef load_tests(l, t, p):\n    return doctest.DocTestSuite(m)\n",
            True,
        ),
        (
            "import doctest\n\ndef load_tests(l, t, p):\n    from pkg import text\n    "
            "return doctest.DocTestSuite(module=text, optionflags=doctest.ELLIPSIS)\n",
            True,
        ),
    ],
)
def test_the_module_of_a_doctest_suite_is_found_however_it_is_named(source: str, modules: bool) -> None:
    files = {**PROJECT, "tests/test_text.py": source}
    index = build(files)
    assert index.load_tests == ("tests/test_extra.py::load_tests", "tests/test_text.py::load_tests")
    assert "tests/test_text.py::load_tests" in chosen(files, body("pkg/text.py", "pkg.text.shout"))
    assert "tests/test_text.py::load_tests" not in chosen(files, body("pkg/numbers.py", "pkg.numbers.double"))


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (
            "import doctest\nMODS = ['pkg.text']\n\ndef load_tests(l, t, p):\n"
            "    for m in MODS:\n        t.addTests(doctest.DocTestSuite(m))\n    return t\n",
            "cannot resolve",
        ),
        (
            "import doctest\nSUITE = doctest.DocTestSuite('pkg.text')\n\ndef load_tests(l, t, p):\n    return SUITE\n",
            "reads SUITE",
        ),
        ("def load_tests(l, t, p):\n    return l.discover('tests', p)\n", "calls l.discover"),
        ("CASES = []\n\ndef load_tests(l, t, p):\n    return l.loadTestsFromTestCase(CASES[0])\n", "not a TestCase"),
        ("from tests.helpers import load_tests\n", "other than by one plain def"),
        (
            "import doctest\n\ndef load_tests(l, t, p):\n    return doctest.DocTestSuite('elsewhere.mod')\n",
            "not a module of the tree",
        ),
        ("def helper(t):\n    return t\n\ndef load_tests(l, t, p):\n    return helper(t)\n", "calls helper"),
    ],
)
def test_what_the_analysis_cannot_bound_is_selected_by_every_code_change(source: str, why: str) -> None:
    files = {**PROJECT, "tests/test_text.py": source}
    index = build(files)
    selection = index.select([body("pkg/numbers.py", "pkg.numbers.double")], old_index=index, load_tests=True)
    assert "tests/test_text.py::load_tests" in selection.tests
    assert why in selection.reasons["tests/test_text.py::load_tests"]
    assert index.reached_files("tests/test_text.py::load_tests") is None  # never reused
    # No code changed: nothing runs, opaque or not.
    assert index.select([ChangedPath("README.rst")], old_index=index, load_tests=True).tests == ()


def test_a_module_without_load_tests_or_naming_it_in_a_comment_has_none() -> None:
    files = {**PROJECT, "tests/test_text.py": "# no load_tests here\ndef test_x():\n    pass\n"}
    assert build(files).load_tests == ("tests/test_extra.py::load_tests",)


def test_the_items_under_a_load_tests_id_are_its_results() -> None:
    # (and every item's file's ``t.py::*``: tests made under computed names, test_generated_tests.py)
    assert owners("t.py::load_tests::pkg.text.slug") == (
        "t.py::load_tests::pkg.text.slug",
        "t.py::load_tests",
        "t.py::*",
    )
    assert owners("t.py::T::test_a[1]") == ("t.py::T::test_a", "t.py::T", "t.py::*")
    results = {"t.py::load_tests::pkg.a": "passed", "t.py::load_tests::pkg.b": "passed", "t.py::test_c[1]": "passed"}
    assert passed_tests(["t.py::load_tests", "t.py::test_c"], results) == {"t.py::load_tests", "t.py::test_c"}
    assert passed_tests(["t.py::load_tests"], {**results, "t.py::load_tests::pkg.b": "failed"}) == set()


# isodate 0.6's test modules: load_tests returns test_suite(), which adds one suite per row of a table, made by a
# factory defining a local TestCase class.
FACTORY: dict[str, str] = {
    **PROJECT,
    "tests/test_text.py": """
        import unittest

        from pkg import text

        CASES = {4: [("A b", "a-b"), (" X ", "x")], 6: [("Q", "q")]}


        def create_testcase(source, expected):
            class TestSlug(unittest.TestCase):
                def test_slug(self):
                    self.assertEqual(text.slug(source), expected)

            return unittest.TestLoader().loadTestsFromTestCase(TestSlug)


        def test_suite():
            suite = unittest.TestSuite()
            for width, rows in CASES.items():
                for source, expected in rows:
                    suite.addTest(create_testcase(source, expected))
            return suite


        def load_tests(loader, tests, pattern):
            return test_suite()
    """,
}


def test_a_load_tests_calling_helpers_that_build_suites_from_a_table_is_bounded() -> None:
    # Before: "load_tests calls test_suite, which may load any test": selected by every change.
    index = build(FACTORY)
    assert index.reached_files("tests/test_text.py::load_tests") is not None
    assert "tests/test_text.py::load_tests" in chosen(FACTORY, body("pkg/text.py", "pkg.text.slug"))
    assert "tests/test_text.py::load_tests" not in chosen(FACTORY, body("pkg/numbers.py", "pkg.numbers.double"))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        # a helper handing on what it is given: the table's values may be tests
        (("return test_suite()", "return pick(CASES)"), "hands on"),
        # a row of the table added as it is
        (("suite.addTest(create_testcase(source, expected))", "suite.addTest(source)"), "reads CASES"),
        # a factory loading a class it is given
        (("loadTestsFromTestCase(TestSlug)", "loadTestsFromTestCase(source)"), "not a TestCase"),
        # a helper calling what it cannot tell
        (("suite = unittest.TestSuite()", "suite = make_suite()"), "may load any test"),
    ],
    ids=["helper-returns-its-argument", "row-added", "class-given", "unknown-call"],
)
def test_helpers_handing_on_what_the_analysis_cannot_see_stay_opaque(change: tuple[str, str], why: str) -> None:
    source = dedent(FACTORY["tests/test_text.py"]).replace(*change) + "\n\ndef pick(x):\n    return x\n"
    files = {**FACTORY, "tests/test_text.py": source}
    index = build(files)
    selection = index.select([body("pkg/numbers.py", "pkg.numbers.double")], old_index=index, load_tests=True)
    assert "tests/test_text.py::load_tests" in selection.tests
    assert why in selection.reasons["tests/test_text.py::load_tests"], selection.reasons
