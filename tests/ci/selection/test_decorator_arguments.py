"""What an inert decorator is given when its arguments only name things (``@pytest.mark.parametrize("cls",
TYPES)``, ``@given(st.BIDICTS)``, ``@mock.patch("app.core.B.run")``) is the decorated function's reference, not
the module's: reading names runs nothing when the ``def`` runs, and the decorator keeps the values for the test
alone (pytest hands it the parameters, Hypothesis draws from the strategies and ``mock.patch`` patches when it
runs).

bidict's ``test_class_relationships.py`` parametrizes its tests with module-level tuples of every bidict class
(``@pytest.mark.parametrize('bi_cls', ORDERED_BIDICT_TYPES)``): the module's code read them, a reference to a
class counts as its use (what holds it may construct it), so every test of the module — ``test_issubclass_*``
included, whose parameters are other classes or none — reached every method of every class. A default that only
names something was the function's reference already (``def clear(self, base=Cache.clear)``); decorator
arguments of an inert decorator are now too. Arguments that call code (``pytest.param(...)``, ``make_types()``)
still run with the ``def``, in the module's code.
"""

from __future__ import annotations

from tests.ci.selection.test_selection import body, selected

CORE = """
class A:
    def __init__(self):
        self.x = 1


class B:
    def run(self):
        return 2


def make_types():
    return (A,)
"""
TYPES = """
from unittest import mock

import pytest

from app.core import A, B

TYPES = (A, B)


@pytest.mark.parametrize("cls", TYPES)
def test_types(cls):
    assert isinstance(cls, type)


@mock.patch("app.core.B.run")
def test_patched(run):
    assert run is not None


def test_other():
    assert 1
"""


def tree(types: str = TYPES) -> dict[str, str]:
    return {"app/__init__.py": "", "app/core.py": CORE, "tests/test_types.py": types}


def test_names_given_to_an_inert_decorator_are_the_tests_own_references() -> None:
    # Before: every test of the module (its code read TYPES, and the string naming B.run).
    assert selected(tree(), body("app/core.py", "app.core.A.__init__")) == {"tests/test_types.py::test_types"}
    assert selected(tree(), body("app/core.py", "app.core.B.run")) == {
        "tests/test_types.py::test_types",
        "tests/test_types.py::test_patched",
    }


def test_arguments_that_call_code_still_run_in_the_modules_code() -> None:
    types = TYPES.replace('@pytest.mark.parametrize("cls", TYPES)', '@pytest.mark.parametrize("cls", make_types())')
    types = types.replace("from app.core import A, B", "from app.core import A, B, make_types")
    assert selected(tree(types), body("app/core.py", "app.core.A.__init__")) == {
        "tests/test_types.py::test_types",
        "tests/test_types.py::test_patched",
        "tests/test_types.py::test_other",
    }


def test_a_changed_decorator_argument_that_calls_code_runs_with_the_modules_code() -> None:
    # The call runs when the module is imported, for every test of the file: a change to it (here to another
    # function) is the module's, not only the decorated test's (it selected test_types alone).
    from tests.ci.selection.test_selection import select_change

    calls = TYPES.replace('@pytest.mark.parametrize("cls", TYPES)', '@pytest.mark.parametrize("cls", make_types())')
    calls = calls.replace("from app.core import A, B", "from app.core import A, B, make_types")
    other = calls.replace("make_types())", "make_types() + (B,))")
    assert set(select_change(tree(calls), tree(other)).tests) == {
        "tests/test_types.py::test_types",
        "tests/test_types.py::test_patched",
        "tests/test_types.py::test_other",
    }
    # A body change of such a test is its own.
    edited = calls.replace("    assert isinstance(cls, type)", "    assert isinstance(cls, type) and cls")
    assert set(select_change(tree(calls), tree(edited)).tests) == {"tests/test_types.py::test_types"}
