"""A package's ``py.typed`` (PEP 561's marker: type checkers read it, no import does) is inert by kind: a change to it
selects only the tests reaching code that names it. h11 0.13.0 added ``h11/py.typed`` ("Marker"): without the rule it
was a data file any test might read, and every test ran (``data-file``).
"""

from __future__ import annotations

from tests.ci.selection.test_selection import selected
from trellis.ci.selection.index import ChangedPath

FILES = {
    "app/__init__.py": "def version():\n    return '1'\n",
    "app/py.typed": "",
    "tests/test_version.py": "from app import version\n\n\ndef test_version():\n    assert version() == '1'\n",
}


def test_a_changed_typing_marker_selects_no_test() -> None:
    new = {**FILES, "app/py.typed": "partial\n"}
    assert selected(new, ChangedPath("app/py.typed"), old=FILES) == set()


def test_a_test_naming_the_marker_still_reads_it() -> None:
    files = {
        **FILES,
        "tests/test_marker.py": """
            from pathlib import Path

            import app


            def test_marker():
                assert (Path(app.__file__).parent / "py.typed").exists()
        """,
    }
    new = {**files, "app/py.typed": "partial\n"}
    assert selected(new, ChangedPath("app/py.typed"), old=files) == {"tests/test_marker.py::test_marker"}
