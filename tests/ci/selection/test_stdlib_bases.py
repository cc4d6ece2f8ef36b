"""A class whose base is a standard-library class that defining a subclass does not call into is not handed out.

Defining a class hands the new class object to its bases' ``__init_subclass__`` and its metaclass, which may keep it
and make instances later; an outside base not known to be quiet hands the class out where it is defined, so every
importer of the module reaches the class and every method the base may call (all of them: an outside base may call
any method by name). structlog's ``ProcessorFormatter(logging.Formatter)`` made ``import structlog`` reach
``ProcessorFormatter.format`` and everything it reads. ``logging.Formatter``'s metaclass is ``type`` and no class
of its MRO defines ``__init_subclass__``: the standard library's classes are looked at (a fixed list of modules,
:mod:`trellis.ci.selection.stdlib_bases`), not guessed. An ``Enum`` base whose members code of the family makes (its
metaclass makes them, calling the family's ``__init__``...), a base with an ``__init_subclass__`` of its own, a
module outside the list and a name that is no class stay handed out.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected
from trellis.ci.selection.stdlib_bases import metaclass_base, quiet_base


def _files(base_import: str, base: str) -> dict[str, str]:
    core = dedent(
        f"""
        {base_import}


        class Formatter({base}):
            def format(self, record):
                return helper()


        def helper():
            return 1


        def other():
            return 2
        """
    )
    return {
        "app/__init__.py": "",
        "app/core.py": core,
        "tests/test_fmt.py": "from app.core import Formatter\n\n\ndef test_fmt():\n    assert Formatter().format(None)\n",
        "tests/test_other.py": "from app.core import other\n\n\ndef test_other():\n    assert other() == 2\n",
    }


FMT = {"tests/test_fmt.py::test_fmt"}
BOTH = FMT | {"tests/test_other.py::test_other"}


@pytest.mark.parametrize(
    ("base_import", "base"),
    [
        ("import logging", "logging.Formatter"),
        ("from logging import Formatter as Base", "Base"),
        ("import logging.handlers", "logging.handlers.RotatingFileHandler"),
        ("import threading", "threading.Thread"),
        ("import json", "json.JSONEncoder"),
    ],
)
def test_a_quiet_standard_library_base_does_not_hand_the_class_out(base_import: str, base: str) -> None:
    # Before: test_other reached Formatter.format (and helper) through app.core's definition of the class.
    assert selected(_files(base_import, base), body("app/core.py", "app.core.helper")) == FMT


@pytest.mark.parametrize(
    ("base_import", "base"),
    [
        ("import somewhere", "somewhere.Formatter"),  # not the standard library's
        ("import logging", "logging.getLogger"),  # no class
        ("import logging", "logging.NoSuchClass"),
    ],
)
def test_other_outside_bases_still_hand_the_class_out(base_import: str, base: str) -> None:
    assert selected(_files(base_import, base), body("app/core.py", "app.core.helper")) == BOTH


def test_an_enum_hands_the_class_out_only_when_code_of_its_family_makes_its_members() -> None:
    assert selected(_files("import enum", "enum.Enum"), body("app/core.py", "app.core.helper")) == FMT
    files = _files("import enum", "enum.Enum")
    files["app/core.py"] = files["app/core.py"].replace(
        "    def format(", "    RED = 1\n\n    def __init__(self, value):\n        self.weight = 1\n\n    def format("
    )
    assert selected(files, body("app/core.py", "app.core.helper")) == BOTH  # EnumType calls __init__ per member


def test_what_the_standard_library_says_of_its_classes() -> None:
    assert quiet_base("logging.Formatter") and quiet_base("logging.Handler") and quiet_base("argparse.Action")
    assert not quiet_base("enum.Enum") and not quiet_base("enum.IntFlag")
    assert not quiet_base("typing.NamedTuple.nothing") and not quiet_base("os.system")
    assert not quiet_base("antigravity.X")  # a module not in the list is never imported
    assert metaclass_base("logging.Formatter") is False and metaclass_base("abc.ABCMeta") is True
    assert metaclass_base("nowhere.Thing") is None  # unknown: the caller decides
