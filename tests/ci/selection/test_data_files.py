"""Tests made from data files: a change to one data file, an added one or a removed one selects the tests reaching
the code that names it (its name, a directory of it, a glob, an extension), not every test (tomli's
``tests/data/valid/**/*.toml`` cases, mistune's ``commonmark.json``, Python-Markdown's ``tests/extensions/*.html``).
A data file no code a test reaches names still runs everything (``data-file``): who reads it cannot be told.
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import build, selected
from trellis.ci.selection.index import ChangedPath

# tomli's tests/test_data.py: the cases are the files a glob finds under a directory the module names.
TOMLI = {
    "src/tomli/__init__.py": "from ._parser import loads\n",
    "src/tomli/_parser.py": "def loads(s):\n    return {}\n",
    "tests/__init__.py": "",
    "tests/test_data.py": """
        import json
        import unittest
        from pathlib import Path

        import tomli

        DATA_DIR = Path(__file__).parent / "data"
        VALID_FILES = tuple((DATA_DIR / "valid").glob("**/*.toml"))
        INVALID_FILES = tuple((DATA_DIR / "invalid").glob("**/*.toml"))


        class TestData(unittest.TestCase):
            def test_invalid(self):
                for invalid in INVALID_FILES:
                    with self.subTest(msg=invalid.stem):
                        with self.assertRaises(ValueError):
                            tomli.loads(invalid.read_text())

            def test_valid(self):
                for valid in VALID_FILES:
                    with self.subTest(msg=valid.stem):
                        expected = json.loads(valid.with_suffix(".json").read_text())
                        self.assertEqual(tomli.loads(valid.read_text()), expected)
    """,
    "tests/test_misc.py": """
        import tomli


        def test_loads():
            assert tomli.loads("") == {}
    """,
    "tests/data/valid/array.toml": "a = [1]\n",
    "tests/data/valid/array.json": '{"a": [1]}\n',
    "tests/data/invalid/bad.toml": "a = \n",
}
DATA_TESTS = {"tests/test_data.py::TestData::test_invalid", "tests/test_data.py::TestData::test_valid"}


@pytest.mark.parametrize(
    "path", ["tests/data/valid/array.toml", "tests/data/valid/array.json", "tests/data/invalid/bad.toml"]
)
def test_a_changed_data_file_selects_the_tests_made_from_its_directory(path: str) -> None:
    # Before: data-file, every test (test_misc's too).
    assert selected(TOMLI, ChangedPath(path), old=TOMLI) == DATA_TESTS


def test_an_added_or_a_removed_data_file_is_seen_by_the_tests_that_walk_its_directory() -> None:
    added = {**TOMLI, "tests/data/valid/table/nested.toml": "[a.b]\n", "tests/data/valid/table/nested.json": "{}\n"}
    assert selected(added, ChangedPath("tests/data/valid/table/nested.toml", "added"), old=TOMLI) == DATA_TESTS
    removed = {p: t for p, t in TOMLI.items() if p != "tests/data/invalid/bad.toml"}
    assert selected(removed, ChangedPath("tests/data/invalid/bad.toml", "deleted"), old=TOMLI) == DATA_TESTS


def test_cases_listed_from_a_directory_into_parametrize_are_its_readers() -> None:
    files = {
        "app/__init__.py": "def render(x):\n    return x\n",
        "tests/test_cases.py": """
            import json
            import os

            import pytest

            from app import render

            HERE = os.path.dirname(__file__)
            CASES = sorted(os.listdir(os.path.join(HERE, "cases")))


            @pytest.mark.parametrize("name", CASES)
            def test_case(name):
                with open(os.path.join(HERE, "cases", name)) as f:
                    case = json.load(f)
                assert render(case["in"]) == case["out"]
        """,
        "tests/test_other.py": "from app import render\n\n\ndef test_other():\n    assert render(1) == 1\n",
        "tests/cases/one.json": '{"in": 1, "out": 1}\n',
    }
    assert selected(files, ChangedPath("tests/cases/one.json"), old=files) == {"tests/test_cases.py::test_case"}


def test_library_code_reading_its_own_data_by_name_counts_for_the_tests_calling_it() -> None:
    files = {
        "app/__init__.py": "",
        "app/templates.py": """
            import os


            def template(name):
                with open(os.path.join(os.path.dirname(__file__), "templates", name + ".html")) as f:
                    return f.read()
        """,
        "app/util.py": "def one():\n    return 1\n",
        "tests/test_templates.py": "from app.templates import template\n\n\ndef test_page():\n    assert template('page')\n",
        "tests/test_util.py": "from app.util import one\n\n\ndef test_one():\n    assert one() == 1\n",
        "app/templates/page.html": "<p>\n",
    }
    assert selected(files, ChangedPath("app/templates/page.html"), old=files) == {"tests/test_templates.py::test_page"}


@pytest.mark.parametrize("path", ["tests/test_render/expected.yml", "tests/__snapshots__/test_render.ambr"])
def test_a_directory_or_file_named_after_a_test_module_is_that_modules_data(path: str) -> None:
    """pytest-datadir and pytest-regressions read ``tests/test_render/`` for ``tests/test_render.py``, syrupy
    ``tests/__snapshots__/test_render.ambr``: by the module's name, which no string of the code spells."""
    files = {
        "app/__init__.py": "def render(x):\n    return x\n",
        "tests/test_render.py": "from app import render\n\n\ndef test_render(datadir):\n    assert render(datadir)\n",
        "tests/test_other.py": "from app import render\n\n\ndef test_other():\n    assert render(1) == 1\n",
        path: "x: 1\n",
    }
    assert selected(files, ChangedPath(path), old=files) == {"tests/test_render.py::test_render"}


