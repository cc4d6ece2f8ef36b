"""A class listing its own members (lark's ``_Decoratable._apply_v_args``: ``getmembers(cls)``, ``cls.__dict__[name]``
in a classmethod, the base members' names gathered by ``for name, _ in getmembers(c)``) reads the members of its
own family, not any attribute of anything: every test wrapping its transformers reached every method of every
class in use."""

from __future__ import annotations

from textwrap import dedent

import pytest

from trellis.ci.selection.index import ChangedEntity, TestIndex

VIS = dedent("""
    from inspect import getmembers, getmro


    class Decoratable:
        @classmethod
        def apply(cls, wrapper):
            mro = getmro(cls)
            lib = {name for c in mro[1:] for name, _ in getmembers(c)}
            for name, value in getmembers(cls):
                if name.startswith("_") or (name in lib and name not in cls.__dict__):
                    continue
                if not callable(value) or isinstance(cls.__dict__[name], Wrapper):
                    continue
                setattr(cls, name, Wrapper(cls.__dict__[name], wrapper))
            return cls


    class Wrapper:
        def __init__(self, function, wrapper):
            self.function = function

        def __call__(self, *args):
            return self.function(*args)


    class Transformer(Decoratable):
        def transform(self, x):
            return self.rule(x)
""")
OTHER = dedent("""
    class Other:
        def run(self):
            return 1

        def unused(self):
            return 2
""")
TEST = dedent("""
    from app.other import Other
    from app.visitors import Transformer

    KINDS = [Other]


    class T(Transformer):
        def rule(self, x):
            return x


    def test_transform():
        assert T.apply(None)().transform(2) == 2


    def test_other():
        assert Other().run() == 1
""")


def select(files: dict[str, str], path: str, qualname: str) -> set[str]:
    index = TestIndex.build({"app/__init__.py": b"", **{p: t.encode() for p, t in files.items()}})
    selection = index.select([ChangedEntity(path, qualname, "modified", ("body",))])
    assert not selection.run_all, selection.reason
    return set(selection.tests)


FILES = {"app/visitors.py": VIS, "app/other.py": OTHER, "tests/test_t.py": TEST}


def test_members_a_class_lists_of_itself_are_its_family_s() -> None:
    assert select(FILES, "app/other.py", "app.other.Other.unused") == set()
    assert select(FILES, "app/other.py", "app.other.Other.run") == {"tests/test_t.py::test_other"}
    # the subclass's method the wrapper calls: in the family
    assert select(FILES, "tests/test_t.py", "tests.test_t.T.rule") == {"tests/test_t.py::test_transform"}


@pytest.mark.parametrize(
    "listing",
    [
        # the values of an unknown object's members, called: any attribute of anything
        "for name, value in getmembers(wrapper):\n            value()",
        # the names alone, but the value read in the loop's condition
        "lib = {name for c in mro[1:] for name, v in getmembers(c) if v}",
    ],
)
def test_members_of_other_objects_or_values_read_stay_any_attribute(listing: str) -> None:
    anchor = "lib = {name for c in mro[1:] for name, _ in getmembers(c)}"
    changed = VIS.replace(anchor, anchor + "\n        " + listing if listing.startswith("for") else listing)
    assert changed != VIS
    assert select({**FILES, "app/visitors.py": changed}, "app/other.py", "app.other.Other.unused") == {
        "tests/test_t.py::test_transform"
    }
