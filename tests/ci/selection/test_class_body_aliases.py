"""A method bound to another name in its class body (``next = __next__``, ``__radd__ = __add__``, ``__str__ =
__repr__``) is an alias: binding a function object runs no ``__set_name__``, so the statement runs nothing when the
class is defined. msgpack's ``fallback.Unpacker`` has ``next = __next__``: every test importing ``msgpack`` (whose
``__init__`` imports ``fallback``) reached ``__next__`` and all the unpacking code under it, though no test used the
class — 4 of 15 faults in the replay selected every test.
"""

from __future__ import annotations

from tests.ci.selection.test_selection import body, selected

READER = """
    class Reader:
        def __init__(self, data):
            self.data = list(data)

        def __iter__(self):
            return self

        def __next__(self):
            return self._take()

        next = __next__

        def _take(self):
            if not self.data:
                raise StopIteration
            return self.data.pop(0)


    def helper():
        return 1
"""

FILES = {
    "app/__init__.py": "",
    "app/reader.py": READER,
    "tests/test_iter.py": """
        from app.reader import Reader


        def test_iter():
            assert list(Reader([1, 2])) == [1, 2]
    """,
    "tests/test_alias.py": """
        from app.reader import Reader


        def test_next():
            assert Reader([1]).next() == 1
    """,
    "tests/test_helper.py": """
        from app.reader import helper


        def test_helper():
            assert helper() == 1
    """,
}


def test_a_method_aliased_in_its_class_body_is_reached_by_the_class_users_only() -> None:
    # Before: test_helper, which only imports the module, reached Reader.__next__ and Reader._take.
    assert selected(FILES, body("app/reader.py", "app.reader.Reader._take")) == {
        "tests/test_iter.py::test_iter",
        "tests/test_alias.py::test_next",
    }
    assert selected(FILES, body("app/reader.py", "app.reader.Reader.__next__")) == {
        "tests/test_iter.py::test_iter",
        "tests/test_alias.py::test_next",
    }


def test_an_alias_of_a_decorated_method_still_runs_with_the_class_statement() -> None:
    # A decorator may return anything, a descriptor with a __set_name__ among them: the module's importers keep it.
    decorated = READER.replace("        def __next__(self):", "        @wrap\n        def __next__(self):")
    files = {**FILES, "app/reader.py": "\n    from app.deco import wrap\n" + decorated, "app/deco.py": DECO}
    assert "tests/test_helper.py::test_helper" in selected(files, body("app/reader.py", "app.reader.Reader._take"))


DECO = """
    def wrap(func):
        return Named(func)


    class Named:
        def __init__(self, func):
            self.func = func

        def __set_name__(self, owner, name):
            owner.seen = self.func(None)
"""
