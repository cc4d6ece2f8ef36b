"""A class whose base is ``collections.namedtuple(...)`` (or typing's functional ``NamedTuple(...)``) is a plain tuple
subclass: its metaclass is ``type`` and no ``__init_subclass__`` sees it, so defining it hands the class to no code.
msgpack's ``class ExtType(namedtuple("ExtType", "code data"))``: the call in the base counted as an unknown base that
may keep the class, so every test importing ``msgpack`` reached ``ExtType.__new__`` (146 of 146 for a fault there).
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, selected

EXT = """
    {imports}


    class ExtType({base}):
        def __new__(cls, code, data):
            if not 0 <= code <= 127:
                raise ValueError("code must be 0~127")
            return super().__new__(cls, code, data)


    def helper():
        return 1
"""

TESTS = {
    "app/__init__.py": "",
    "tests/test_ext.py": """
        from app.ext import ExtType


        def test_ext():
            assert ExtType(1, b"x").code == 1
    """,
    "tests/test_helper.py": """
        from app.ext import helper


        def test_helper():
            assert helper() == 1
    """,
}


@pytest.mark.parametrize(
    ("imports", "base"),
    [
        ("from collections import namedtuple", 'namedtuple("ExtType", "code data")'),
        ("import collections", 'collections.namedtuple("ExtType", ["code", "data"])'),
        ("from typing import NamedTuple", 'NamedTuple("ExtType", [("code", int), ("data", bytes)])'),
    ],
)
def test_a_namedtuple_base_hands_the_class_to_no_code(imports: str, base: str) -> None:
    # Before: test_helper, which never uses ExtType, reached ExtType.__new__ through the module's import.
    files = {**TESTS, "app/ext.py": EXT.format(imports=imports, base=base)}
    assert selected(files, body("app/ext.py", "app.ext.ExtType.__new__")) == {"tests/test_ext.py::test_ext"}


@pytest.mark.parametrize(
    ("imports", "base"),
    [
        ("from app.factory import make", 'make("ExtType")'),  # a function of the tree: anything may come back
        ("from collections import namedtuple\nfrom app.factory import fields", 'namedtuple("ExtType", fields())'),
    ],
)
def test_other_calls_in_a_base_still_may_keep_the_class(imports: str, base: str) -> None:
    factory = """
        from collections import namedtuple

        REGISTRY = []


        def make(name):
            class Meta(type):
                def __init__(cls, *args):
                    REGISTRY.append(cls)
            return Meta(name, (), {})


        def fields():
            return ["code", "data"]
    """
    files = {
        **TESTS,
        "app/factory.py": factory,
        "app/ext.py": EXT.format(imports=imports.replace("\n", "\n    "), base=base),
    }
    assert "tests/test_helper.py::test_helper" in selected(files, body("app/ext.py", "app.ext.ExtType.__new__"))
