"""Reading a class's namespace (``cls.__dict__[name]``, ``for k in vars(cls)``) runs no code of its own: only what
is then done with a value read from it may (calling it, handing it on, reading an attribute on it)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from tests.ci.selection.test_selection import APP, body, select_change, selected
from tests.ci.selection.test_selection_soundness import _entered, _entity
from trellis.ci.selection.index import ChangedEntity, TestIndex

HOOKS = """
    class Meta(type):
        def __init__(cls, name, bases, ns):
            super().__init__(name, bases, ns)
            cls.hooks = []
            for attr_name in dir(cls):
                for parent in cls.__mro__:
                    {body}

    class Base(metaclass=Meta):
        def work(self):
            return 1

    class Other(Base):
        def more(self):
            return 2
"""


@pytest.mark.parametrize(
    ("code", "stays"),
    [
        (
            "try:\n                        attr = parent.__dict__[attr_name]\n                    except KeyError:\n"
            "                        continue\n                    if attr.__hook__:\n"
            "                        cls.hooks.append(attr_name)",
            True,
        ),
        (
            "attr = vars(parent).get(attr_name)\n                    if attr is not None and hasattr(attr, 'x'):\n"
            "                        cls.hooks.append(attr_name)",
            True,
        ),
        ("if attr_name in parent.__dict__:\n                        cls.hooks.append(attr_name)", True),
        (
            "for key, value in parent.__dict__.items():\n                        if isinstance(value, int):\n"
            "                            cls.hooks.append(key)",
            True,
        ),
        ("for key in parent.__dict__:\n                        cls.hooks.append(key)", True),
        ("for key in cls.__dict__:\n                        cls.hooks.append(key)", True),
        (
            "attr = cls.__dict__.get(attr_name)\n                    if attr is None:\n                        break",
            True,
        ),
        (
            "attr = parent.__dict__.get(attr_name)\n                    if attr is not None:\n                        attr()",
            False,
        ),
        ("cls.hooks.append(parent.__dict__.get(attr_name))", False),
        ("attr = cls.__dict__.get(attr_name)\n                    cls.hooks.append(attr)", False),
        ("for value in parent.__dict__.values():\n                        cls.hooks.append(value)", False),
        ("cls.hooks.append(vars(parent)[attr_name])", False),
    ],
)
def test_a_value_read_from_a_namespace_that_stays_put_runs_nothing(code: str, stays: bool) -> None:
    """A metaclass scanning each class's ``__dict__`` for a marker at class creation: a test that only imports the
    module runs none of the classes' methods, unless a value read from the namespace is called or handed on."""
    test = """
        import app.hooked

        def test_import():
            assert app.hooked.Base.hooks is not None
    """
    files = {**APP, "app/hooked.py": HOOKS.replace("{body}", code), "tests/test_hooked.py": test}
    for method in ("app.hooked.Base.work", "app.hooked.Other.more"):
        reached = "tests/test_hooked.py::test_import" in selected(files, body("app/hooked.py", method))
        assert reached is not stays, (code, method)
    assert "tests/test_hooked.py::test_import" in selected(files, body("app/hooked.py", "app.hooked.Meta.__init__"))


def test_a_nested_class_read_from_a_namespace_is_still_used() -> None:
    """A class's namespace hands out the classes defined in its body, which no reference names: reading an
    attribute on one (a descriptor calling back into its owner) keeps that class's code reached."""
    code = """
        class Flag:
            def __get__(self, obj, owner):
                return owner.compute()

        class Meta(type):
            def __init__(cls, name, bases, ns):
                super().__init__(name, bases, ns)
                cls.marks = []
                for attr_name in list(ns):
                    attr = cls.__dict__[attr_name]
                    if isinstance(attr, type) and attr.marked:
                        cls.marks.append(attr_name)

        class Base(metaclass=Meta):
            class Inner:
                marked = Flag()

                @classmethod
                def compute(cls):
                    return 1
    """
    test = """
        import app.nested

        def test_import():
            assert app.nested.Base.marks == ["Inner"]
    """
    files = {**APP, "app/nested.py": code, "tests/test_nested.py": test}
    change = body("app/nested.py", "app.nested.Base.Inner.compute")
    assert "tests/test_nested.py::test_import" in selected(files, change)


SCANNED = """\
class Flag:
    def __get__(self, obj, owner):
        return owner.compute() if obj is None else 0


class Meta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        cls.marks = []
        for attr_name in dir(cls):
            for parent in cls.__mro__:
                try:
                    attr = parent.__dict__[attr_name]
                except KeyError:
                    continue
                if isinstance(attr, type) and attr.marked:
                    cls.marks.append(attr_name)
                break
        for key, value in vars(cls).items():
            if isinstance(value, type) and value.marked and key not in cls.marks:
                cls.marks.append(key)
        if "Inner" in cls.__dict__ and cls.__dict__.get("Inner").marked:
            cls.marks.append("again")


class Base(metaclass=Meta):
    def work(self):
        return 1

    class Inner:
        marked = Flag()

        @classmethod
        def compute(cls):
            return 2
"""


