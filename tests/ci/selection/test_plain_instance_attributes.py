"""A class body binding an instance of a plain class of the tree hands the class to no ``__set_name__``.

``type.__new__`` calls ``value.__set_name__(cls, name)`` for each value of a new class's namespace whose type has
one, which may keep the class: a class whose body binds a call's result (``__size = _DefaultSize()``) counted as
handed out, and so every class deriving from it — any change to one of them (a constant added to cachetools'
``TLRUCache``) selected every test importing the module. What a call of a class of the tree returns is an instance
of it when neither it nor its bases define ``__new__`` and its metaclass is ``type``; such an instance has a
``__set_name__`` only if one of those classes defines it.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import select_change

CACHE = dedent(
    """
    import collections.abc


    class _Size:
        __slots__ = ()

        def __getitem__(self, key):
            return 1


    class Cache(collections.abc.MutableMapping):
        __marker = object()
        __size = _Size()

        def __init__(self):
            self.data = {}

        def __getitem__(self, key):
            return self.data[key]

        def __setitem__(self, key, value):
            self.data[key] = value

        def __delitem__(self, key):
            del self.data[key]

        def __iter__(self):
            return iter(self.data)

        def __len__(self):
            return len(self.data)


    class Timed(Cache):
        FACTOR = 2

        def expire(self):
            return self.FACTOR


    class Other(Cache):
        def other(self):
            return 3
    """
)
FILES = {
    "app/__init__.py": "",
    "app/cache.py": CACHE,
    "tests/test_timed.py": "from app.cache import Timed\n\n\ndef test_timed():\n    assert Timed().expire() == 2\n",
    "tests/test_other.py": "from app.cache import Other\n\n\ndef test_other():\n    assert Other().other() == 3\n",
}
TIMED, OTHER = "tests/test_timed.py::test_timed", "tests/test_other.py::test_other"


def added_constant(files: dict[str, str]) -> set[str]:
    new = {
        **files,
        "app/cache.py": files["app/cache.py"].replace("    FACTOR = 2\n", "    FACTOR = 2\n    LIMIT = 5\n"),
    }
    selection = select_change(files, new)
    assert not selection.run_all, selection.reason
    return set(selection.tests)


def test_a_constant_added_to_a_class_holding_a_plain_instance_counts_for_its_users_only() -> None:
    assert added_constant(FILES) == {TIMED}


@pytest.mark.parametrize(
    "hook",
    [
        "    def __set_name__(self, owner, name):\n        REGISTRY.append(owner)\n",  # keeps the class
        "    def __new__(cls):\n        return Keeper()\n",  # may return anything
    ],
)
def test_an_instance_whose_class_has_a_hook_still_hands_the_class_out(hook: str) -> None:
    cache = CACHE.replace("    __slots__ = ()\n", "    __slots__ = ()\n\n" + hook)
    cache = "REGISTRY = []\n\n\nclass Keeper:\n    pass\n\n\n" + cache
    assert added_constant({**FILES, "app/cache.py": cache}) == {TIMED, OTHER}


def test_an_instance_of_a_class_deriving_from_outside_the_tree_still_hands_the_class_out() -> None:
    cache = CACHE.replace("class _Size:", "class _Size(functools.cached_property):").replace(
        "import collections.abc\n", "import collections.abc\nimport functools\n"
    )
    assert added_constant({**FILES, "app/cache.py": cache}) == {TIMED, OTHER}


def test_an_abc_metaclass_and_builtin_or_standard_library_values_hand_the_class_to_nothing() -> None:
    """marshmallow's ``class Number(Field, metaclass=abc.ABCMeta)`` with ``num_type = int`` in ``Integer`` and
    ``DESERIALIZATION_CLASS = ipaddress.IPv4Address`` in ``IPv4``: ``ABCMeta`` keeps no class and runs no code of
    the tree, and neither a builtin type nor a class of the standard library has a ``__set_name__``."""
    cache = CACHE.replace("class Cache(collections.abc.MutableMapping):", "class Cache(Base, metaclass=abc.ABCMeta):")
    cache = cache.replace("    FACTOR = 2\n", "    FACTOR = 2\n    num_type = int\n    KIND = ipaddress.IPv4Address\n")
    cache = "import abc\nimport ipaddress\n\n\nclass Base:\n    pass\n" + cache
    assert added_constant({**FILES, "app/cache.py": cache}) == {TIMED}
    # A metaclass of the tree may keep every class it makes
    meta = cache.replace("metaclass=abc.ABCMeta", "metaclass=Meta").replace(
        "class Base:", "class Meta(type):\n    made = []\n\n\nclass Base:"
    )
    assert added_constant({**FILES, "app/cache.py": meta}) == {TIMED, OTHER}


ENUMS = {
    "app/__init__.py": "",
    "app/kinds.py": dedent(
        """
        import enum


        class Color(enum.Enum):
            RED = 1
            BLUE = 2


        def helper():
            return 3
        """
    ),
    "tests/test_color.py": "from app.kinds import Color\n\n\ndef test_color():\n    assert Color.RED.value == 1\n",
    "tests/test_helper.py": "from app.kinds import helper\n\n\ndef test_helper():\n    assert helper() == 3\n",
}
COLOR, HELPER = "tests/test_color.py::test_color", "tests/test_helper.py::test_helper"


def enum_change(files: dict[str, str], old: str, new: str) -> set[str]:
    changed = {**files, "app/kinds.py": files["app/kinds.py"].replace(old, new)}
    selection = select_change(files, changed)
    assert not selection.run_all, selection.reason
    return set(selection.tests)


def test_an_enum_whose_members_only_the_standard_library_makes_counts_for_its_users() -> None:
    """marshmallow's tests define enums in a module every test imports: each change to one selected every test.
    Enum's metaclass makes the members when the class statement runs — with the standard library's code alone,
    unless the enum's family defines ``__init__``, ``__new__`` or ``_generate_next_value_``."""
    assert enum_change(ENUMS, "BLUE = 2", "BLUE = 3") == {COLOR}
    # a new enum: one importer, to see the import still succeeds (a class statement may raise), not every test
    assert len(enum_change(ENUMS, "def helper", "class Size(enum.IntEnum):\n    BIG = 1\n\n\ndef helper")) == 1
    hooked = {
        **ENUMS,
        "app/kinds.py": ENUMS["app/kinds.py"].replace(
            "    BLUE = 2\n", "    BLUE = 2\n\n    def __init__(self, value):\n        self.weight = helper()\n"
        ),
    }
    assert enum_change(hooked, "BLUE = 2", "BLUE = 3") == {COLOR, HELPER}
