"""A name a module binds only to a dotted reference (``h = helpers``, ``ppt = pp.pyparsing_test``) is what that
reference is, not a value of unknown type.

pyparsing's ``test_unit.py`` names its assertion mixin through such an alias (``ppt = pp.pyparsing_test``, itself
bound in ``pyparsing/__init__.py`` by ``if "pyparsing_test" not in globals(): pyparsing_test = testing``):
``class Test02_WithoutPackrat(ppt.TestParseResultsAsserts, TestCase)`` had a base that did not resolve, counted
as open (an outside base may call any method by name), and one ``exec`` test then reached nearly every test.
An alias is resolved only when every binding of the name in its module is such a statement and nothing in the
module may write its namespace otherwise (``globals()[k] = v``, ``exec`` into it, ``sys.modules``...).
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected
from trellis.ci.selection.python_refs import file_facts

PKG = {
    "pkg/__init__.py": """
        from .testing import Tools as testing
        from .helpers import *

        if "testing_tools" not in globals():
            testing_tools = testing
    """,
    "pkg/helpers.py": """
        __all__ = ["Parser"]

        def run():
            return 1

        class Parser:
            def go(self):
                return 1
    """,
    "pkg/other.py": """
        def run():
            return 2

        class Other:
            def go(self):
                return 2

            def check(self):
                return 2
    """,
    "pkg/testing.py": """
        class Tools:
            class Mixin:
                def check(self):
                    return 1
    """,
}


def _with(test: str) -> dict[str, str]:
    return {**PKG, "tests/test_it.py": test}


MODULE = """
    import pkg.other
    from pkg import helpers
    {extra}
    h = helpers

    def test_run():
        assert h.run() == 1
"""


def test_an_alias_of_a_module_is_the_module() -> None:
    files = _with(MODULE.format(extra=""))
    assert selected(files, body("pkg/other.py", "run")) == set()  # before: any ``run`` (an unknown value's)
    assert selected(files, body("pkg/helpers.py", "run")) == {"tests/test_it.py::test_run"}


def test_an_alias_of_a_class_is_the_class() -> None:
    files = _with(
        """
        import pkg.helpers
        import pkg.other
        P = pkg.helpers.Parser

        def test_go():
            assert P().go() == 1
        """
    )
    assert selected(files, body("pkg/other.py", "Other.go")) == set()
    assert selected(files, body("pkg/helpers.py", "Parser.go")) == {"tests/test_it.py::test_go"}


MIXIN = """
    import unittest
    import pkg as pp
    import pkg.other
    {extra}
    ppt = pp.testing_tools

    class TestIt(ppt.Mixin, unittest.TestCase):
        def test_check(self):
            assert self.check() == 1
