"""Entry points loaded by name (``importlib.metadata.entry_points``): the installed project's own are the ones its
packaging declares, so code listing them may load those objects (their modules and what they name) and nothing
else of the tree; without a readable declaration it still may run any code (Python-Markdown builds its
extensions from the ``markdown.extensions`` entry points of its pyproject)."""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, build, selected
from trellis.ci.selection.index import ChangedEntity

PYPROJECT = """
    [project]
    name = "app"
    version = "1.0"

    [project.scripts]
    app-cli = "app.cli:main"

    [project.entry-points."app.plugins"]
    toc = "app.plugins.toc:TocPlugin"
"""

FILES = {
    "pyproject.toml": PYPROJECT,
    "app/__init__.py": "",
    "app/core.py": """
        from importlib import metadata


        def installed():
            return metadata.entry_points(group='app.plugins')


        def build(name):
            found = [ep for ep in installed() if ep.name == name]
            return found[0].load()()
    """,
    "app/plugins/__init__.py": "",
    "app/plugins/toc.py": """
        DEPTH = 2


        class TocPlugin:
            def __init__(self):
                self.depth = DEPTH

            def run(self):
                return self.depth


        def unused():
            return 0
    """,
    "app/other.py": "def other():\n    return 1\n",
    "app/cli.py": "def main():\n    return 0\n",
    "tests/test_build.py": "from app.core import build\n\ndef test_build():\n    assert build('toc').depth == 2\n",
    "tests/test_names.py": "from app.core import installed\n\ndef test_names():\n    assert installed()\n",
    "tests/test_other.py": "from app.other import other\n\ndef test_other():\n    other()\n",
}

LISTING = {"tests/test_build.py::test_build", "tests/test_names.py::test_names"}


def test_entry_points_load_what_the_projects_packaging_declares() -> None:
    # Before: entry_points may run any code, and the tests listing them were selected by any change.
    assert selected(FILES, body("app/other.py", "app.other.other")) == {"tests/test_other.py::test_other"}
    # The object an entry point names, its module's code: selected for every test that lists the entry points.
    assert selected(FILES, body("app/plugins/toc.py", "app.plugins.toc.TocPlugin.__init__")) == LISTING
    assert selected(FILES, ChangedEntity("app/plugins/toc.py", "app.plugins.toc")) == LISTING
    assert selected(FILES, body("app/plugins/toc.py", "app.plugins.toc.unused")) == set()
    # Another group's entry points (a console script) are not listed; without a group, every group is.
    assert selected(FILES, body("app/cli.py", "app.cli.main")) == set()
    every = {
        **FILES,
        "app/core.py": FILES["app/core.py"].replace("entry_points(group='app.plugins')", "entry_points()"),
    }
    assert selected(every, body("app/cli.py", "app.cli.main")) == LISTING


@pytest.mark.parametrize(
    "packaging",
    [
        {"setup.py": "from setuptools import setup\n\nENTRY = {}\nsetup(name='app', entry_points=ENTRY)\n"},
        {"pyproject.toml": PYPROJECT.replace('version = "1.0"', 'dynamic = ["version", "entry-points"]')},
        {"app.egg-info/entry_points.txt": "[app.plugins]\nother = app.other:other\n"},
    ],
)
def test_entry_points_the_packaging_does_not_state_may_run_any_code(packaging: dict[str, str]) -> None:
    selection = build({**FILES, **packaging}).select([body("app/other.py", "app.other.other")])
    assert set(selection.tests) == {"tests/test_other.py::test_other", *LISTING}
