"""A top-level name removed (or renamed) from a module: every module importing it by name raises at import.

``from app.core import helper`` binds a name and runs none of ``helper``'s code, so a test importing ``app.checks``
need not reach ``helper``: when a commit renames or removes it, selection picked one importer of ``app/core.py``
(whose own code may read the name) and the tests reaching ``helper``, but not the tests of ``app.checks``, whose
import now fails with ImportError — a missed failure. One importer of each module importing the name runs now. A
class that the importer only tests against (``isinstance(x, Marker)``: read, not used) is the same case.
"""

from __future__ import annotations

from textwrap import dedent

from tests.ci.selection.test_selection import select_change

FILES = {
    "app/__init__.py": "",
    "app/core.py": """
        def helper():
            return 1


        def other():
            return 2


        class Marker:
            pass


        class Box:
            def size(self):
                return 3
    """,
    "app/checks.py": """
        from app.core import Box, Marker, helper, other


        def kind(x):
            return isinstance(x, Marker) or other()
    """,
    "tests/test_kind.py": """
        from app.checks import kind


        def test_kind():
            assert kind(1) == 2
    """,
    "tests/test_helper.py": """
        from app.core import Box, Marker, helper


        def test_helper():
            assert helper() == 1 and Marker() and Box().size() == 3
    """,
}
KIND, HELPER = "tests/test_kind.py::test_kind", "tests/test_helper.py::test_helper"


def selected(old: str, new: str) -> set[str]:
    before = {path: dedent(text) for path, text in FILES.items()}
    after = dict(before)
    after["app/core.py"] = before["app/core.py"].replace(old, new)
    assert after != before
    return set(select_change(before, after).tests)


def test_a_renamed_function_selects_an_importer_of_each_module_importing_it() -> None:
    # Before: only test_helper (it reaches helper, and imports app/core.py itself).
    assert selected("def helper():", "def helper2():") == {HELPER, KIND}


def test_a_renamed_class_only_tested_against_selects_the_importers_too() -> None:
    assert selected("class Marker:", "class Marker2:") == {HELPER, KIND}


def test_a_removed_method_or_a_body_change_selects_no_importer() -> None:
    assert selected("    def size(self):\n        return 3", "    def length(self):\n        return 3") == {HELPER}
    assert selected("return 1", "return 11") == {HELPER}
