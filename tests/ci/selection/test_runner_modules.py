"""A runner module gathering other modules' tests (lark's ``tests/__main__.py``, the only file its pytest
configuration collects: ``python_files = "__main__.py"``): pytest collects every test class its namespace holds —
imported by name, by a star import, or made under a computed name in a module it imports — and its
``if __name__ == "__main__": unittest.main()`` runs only as a script."""

from __future__ import annotations

from collections.abc import Mapping
from textwrap import dedent

import pytest

from trellis.ci.selection.index import ChangedEntity, TestIndex
from trellis.ci.selection.python_refs import file_facts

CONFIG = '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npython_files = "__main__.py"\n'

LIB = dedent("""
    def parse(text):
        return text.strip()


    def render(text):
        return "<" + text + ">"


    def unused(text):
        return text
""")

# Test classes made per backend under computed names, listed in a growing __all__ (lark's test_parser.py).
MADE = dedent("""
    import unittest

    from app.lib import render

    __all__ = ["TestPlain"]


    class TestPlain(unittest.TestCase):
        def test_plain(self):
            self.assertEqual(1, 1)


    def _make_test(kind):
        class _TestKind(unittest.TestCase):
            def test_render(self):
                self.assertEqual(render(kind), "<" + kind + ">")

        _NAME = "Test" + kind.capitalize()
        _TestKind.__name__ = _NAME
        globals()[_NAME] = _TestKind
        __all__.append(_NAME)


    for _KIND in ("lalr", "earley"):
        _make_test(_KIND)


    if __name__ == "__main__":
        unittest.main()
""")

LISTED = dedent("""
    import unittest

    from app.lib import parse

    __all__ = ["TestListed"]


    class TestListed(unittest.TestCase):
        def test_parse(self):
            self.assertEqual(parse(" a "), "a")
""")

PUBLIC = dedent("""
    import unittest

    from app.lib import parse


    class TestPublic(unittest.TestCase):
        def test_parse(self):
            self.assertEqual(parse(" b "), "b")
""")

CASES = dedent("""
    import unittest

    from app.lib import parse


    class ParserCase(unittest.TestCase):
        def test_parse(self):
            self.assertEqual(parse(" c "), "c")
""")


def runner(main_guard: bool) -> str:
    text = dedent("""
        import unittest

        from .cases import ParserCase
        from .test_listed import *
        from .test_public import *
        from .test_made import *
    """)
    return text + ('\nif __name__ == "__main__":\n    unittest.main()\n' if main_guard else "")


def project(main_guard: bool = True) -> dict[str, bytes]:
    files = {
        "pyproject.toml": CONFIG,
        "app/__init__.py": "",
        "app/lib.py": LIB,
        "tests/__init__.py": "",
        "tests/cases.py": CASES,
        "tests/test_listed.py": LISTED,
        "tests/test_public.py": PUBLIC,
        "tests/test_made.py": MADE,
        "tests/__main__.py": runner(main_guard),
    }
    return {path: text.encode() for path, text in files.items()}


def select(files: Mapping[str, bytes], qualname: str) -> set[str]:
    index = TestIndex.build(files)
    selection = index.select([ChangedEntity("app/lib.py", qualname, "modified", ("body",))])
    assert not selection.run_all, selection.reason
    return set(selection.tests)


@pytest.mark.parametrize("main_guard", [True, False])
def test_a_runner_module_names_the_tests_its_imports_and_star_imports_bind(main_guard: bool) -> None:
    files = project(main_guard)
    # pytest collects a TestCase under any name, and what a star import binds: a literal __all__, or public names
    assert select(files, "app.lib.parse") == {
        "tests/__main__.py::ParserCase::test_parse",
        "tests/__main__.py::TestListed::test_parse",
        "tests/__main__.py::TestPublic::test_parse",
    }
    # tests made under computed names in a module the runner star-imports: its ``*`` id
    assert select(files, "app.lib.render") == {"tests/__main__.py::*"}
    assert select(files, "app.lib.unused") == set()


