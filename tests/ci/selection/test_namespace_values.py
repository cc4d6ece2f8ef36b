"""Reads of a namespace that let out fewer of its values than all: only instances of a class of the tree, only its
keys, values compared in place; and a computed attribute of a class whose attributes all come from the tree.

pyparsing builds its lists of built-in expressions with ``[v for v in vars().values() if isinstance(v,
ParserElement)]`` (``core.py``, ``helpers.py``; ``vars(pyparsing_common)`` in ``common.py``), lists its flags with
``[__ for __ in locals() if ...]`` in a class body, compares elements with ``vars(self) == vars(other)`` and saves
its diagnostics with ``getattr(__diag__, name)``. Each was read as "any entity of the module" or "any attribute of
anything", and every test reached every test method of ``test_unit.py`` through them.
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, selected

OTHER = """
    def render():
        return 3

    class Other:
        def go(self):
            return 2

        def __repr__(self):
            return render()
"""


def _files(exprs: str, test: str) -> dict[str, str]:
    return {"pkg/__init__.py": "", "pkg/exprs.py": exprs, "pkg/other.py": OTHER, "tests/test_it.py": test}


EXPRS = """
    class Expr:
        def run(self):
            return 1

    def helper():
        return 2

    A = Expr()
    {extra}
"""
USES = """
    import pkg.other
    from pkg.exprs import built

    def test_built():
        assert built
"""


@pytest.mark.parametrize(
    "read",
    [
        "built = [v for v in vars().values() if isinstance(v, Expr)]",
        "built = {k: v for k, v in globals().items() if k != 'A' and isinstance(v, Expr)}",
    ],
)
def test_a_module_namespace_s_instances_of_a_class_of_the_tree_are_not_its_definitions(read: str) -> None:
    files = _files(EXPRS.format(extra=read), USES)
    assert selected(files, body("pkg/exprs.py", "helper")) == set()  # before: every entity of the module


@pytest.mark.parametrize(
    "read",
    [
        "built = [v for v in vars().values() if isinstance(v, object)]",  # a function is an object
        "built = [v for v in vars().values() if isinstance(v, Expr)]\n    class Meta(type, Expr):\n        pass",
        "built = [v for v in vars().values()]",
    ],
    ids=["outside-class", "metaclass-subclass", "unfiltered"],
)
def test_a_namespace_whose_definitions_may_pass_the_filter_stays_whole(read: str) -> None:
    files = _files(EXPRS.format(extra=read), USES)
    assert selected(files, body("pkg/exprs.py", "helper")) == {"tests/test_it.py::test_built"}


def test_a_class_namespace_s_instances_are_not_any_attribute() -> None:
    exprs = """
        class Expr:
            def run(self):
                return 1

        class Common:
            one = Expr()

            def helper(self):
                return 2

        built = [v for v in vars(Common).values() if isinstance(v, Expr)]
    """
    files = _files(exprs, USES)
    assert selected(files, body("pkg/other.py", "Other.go")) == set()  # before: any attribute of anything
    assert selected(files, body("pkg/exprs.py", "Common.helper")) == set()


def test_a_class_body_s_own_names_read_no_value() -> None:
    exprs = """
        class Flags:
            one = False
            names = [name for name in locals() if not name.startswith("_")]

        def helper():
            return 2

        built = Flags.names
    """
    files = _files(exprs, USES)
    assert selected(files, body("pkg/exprs.py", "helper")) == set()  # before: every entity of the module
    assert selected(files, body("pkg/exprs.py", "Flags")) == {"tests/test_it.py::test_built"}


def test_a_module_s_keys_read_stay_every_entity_of_the_module() -> None:
    """Which names a module binds changes with an added function: ``"helper" in globals()`` reads them all."""
    exprs = """
        def helper():
            return 2

        built = "helper" in globals()
    """
    files = _files(exprs, USES)
    assert selected(files, body("pkg/exprs.py", "helper")) == {"tests/test_it.py::test_built"}


def test_namespaces_compared_run_their_values_eq_not_any_attribute() -> None:
    exprs = """
        class Expr:
            def __eq__(self, other):
                return isinstance(other, Expr) and vars(self) == vars(other)

        built = Expr() == Expr()
    """
    files = _files(exprs, USES)
    assert selected(files, body("pkg/other.py", "Other.go")) == set()  # before: any attribute of anything
    assert selected(files, body("pkg/other.py", "render")) == set()  # nor every class's dunders (Other.__repr__)
    assert selected(files, body("pkg/exprs.py", "Expr.__eq__")) == {"tests/test_it.py::test_built"}


CONFIG = """
    class Base:
        def inherited(self):
            return 1

    class Config(Base):
        flag = False

        def method(self):
            return 2

    class Sub(Config):
        pass

    def read(name):
        return getattr(Config, name)

    built = read("flag")
"""


def test_a_computed_attribute_of_a_class_of_the_tree_is_a_member_of_its_mro_or_subclasses() -> None:
    files = _files(CONFIG, USES)
    assert selected(files, body("pkg/other.py", "Other.go")) == set()  # before: any attribute of anything
    expected = {"tests/test_it.py::test_built"}
    assert selected(files, body("pkg/exprs.py", "Config.method")) == expected
    assert selected(files, body("pkg/exprs.py", "Base.inherited")) == expected


def test_a_computed_attribute_of_a_class_with_an_outside_base_is_any_attribute() -> None:
    files = _files(CONFIG.replace("class Base:", "import collections\n\n    class Base(collections.UserDict):"), USES)
    assert selected(files, body("pkg/other.py", "Other.go")) == {"tests/test_it.py::test_built"}