"""


def test_a_class_re_exported_by_a_package_under_a_condition_is_a_known_base() -> None:
    """pyparsing's case: the alias names a class the package binds under ``if "name" not in globals():`` (the
    candidates: that binding, and what its star imports may bind), and a test class derives from a member."""
    files = _with(MIXIN.format(extra=""))
    assert selected(files, body("pkg/other.py", "Other.check")) == set()  # before: open, any ``check``
    assert selected(files, body("pkg/testing.py", "Tools.Mixin.check")) == {"tests/test_it.py::TestIt::test_check"}


def test_a_conditional_alias_is_any_of_its_bindings() -> None:
    files = _with(
        """
        import sys
        import pkg.helpers
        import pkg.other

        if sys.argv:
            P = pkg.helpers.Parser
        else:
            P = pkg.other.Other

        def test_go():
            assert P().go()
        """
    )
    expected = {"tests/test_it.py::test_go"}
    assert selected(files, body("pkg/helpers.py", "Parser.go")) == expected
    assert selected(files, body("pkg/other.py", "Other.go")) == expected
    assert selected(files, body("pkg/testing.py", "Tools.Mixin.check")) == set()


def test_a_star_import_may_bind_what_the_condition_tests() -> None:
    """``if "Parser" not in globals(): Parser = other.Other`` after ``from pkg.helpers import *``: either."""
    files = _with(
        """
        from pkg.helpers import *
        import pkg.other

        if "Parser" not in globals():
            Parser = pkg.other.Other

        def test_go():
            assert Parser().go()
        """
    )
    expected = {"tests/test_it.py::test_go"}
    assert selected(files, body("pkg/helpers.py", "Parser.go")) == expected
    assert selected(files, body("pkg/other.py", "Other.go")) == expected


@pytest.mark.parametrize(
    "extra",
    [
        "globals()['h'] = __import__('pkg.other').other",
        "globals().update(h=None)",
        "exec('h = 1')",
        "exec(open('x').read(), globals())",
        "def rebind():\n        global h\n        h = None",
        "import sys\n    sys.modules[__name__].h = None",
        "for h in ():\n        pass",
        'from tests import test_it\n    setattr(test_it, "h", None)',
    ],
    ids=["item", "update", "exec-module", "exec-globals", "global", "sys-modules", "other-binding", "self-import"],
)
def test_an_alias_the_module_may_rebind_otherwise_stays_unknown(extra: str) -> None:
    files = _with(MODULE.format(extra=extra))
    # code exec'd from a file may also make tests: every item of the test module (tests/test_generated_tests.py)
    made = {"tests/test_it.py::*"} if extra.startswith("exec(open") else set()
    assert selected(files, body("pkg/other.py", "run")) == {"tests/test_it.py::test_run", *made}


def test_an_alias_in_a_module_that_reads_its_namespace_or_execs_into_a_function_s_locals_is_kept() -> None:
    """Reading ``globals()`` (``in``, ``.get``) and ``exec(code, globals(), locals())`` in a function (the code's
    bindings go to the locals mapping) write nothing of the module's namespace: pyparsing's test_unit.py."""
    extra = (
        "def probe():\n        return 'h' not in globals() and globals().get('x') is None\n"
        "    def generated(code):\n        exec(code, globals(), locals())"
    )
    files = _with(MODULE.format(extra=extra))
    assert selected(files, body("pkg/other.py", "run")) == set()
    assert selected(files, body("pkg/helpers.py", "run")) == {"tests/test_it.py::test_run"}


def test_the_facts_name_the_aliases_and_only_them() -> None:
    text = dedent(
        """
        import pkg as pp
        import pkg.helpers
        ppt = pp.testing_tools
        h = pkg.helpers
        loop = pp.x
        loop = loop.y
        n = 3
        c = pp.make()
        """
    )
    facts = file_facts("m.py", text.encode())
    assert facts.aliases == {"ppt": (("pp", "testing_tools"),), "h": (("pkg", "helpers"),)}


def test_a_method_a_base_of_unknown_type_provides_is_any_method_of_its_name() -> None:
    """``self.check()`` in a class whose base is a call's result (``class T(make_mixin(), TestCase)``, six's
    ``with_metaclass(Meta, Base)``) or a name bound to one: the base may be a class of the tree, and its
    ``check`` found first. Before, ``self.check`` found no member in the class's family and reached nothing: a
    change to the mixin's ``check`` selected no test (the pyparsing mixin, before its alias was resolved)."""
    files = _with(
        """
        import unittest
        import pkg.testing

        class TestCall(pkg.testing.factory(), unittest.TestCase):
            def test_check(self):
                assert self.check() == 1

        Base = pkg.testing.factory()

        class TestValue(Base, unittest.TestCase):
            def test_check(self):
                assert self.check() == 1
        """
    )
    files["pkg/testing.py"] += "\n        def factory():\n            return Tools.Mixin\n"
    assert selected(files, body("pkg/testing.py", "Tools.Mixin.check")) == {
        "tests/test_it.py::TestCall::test_check",
        "tests/test_it.py::TestValue::test_check",
    }
