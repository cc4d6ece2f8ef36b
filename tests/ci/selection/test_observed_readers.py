"""A change of text alone (a docstring, comments) and sites bounded by what was observed there.

``exec``/``eval`` and ``getattr`` with a computed name may read anything as far as the source shows, so they read
docstrings and source text too. attrs builds every class with generated code (``_compile_and_eval``), so every
attrs test counted as reading every docstring it reaches, and each docs-only commit selected the whole suite. Once
a site was observed, a test observed there reads through it only what the code it ran names and the names it
fetched; a test not observed there is selected through the site whatever changed (the ``through`` rule).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from trellis.ci.selection.index import TestIndex, changes_from_diff
from trellis.ci.selection.observed import SiteCode, from_source
from trellis.semantic_diff import diff_files

FILES = {
    "lib/__init__.py": "",
    "lib/gen.py": """\
from lib.other import helper


def make(fields):
    source = "def __init__(self):\\n" + "".join(f"    self.{f} = 1\\n" for f in fields)
    namespace = {}
    exec(source, {}, namespace)
    return type("Made", (object,), namespace)


def build():
    helper()
    return make(["x"])


def lookup(obj, name):
    return getattr(obj, name)
""",
    # (a string naming ``__doc__``: a computed attribute name may be it)
    "lib/other.py": 'NAMES = ["__doc__", "__name__"]\n\n\ndef helper():\n    """Help."""\n    return 2\n',
    "tests/test_gen.py": "from lib.gen import build, lookup\nfrom lib.other import helper\n\n\n"
    "def test_build():\n    assert build()().x == 1\n\n\n"
    "def test_lookup():\n    assert lookup(helper, '__name__') == 'helper'\n",
}
BUILD, LOOKUP = "tests/test_gen.py::test_build", "tests/test_gen.py::test_lookup"
INIT = from_source("def __init__(self):\n    self.x = 1\n")
FETCHED = SiteCode(kinds=frozenset({"getattr"}), attrs=frozenset({"__name__"}))
OBSERVED = {"lib/gen.py::make": INIT, "lib/gen.py::lookup": FETCHED}
EVERYONE: Callable[[set[str]], set[str]] = set


def push(
    new: Mapping[str, str], observed: Mapping[str, SiteCode], seen: Callable[[set[str]], set[str]] = EVERYONE
) -> tuple[str, ...]:
    changed = {path for path in FILES.keys() | new.keys() if FILES.get(path) != new.get(path)}
    diff = diff_files({p: FILES[p].encode() for p in changed}, {p: new[p].encode() for p in changed})
    old_index = TestIndex.build({p: t.encode() for p, t in FILES.items()}, observed=observed)
    index = TestIndex.build({p: t.encode() for p, t in new.items()}, observed=observed)
    return index.select(changes_from_diff(diff), old_index=old_index, observed=seen).tests


DOCSTRING = {**FILES, "lib/other.py": FILES["lib/other.py"].replace('"""Help."""', '"""Help out."""')}


def test_a_docstring_change_is_read_through_an_observed_site_only_by_what_its_code_names() -> None:
    # Observed: the generated __init__ reads no docstring, getattr fetched __name__ only
    assert push(DOCSTRING, OBSERVED) == ()
    # The same records, but the tests not observed in this tree (another branch's records): any code again
    assert push(DOCSTRING, OBSERVED, seen=lambda tests: set()) == (BUILD, LOOKUP)


def test_an_observed_site_whose_code_reads_a_docstring_still_reads_it() -> None:
    reads_doc = from_source("def __init__(self):\n    self.x = 1\n    self.doc = type(self).__doc__\n")
    fetched_doc = SiteCode(kinds=frozenset({"getattr"}), attrs=frozenset({"__name__", "__doc__"}))
    assert push(DOCSTRING, {**OBSERVED, "lib/gen.py::make": reads_doc}) == (BUILD,)
    assert push(DOCSTRING, {**OBSERVED, "lib/gen.py::lookup": fetched_doc}) == (LOOKUP,)
    # a format string of the generated code naming it
    formats_doc = from_source("def __repr__(self):\n    return '{0.__doc__}'.format(self)\n")
    assert push(DOCSTRING, {**OBSERVED, "lib/gen.py::make": formats_doc}) == (BUILD,)
    # past the names a site keeps (any attribute): any name, __doc__ too
    overflow = SiteCode(kinds=frozenset({"getattr"}), any_attr=True)
    assert push(DOCSTRING, {**OBSERVED, "lib/gen.py::lookup": overflow}) == (LOOKUP,)


def test_a_definition_that_only_moved_is_still_read_through_an_exec_site() -> None:
    """A definition that moved changes no code: a test not observed at a site is not selected through it for that,
    so the site stays a reader of lines for every test (its code may read a frame's line)."""
    moved = {**FILES, "lib/other.py": FILES["lib/other.py"].replace("\n\n\ndef helper", "\n\n\n\ndef helper")}
    assert push(moved, OBSERVED) == (BUILD,)
