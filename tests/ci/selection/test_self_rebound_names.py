"""A module-level name rebound only from its own earlier value (``__builtins__ = __builtins__.__dict__``) is an
attribute of what the name was before: a builtin, outside the tree, when no star import may bind it.

glom's ``core.py`` and ``mutation.py`` both open with ``if getattr(__builtins__, '__dict__', None) is not None:
__builtins__ = __builtins__.__dict__`` (pypy's ``__builtins__`` is a module), then read the builtins' names
(``{id(v): k for k, v in __builtins__.items()}``). The name counted as a value of unknown type, so its
``__dict__`` handed out "any attribute of anything": every test importing glom reached every function of the
package, and every code change selected nearly every test.
"""

from __future__ import annotations

from tests.ci.selection.test_selection import body, selected

PKG = {
    "pkg/__init__.py": """
        from .names import name_of
        from .other import helper
    """,
    "pkg/names.py": """
        if getattr(__builtins__, '__dict__', None) is not None:
            # pypy's __builtins__ is a module
            __builtins__ = __builtins__.__dict__

        _NAMES = {id(v): k for k, v in __builtins__.items()}
        _TYPES = [v for v in __builtins__.values() if isinstance(v, type)]

        def name_of(x):
            return _NAMES.get(id(x))
    """,
    "pkg/other.py": """
        def helper():
            return 1
    """,
    "tests/test_names.py": """
        from pkg import name_of

        def test_name_of():
            assert name_of(len) == "len"
    """,
    "tests/test_other.py": """
        from pkg import helper

        def test_helper():
            assert helper() == 1
    """,
}


def test_a_builtin_rebound_from_itself_hands_out_nothing_of_the_tree() -> None:
    assert selected(PKG, body("pkg/other.py", "helper")) == {"tests/test_other.py::test_helper"}
    assert selected(PKG, body("pkg/names.py", "name_of")) == {"tests/test_names.py::test_name_of"}


def test_a_name_a_star_import_may_bind_stays_unknown() -> None:
    # ``registry`` may be the star import's (the tree's class): its attribute is the tree's too.
    files = {
        **PKG,
        "pkg/reg.py": """
            class registry:
                class sub:
                    @staticmethod
                    def run():
                        return 1
        """,
        "pkg/names.py": """
            from .reg import *

            registry = registry.sub

            def name_of(x):
                return registry.run()
        """,
    }
    assert "tests/test_names.py::test_name_of" in selected(files, body("pkg/reg.py", "registry.sub.run"))


def test_a_name_also_bound_to_the_tree_keeps_its_value() -> None:
    # ``Table = Table.sub`` after ``Table = reg.registry``: the earlier value is the tree's class.
    files = {
        **PKG,
        "pkg/reg.py": """
            class registry:
                class sub:
                    @staticmethod
                    def run():
                        return 1
        """,
        "pkg/names.py": """
            from . import reg

            Table = reg.registry
            Table = Table.sub

            def name_of(x):
                return Table.run()
        """,
    }
    assert "tests/test_names.py::test_name_of" in selected(files, body("pkg/reg.py", "registry.sub.run"))


def test_a_constant_getattr_of_a_name_is_that_attribute_of_it() -> None:
    # ``getattr(x, "__dict__", d)`` reads what ``x.__dict__`` reads: the builtins' namespace here, not "any
    # object's ``__dict__``" (a namespace of the tree handing out every class); ``__builtins__`` is outside.
    files = {
        **PKG,
        "pkg/names.py": """
            _SPACE = getattr(__builtins__, "__dict__", __builtins__)
            _NAMES = {id(v): k for k, v in _SPACE.items()}

            def name_of(x):
                return _NAMES.get(id(x))
        """,
        "pkg/other.py": """
            class Helper:
                def __init__(self):
                    self.x = 1

            def helper():
                return 1
        """,
    }
    assert selected(files, body("pkg/other.py", "Helper.__init__")) == set()


def test_a_constant_getattr_of_a_tree_object_reaches_its_attribute() -> None:
    files = {
        **PKG,
        "pkg/names.py": """
            from . import other

            def name_of(x):
                return getattr(other, "helper", None)()
        """,
    }
    assert selected(files, body("pkg/other.py", "helper")) == {
        "tests/test_names.py::test_name_of",
        "tests/test_other.py::test_helper",
    }


# glom's mutation registers ``setattr`` and ``delattr`` as the handlers of its ``assign`` and ``delete`` operations
# (``_assign_autodiscover`` returns ``setattr``): whoever calls them later writes or deletes an attribute under a
# name the analysis cannot read, which runs what such a write runs (a property's setter, ``__set__``,
# ``__setattr__``), not "any attribute of anything".
REGISTRY = {
    **PKG,
    "pkg/names.py": """
        _HANDLERS = {}

        def _discover(kind):
            if kind == "assign":
                return {handler}
            return None

        def name_of(x):
            _HANDLERS["assign"] = _discover("assign")
            return "len"
    """,
    "pkg/other.py": """
        class Helper:
            def run(self):
                return 1

        def helper():
            return Helper().run()
    """,
}


def test_a_handed_on_setattr_runs_what_a_write_runs() -> None:
    for handler in ("setattr", "delattr", "hasattr"):
        files = {**REGISTRY, "pkg/names.py": REGISTRY["pkg/names.py"].replace("{handler}", handler)}
        assert selected(files, body("pkg/other.py", "Helper.run")) == {"tests/test_other.py::test_helper"}, handler


def test_a_handed_on_getattr_still_reads_any_attribute() -> None:
    files = {**REGISTRY, "pkg/names.py": REGISTRY["pkg/names.py"].replace("{handler}", "getattr")}
    assert "tests/test_names.py::test_name_of" in selected(files, body("pkg/other.py", "Helper.run"))
