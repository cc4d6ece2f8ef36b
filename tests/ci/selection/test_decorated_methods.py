"""A method under a bare decorator of the tree that gives back a function does not hand its class out.

Creating a class calls ``__set_name__`` on each attribute value whose type has one, which may keep the class: a
method under a decorator not known to be inert may be any value, so the class was handed out where it is defined,
and every importer of the module reached all its methods. tenacity decorates every strategy's ``__call__`` with its
``override`` backport (``method.__override__ = True; return method``): a fault in any strategy selected 185 of 185
tests. A decorator of the tree whose every ``return`` gives back its argument, or a function it defines under inert
decorators, makes a function of the method; any other (a wrapper object, a factory's call, a name that may be
something else) still may set a name.
"""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected

UTILS = dedent(
    """
    import contextlib
    import functools


    def override(method):
        with contextlib.suppress(AttributeError, TypeError):
            method.__override__ = True
        return method


    def traced(method):
        @functools.wraps(method)
        def wrapper(*args):
            return method(*args)

        return wrapper
    """
)
CORE = dedent(
    """
    from app.utils import override, traced


    class Base:
        def run(self):
            return 0


    class Stop(Base):
        @override
        def run(self):
            return helper()

        @traced
        def again(self):
            return 1


    def helper():
        return 1


    def other():
        return 2
    """
)
FILES = {
    "app/__init__.py": "",
    "app/utils.py": UTILS,
    "app/core.py": CORE,
    "tests/test_stop.py": "from app.core import Stop\n\n\ndef test_stop():\n    assert Stop().run() == 1\n",
    "tests/test_other.py": "from app.core import other\n\n\ndef test_other():\n    assert other() == 2\n",
}
STOP = {"tests/test_stop.py::test_stop"}


def test_a_method_a_decorator_gives_back_does_not_hand_its_class_out() -> None:
    # Before: Stop was handed out where app.core defines it, and test_other reached Stop.run and helper.
    assert selected(FILES, body("app/core.py", "app.core.helper")) == STOP


def _edit(old: str, new: str, path: str = "app/utils.py") -> Callable[[dict[str, str]], dict[str, str]]:
    def apply(files: dict[str, str]) -> dict[str, str]:
        assert old in files[path]
        return {**files, path: files[path].replace(old, new)}

    return apply


@pytest.mark.parametrize(
    "edit",
    [
        # A wrapper object: its type may have a __set_name__.
        _edit(
            "    return method\n\n\ndef traced",
            "    return Holder(method)\n\n\nclass Holder:\n    def __init__(self, f):\n        self.f = f\n\n\ndef traced",
        ),
        # Something else on one path.
        _edit(
            "    return method\n\n\ndef traced",
            "    if method:\n        return REGISTRY\n    return method\n\n\nREGISTRY = object()\n\n\ndef traced",
        ),
        # A factory's call: what it returns is not read here.
        _edit("    @override\n", "    @override()\n", path="app/core.py"),
        # A function it defines under a decorator not known to be inert.
        _edit("    @functools.wraps(method)\n", "    @override\n    @functools.wraps(method)\n"),
        # A name a module statement rebinds.
        _edit("def traced", "import lib\n\nif lib.flag:\n    override = lib.override\n\n\ndef traced"),
    ],
)
def test_a_method_whose_decorator_may_make_anything_of_it_still_may(
    edit: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    assert selected(edit(FILES), body("app/core.py", "app.core.helper")) == STOP | {"tests/test_other.py::test_other"}
