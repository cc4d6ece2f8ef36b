"""A function's annotations evaluated when its ``def`` runs (no ``from __future__ import annotations``) that only read
names and subscript the standard generics with them (``event: Union[Request, Response]``, ``-> Optional[Headers]``)
run no code of the tree: typing's ``__getitem__`` keeps the classes in the function's ``__annotations__``, where only
what reads them (``typing.get_type_hints(f)``, which has the function) finds them. h11's ``_connection.py`` has
``def _keep_alive(event: Union[Request, Response])`` at module level and its methods annotate ``Request``, ``Data``,
``EndOfMessage``; ``_readers.py``'s functions take ``buf: ReceiveBuffer``: every test importing ``h11`` reached
``Request.__init__``, ``ReceiveBuffer.__init__`` and all under them (a reference to a class reaches its dunders), so a
body change of ``normalize_and_validate``, ``validate`` or any event's ``__init__`` selected 72 of 72 tests.
An annotation that calls code or subscripts a class of the tree still runs with the ``def``; one reading a class off a
module of the tree (``events.Request``) still reads it with the ``def`` (the read raises if the module no longer
binds it: every importer fails).
"""

from __future__ import annotations

from textwrap import dedent

from tests.ci.selection.test_selection import body, select_change, selected

EVENTS = """
    class Request:
        def __init__(self, target):
            self.target = target


    class Response:
        def __init__(self, status):
            self.status = status
"""

CONNECTION = """
    from typing import List, Optional, Union

    from app.events import Request, Response


    def keep_alive(event: Union[Request, Response]) -> bool:
        return True


    class Connection:
        def send(self, event: Optional[Request], queue: List[Response] = []) -> Union[Request, None]:
            return event


    def version():
        return "1"
"""


def files(connection: str = CONNECTION) -> dict[str, str]:
    return {
        "app/__init__.py": "",
        "app/events.py": EVENTS,
        "app/connection.py": connection,
        "tests/test_version.py": """
            from app.connection import version


            def test_version():
                assert version() == "1"
        """,
        "tests/test_request.py": """
            from app.events import Request


            def test_request():
                assert Request("/").target == "/"
        """,
        "tests/test_send.py": """
            from app.connection import Connection


            def test_send():
                assert Connection().send(None) is None
        """,
    }


def test_classes_named_in_evaluated_annotations_are_not_reached_by_the_importers() -> None:
    # Before: test_version, which only imports app.connection, reached Request.__init__ and Response.__init__
    # through the annotations of keep_alive and Connection.send, evaluated by the module's code. test_send calls
    # Connection.send, whose annotations are its references (what holds a function may read them).
    assert selected(files(), body("app/events.py", "app.events.Request.__init__")) == {
        "tests/test_request.py::test_request",
        "tests/test_send.py::test_send",
    }
    assert selected(files(), body("app/events.py", "app.events.Response.__init__")) == {"tests/test_send.py::test_send"}


def test_what_reads_the_annotations_has_the_function() -> None:
    # A test that reaches keep_alive (here: hands it to typing.get_type_hints) may call the classes it annotates.
    tree = files()
    tree["tests/test_hints.py"] = """
        import typing

        from app.connection import keep_alive


        def test_hints():
            hints = typing.get_type_hints(keep_alive)
            assert hints["event"].__args__[0]("/").target == "/"
    """
    assert "tests/test_hints.py::test_hints" in selected(tree, body("app/events.py", "app.events.Request.__init__"))


def test_an_evaluated_annotation_that_calls_code_still_runs_with_the_def() -> None:
    connection = CONNECTION.replace(
        "def keep_alive(event: Union[Request, Response])",
        "def pick():\n        return Request('/')\n\n\n    def keep_alive(event: pick())",
    )
    assert "tests/test_version.py::test_version" in selected(
        files(connection), body("app/events.py", "app.events.Request.__init__")
    )


def test_an_evaluated_annotation_subscripting_a_class_of_the_tree_still_runs_with_the_def() -> None:
    # ``Box[Request]`` runs ``Box.__class_getitem__`` when the def runs.
    connection = CONNECTION.replace(
        "def keep_alive(event: Union[Request, Response])",
        "class Box:\n        def __class_getitem__(cls, item):\n            return item('/')\n\n\n"
        "    def keep_alive(event: Box[Request])",
    )
    assert "tests/test_version.py::test_version" in selected(
        files(connection), body("app/events.py", "app.events.Request.__init__")
    )


def test_an_annotation_naming_an_undefined_class_still_breaks_the_import() -> None:
    # The def raises NameError when the module is imported: a test importing it runs.
    new = files()
    new["app/connection.py"] = CONNECTION.replace("Union[Request, Response]", "Union[Request, Missing]")
    selection = select_change({p: dedent(t) for p, t in files().items()}, {p: dedent(t) for p, t in new.items()})
    assert {"tests/test_version.py::test_version", "tests/test_send.py::test_send"} & set(selection.tests)


def test_an_annotation_reading_a_class_off_a_module_of_the_tree_still_reads_it_with_the_def() -> None:
    # ``events.Request`` is an attribute read when the def runs: with the class gone, importing the module raises
    # AttributeError for every importer (test_version too), not only for the tests reaching keep_alive.
    connection = CONNECTION.replace("from app.events import Request, Response", "from app import events").replace(
        "Union[Request, Response]", "Union[events.Request, int]"
    )
    connection = connection.replace("Optional[Request]", "Optional[int]").replace("List[Response]", "List[int]")
    connection = connection.replace("Union[Request, None]", "Union[int, None]")
    cheap = "import app.events\n\n\ndef test_cheap():\n    pass\n"
    old = {**files(connection), "tests/test_request.py": cheap}
    new = {**old, "app/events.py": EVENTS.replace("class Request:", "class Req:")}
    selection = select_change({p: dedent(t) for p, t in old.items()}, {p: dedent(t) for p, t in new.items()})
    assert "tests/test_version.py::test_version" in selection.tests
