"""Hypothesis's test decorators (``@given``, ``@settings``, ``@example``, ``@seed``, ``@reproduce_failure``) are
inert when their arguments call nothing: the module's code does not run the test they decorate.

bidict's property tests are ``@given(st.BI_AND_MAP_FROM_SAME_ND_ITEMS)`` functions. ``given`` was a decorator not
known to be inert, so each test module's code handed its tests to code that might call them: every test of
``test_properties.py`` reached every other's body, and a change to one test (or to what only one calls) selected
the module's 34-40 tests. ``given`` wraps the test (its wrapper, bound to the test's name, calls it when pytest
calls the wrapper) and calls neither the test nor the strategies when it decorates; ``settings``, ``example``,
``seed`` and ``reproduce_failure`` attach attributes and give the test back — as ``mock.patch`` and pytest's marks,
inert. Arguments that call code (``@given(make_strategy())``) run it when the ``def`` runs: then the definition
still does more than bind its name, and a change to it selects every importer.
"""

from __future__ import annotations

from textwrap import dedent

from tests.ci.selection.test_selection import body, select_change, selected

PROPS = dedent(
    """
    import hypothesis.strategies as st
    from hypothesis import example, given, settings

    from app.core import double, triple

    INTS = st.integers()


    @given(INTS)
    @settings(max_examples=5)
    def test_double(x):
        assert double(x) == 2 * x


    @given(x=INTS)
    @example(0)
    def test_triple(x):
        assert triple(x) == 3 * x
    """
)


def tree(props: str = PROPS) -> dict[str, str]:
    return {
        "app/__init__.py": "",
        "app/core.py": "def double(x):\n    return 2 * x\n\n\ndef triple(x):\n    return 3 * x\n",
        "tests/test_props.py": props,
    }


TRIPLE = body("app/core.py", "app.core.triple")


def test_a_function_only_one_hypothesis_test_calls_selects_that_test() -> None:
    # Before: both (the module's code reached test_triple through @given).
    assert selected(tree(), TRIPLE) == {"tests/test_props.py::test_triple"}


def test_a_change_of_a_tests_decorators_with_quiet_arguments_selects_that_test() -> None:
    found = select_change(tree(), tree(PROPS.replace("@example(0)", "@example(1)")))
    assert set(found.tests) == {"tests/test_props.py::test_triple"}


def test_arguments_that_call_code_run_with_the_def() -> None:
    props = PROPS.replace("@given(x=INTS)", "@given(x=st.integers(min_value=0))")
    assert selected(tree(props), TRIPLE) == {"tests/test_props.py::test_triple", "tests/test_props.py::test_double"}
    found = select_change(tree(props), tree(props.replace("min_value=0", "min_value=1")))
    assert set(found.tests) == {"tests/test_props.py::test_triple", "tests/test_props.py::test_double"}
