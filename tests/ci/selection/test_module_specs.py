"""A module loaded from the spec ``importlib.util.find_spec`` finds for a constant name (the standard recipe for a
fresh copy of a module: ``module_from_spec`` then ``spec.loader.exec_module``) runs that module's code, as
importing it does: no "may run any code" (Python-Markdown's private copy of ``html.parser``, which every test
reaches through ``import markdown``)."""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, build, selected
from trellis.ci.selection.index import ChangedEntity

COPY = """
    import importlib.util
    import sys

    spec = importlib.util.find_spec('html.parser')
    htmlparser = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(htmlparser)
    sys.modules['htmlparser'] = htmlparser


    class Extractor(htmlparser.HTMLParser):
        def run(self, text):
            self.feed(text)
            return 1
"""

FILES = {
    "app/__init__.py": "from . import parser\n",
    "app/parser.py": COPY,
    "app/other.py": "def other():\n    return 1\n",
    "app/loaded.py": "def value():\n    return 2\n",
    "app/fresh.py": """
        from importlib.util import find_spec, module_from_spec


        def fresh():
            spec = find_spec('app.loaded')
            module = module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    """,
    "tests/test_parser.py": "from app.parser import Extractor\n\ndef test_parser():\n    Extractor().run('<p>')\n",
    "tests/test_other.py": "from app.other import other\n\ndef test_other():\n    other()\n",
    "tests/test_fresh.py": "from app.fresh import fresh\n\ndef test_fresh():\n    assert fresh().value() == 2\n",
}


def test_a_module_loaded_from_the_spec_of_a_constant_name_runs_that_modules_code() -> None:
    # Before: module_from_spec was a dynamic call: app.parser's module code (which every test reaches through app's
    # __init__) may run any code, and each change selected every test.
    assert selected(FILES, body("app/other.py", "app.other.other")) == {"tests/test_other.py::test_other"}
    # A module of the tree loaded so counts as imported where it is loaded.
    assert selected(FILES, body("app/loaded.py", "app.loaded.value")) == {"tests/test_fresh.py::test_fresh"}
    assert selected(FILES, ChangedEntity("app/loaded.py", "app.loaded")) == {"tests/test_fresh.py::test_fresh"}


@pytest.mark.parametrize(
    "spec",
    [
        "spec = importlib.util.find_spec(input())",  # a computed name
        "spec = importlib.util.find_spec('.parser', 'app')",  # relative to a package
        "spec = importlib.util.find_spec('html.parser')\nspec = importlib.util.spec_from_file_location('x', 'x.py')",
        "spec = importlib.util.find_spec('html.parser')\nglobals()['spec'] = object()",
        "spec = importlib.util.find_spec('html.parser')\nspec.loader = object()",  # another loader's exec_module
    ],
)
def test_a_spec_not_known_to_be_found_for_one_constant_name_may_load_any_code(spec: str) -> None:
    copy = COPY.replace(
        "    spec = importlib.util.find_spec('html.parser')", "\n".join(f"    {s}" for s in spec.split("\n"))
    )
    selection = build({**FILES, "app/parser.py": copy}).select([body("app/other.py", "app.other.other")])
    assert len(selection.tests) == 3, selection.tests
