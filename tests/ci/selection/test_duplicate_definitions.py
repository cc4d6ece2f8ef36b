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
from trellis.ci.selection.python_refs import Chain, NodeRefs, Scope, _merge_refs, _merge_scopes

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


FIXTURES = {
    "app/__init__.py": "",
    "app/db.py": "def connect():\n    return 1\n\n\ndef reset():\n    return 0\n",
    "tests/conftest.py": dedent(
        """
        import os

        import pytest

        from app.db import connect, reset

        if os.environ.get("FAST"):
            @pytest.fixture
            def db():
                return connect()

            @pytest.fixture(autouse=True)
            def clean():
                reset()
        else:
            @pytest.fixture
            def db():
                return connect() + 0

            @pytest.fixture(autouse=True)
            def clean():
                reset()
        """
    ),
    "tests/test_fixtures.py": dedent(
        """
        import os

        if os.environ.get("FAST"):
            def test_db(db):
                assert db
        else:
            def test_db(db):
                assert db == 1


        def test_plain():
            assert True
        """
    ),
}


def test_fixtures_and_tests_defined_in_both_branches_stay_fixtures_and_keep_their_parameters() -> None:
    """Defined once per branch, ``db`` stayed no fixture, ``clean`` no autouse one, and ``test_db`` asked for
    nothing: a change to ``connect`` or ``reset`` selected no test."""
    index = TestIndex.build({path: text.encode() for path, text in FIXTURES.items()})
    for function, expected in (("connect", ["tests/test_fixtures.py::test_db"]), ("reset", None)):
        change = ChangedEntity("app/db.py", function, "modified", ("body",))
        selection = index.select((change,), old_index=index)
        if expected is None:  # the autouse fixture: every test of the directory
            expected = ["tests/test_fixtures.py::test_db", "tests/test_fixtures.py::test_plain"]
        assert sorted(selection.tests) == expected, function


def test_every_field_of_either_scope_is_kept_the_way_that_selects_more() -> None:
    both = {"not_a_test", "inert_call", "fixture_plain", "self_plain"}  # what holds of both
    agreed = {"decorated_by", "decorator_args", "decorators_hash", "results", "made_by", "base_only"}
    own = {"qualname", "kind", "name", "parent", "container", "line", "refs", "def_hash", "kept"}
    chain = Chain("global", "x", ())
    samples = {bool: True, str: "x", tuple: None, frozenset: frozenset({"x"}), int: 3}
    base = Scope(qualname="f", kind="function", name="f", parent="", container="", line=1, refs=NodeRefs())
    for field in dataclasses.fields(Scope):
        if field.name in own:
            continue
        default = getattr(base, field.name)
        value = samples[type(default)]
        if value is None:  # a tuple: of chains' tuples, of chains, of pairs, of ints or of strings
            value = {
                "members": (("m", "f.m"),),
                "decorator_args": (1,),
                "made_by": (chain,),
                "base_only": (chain,),
            }.get(field.name, ((chain,),) if "bases" in field.name or field.name in ("decorated_by",) else ("x",))
            if field.name in ("set_name_calls", "bound_values", "self_handoffs"):
                value = ((chain,),)
        # (whether a fixture is registered under its own name goes with the fixture)
        one = dataclasses.replace(
            base, **{field.name: value, **({"fixture": "x"} if field.name == "fixture_named" else {})}
        )
        for merged in (_merge_scopes(one, base), _merge_scopes(base, one)):
            kept = default if field.name in both | agreed else value
            assert getattr(merged, field.name) == kept, field.name
        twice = getattr(_merge_scopes(one, one), field.name)
        assert (set(twice) == set(value)) if isinstance(value, tuple) else twice == value, field.name