def test_every_function_a_namespace_scan_runs_selects_the_test(tmp_path: Path) -> None:
    """Run for real: a metaclass reading its classes' namespaces (a nested class's descriptor calling back into
    it); a change to any function entered on import selects the test that imports the module, and a change to a
    method nothing runs does not."""
    package = tmp_path / "scan"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(SCANNED)
    sys.path.insert(0, str(tmp_path))
    try:
        with _entered(tmp_path) as entered:
            module = importlib.import_module("scan.mod")
            assert module.Base.marks == ["Inner", "again"]
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("scan", "scan.mod"):
            sys.modules.pop(name, None)
    ran = {_entity(e.partition("::")[2]) for e in entered if e.startswith("scan/mod.py::")}
    assert {"Meta.__init__", "Flag.__get__", "Base.Inner.compute"} <= ran
    test = "import scan.mod\n\n\ndef test_import():\n    assert scan.mod.Base.marks\n"
    index = TestIndex.build(
        {"scan/__init__.py": b"", "scan/mod.py": SCANNED.encode(), "tests/test_scan.py": test.encode()}
    )
    for entity in sorted(ran - {""}):
        change = ChangedEntity("scan/mod.py", f"scan.mod.{entity}", "modified", ("body",))
        assert "tests/test_scan.py::test_import" in index.select([change]).tests, entity
    unused = ChangedEntity("scan/mod.py", "scan.mod.Base.work", "modified", ("body",))
    assert "tests/test_scan.py::test_import" not in index.select([unused]).tests


FORMATTED = """\
class Marker:
    def __format__(self, spec):
        return "[" + describe() + "]"


def describe():
    return "0-9"


class Patterns:
    digits = "0-9"
    marker = Marker()

    @classmethod
    def _construct(cls, fmt):
        return fmt.format(**vars(cls))

    @classmethod
    def number(cls):
        return cls._construct("{marker}{digits}+")

    @staticmethod
    def helper():
        return 1


class Narrow(Patterns):
    digits = "0-4"

    @classmethod
    def number(cls):
        return cls._construct("{digits}" + cls.__dict__["digits"])


class Other:
    def unrelated(self):
        return 1


OTHER = Other()
PATTERN = Patterns.number()
NARROW = Narrow.number()
"""


def test_a_class_namespace_handed_on_in_a_classmethod_hands_out_its_familys_members(tmp_path: Path) -> None:
    """natsort's ``fmt.format(**vars(cls))`` in a classmethod: the namespace of ``cls`` (a class of its family)
    goes to other code, which may read, call or format any value in it — the family's members and what its body
    binds — as ``getattr(cls, name)`` may; not any attribute of any object (``Other().unrelated``, never run,
    selected every test that imports the module). Run for real: every function entered selects the test."""
    package = tmp_path / "fmt"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(FORMATTED)
    sys.path.insert(0, str(tmp_path))
    try:
        with _entered(tmp_path) as entered:
            module = importlib.import_module("fmt.mod")
            assert (module.PATTERN, module.NARROW) == ("[0-9]0-9+", "0-40-4")
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("fmt", "fmt.mod"):
            sys.modules.pop(name, None)
    ran = {_entity(e.partition("::")[2]) for e in entered if e.startswith("fmt/mod.py::")}
    assert {"Marker.__format__", "describe", "Patterns._construct", "Narrow.number"} <= ran
    test = "import fmt.mod\n\n\ndef test_import():\n    assert fmt.mod.PATTERN\n"
    index = TestIndex.build(
        {"fmt/__init__.py": b"", "fmt/mod.py": FORMATTED.encode(), "tests/test_fmt.py": test.encode()}
    )
    for entity in sorted(ran - {""}) + ["Patterns.helper"]:  # helper: a member the namespace hands out
        change = ChangedEntity("fmt/mod.py", f"fmt.mod.{entity}", "modified", ("body",))
        assert "tests/test_fmt.py::test_import" in index.select([change]).tests, entity
    unused = ChangedEntity("fmt/mod.py", "fmt.mod.Other.unrelated", "modified", ("body",))
    assert "tests/test_fmt.py::test_import" not in index.select([unused]).tests


@pytest.mark.parametrize("where", ["class", "function"])
def test_dir_without_arguments_in_a_class_or_a_function_reads_its_own_names_not_the_modules(where: str) -> None:
    """pyflakes' ``class DetectClassScopedMagic: names = dir()`` lists the class body's own names (strings); it was
    read as the module's namespace, so every function added to ``checker.py`` was reached by every test importing it
    (``nearly-all``). In a function, ``dir()`` lists its locals. At module level it still lists the module's names."""
    scope = (
        "class Magic:\n    names = dir()\n"
        if where == "class"
        else "def magic():\n    return dir()\n\n\nNAMES = magic()\n"
    )
    old = {**APP, "app/checks.py": f"{scope}\n\ndef used():\n    return 1\n"}
    old["tests/test_checks.py"] = "from app.checks import used\n\n\ndef test_used():\n    assert used() == 1\n"
    new = {**old, "app/checks.py": old["app/checks.py"] + "\n\ndef added():\n    return 2\n"}
    assert select_change(old, new).tests == ()
    module_level = {**old, "app/checks.py": old["app/checks.py"] + "\n\nNAMES = dir()\n"}
    grown = {**module_level, "app/checks.py": module_level["app/checks.py"] + "\n\ndef added():\n    return 2\n"}
    assert select_change(module_level, grown).tests == ("tests/test_checks.py::test_used",)
