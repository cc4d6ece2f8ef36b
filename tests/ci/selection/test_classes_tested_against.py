"""A class only tested against (``isinstance``, ``issubclass``, ``except``) is read, not used.

``isinstance(x, C)``, ``issubclass(k, C)`` and ``except C:`` read the class object: for a class whose metaclass is
surely ``type`` (no keyword, no decorator that may replace it, no base but classes of the tree and builtins) they run
none of its code — ``type.__instancecheck__`` compares types, an ``except`` clause is a subtype check — so they do
not *use* the class: its construction and its dunders run only where an instance is made, which reaches the class
anyway. voluptuous's ``schema_builder`` runs ``_compile_itemsort()`` at import, whose ``is_marker`` tests
``isinstance(key_, Marker)``: every test reached ``Marker.__init__``, hence ``Schema`` and all it compiles.

A metaclass, an ABC (whose ``__subclasshook__`` isinstance runs), a decorator that may replace the class, or a base
from outside the tree keep the old reading.
"""

from __future__ import annotations

from textwrap import dedent

from tests.ci.selection.test_selection import select_change

CORE = """
    class Marker:
        def __init__(self, schema):
            self.schema = schema


    class Failure(Exception):
        pass

"""

CHECKS = """
    from app.core import Failure, Marker


    def kind(x):
        if isinstance(x, Marker):
            return "marker"
        if issubclass(type(x), (Marker, bytes)):
            return "marker"
        try:
            return str(x)
        except Failure:
            return "failure"


    KIND = kind(1)
"""


def tree(core: str = CORE, checks: str = CHECKS) -> dict[str, str]:
    files = {
        "app/__init__.py": "",
        "app/core.py": core,
        "app/checks.py": checks,
        "tests/test_kind.py": """
            from app.checks import kind


            def test_kind():
                assert kind(1) == "1"
        """,
        "tests/test_marker.py": """
            from app.core import Marker


            def test_marker():
                assert Marker(1).schema == 1
        """,
    }
    return {path: dedent(text) for path, text in files.items()}


def selected_after(old: str, new: str, core: str = CORE, checks: str = CHECKS) -> set[str]:
    before = tree(core, checks)
    after = tree(core.replace(old, new), checks)
    assert after != before
    return set(select_change(before, after).tests)


MARKER_INIT = ("self.schema = schema", "self.schema = [schema]")


def test_a_class_only_tested_against_is_not_used_by_the_test() -> None:
    # Before: test_kind reached Marker's construction through isinstance/issubclass (and every importer of
    # app.checks, whose module code calls kind).
    assert selected_after(*MARKER_INIT) == {"tests/test_marker.py::test_marker"}


def test_an_exception_class_only_caught_is_not_used_by_the_test() -> None:
    core = CORE.replace(
        "    class Failure(Exception):\n        pass",
        "    class Failure(Exception):\n        def __init__(self, why):\n            self.why = why",
    )
    found = selected_after("self.why = why", "self.why = [why]", core)
    assert found == set()


def test_a_metaclass_hook_or_a_replacing_decorator_keeps_the_class_used() -> None:
    metaclass = CORE.replace(
        "    class Marker:",
        "    class Meta(type):\n        def __instancecheck__(cls, x):\n            return hasattr(x, 'schema')\n\n\n"
        "    class Marker(metaclass=Meta):",
    )
    decorated = CORE.replace(
        "    class Marker:",
        "    def register(cls):\n        return cls\n\n\n    @register\n    class Marker:",
    )
    abstract = CORE.replace(
        "    class Marker:",
        "    import abc\n\n\n    class Marker(abc.ABC):\n        @classmethod\n"
        "        def __subclasshook__(cls, other):\n            return NotImplemented\n",
    )
    for core in (metaclass, decorated, abstract):
        assert "tests/test_kind.py::test_kind" in selected_after(*MARKER_INIT, core=core), core
    found = selected_after("return hasattr(x, 'schema')", "return hasattr(x, 'spec')", core=metaclass)
    assert "tests/test_kind.py::test_kind" in found
