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

from tests.ci.selection.test_selection import body, select_change, selected

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


def test_a_returned_function_moved_counts_for_the_tests_reading_its_line_through_the_name() -> None:
    # The line a returned function starts at is its code's: a test reading it through the name sees it move.
    lines = "from app.deco import lookup\n\n\ndef test_line():\n    assert lookup.__code__.co_firstlineno > 1\n"
    old = {**_files(), "tests/test_line.py": lines}
    new = {
        **old,
        "app/deco.py": DECO.replace("def _make(flag):\n", "def added():\n    return 0\n\n\ndef _make(flag):\n"),
    }
    assert set(select_change(old, new).tests) == {"tests/test_line.py::test_line"}


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


# An instance a module makes at import (funcy's ``print_errors = log_errors(print)``): making it runs the class's
# construction (``__new__``, ``__init__``...), its other dunder methods run where the instance is used.
LOG = dedent(
    """
    def describe():
        return "x"


    class Base:
        def __init__(self, out):
            self.out = out

        def __repr__(self):
            return describe()


    class Logger(Base):
        def __init__(self, out, label=None):
            Base.__init__(self, out, label=label)
            self.label = label

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.out(describe())


    printer = Logger(print)


    def other():
        return 2
    """
)
LOG_FILES = {
    "app/__init__.py": "",
    "tests/test_printer.py": "from app.log import printer\n\n\ndef test_printer():\n    with printer:\n        pass\n",
    "tests/test_other.py": "from app.log import other\n\n\ndef test_other():\n    assert other() == 2\n",
}
PRINTER = {"tests/test_printer.py::test_printer"}
LOG_BOTH = PRINTER | {"tests/test_other.py::test_other"}


def test_what_an_instance_made_at_import_runs_when_used_counts_for_the_tests_reading_the_name() -> None:
    files = {**LOG_FILES, "app/log.py": LOG}
    assert selected(files, body("app/log.py", "app.log.describe")) == PRINTER
    assert selected(files, body("app/log.py", "app.log.Logger.__init__")) == LOG_BOTH
    assert selected(files, body("app/log.py", "app.log.Base.__init__")) == LOG_BOTH


LOG_TRAPS = {
    "used at import": lambda t: t + "\nwith printer:\n    pass\n",
    "an operator on the instance in __init__": lambda t: t.replace(
        "        self.label = label\n",
        "        self.label = str(self)\n\n    def __str__(self):\n        return describe()\n",
    ),
    "an operator on the instance in the base's __init__": lambda t: t.replace(
        "        self.out = out\n", "        self.out = out\n        self.text = repr(self)\n"
    ),
    "a method called on the instance in __init__": lambda t: t.replace(
        "        self.label = label\n", "        self.label = label\n        self.__exit__()\n"
    ),
    "the instance handed to other code": lambda t: (
        t.replace("        self.label = label\n", "        self.label = label\n        close(self)\n")
        + "\ndef close(x):\n    x.__exit__()\n"
    ),
    "a registry called at import": lambda t: (
        t.replace("        self.label = label\n", "        self.label = label\n        REGISTRY.append(self)\n")
        + "\nREGISTRY = []\nfor held in REGISTRY:\n    held.__exit__()\n"
    ),
    "a metaclass": lambda t: t.replace("class Base:\n", "class Base(metaclass=Meta):\n").replace(
        "def describe():\n",
        "class Meta(type):\n    def __call__(cls, *a):\n        made = super().__call__(*a)\n        made.__exit__()\n"
        "        return made\n\n\ndef describe():\n",
    ),
    "an outside base": lambda t: t.replace("class Base:\n", "class Base(contextlib.ContextDecorator):\n").replace(
        "def describe():\n", "import contextlib\n\n\ndef describe():\n"
    ),
    "a class decorator": lambda t: (
        t.replace("class Logger(Base):\n", "@register\nclass Logger(Base):\n")
        + "\ndef register(cls):\n    cls.__exit__(None)\n    return cls\n"
    ),
    "a base's __init__ not of the family": lambda t: (
        t.replace("Base.__init__(self, out, label=label)", "Other.__init__(self, out)")
        + "\nclass Other:\n    def __init__(self, out):\n        with self:\n            pass\n"
    ),
}


@pytest.mark.parametrize("edit", LOG_TRAPS.values(), ids=list(LOG_TRAPS))
def test_what_runs_the_instance_at_import_still_counts_for_every_importer(edit: object) -> None:
    assert callable(edit)
    source = edit(LOG)
    assert source != LOG
    assert selected({**LOG_FILES, "app/log.py": source}, body("app/log.py", "app.log.describe")) == LOG_BOTH
