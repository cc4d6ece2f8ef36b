"""A string constant that can only be an identifier — the attribute name handed to ``setattr``/``getattr``/
``hasattr``/``delattr`` or ``object.__setattr__``, an item of a class's ``__slots__``, the argument names of
``pytest.mark.parametrize`` — names no file: it is not a word that may name a data file or its directory. h11's
``Data`` event has ``__slots__ = ("data", ...)`` and ``object.__setattr__(self, "data", data)``; its tests read
``h11/tests/data/test-file``, so a change to that file "was named" by ``h11/_events.py``'s module code (the word
``data``, the file's directory) and selected every test, where only ``test_against_stdlib_http.py`` (which joins
``"data/test-file"``) reads it. The same constant used as a path elsewhere still names it.
"""

from __future__ import annotations

from tests.ci.selection.test_selection import selected
from trellis.ci.selection.index import ChangedPath

FILES = {
    "app/__init__.py": "",
    "app/events.py": """
        class Data:
            __slots__ = ("data", "end")

            def __init__(self, data):
                object.__setattr__(self, "data", data)
                setattr(self, "end", hasattr(self, "data") and getattr(self, "data"))
    """,
    "tests/__init__.py": "",
    "tests/data/sample.txt": "hello\n",
    "tests/test_events.py": """
        import pytest

        from app.events import Data


        @pytest.mark.parametrize("data", [b"x"])
        def test_data(data):
            assert Data(data).data == data
    """,
    "tests/test_reader.py": """
        import os

        HERE = os.path.dirname(__file__)


        def test_reader():
            with open(os.path.join(HERE, "data/sample.txt")) as f:
                assert f.read() == "hello\\n"
    """,
}


def test_attribute_names_slots_and_parameter_names_name_no_data_file() -> None:
    # Before: test_events too (app/events.py's "data" named the directory tests/data).
    change = ChangedPath("tests/data/sample.txt")
    assert selected(FILES, change, old=FILES) == {"tests/test_reader.py::test_reader"}


def test_the_same_word_used_as_a_path_still_names_the_file() -> None:
    files = dict(FILES)
    files["app/events.py"] = """
        import os

        NAME = "data"


        class Data:
            __slots__ = ("data", "end")

            def __init__(self, data):
                setattr(self, NAME, data)
                object.__setattr__(self, "end", os.listdir(os.path.join("tests", NAME)))
    """
    change = ChangedPath("tests/data/sample.txt")
    assert "tests/test_events.py::test_data" in selected(files, change, old=files)
