"""``self.x`` in a base class runs a subclass's override only where that subclass is in use (rapid type analysis)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent

import pytest

from trellis.ci.selection.index import ChangedEntity, TestIndex

BASE = {
    "app/__init__.py": "",
    "app/base.py": """
        class Base:
            def run(self):
                return self.hook() + self.extra()

            def hook(self):
                return 1

            def extra(self):
                return super().__init_subclass__ is not None

            @classmethod
            def make(cls):
                return cls.create()

            @classmethod
            def create(cls):
                return cls()


        class Mixin:
            def extra(self):
                return 2


        class Other(Base):
            def hook(self):
                return 3
    """,
    "suite/test_plain.py": """
        from app.base import Base

        def test_plain():
            assert Base().run() == 2
    """,
    "suite/test_sub.py": """
        from app.base import Base, Mixin

        class Sub(Mixin, Base):
            def hook(self):
                return 5

            @classmethod
            def create(cls):
                return Sub()

        def test_sub():
            assert Sub().run() == 7

        def test_made():
            assert Sub.make().run() == 7

        def test_local():
            class Local(Base):
                def hook(self):
                    return 9
            assert Local().run() == 10

        def test_none():
            assert True
    """,
    "suite/test_other.py": """
        from app import base

        def test_other():
            assert base.Other().run() == 4
    """,
}
BASE = {path: dedent(text).lstrip("\n") for path, text in BASE.items()}


def selected(files: Mapping[str, str], path: str, qualname: str) -> set[str]:
    index = TestIndex.build({p: t.encode() for p, t in files.items()})
    selection = index.select([ChangedEntity(path, qualname, "modified", ("body",))], old_index=index)
    assert not selection.run_all
    return set(selection.tests)


@pytest.mark.parametrize(
    ("path", "qualname", "expected"),
    [
        # An override in another test file, or in a test function, runs only where its class is in use.
        (
            "suite/test_sub.py",
            "suite.test_sub.Sub.hook",
            {"suite/test_sub.py::test_sub", "suite/test_sub.py::test_made"},
        ),
        ("suite/test_sub.py", "suite.test_sub.test_local.Local.hook", {"suite/test_sub.py::test_local"}),
        ("app/base.py", "app.base.Other.hook", {"suite/test_other.py::test_other"}),
        # A base only a subclass has: where that subclass is in use.
        ("app/base.py", "app.base.Mixin.extra", {"suite/test_sub.py::test_sub", "suite/test_sub.py::test_made"}),
        # cls.create() in a classmethod: the override of the class in use.
        ("suite/test_sub.py", "suite.test_sub.Sub.create", {"suite/test_sub.py::test_made"}),
        # The base's own method: every test calling run (an instance of any subclass may).
        (
            "app/base.py",
            "app.base.Base.hook",
            {
                "suite/test_plain.py::test_plain",
                "suite/test_other.py::test_other",
                "suite/test_sub.py::test_sub",
                "suite/test_sub.py::test_made",
                "suite/test_sub.py::test_local",
            },
        ),
    ],
)
def test_an_override_runs_only_where_its_class_is_in_use(path: str, qualname: str, expected: set[str]) -> None:
    found = selected(BASE, path, qualname)
    assert expected <= found  # sound
    assert "suite/test_plain.py::test_plain" in found or qualname != "app.base.Base.hook"
    if qualname != "app.base.Base.hook":
        assert "suite/test_plain.py::test_plain" not in found  # precise: no instance of it there
        assert "suite/test_sub.py::test_none" not in found


def test_every_override_a_real_run_enters_selects_its_test(tmp_path: Path) -> None:
    """Run each test of the tree under a profiler: every method it enters, changed, selects it."""
    for path, text in BASE.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    index = TestIndex.build({p: t.encode() for p, t in BASE.items()})
    sys.path.insert(0, str(tmp_path))
    names = ("app", "app.base", "suite", "suite.test_plain", "suite.test_sub", "suite.test_other")
    try:
        for test in index.tests:
            file, _, name = test.partition("::")
            for module_name in names:
                sys.modules.pop(module_name, None)
            importlib.invalidate_caches()
            module = importlib.import_module(file[:-3].replace("/", "."))
            entered: set[tuple[str, str]] = set()

            def profile(frame, event, arg, entered=entered):  # type: ignore[no-untyped-def]
                code = frame.f_code
                if event == "call" and code.co_filename.startswith(str(tmp_path)):
                    qualname = ".".join(p for p in code.co_qualname.split(".") if p != "<locals>")
                    entered.add((Path(code.co_filename).relative_to(tmp_path).as_posix(), qualname))

            sys.setprofile(profile)
            try:
                getattr(module, name)()
            finally:
                sys.setprofile(None)
            for path, qualname in entered:
                module_qualname = f"{path[:-3].replace('/', '.')}.{qualname}"
                assert test in selected(BASE, path, module_qualname), (test, module_qualname)
    finally:
        sys.path.remove(str(tmp_path))
        for module_name in names:
            sys.modules.pop(module_name, None)