@pytest.mark.parametrize(
    "reader",
    [
        "",  # no code names it
        # only code no test reaches names it (a script of the tree)
        "import json\n\n\ndef main():\n    return json.load(open('tests/fixtures/expected.bin'))\n",
    ],
    ids=["unnamed", "named-by-no-tested-code"],
)
def test_a_data_file_no_tested_code_names_still_runs_everything(reader: str) -> None:
    files = {**TOMLI, "tools/regen.py": reader, "tests/fixtures/expected.bin": "x"}
    selection = build(files).select([ChangedPath("tests/fixtures/expected.bin")], old_index=build(files))
    assert selection.run_all and selection.rule == "data-file", selection.reason


def test_a_path_of_several_components_or_a_glob_with_a_directory_names_the_file() -> None:
    """A second reader spelling the file's path whole (``"data/valid/array.toml"``: its words are split at ``/``)
    is selected beside the tests walking the directory; so is a glob with a directory (``"valid/*.toml"``)."""
    files = {
        **TOMLI,
        "tests/test_misc.py": """
            from pathlib import Path

            import tomli


            def test_loads():
                assert tomli.loads("") == {}


            def test_array():
                assert tomli.loads((Path(__file__).parent / "./data/valid/array.toml").read_text())
        """,
        "tests/test_data.py": TOMLI["tests/test_data.py"]
        .replace('(DATA_DIR / "valid").glob("**/*.toml")', 'DATA_DIR.glob("valid/*.toml")')
        .replace('(DATA_DIR / "invalid").glob("**/*.toml")', "()"),
    }
    assert selected(files, ChangedPath("tests/data/valid/array.toml"), old=files) == {
        *DATA_TESTS,
        "tests/test_misc.py::test_array",
    }
    # The glob "valid/*.toml" alone (no "data" or "valid" word) names the file too.
    files["tests/test_data.py"] = files["tests/test_data.py"].replace(
        'Path(__file__).parent / "data"', "Path(__file__).parent"
    )
    files["tests/test_misc.py"] = "def test_loads():\n    pass\n"
    assert selected(files, ChangedPath("tests/data/valid/array.toml"), old=files) == DATA_TESTS
