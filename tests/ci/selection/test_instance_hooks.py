"""A metaclass's ``__instancecheck__`` that only looks at what it is given, and a namespace asked only for its keys.

glom's ``_ObjStyleKeysMeta.__instancecheck__(cls, C)`` returns ``hasattr(C, "__dict__") and hasattr(C.__dict__,
"keys")``: the tree defining any ``__instancecheck__`` made every value read under a computed name (a ``setattr``
in glom's assignment, an ``isinstance`` of what ``getattr`` gave) reach every entity, and reading ``C.__dict__``
made the hook itself read any attribute of anything: a change anywhere selected every test.
"""

from __future__ import annotations

from trellis.ci.selection.index import ChangedEntity, TestIndex

HOOK = b"""\
class Meta(type):
    def __instancecheck__(cls, C):
        return hasattr(C, "__dict__") and hasattr(C.__dict__, "keys")


class Keys(metaclass=Meta):
    pass


def assign(dest, name, value):
    setattr(dest, name, value)
    return isinstance(dest, Keys)
"""
FILES = {
    "pkg/__init__.py": b"",
    "pkg/core.py": HOOK,
    "pkg/other.py": b"class Thing:\n    def spare(self):\n        return 1\n",
    "tests/test_assign.py": b"from pkg.core import assign\nfrom pkg.other import Thing\n\n\n"
    b"def test_assign():\n    assert assign(Thing(), 'x', 1)\n",
}
TEST = "tests/test_assign.py::test_assign"


def selected(files: dict[str, bytes], path: str, qualname: str) -> tuple[str, ...]:
    """The test functions selected (the file's catch-all id, for tests made under computed names, left out)."""
    index = TestIndex.build(files)
    tests = index.select([ChangedEntity(path=path, qualname=qualname)], old_index=index, observed=set).tests
    return tuple(t for t in tests if not t.endswith("::*"))


def test_a_hook_that_only_looks_at_its_argument_runs_only_itself() -> None:
    assert selected(FILES, "pkg/other.py", "pkg.other.Thing.spare") == ()
    assert selected(FILES, "pkg/core.py", "pkg.core.Meta.__instancecheck__") == (TEST,)  # the hook itself runs


def test_a_hook_that_calls_or_hands_on_its_argument_may_run_anything() -> None:
    calls = {
        **FILES,
        "pkg/core.py": HOOK.replace(b'return hasattr(C, "__dict__")', b"return C() and hasattr(C, '__dict__')"),
    }
    assert selected(calls, "pkg/other.py", "pkg.other.Thing.spare") == (TEST,)
    kept = {
        **FILES,
        "pkg/core.py": HOOK.replace(b'return hasattr(C, "__dict__")', b"SEEN.append(C)\n        return (1"),
    }
    kept["pkg/core.py"] = kept["pkg/core.py"].replace(b"class Meta", b"SEEN = []\n\n\nclass Meta")
    assert selected(kept, "pkg/other.py", "pkg.other.Thing.spare") == (TEST,)


def test_a_namespace_asked_only_for_its_keys_hands_out_nothing_and_for_its_values_any_attribute() -> None:
    def listing(call: bytes) -> dict[str, bytes]:
        return {**FILES, "pkg/core.py": HOOK.replace(b"    return isinstance(dest, Keys)", b"    return " + call)}

    assert selected(listing(b"sorted(dest.__dict__.keys())"), "pkg/other.py", "pkg.other.Thing.spare") == ()
    assert selected(listing(b"list(dest.__dict__.values())"), "pkg/other.py", "pkg.other.Thing.spare") == (TEST,)
