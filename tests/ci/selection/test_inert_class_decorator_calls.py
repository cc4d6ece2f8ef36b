"""A class decorator known to be inert called with arguments that call nothing (``@dataclass(init=False,
frozen=True)``) runs no code of the tree when the class statement runs, as the bare ``@dataclass`` does: a change
of the class statement (its ``__slots__``, the decorator's constant arguments) is the class's users' change, and
one importer's (the statement may raise). h11 0.13+ defines every event so (``Request``, ``Data``,
``EndOfMessage``...): the call in the class's head made the class's definition "do more than bind its name", so
any change of an event's class statement marked ``h11/_events.py``'s module code and selected every test (9 of the
0.12 -> 0.13 micro-commits, 73 of 73). An argument that calls code, or a decorator not known to be inert, still
runs with the class statement: every importer.
"""

from __future__ import annotations

from textwrap import dedent

from tests.ci.selection.test_selection import select_change

EVENTS = """
    from dataclasses import dataclass


    class Event:
        __slots__ = ()


    @dataclass(init=False, frozen=True)
    class Data(Event):
        __slots__ = ("data", "chunk_start")

        data: bytes
        chunk_start: bool

        def __init__(self, data, chunk_start=False):
            object.__setattr__(self, "data", data)
            object.__setattr__(self, "chunk_start", chunk_start)


    def version():
        return "1"


    def name():
        return "app"
"""


def tree(events: str = EVENTS) -> dict[str, str]:
    files = {
        "app/__init__.py": "",
        "app/events.py": events,
        "tests/test_data.py": """
            from app.events import Data


            def test_data():
                assert Data(b"x").data == b"x"
        """,
        "tests/test_version.py": """
            from app.events import version


            def test_version():
                assert version() == "1"
        """,
        "tests/test_name.py": """
            from app.events import name


            def test_name():
                assert name() == "app"
        """,
    }
    return {path: dedent(text) for path, text in files.items()}


def selected_after(old: str, new: str, events: str = EVENTS) -> set[str]:
    before = tree(events)
    after = tree(events.replace(old, new))
    assert after != before
    return set(select_change(before, after).tests)


def test_a_change_of_a_class_statement_under_an_inert_decorator_call_selects_its_users_and_one_importer() -> None:
    # Before: all three (the module's code changed).
    for old, new in (
        ('__slots__ = ("data", "chunk_start")', '__slots__ = ("chunk_start", "data")'),
        ("@dataclass(init=False, frozen=True)", "@dataclass(init=False, frozen=True, eq=False)"),
    ):
        found = selected_after(old, new)
        assert "tests/test_data.py::test_data" in found
        assert len(found) <= 2, (old, found)


def test_a_decorator_argument_that_calls_code_still_runs_with_the_class_statement() -> None:
    events = EVENTS.replace("@dataclass(init=False, frozen=True)", "@dataclass(init=False, frozen=flag())").replace(
        "    class Event:", "    def flag():\n        return True\n\n\n    class Event:"
    )
    found = selected_after('__slots__ = ("data", "chunk_start")', '__slots__ = ("chunk_start", "data")', events)
    assert found == {
        "tests/test_data.py::test_data",
        "tests/test_version.py::test_version",
        "tests/test_name.py::test_name",
    }


def test_a_decorator_of_the_tree_called_with_constants_still_runs_with_the_class_statement() -> None:
    events = EVENTS.replace("@dataclass(init=False, frozen=True)", '@register("data")').replace(
        "    class Event:",
        "    REGISTRY = {}\n\n\n    def register(name):\n        def wrap(cls):\n            REGISTRY[name] = cls()\n"
        "            return cls\n        return wrap\n\n\n    class Event:",
    )
    found = selected_after('__slots__ = ("data", "chunk_start")', '__slots__ = ("chunk_start", "data")', events)
    assert found == {
        "tests/test_data.py::test_data",
        "tests/test_version.py::test_version",
        "tests/test_name.py::test_name",
    }
