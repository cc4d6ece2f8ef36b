"""A string constant that is a parameter's default (``def evaluate(self, context="metadata")``) is evaluated when the
``def`` runs and kept in the function's defaults: it reaches other code only through the function — its own body,
called without the argument, or code reading its defaults (``inspect.signature``), which holds the function. So the
file or directory it names counts for the function's tests, not for every importer of the module that runs the
``def``. packaging's ``Marker.evaluate(..., context="metadata")`` made a change under ``tests/metadata/`` select every
test (``nearly-all``: every test imports ``packaging.markers``).
"""

from __future__ import annotations

from tests.ci.selection.test_selection import selected
from trellis.ci.selection.index import ChangedPath

PROJECT = {
    "app/__init__.py": "",
    "app/markers.py": """
        import pathlib


        class Marker:
            def evaluate(self, context="metadata", *, kind="cases"):
                return sorted(p.name for p in (pathlib.Path(__file__).parent / context).iterdir())


        def plain():
            return 1
    """,
    "app/metadata/one.txt": "1\n",
    "app/cases/one.txt": "1\n",
    "tests/__init__.py": "",
    "tests/test_markers.py": """
        from app.markers import Marker


        def test_evaluate():
            assert Marker().evaluate() == ["one.txt"]
    """,
    "tests/test_plain.py": """
        from app import markers


        def test_plain():
            assert markers.plain() == 1
    """,
}


def test_a_string_default_names_files_for_the_function_alone() -> None:
    new = {**PROJECT, "app/metadata/two.txt": "2\n"}
    # Before: both tests, through app/markers.py::<module>, which runs the def and evaluated "metadata".
    assert selected(new, ChangedPath("app/metadata/two.txt", "added"), old=PROJECT) == {
        "tests/test_markers.py::test_evaluate"
    }
    new = {**PROJECT, "app/cases/one.txt": "2\n"}  # a keyword-only default the same way
    assert selected(new, ChangedPath("app/cases/one.txt"), old=PROJECT) == {"tests/test_markers.py::test_evaluate"}


def test_a_default_computed_when_the_def_runs_still_counts_for_its_importers() -> None:
    files = {
        **PROJECT,
        "app/markers.py": PROJECT["app/markers.py"].replace('context="metadata"', 'context=str("metadata")'),
    }
    new = {**files, "app/metadata/two.txt": "2\n"}
    assert selected(new, ChangedPath("app/metadata/two.txt", "added"), old=files) == {
        "tests/test_markers.py::test_evaluate",
        "tests/test_plain.py::test_plain",
    }
