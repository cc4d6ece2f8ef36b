"""Functions a module's code calls at import only to bind what they return to a name (funcy's ``once = once_per()``,
``make_lookuper = _make_lookuper(False)``).

Importing runs the call: the callee's body, and the definitions in it (their decorators, defaults). The functions it
defines and returns are not run there: only what calls the value does — the tests reading the name. Before, every
importer reached their bodies (a change to ``memoize``, which ``make_lookuper``'s nested function applies, selected
every funcy test). The traps: the value called at import after all (at module level, as a decorator, in a default
argument, in a class body), the nested function called, stored or decorated where it is defined, a value kept in a
table, the call's result called at once.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected

DECO = dedent(
    """
    def cached(f):
        return f


    def _make(flag):
        def made(f):
            return cached(f) if flag else f
        made.flag = flag
        return made


    lookup = _make(False)
    quiet = _make(True)
    quiet.__name__ = "quiet"


    def other():
        return 2
    """
)
FILES = {
    "app/__init__.py": "",
    "tests/test_lookup.py": "from app.deco import lookup\n\n\ndef test_lookup():\n    assert lookup(1) == 1\n",
    "tests/test_other.py": "from app.deco import other\n\n\ndef test_other():\n    assert other() == 2\n",
}
LOOKUP = {"tests/test_lookup.py::test_lookup"}
BOTH = LOOKUP | {"tests/test_other.py::test_other"}


def _files(deco: str = DECO) -> dict[str, str]:
    return {**FILES, "app/deco.py": deco}


def test_what_a_returned_function_runs_counts_for_the_tests_reading_the_name() -> None:
    assert selected(_files(), body("app/deco.py", "app.deco.cached")) == LOOKUP
    assert selected(_files(), body("app/deco.py", "app.deco._make.made")) == LOOKUP


def test_the_function_called_at_import_still_counts_for_every_importer() -> None:
    assert selected(_files(), body("app/deco.py", "app.deco._make")) == BOTH


TRAPS = {
    # the value called at module level
    "called at import": lambda t: t + "\nFIRST = lookup(3)\n",
    # applied as a decorator at module level
    "a decorator at import": lambda t: t + "\n@quiet\ndef helper():\n    return 1\n",
    # a default argument
    "a default argument": lambda t: t + "\ndef helper(x=lookup(2)):\n    return x\n",
    # a class body calling it
    "a class body": lambda t: t + "\nclass Holder:\n    value = quiet(1)\n",
    # the call's result called at once
    "the result called": lambda t: t + "\nFIRST = _make(True)(1)\n",
    # kept in a table the module's code calls through
    "a table": lambda t: t + "\nTABLE = {'a': _make(True)}\nFIRST = TABLE['a'](1)\n",
    # the nested function called where it is defined
    "called where defined": lambda t: t.replace("    made.flag = flag\n", "    made(0)\n"),
    # stored where it is defined
    "stored where defined": lambda t: t.replace("    made.flag = flag\n", "    MADE.append(made)\n") + "\nMADE = []\n",
    # decorated by a decorator that may hand it out
    "decorated": lambda t: (
        t.replace("    def made(f):\n", "    @register\n    def made(f):\n")
        + "\ndef register(f):\n    f(1)\n    return f\n"
    ),
    # the name rebound in the function
    "nonlocal": lambda t: t.replace(
        "    made.flag = flag\n", "    def swap():\n        nonlocal made\n        made = cached\n    swap()\n"
    ),
}


@pytest.mark.parametrize("edit", TRAPS.values(), ids=list(TRAPS))
def test_what_runs_the_returned_function_at_import_still_counts_for_every_importer(edit: object) -> None:
    assert callable(edit)
    assert edit(DECO) != DECO
    assert selected(_files(edit(DECO)), body("app/deco.py", "app.deco.cached")) == BOTH
