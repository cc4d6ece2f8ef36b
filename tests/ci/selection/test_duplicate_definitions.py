"""Two definitions of one name (``if``/``else`` branches, a property and its setter) are one node: every
reference of each counts.

The merge once kept a fixed list of fields and dropped the rest: fixtures a test requests through
``request.getfixturevalue``, namespaces read through ``isinstance`` filters, ``getattr`` of an imported module's
names, entry points. A test defined once per branch then reached none of them, and a change to such a fixture
selected nothing.
"""

from __future__ import annotations

import dataclasses
from textwrap import dedent

from trellis.ci.selection.index import ChangedEntity, TestIndex
from trellis.ci.selection.python_refs import Chain, NodeRefs, _merge_refs

TREE = {
    "app/__init__.py": "",
    "app/db.py": "def connect():\n    return 1\n",
    "tests/conftest.py": dedent(
        """
        import pytest

        from app.db import connect


        @pytest.fixture
        def db():
            return connect()
        """
    ),
    "tests/test_branches.py": dedent(
        """
        import os

        if os.environ.get("FAST"):
            def test_db(request):
                assert request.getfixturevalue("db")
        else:
            def test_db(request):
                assert request.getfixturevalue("db") == 1


        def test_other():
            assert True
        """
    ),
}


def test_a_test_defined_in_both_branches_keeps_the_fixtures_it_requests_by_name() -> None:
    index = TestIndex.build({path: text.encode() for path, text in TREE.items()})
    change = ChangedEntity("app/db.py", "connect", "modified", ("body",))
    selection = index.select((change,), old_index=index)
    assert sorted(selection.tests) == ["tests/test_branches.py::test_db"]


def test_every_field_of_either_definition_is_kept() -> None:
    """Each field set alone on one side survives the merge, on either side (``stored`` and ``fetches`` only where
    both say so: a name stored in one definition may be read in the other; a computed read may be unheard)."""
    samples = {
        tuple: lambda f: (Chain("global", "x", ()),) if "chains" in f or f == "made" else ("x",),
        frozenset: lambda f: frozenset({"x"}),
        bool: lambda f: True,
        str: lambda f: "why",
    }
    for field in dataclasses.fields(NodeRefs):
        kind = type(getattr(NodeRefs(), field.name))
        value = samples[kind](field.name)
        one = NodeRefs(**{field.name: value})
        for merged in (_merge_refs(one, NodeRefs()), _merge_refs(NodeRefs(), one)):
            expected = kind() if field.name in ("stored", "fetches") else value
            assert getattr(merged, field.name) == expected, field.name
        assert getattr(_merge_refs(one, one), field.name) == value, field.name