def test_a_main_guard_stays_a_script_s_beside_stores_under_names_that_cannot_be_dunder_name() -> None:
    # globals()["Test" + kind] cannot bind __name__: unittest.main() runs only when the module is a script
    scope = file_facts("tests/test_made.py", MADE.encode()).scope("")
    assert scope is not None and scope.refs.dynamic == ""
    for key in ("_NAME", '"Test" + kind', 'f"Test{kind}"', '"TestX"'):
        text = MADE.replace("globals()[_NAME]", f"globals()[{key}]")
        scope = file_facts("tests/test_made.py", text.encode()).scope("")
        assert scope is not None and scope.refs.dynamic == "", key
    # a key that may be "__name__" (a parameter, a computed start): the guard may be entered on import
    for key in ("kind", '"_" + kind', 'f"{kind}Test"'):
        text = MADE.replace("globals()[_NAME]", f"globals()[{key}]")
        scope = file_facts("tests/test_made.py", text.encode()).scope("")
        assert scope is not None and scope.refs.dynamic == "unittest.main", key
    # exec(code, namespace) in a test writes that namespace, not the module's (lark's nearley tests)
    text = MADE.replace(
        "        def test_plain(self):\n", "        def test_plain(self):\n            exec('x = 1', {})\n"
    )
    scope = file_facts("tests/test_made.py", text.encode()).scope("")
    assert scope is not None and scope.refs.dynamic == ""


def test_a_runner_module_of_star_imports_alone_selects_their_tests() -> None:
    # No test made under a computed name, so no ``*`` id: the star-imported classes must be named, or a change
    # reaching them selects nothing while their tests fail.
    files = {**project(), "tests/__main__.py": b"from .test_listed import *\nfrom .test_public import *\n"}
    del files["tests/test_made.py"]
    assert select(files, "app.lib.parse") == {
        "tests/__main__.py::TestListed::test_parse",
        "tests/__main__.py::TestPublic::test_parse",
    }


DISPATCH = dedent("""
    def call(handler, name, value):
        return getattr(handler, name)(value)
""")

DISPATCHING = dedent("""
    import unittest

    from app.dispatch import call


    class Handler:
        def double(self, value):
            return 2 * value


    class TestDispatch(unittest.TestCase):
        def test_double(self):
            self.assertEqual(call(Handler(), "double", 2), 4)
""")

OTHER = dedent("""
    import unittest


    class TestOther(unittest.TestCase):
        def helper(self):
            return 1

        def test_other(self):
            self.assertEqual(self.helper(), 1)
""")


@pytest.mark.parametrize("imports_other", [False, True])
def test_a_test_of_a_runner_module_reads_names_where_its_own_module_does(imports_other: bool) -> None:
    # getattr(handler, name) may read any attribute of anything its module's imports hold: not the other test
    # modules the runner imports (pytest imports them all either way), unless its own module imports them
    dispatching = DISPATCHING + ("\nfrom tests.test_other import TestOther\n" if imports_other else "")
    files = {
        "pyproject.toml": CONFIG,
        "app/__init__.py": "",
        "app/dispatch.py": DISPATCH,
        "tests/__init__.py": "",
        "tests/test_dispatch.py": dispatching,
        "tests/test_other.py": OTHER,
        "tests/__main__.py": "from .test_dispatch import TestDispatch\nfrom .test_other import TestOther\n",
    }
    index = TestIndex.build({p: t.encode() for p, t in files.items()})
    change = ChangedEntity("tests/test_other.py", "tests.test_other.TestOther.helper", "modified", ("body",))
    selection = index.select([change])
    assert not selection.run_all, selection.reason
    expected = {"tests/__main__.py::TestOther::test_other"}
    if imports_other:
        expected.add("tests/__main__.py::TestDispatch::test_double")
    assert set(selection.tests) == expected


def test_what_a_runner_module_imports_besides_test_modules_stays_in_its_tests_closure() -> None:
    # The runner's own imports of other code (a plugin registry its module code loads) are in every test's
    # process as they were: a name read from an unknown object may still be theirs.
    plugins = "class Plugin:\n    def double(self, value):\n        return 3 * value\n\n\nPLUGINS = [Plugin()]\n"
    files = {
        "pyproject.toml": CONFIG,
        "app/__init__.py": "",
        "app/dispatch.py": DISPATCH,
        "app/plugins.py": plugins,
        "tests/__init__.py": "",
        "tests/test_dispatch.py": DISPATCHING,
        "tests/test_other.py": OTHER,
        "tests/__main__.py": "import app.plugins\nfrom .test_dispatch import TestDispatch\nfrom .test_other import TestOther\n",
    }
    index = TestIndex.build({p: t.encode() for p, t in files.items()})
    selection = index.select([ChangedEntity("app/plugins.py", "app.plugins.Plugin.double", "modified", ("body",))])
    assert not selection.run_all, selection.reason
    assert set(selection.tests) == {"tests/__main__.py::TestDispatch::test_double"}
