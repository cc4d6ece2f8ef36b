"""Affected-test selection: collection, each resolution rule, each conservative fallback, and real pytest.

Most cases build a tiny tree in memory, change one entity and check which
tests are selected: the test that can reach the change must be, the one that
cannot should not be. The key test runs real pytest on a generated project
with injected faults and checks that selection never misses a failure.
"""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.sample_project import CallGraph, call_graph, generate, inject_fault, micro_edit, small, write_files
from trellis.ci.selection.index import (
    ChangedEntity,
    ChangedPath,
    FactCache,
    Selection,
    TestIndex,
    changes_from_diff,
    missed_failures,
)
from trellis.ci.selection.observed import from_source
from trellis.ci.selection.python_refs import file_facts
from trellis.semantic_diff import diff_files


def build(files: Mapping[str, str]) -> TestIndex:
    return TestIndex.build({path: dedent(text).encode() for path, text in files.items()})


def selected(
    files: Mapping[str, str],
    *changes: ChangedEntity | ChangedPath,
    old: Mapping[str, str] | None = None,
    inert: tuple[str, ...] = (),
) -> set[str]:
    index = build(files)
    selection = index.select(changes, old_index=build(old) if old is not None else None, inert=inert)
    assert not selection.run_all, selection.reason
    return set(selection.tests)


def select_change(old: Mapping[str, str], new: Mapping[str, str]) -> Selection:
    """What a push of ``new`` on top of ``old`` selects: the semantic diff of the files that differ."""
    changed = {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}
    diff = diff_files(
        {p: old[p].encode() for p in changed if p in old}, {p: new[p].encode() for p in changed if p in new}
    )
    selection = build(new).select(changes_from_diff(diff), old_index=build(old))
    assert not selection.run_all, selection.reason
    return selection


def dynamic_of(source: str, function: str) -> str:
    """Why ``function`` of a module of ``source`` may run any code ("" when it may not)."""
    scope = file_facts("m.py", source.encode()).scope(function)
    assert scope is not None
    return scope.refs.dynamic


def body(path: str, qualname: str) -> ChangedEntity:
    return ChangedEntity(path, qualname, "modified", ("body",))


# A small application used by many cases: two modules, tests reaching one each.
APP: dict[str, str] = {
    "app/__init__.py": "",
    "app/models.py": """
        RATE = 2

        class User:
            def __init__(self, name):
                self.name = name

            def save(self):
                return self._store()

            def _store(self):
                return RATE

            def rename(self, name):
                self.name = name
    """,
    "app/util.py": """
        def slug(text):
            return text.lower()

        def unused():
            return 1
    """,
    "tests/test_models.py": """
        from app.models import User

        def test_save():
            assert User("a").save() == 2

        def test_name():
            assert User("a").name == "a"
    """,
    "tests/test_util.py": """
        from app import util

        def test_slug():
            assert util.slug("A") == "a"
    """,
}
APP = {path: dedent(text).lstrip("\n") for path, text in APP.items()}


# -- collection ---------------------------------------------------------------------------------


def test_collects_test_files_functions_classes_and_methods_like_pytest() -> None:
    index = build(
        {
            "tests/test_a.py": """
            import unittest

            def test_top(): pass
            def helper(): pass
            def testing_prefix_counts(): pass

            class TestGroup:
                def test_one(self): pass
                def helper(self): pass

                class TestNested:
                    def test_inner(self): pass

            class TestWithInit:
                def __init__(self): pass
                def test_skipped(self): pass

            class TestDisabled:
                __test__ = False
                def test_skipped(self): pass

            class Checks(unittest.TestCase):
                def test_case(self): pass
                def testCamel(self): pass
        """,
            "tests/b_test.py": "def test_b(): pass\n",
            "tests/helpers.py": "def test_not_collected(): pass\n",
            "tests/conftest.py": "def test_not_collected(): pass\n",
            "tests/__init__.py": "def test_not_collected(): pass\n",
            "build/test_ignored.py": "def test_x(): pass\n",
            ".venv/test_ignored.py": "def test_x(): pass\n",
        }
    )
    assert index.tests == (
        "tests/b_test.py::test_b",
        "tests/test_a.py::Checks::testCamel",
        "tests/test_a.py::Checks::test_case",
        "tests/test_a.py::TestGroup::TestNested::test_inner",
        "tests/test_a.py::TestGroup::test_one",
        "tests/test_a.py::test_top",
        "tests/test_a.py::testing_prefix_counts",
    )


def test_parametrised_tests_are_one_node_id_and_inherited_and_imported_tests_are_collected() -> None:
    index = build(
        {
            "tests/base.py": """
            class TestBase:
                def test_inherited(self): pass
        """,
            "tests/test_p.py": """
            import pytest
            from base import TestBase

            @pytest.mark.parametrize("x", [1, 2])
            def test_param(x): pass

            class TestChild(TestBase):
                def test_own(self): pass
        """,
        }
    )
    assert index.tests == (
        "tests/test_p.py::TestBase::test_inherited",
        "tests/test_p.py::TestChild::test_inherited",
        "tests/test_p.py::TestChild::test_own",
        "tests/test_p.py::test_param",
    )


def test_the_pytest_configuration_is_honoured() -> None:
    files = {
        "pyproject.toml": """
            [tool.pytest.ini_options]
            testpaths = ["checks"]
            python_files = ["check_*.py"]
            python_functions = ["check_"]
            python_classes = ["Check"]
        """,
        "checks/check_a.py": "def check_one(): pass\nclass CheckGroup:\n    def check_two(self): pass\n",
        "checks/test_b.py": "def test_not_matched(): pass\n",
        "other/check_c.py": "def check_outside_testpaths(): pass\n",
    }
    assert build(files).tests == ("checks/check_a.py::CheckGroup::check_two", "checks/check_a.py::check_one")
    ini = {"pytest.ini": "[pytest]\ntestpaths = other\n", **{k: v for k, v in files.items() if k != "pyproject.toml"}}
    assert build(ini).tests == ()  # default python_files: no test_*.py under other/


# -- resolution rules ---------------------------------------------------------------------------


def test_a_body_change_selects_exactly_the_tests_that_reach_it() -> None:
    assert selected(APP, body("app/models.py", "app.models.User._store")) == {"tests/test_models.py::test_save"}
    assert selected(APP, body("app/util.py", "app.util.slug")) == {"tests/test_util.py::test_slug"}
    assert selected(APP, body("app/util.py", "app.util.unused")) == set()


def test_reasons_say_which_change_selected_each_test() -> None:
    selection = build(APP).select([body("app/models.py", "app.models.User._store")])
    assert selection.reasons == {"tests/test_models.py::test_save": "reaches app.models.User._store (modified)"}
    assert selection.total == 3
    own = build(APP).select([body("tests/test_util.py", "tests.test_util.test_slug")])
    assert own.reasons["tests/test_util.py::test_slug"].startswith("the test itself changed")


@pytest.mark.parametrize(
    "importer",
    [
        "import app.deep.mod\ndef test_x(): app.deep.mod.f()\n",
        "import app.deep.mod as m\ndef test_x(): m.f()\n",
        "from app.deep import mod as m\ndef test_x(): m.f()\n",
        "from app.deep.mod import f as g\ndef test_x(): g()\n",
        "from app import f\ndef test_x(): f()\n",  # re-exported by app/__init__.py
        "from app.star import *\ndef test_x(): f()\n",  # star import
        "def test_x():\n    from app.deep.mod import f\n    f()\n",  # import inside the test
    ],
)
def test_names_resolve_through_every_kind_of_import(importer: str) -> None:
    files = {
        "app/__init__.py": "from .deep.mod import f\n",
        "app/deep/__init__.py": "",
        "app/deep/mod.py": "def f():\n    return g()\n\ndef g():\n    return 1\n\ndef h():\n    return 2\n",
        "app/star.py": "from .deep.mod import *\n",
        "tests/test_x.py": importer,
        "tests/test_other.py": "from app.deep.mod import h\ndef test_other(): h()\n",
    }
    assert selected(files, body("app/deep/mod.py", "app.deep.mod.g")) == {"tests/test_x.py::test_x"}


def test_relative_imports_resolve() -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from .. import base\n",
        "pkg/sub/leaf.py": (
            "from ..base import value\nfrom . import sibling\n\ndef leaf():\n    return value() + sibling.s()\n"
        ),
        "pkg/sub/sibling.py": "def s():\n    return 1\n",
        "pkg/base.py": "def value():\n    return 1\n\ndef other():\n    return 2\n",
        "tests/test_leaf.py": "from pkg.sub.leaf import leaf\n\ndef test_leaf(): leaf()\n",
    }
    assert selected(files, body("pkg/base.py", "pkg.base.value")) == {"tests/test_leaf.py::test_leaf"}
    assert selected(files, body("pkg/sub/sibling.py", "pkg.sub.sibling.s")) == {"tests/test_leaf.py::test_leaf"}
    assert selected(files, body("pkg/base.py", "pkg.base.other")) == set()


def test_src_layout_and_test_helpers_on_the_rootdir_path() -> None:
    files = {
        "src/lib/__init__.py": "def api():\n    return 1\n",
        "tests/helpers.py": "from lib import api\n\ndef check():\n    return api()\n",
        "tests/test_api.py": "from helpers import check\n\ndef test_api(): check()\n",
    }
    assert selected(files, body("src/lib/__init__.py", "src.lib.api")) == {"tests/test_api.py::test_api"}


@pytest.mark.parametrize(
    ("config", "text"),
    [
        ("pyproject.toml", '[project]\nname = "lib"\n[tool.setuptools]\npackage-dir = { "" = "python" }\n'),
        ("setup.cfg", "[metadata]\nname = lib\n[options]\npackage_dir =\n    =python\n"),
        ("pyproject.toml", '[project]\nname = "lib"\n[tool.hatch.build.targets.wheel]\npackages = ["python/lib"]\n'),
    ],
)
def test_the_installed_projects_package_root_is_an_import_root(config: str, text: str) -> None:
    """A stage with an environment installs the project as ``pip install -e .``: its declared package root
    (not only ``src``) is where the tests' imports resolve, also when the checkout's top holds a module of
    the same name (which would hide it from the any-module-of-that-name fallback)."""
    files = {
        config: text,
        "lib.py": "def api():\n    return 0\n",
        "python/lib/__init__.py": "def api():\n    return 1\n",
        "tests/test_api.py": "from lib import api\n\ndef test_api(): api()\n",
    }
    assert selected(files, body("python/lib/__init__.py", "python.lib.api")) == {"tests/test_api.py::test_api"}


def test_the_projects_own_pytest11_plugin_is_loaded_by_every_test() -> None:
    files = {
        "pyproject.toml": '[project]\nname = "lib"\n[project.entry-points.pytest11]\nlib = "lib.plugin"\n',
        "lib/__init__.py": "",
        "lib/plugin.py": "import pytest\n\n@pytest.fixture\ndef value():\n    return 1\n",
        "tests/test_value.py": "def test_value(value): assert value == 1\n",
    }
    assert selected(files, body("lib/plugin.py", "lib.plugin.value")) == {"tests/test_value.py::test_value"}


def test_self_cls_and_super_resolve_through_the_class_family() -> None:
    files = {
        "app/shapes.py": """
            class Base:
                def area(self):
                    return self.size() * 2

                def size(self):
                    return 1

                @classmethod
                def make(cls):
                    return cls().size()

            class Square(Base):
                def size(self):                 # an override: self.size() in Base may run it
                    return super().size() + 1

            class Unrelated:
                def size(self):
                    return 3
        """,
        "tests/test_shapes.py": """
            from app.shapes import Square, Unrelated

            def test_area():
                assert Square().area() == 4

            def test_unrelated():
                assert Unrelated().size() == 3
        """,
    }
    # Base.size runs through super() from Square.size; Square.size through self.size() in Base.area.
    for name in ("Base.size", "Square.size", "Base.area"):
        assert "tests/test_shapes.py::test_area" in selected(files, body("app/shapes.py", f"app.shapes.{name}"))
    assert "tests/test_shapes.py::test_unrelated" not in selected(files, body("app/shapes.py", "app.shapes.Base.size"))


def test_python_c_of_standard_modules_only_and_suffix_lists_run_no_code_of_the_tree() -> None:
    files = {
        "app/plat.py": """
            import importlib.machinery
            import subprocess
            import sys

            def mac():
                out = subprocess.run([sys.executable, "-sS", "-c", "import platform; print(platform.mac_ver()[0])"])
                return out, importlib.machinery.EXTENSION_SUFFIXES

            def mine():
                return subprocess.run([sys.executable, "-c", "import app.other; app.other.other()"])
        """,
        "app/other.py": "def other():\n    return 1\n",
        "tests/test_mac.py": "from app.plat import mac\n\ndef test_mac():\n    mac()\n",
        "tests/test_mine.py": "from app.plat import mine\n\ndef test_mine():\n    mine()\n",
    }
    assert selected(files, body("app/other.py", "app.other.other")) == {"tests/test_mine.py::test_mine"}


def test_a_main_block_runs_when_the_module_runs_as_a_script_and_not_when_it_is_imported() -> None:
    tool = dedent("""
        import subprocess

        def helper():
            return subprocess.run([find()])

        def find():
            return "ld"

        def used():
            return 1

        if __name__ == "__main__":
            helper()
    """)
    files = {
        "app/tool.py": tool,
        "tests/test_import.py": "from app.tool import used\n\ndef test_used():\n    assert used() == 1\n",
        "tests/test_script.py": dedent("""
            import subprocess, sys

            def test_script():
                subprocess.run([sys.executable, "-m", "app.tool"], check=True)
        """),
    }
    # helper starts a command the analysis cannot read; only running the module as a script calls it.
    assert selected(files, body("app/tool.py", "app.tool.find")) == {"tests/test_script.py::test_script"}
    assert selected(files, body("app/tool.py", "app.tool.used")) == {
        "tests/test_import.py::test_used",
        "tests/test_script.py::test_script",
    }
    # A change to the block itself: what runs the module as a script.
    edited = {**files, "app/tool.py": tool.replace("    helper()", "    helper()\n    used()")}
    assert set(select_change(files, edited).tests) == {"tests/test_script.py::test_script"}
    # A module that rebinds __name__ may enter its block on import: the block is the module's code.
    rebinding = {**files, "app/tool.py": "__name__ = '__main__'\n" + tool}
    assert selected(rebinding, body("app/tool.py", "app.tool.find")) == {
        "tests/test_import.py::test_used",
        "tests/test_script.py::test_script",
    }


def test_a_class_defined_in_a_function_exists_only_once_the_function_runs() -> None:
    files = {
        "app/lib.py": """
            def helper():
                return "x"

            def kinds(cls):
                return cls.__subclasses__()

            def make():
                class Made:
                    def __repr__(self):
                        return helper()
                return Made()
        """,
        "tests/test_local.py": """
            from app import lib

            def test_defines():
                class Local:
                    def __repr__(self):
                        return lib.helper()
                assert repr(Local()) == "x"

            def test_kinds():
                lib.kinds(object)
        """,
        "tests/test_made.py": "from app import lib\n\ndef test_made():\n    lib.make()\n    lib.kinds(object)\n",
    }
    # fields() reads an attribute that hands out classes (any class in the closure may be used): Local exists
    # only while test_defines runs, Made once make() ran.
    assert selected(files, body("app/lib.py", "app.lib.helper")) == {
        "tests/test_local.py::test_defines",
        "tests/test_made.py::test_made",
    }


def test_a_value_read_under_a_computed_name_and_dropped_runs_only_what_reading_runs() -> None:
    files = {
        "app/thing.py": """
            class Thing:
                @property
                def size(self):
                    return 1

                def shrink(self):
                    return 2
        """,
        "tests/test_read.py": """
            from app.thing import Thing

            def test_read(name="size"):
                getattr(Thing(), name)
        """,
        "tests/test_call.py": """
            from app.thing import Thing

            def test_call(name="shrink"):
                method = getattr(Thing(), name)
                method()
        """,
    }
    assert selected(files, body("app/thing.py", "app.thing.Thing.size")) == {
        "tests/test_read.py::test_read",
        "tests/test_call.py::test_call",
    }
    assert selected(files, body("app/thing.py", "app.thing.Thing.shrink")) == {"tests/test_call.py::test_call"}


def test_super_looks_after_the_class_and_a_base_naming_alternatives_is_one_of_them() -> None:
    """``super().x`` in ``A`` finds ``x`` after ``A`` in the MRO: in a base, or in a sibling of a diamond
    (``D(A, B)``: ``B``), never in ``A`` or a subclass. A base expression that names two classes (an import with a
    fallback copy) is one of them at run time: an instance of one is never an instance of the other's lineage."""
    files = {
        "app/__init__.py": "",
        "app/base.py": """
            class Store(dict):
                def __init__(self, *args):
                    super().__init__()
                    self.update(*args)

                def update(self, *args):
                    return super().update(*args)
        """,
        "app/other.py": """
            class Store(dict):
                def __init__(self, *args):
                    super().__init__()

                def update(self, *args):
                    return "copy"

            try:
                from app.base import Store
            except ImportError:
                pass

            class Special(Store):
                pass
        """,
        "app/diamond.py": """
            class Root:
                def hello(self):
                    return "root"

            class A(Root):
                def hello(self):
                    return "a" + super().hello()

            class B(Root):
                def hello(self):
                    return "b" + super().hello()

            class D(A, B):
                def hello(self):
                    return "d" + super().hello()
        """,
        "tests/test_base.py": "from app.base import Store\n\ndef test_base():\n    assert Store({1: 2})\n",
        "tests/test_special.py": "from app.other import Special\n\ndef test_special():\n    Special().update()\n",
        "tests/test_a.py": "from app.diamond import A\n\ndef test_a():\n    assert A().hello()\n",
        "tests/test_d.py": "from app.diamond import D\n\ndef test_d():\n    assert D().hello() == 'dabroot'\n",
    }
    special = "tests/test_special.py::test_special"
    assert selected(files, body("app/other.py", "app.other.Store.update")) == {special}
    assert selected(files, body("app/other.py", "app.other.Store.__init__")) == {special}
    assert selected(files, body("app/base.py", "app.base.Store.update")) == {"tests/test_base.py::test_base", special}
    # super() in A may find B.hello (self a D); no super() finds D.hello, whose tests alone reach it.
    assert "tests/test_d.py::test_d" in selected(files, body("app/diamond.py", "app.diamond.B.hello"))
    assert selected(files, body("app/diamond.py", "app.diamond.D.hello")) == {"tests/test_d.py::test_d"}
    assert selected(files, body("app/diamond.py", "app.diamond.Root.hello")) == {
        "tests/test_a.py::test_a",
        "tests/test_d.py::test_d",
    }


def test_an_attribute_of_an_unknown_object_may_be_any_entity_of_that_name_the_test_can_load() -> None:
    files = {
        "app/a.py": "class A:\n    def run(self):\n        return 1\n",
        "app/b.py": "class B:\n    def run(self):\n        return 2\n",
        "app/c.py": "class C:\n    def run(self):\n        return 3\n",
        "app/factory.py": (
            "from app.a import A\nfrom app.b import B\n\ndef make(kind):\n    return A() if kind else B()\n"
        ),
        "tests/test_run.py": "from app.factory import make\n\ndef test_run():\n    assert make(1).run()\n",
        "tests/test_c.py": "from app.c import C\n\ndef test_c():\n    assert C().run() == 3\n",
    }
    assert selected(files, body("app/b.py", "app.b.B.run")) == {"tests/test_run.py::test_run"}
    # app/c.py is not in test_run's import closure: its C.run cannot be the object's method.
    assert selected(files, body("app/c.py", "app.c.C.run")) == {"tests/test_c.py::test_c"}


def test_a_method_of_an_unknown_object_called_then_read_further_is_still_that_method() -> None:
    """``x.load().save()`` on a parameter reads ``load`` of an unknown object, then ``save`` of what it returns
    (``load`` was lost: only the attributes after the call counted)."""
    files = {
        "app/store.py": "class Store:\n    def load(self):\n        return self\n\n    def save(self):\n        return 1\n",
        "tests/test_store.py": (
            "from app.store import Store\n\n"
            "def use(x):\n    return x.load().save()\n\n"
            "def test_chain():\n    assert use(Store()) == 1\n"
        ),
    }
    for method in ("load", "save"):
        assert selected(files, body("app/store.py", f"app.store.Store.{method}")) == {"tests/test_store.py::test_chain"}


LEXER = {
    "app/__init__.py": "",
    "app/lex.py": """
        class Lexer:
            def split(self, sep=None):
                return ["lexer"]

            def count(self, x):
                return 0


        class MyStr(str):
            def split(self, sep=None, maxsplit=-1):
                return ["mine"]


        class Shown:
            def __str__(self):
                return MyStr("a/b")


        def make():
            return Lexer()
    """,
}


@pytest.mark.parametrize(
    ("code", "reaches"),
    [
        ('"a/b".split("/")', ""),
        ('key = "a/b"\nkey.split("/")[0].strip().split()', ""),
        ('parts = "a b".split()\nparts.count("a")', ""),
        ('[p.split() for p in "a b".split()]', ""),
        ('"-".join(["a"]).split()', ""),
        ('{"a": 1}.get("a")', ""),
        ("use(Lexer())", "Lexer MyStr"),  # a parameter: any object
        ('key = "a"\nif len(key):\n    key = make()\nkey.split()', "Lexer MyStr"),  # one binding of the tree
        ('MyStr("a/b").split("/")', "MyStr"),  # a subclass of str the tree defines
        ('str(Shown()).split("/")', "Lexer MyStr"),  # __str__ may return a subclass of str
        ('{"a": make()}.get("a").split()', "Lexer MyStr"),  # what a dict holds
    ],
)
def test_an_attribute_of_a_value_of_exact_builtin_type_is_no_method_of_the_tree(code: str, reaches: str) -> None:
    """``"a/b".split("/")`` reads ``split`` of a ``str``: no method of the tree, whatever ``Lexer`` defines (it
    resolved to every ``split`` of the tree). A value the analysis cannot show to be of an exact builtin type
    (a parameter, what the tree returns, a subclass of a builtin) still reaches every one."""
    test = "\n".join(
        [
            "from app.lex import Lexer, MyStr, Shown, make",
            "",
            "def use(x):",
            "    return x.split()",
            "",
            "def test_lex():",
            "    Lexer()",
            "    MyStr('a')",
            *("    " + line for line in code.splitlines()),
        ]
    )
    files = {**LEXER, "tests/test_lex.py": test + "\n"}
    for cls in ("Lexer", "MyStr"):
        expected = {"tests/test_lex.py::test_lex"} if cls in reaches.split() else set()
        assert selected(files, body("app/lex.py", f"app.lex.{cls}.split")) == expected, cls
    assert selected(files, body("app/lex.py", "app.lex.Lexer.count")) == set()


def test_getattr_with_a_constant_name_is_an_attribute_and_with_a_computed_one_anything_loaded() -> None:
    files = {
        "app/ops.py": "def add():\n    return 1\n\ndef sub():\n    return 2\n",
        "tests/test_const.py": "from app import ops\n\ndef test_const():\n    getattr(ops, 'add')()\n",
        "tests/test_dyn.py": "from app import ops\n\ndef test_dyn(name='sub'):\n    getattr(ops, name)()\n",
    }
    assert selected(files, body("app/ops.py", "app.ops.add")) == {
        "tests/test_const.py::test_const",
        "tests/test_dyn.py::test_dyn",
    }
    assert selected(files, body("app/ops.py", "app.ops.sub")) == {"tests/test_dyn.py::test_dyn"}


@pytest.mark.parametrize(
    ("receiver", "anything"),
    [
        ("str", False),  # a builtin type: str.upper, str.lower... run no code of the tree
        ("os", False),  # a module outside the tree
        ("obj", True),  # a parameter: any object, so any attribute
        ("lazy", True),  # a module of the tree, with a PEP 562 __getattr__ besides its functions
        ("Holder", False),  # a class of the tree with no outside base: its members, its subclasses, type's
        ("Shelf", True),  # a class of the tree with an outside base (a method of that base may call anything)
    ],
)
def test_getattr_with_a_computed_name_reads_an_attribute_of_what_its_object_is(receiver: str, anything: bool) -> None:
    """``getattr(str, case)`` (sqlparse's case filters) is an attribute of ``str``, as ``str.upper`` is: it runs no
    code of the tree, so a test making such a filter does not reach every function its import closure holds. The
    object resolves as a name does: an object of the tree, or one the analysis cannot name, gives any attribute."""
    files = {
        "app/__init__.py": "",
        "app/other.py": "def render():\n    return 'php'\n",
        "app/lazy.py": "def __getattr__(name):\n    raise AttributeError(name)\n\n\ndef slug(text):\n    return text\n",
        "app/case.py": dedent(
            f"""
            import collections
            import os

            from app import lazy, other


            class Holder:
                pass


            class Shelf(collections.UserDict):
                pass


            class CaseFilter:
                def __init__(self, obj=None, case=None):
                    self.convert = getattr({receiver}, case or "upper")

                def process(self, text):
                    return self.convert(text)
            """
        ).lstrip(),
        "tests/test_case.py": "from app.case import CaseFilter\n\n\ndef test_case():\n    CaseFilter()\n",
        "tests/test_other.py": "from app.other import render\n\n\ndef test_other():\n    assert render()\n",
        "tests/test_lazy.py": "from app import lazy\n\n\ndef test_lazy():\n    assert lazy.slug('a')\n",
    }
    case = {"tests/test_case.py::test_case"} if anything else set()
    assert selected(files, body("app/other.py", "app.other.render")) == {"tests/test_other.py::test_other", *case}
    assert selected(files, body("app/lazy.py", "app.lazy.slug")) == {"tests/test_lazy.py::test_lazy", *case}


def test_module_level_code_of_imported_modules_counts_as_reached() -> None:
    files = {
        "app/__init__.py": "",
        "app/config.py": "from app.util import load\nSETTINGS = load()\n",
        "app/util.py": "def load():\n    return {}\n\ndef spare():\n    return 0\n",
        "app/service.py": "from app import config\n\ndef serve():\n    return 1\n",
        "tests/test_service.py": "from app.service import serve\n\ndef test_serve(): serve()\n",
        "tests/test_spare.py": "from app.util import spare\n\ndef test_spare(): spare()\n",
    }
    # load() runs when app.config is imported, which importing app.service does.
    assert selected(files, body("app/util.py", "app.util.load")) == {"tests/test_service.py::test_serve"}
    assert selected(files, ChangedEntity("app/config.py", "app.config")) == {"tests/test_service.py::test_serve"}


def test_decorators_and_defaults_run_at_definition_time() -> None:
    files = {
        "app/registry.py": """
            HANDLERS = {}

            def register(fn):
                HANDLERS[fn.__name__] = fn
                return fn

            def default_size():
                return 3
        """,
        "app/handlers.py": """
            from app.registry import register, default_size

            @register
            def on_event():
                return 1

            def sized(n=default_size()):
                return n

            def plain():
                return 2
        """,
        "tests/test_dispatch.py": """
            import app.handlers
            from app.registry import HANDLERS

            def test_dispatch():
                assert HANDLERS["on_event"]() == 1
        """,
        "tests/test_plain.py": "from app.registry import HANDLERS\n\ndef test_plain(): assert HANDLERS == {}\n",
    }
    # on_event is handed to register(): whoever imports app.handlers may run it.
    dispatch = {"tests/test_dispatch.py::test_dispatch"}
    assert selected(files, body("app/handlers.py", "app.handlers.on_event")) == dispatch
    assert selected(files, body("app/registry.py", "app.registry.default_size")) == {
        "tests/test_dispatch.py::test_dispatch"
    }
    assert selected(files, body("app/handlers.py", "app.handlers.plain")) == set()


@pytest.mark.parametrize(
    ("harness", "inert"),
    [
        ("import unittest\n\nskipIf = unittest.skipIf\n", True),
        ("from unittest import skipIf\n", True),
        ("import unittest as ut\n\nif ut:\n    skipIf = ut.skipIf\nelse:\n    skipIf = ut.skipUnless\n", True),
        ("from tests import marks\n\nskipIf = marks.skipIf\n", False),
        ("import unittest\n\nskipIf = unittest.skipIf\nskipIf = print\n", False),
        ("import unittest\n\ndef skipIf(*args):\n    return unittest.skipIf(*args)\n", False),
    ],
)
def test_a_decorator_a_helper_module_binds_to_an_inert_one_runs_nothing_at_definition_time(
    harness: str, inert: bool
) -> None:
    """pyflakes' test modules import ``skipIf`` from their harness (``skipIf = unittest.skipIf``): adding or
    removing it on a test method changes that test only, not every test importing the module (its doctest
    variants import another test module's constants); a name the harness binds to code of the tree, or to
    anything else, may register the function."""

    def tree(decorator: str) -> dict[str, str]:
        first = f"""
            import sys

            from tests.harness import skipIf

            SOURCE = "x = 1"

            class TestFirst:
                {decorator}
                def test_two(self):
                    assert SOURCE
        """
        second = "from tests.test_first import SOURCE\n\ndef test_three():\n    assert SOURCE\n"
        marks = "def skipIf(*args):\n    return lambda f: f\n"
        return {
            **APP,
            "tests/__init__.py": "",
            "tests/harness.py": harness,
            "tests/marks.py": marks,
            "tests/test_first.py": first,
            "tests/test_second.py": second,
        }

    old, new = tree('@skipIf(sys.version_info < (3, 11), "new")'), tree("")
    change = ChangedEntity("tests/test_first.py", "tests.test_first.TestFirst.test_two")
    picked = selected(new, change, old=old)
    assert "tests/test_first.py::TestFirst::test_two" in picked
    assert ("tests/test_second.py::test_three" not in picked) is inert, harness


def test_a_change_to_what_runs_at_definition_time_selects_every_importer() -> None:
    old = {**APP, "app/util.py": "def slug(text, sep='-'):\n    return text.lower()\n\ndef unused():\n    return 1\n"}
    new = {**APP, "app/util.py": "def slug(text, sep=print):\n    return text.lower()\n\ndef unused():\n    return 1\n"}
    importers = {"tests/test_util.py::test_slug"}
    assert selected(new, ChangedEntity("app/util.py", "app.util.unused"), old=old) == set()
    assert selected(new, ChangedEntity("app/util.py", "app.util.slug"), old=old) == importers
    # Without the old index, semantic_diff's details tell: a signature change is not a body change.
    assert selected(new, ChangedEntity("app/util.py", "app.util.unused", details=("signature",))) == importers
    # A class's own code (attributes, bases) runs at import.
    assert selected(APP, ChangedEntity("app/models.py", "app.models.User", details=("body",))) == {
        "tests/test_models.py::test_save",
        "tests/test_models.py::test_name",
    }


def test_fixtures_and_hooks_of_conftest_files_are_reached_by_the_tests_below_them() -> None:
    files = {
        "app/db.py": "def connect():\n    return 1\n\ndef migrate():\n    return 2\n",
        "tests/api/conftest.py": """
            import pytest
            from app.db import connect, migrate

            @pytest.fixture
            def db():
                return connect()

            def pytest_configure(config):
                migrate()
        """,
        "tests/api/test_api.py": "def test_api(db): assert db\n",
        "tests/unit/test_unit.py": "def test_unit(): pass\n",
    }
    assert selected(files, body("app/db.py", "app.db.connect")) == {"tests/api/test_api.py::test_api"}
    assert selected(files, body("app/db.py", "app.db.migrate")) == {"tests/api/test_api.py::test_api"}


def test_pytest_plugins_and_patch_targets_named_in_strings_are_references() -> None:
    files = {
        "app/clock.py": "def now():\n    return 0\n",
        "app/plug.py": "from app.clock import now\n\ndef pytest_configure(config):\n    now()\n",
        "tests/test_plugin.py": "pytest_plugins = ['app.plug']\n\ndef test_plugin(): pass\n",
        "tests/test_patch.py": """
            from unittest import mock

            def test_patch():
                with mock.patch("app.clock.now", return_value=1):
                    pass
        """,
        "tests/test_none.py": "def test_none(): pass\n",
    }
    assert selected(files, body("app/clock.py", "app.clock.now")) == {
        "tests/test_plugin.py::test_plugin",
        "tests/test_patch.py::test_patch",
    }


def test_imports_by_constant_name_resolve_and_computed_ones_import_any_module() -> None:
    files = {
        "app/a.py": "def a():\n    return 1\n",
        "app/b.py": "def b():\n    return 2\n",
        "tests/test_static.py": "import importlib\n\ndef test_static():\n    importlib.import_module('app.a').a()\n",
        "tests/test_dynamic.py": (
            "import importlib\n\ndef test_dynamic(name='app.b'):\n    importlib.import_module(name)\n"
        ),
        "tests/test_calls.py": ("def test_calls(name='app.b'):\n    __import__(name, fromlist=['b']).b()\n"),
    }
    # A computed import runs some module's top-level code, and only that: calling what it returns is
    # reading an attribute of an unknown object (in an import closure that now holds every module).
    assert selected(files, body("app/a.py", "app.a.a")) == {"tests/test_static.py::test_static"}
    assert selected(files, body("app/b.py", "app.b.b")) == {"tests/test_calls.py::test_calls"}
    module_level = build(files).select([ChangedPath("app/b.py")], old_index=build(files))
    assert set(module_level.tests) == {"tests/test_dynamic.py::test_dynamic", "tests/test_calls.py::test_calls"}
    # ...so a change no code reaches (an inert file) does not select them as "may run any code".
    assert selected({**files, "docs/index.md": "# docs\n"}, ChangedPath("docs/index.md")) == set()


def test_subprocesses_running_python_modules_resolve_and_unknown_commands_reach_everything() -> None:
    files = {
        "app/cli.py": "def main():\n    return 0\n\nif __name__ == '__main__':\n    main()\n",
        "app/other.py": "def other():\n    return 1\n",
        "tests/test_cli.py": """
            import subprocess, sys

            def test_cli():
                subprocess.run([sys.executable, "-m", "app.cli"], check=True)

            def test_git():
                subprocess.run(["git", "--version"], check=True)
        """,
        "tests/test_shell.py": "import os\n\ndef test_shell(cmd='make'):\n    os.system(cmd)\n",
    }
    assert selected(files, body("app/cli.py", "app.cli.main")) == {
        "tests/test_cli.py::test_cli",
        "tests/test_shell.py::test_shell",
    }
    assert selected(files, body("app/other.py", "app.other.other")) == {"tests/test_shell.py::test_shell"}


def test_a_changed_or_added_test_selects_itself() -> None:
    assert selected(APP, body("tests/test_models.py", "tests.test_models.test_name")) == {
        "tests/test_models.py::test_name"
    }
    new = {**APP, "tests/test_util.py": APP["tests/test_util.py"] + "\ndef test_new():\n    assert True\n"}
    assert selected(new, ChangedEntity("tests/test_util.py", "tests.test_util.test_new", "added"), old=APP) == {
        "tests/test_util.py::test_new"
    }
    assert selected(new, ChangedPath("tests/test_util.py"), old=APP) == {
        "tests/test_util.py::test_slug",
        "tests/test_util.py::test_new",
    }


def test_a_removed_entity_selects_the_tests_that_referenced_it_in_the_old_tree() -> None:
    old = {
        **APP,
        "app/util.py": APP["app/util.py"] + "\ndef helper():\n    return 3\n",
        "tests/test_helper.py": "from app.util import helper\n\ndef test_helper(): helper()\n",
    }
    new = {**APP, "tests/test_helper.py": "from app.util import helper\n\ndef test_helper(): helper()\n"}
    assert selected(new, ChangedEntity("app/util.py", "app.util.helper", "removed"), old=old) == {
        "tests/test_helper.py::test_helper"
    }
    no_old = build(new).select([ChangedEntity("app/util.py", "app.util.helper", "removed")])
    assert no_old.run_all and "old_index" in no_old.reason
    deleted = {k: v for k, v in old.items() if k != "app/util.py"}
    assert selected(deleted, ChangedPath("app/util.py", "deleted"), old=old) == {
        "tests/test_util.py::test_slug",
        "tests/test_helper.py::test_helper",
    }


def test_renames_from_a_real_semantic_diff() -> None:
    old = {p: dedent(APP[p]).encode() for p in ("app/util.py", "tests/test_util.py")}
    new_util = "def make_slug(text):\n    return text.lower()\n\ndef unused():\n    return 1\n"
    new = {
        **old,
        "app/util.py": new_util.encode(),
        "tests/test_util.py": b"from app import util\n\ndef test_slug():\n    assert util.make_slug('A') == 'a'\n",
    }
    changes = changes_from_diff(diff_files({p: old[p] for p in old}, {p: new[p] for p in new}))
    kinds = {(c.qualname, c.change) for c in changes if isinstance(c, ChangedEntity)}
    assert ("app.util.make_slug", "renamed") in kinds
    selection = TestIndex.build(new).select(changes, old_index=TestIndex.build(old))
    assert selection.tests == ("tests/test_util.py::test_slug",)


# -- conservative fallbacks ---------------------------------------------------------------------


def test_a_conftest_change_selects_every_test_in_and_below_its_directory() -> None:
    files = {
        **APP,
        "tests/sub/conftest.py": "X = 1\n",
        "tests/sub/test_sub.py": "def test_sub(): pass\n",
        "tests/sub/deeper/test_deep.py": "def test_deep(): pass\n",
    }
    assert selected(files, ChangedPath("tests/sub/conftest.py")) == {
        "tests/sub/test_sub.py::test_sub",
        "tests/sub/deeper/test_deep.py::test_deep",
    }
    root = build({**files, "conftest.py": ""}).select([ChangedEntity("conftest.py", "conftest")])
    assert root.run_all and "conftest.py" in root.reason and len(root.tests) == 5


def test_a_conftest_helper_only_code_calls_selects_the_tests_that_call_it() -> None:
    """natsort's ``tests/conftest.py``: ``load_locale`` is called by its locale fixtures only, and a change to it
    selected every test below the conftest. pytest itself runs a conftest's module code, hooks and fixtures; a
    plain function runs when those, or a test, call it. One that a hook or the module code calls still selects
    every test below; a hook, or a function a decorator may register, is what pytest runs."""
    conftest = """
        import pytest

        def load(x):
            return x

        def configure():
            return 1

        def at_import():
            return 2

        LEVEL = at_import()

        @pytest.fixture
        def with_locale():
            return load("de")

        def pytest_runtest_setup(item):
            configure()

        def pytest_unused_helper():
            return 3
    """
    files = {
        **APP,
        "tests/sub/conftest.py": conftest,
        "tests/sub/test_sub.py": "def test_sub(with_locale): pass\n\ndef test_plain(): pass\n",
        "tests/sub/deeper/test_deep.py": "def test_deep(): pass\n",
    }
    below = {
        "tests/sub/test_sub.py::test_sub",
        "tests/sub/test_sub.py::test_plain",
        "tests/sub/deeper/test_deep.py::test_deep",
    }

    def change(name: str) -> set[str]:
        return selected(files, body("tests/sub/conftest.py", f"tests.sub.conftest.{name}"), old=files)

    assert change("load") == {"tests/sub/test_sub.py::test_sub"}
    assert change("configure") == below  # a hook calls it
    assert change("at_import") == below  # the module's code calls it
    assert change("pytest_unused_helper") == below  # pytest may call what it names pytest_*


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("pytest.ini", "configuration"),
        ("pyproject.toml", "configuration"),
        ("setup.cfg", "configuration"),
        ("tox.ini", "configuration"),
        ("requirements.txt", "configuration"),
        ("app/data.json", "data-file"),
        ("tests/fixtures/expected.bin", "data-file"),
    ],
)
def test_configuration_and_data_files_run_everything_and_say_which_rule(path: str, rule: str) -> None:
    selection = build(APP).select([ChangedPath(path)])
    assert selection.run_all and path in selection.reason
    assert (selection.path, selection.rule) == (path, rule)
    assert selection.fallback.startswith(f"{rule}: {path} changed")
    assert selection.tests == build(APP).tests


@pytest.mark.parametrize("path", ["app/_speedups.c", "app/_speedups_scan.h", "app/_fast.pyx", "src/ext.cpp"])
def test_a_compiled_extensions_source_runs_everything_and_says_it_is_not_built(path: str) -> None:
    """simplejson's ``_speedups.c``: its change ran every test as "a non-Python file a test may read", and every
    test passed without loading it (the stage never builds an extension): the reason says what was verified."""
    selection = build(APP).select([ChangedPath(path)])
    assert selection.run_all and selection.rule == "data-file"
    assert "compiled extension" in selection.reason and "does not build" in selection.reason, selection.reason


@pytest.mark.parametrize(
    ("setup", "built"),
    [
        ("from setuptools import setup\nsetup()\n", False),
        (None, False),  # pyproject.toml alone
        ("from setuptools import setup\nsetup(**OPTIONS)\n", True),  # may hold ext_modules
        ("hatchling", True),  # another build backend
    ],
)
def test_a_c_file_of_a_project_that_declares_no_extension_is_a_file_tests_may_read(
    setup: str | None, built: bool
) -> None:
    """pycparser's ``tests/c_files/year.c`` (C code its tests parse) ran every test "as a source of a compiled
    extension, which the stage does not build": a pure-Python project whose packaging setuptools reads declares
    none, so the file is one a test may read (every test still runs, for that reason)."""
    pyproject = '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    if setup == "hatchling":
        pyproject, setup = pyproject.replace("setuptools.build_meta", "hatchling.build"), None
    files = {**APP, "pyproject.toml": pyproject + '[project]\nname = "app"\nversion = "1"\n'}
    if setup is not None:
        files["setup.py"] = setup
    selection = build(files).select([ChangedPath("tests/c_files/year.c")])
    assert selection.run_all and selection.rule == "data-file"
    assert ("compiled extension" in selection.reason) is built, selection.reason
    assert ("a test may read" in selection.reason) is not built, selection.reason


SPEEDUPS: dict[str, str] = {
    "setup.py": """
        from setuptools import Extension, setup
        setup(name="fast", ext_modules=[Extension("fast._speedups", ["fast/_speedups.c"])])
    """,
    "fast/__init__.py": "",
    "fast/encoder.py": """
        def _import_speedups():
            try:
                from . import _speedups
                return _speedups.encode
            except ImportError:
                return None

        c_encode = _import_speedups()

        def encode(x):
            return c_encode(x) if c_encode is not None else str(x)
    """,
    "fast/scanner.py": """
        try:
            from fast._speedups import scan as c_scan
        except ImportError:
            c_scan = None
    """,
    "fast/util.py": "def plain():\n    return 1\n",
    "tests/test_encoder.py": "from fast.encoder import encode\n\n\ndef test_encode():\n    assert encode(1) == '1'\n",
    "tests/test_scanner.py": "import fast.scanner\n\n\ndef test_scan():\n    assert fast.scanner\n",
    "tests/test_util.py": "from fast.util import plain\n\n\ndef test_plain():\n    assert plain() == 1\n",
}


@pytest.mark.parametrize("path", ["fast/_speedups.c", "fast/_speedups_scan.h"])
def test_a_compiled_extensions_source_the_project_declares_runs_the_tests_importing_it(path: str) -> None:
    """A project declaring the extension to setuptools (simplejson's ``Extension("simplejson._speedups", ...)``) has
    it built in every job, so a change to its C sources (or any header: which extension includes it is not read)
    runs the tests reaching code that imports it, by any spelling (``from . import _speedups`` in a function,
    ``from fast._speedups import scan``), with the rebuilt extension — not every test."""
    assert selected(SPEEDUPS, ChangedPath(path)) == {
        "tests/test_encoder.py::test_encode",
        "tests/test_scanner.py::test_scan",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"setup.py": "from setuptools import setup\nsetup(name='fast', ext_modules=cythonize('fast/*.pyx'))\n"},
        {"fast/encoder.py": "", "fast/scanner.py": ""},
    ],
    ids=["no-literal-name", "no-constant-import"],
)
def test_a_compiled_extensions_source_runs_everything_when_its_importers_cannot_be_told(change: dict[str, str]) -> None:
    """An extension of no literal name (``cythonize(...)``), or one no code imports by a constant name (imported
    some other way, which selection would miss): every test runs, with the rebuilt extension, and says so."""
    selection = build({**SPEEDUPS, **change}).select([ChangedPath("fast/_speedups.c")])
    assert selection.run_all and selection.rule == "data-file"
    assert "which every job builds" in selection.reason and "rebuilt extension" in selection.reason, selection.reason


def test_files_declared_inert_select_nothing_and_always_full_ones_everything() -> None:
    assert (
        selected(APP, ChangedPath("app/data.json"), ChangedPath("assets/logo.png"), inert=("app/*.json", "assets/**"))
        == set()
    )
    selection = build(APP).select([ChangedPath("app/util.py")], always_full=("app/util.py",))
    assert selection.run_all and selection.rule == "always-full"


@pytest.mark.parametrize(
    "path",
    [
        "app/models.pyi",
        "README.rst",
        "docs/guide.md",
        "MANIFEST.in",
        "CHANGELOG",
        ".github/workflows/ci.yml",
        "LICENSE",
        ".pre-commit-config.yaml",
        "NOTES.txt",
        "Makefile",
        "docs/Makefile",
        "Dockerfile",
        ".bumpversion.cfg",  # a release tool's settings
        "renovate.json",
        "CODEOWNERS",
        "mypy.ini",  # a type checker's, no pytest plugin running it (bidict's release)
        ".flake8",
    ],
)
def test_stubs_docs_and_manifests_are_inert_by_kind(path: str) -> None:
    assert selected(APP, ChangedPath(path)) == set()


def test_a_tool_s_settings_count_for_a_test_running_it_or_a_pytest_plugin_running_it() -> None:
    files = {
        **APP,
        "tests/test_bump.py": "import subprocess\n\n\ndef test_bump():\n"
        "    subprocess.run(['bumpversion', '--dry-run', 'patch'], check=True)\n"
        "    subprocess.run(['mypy', 'app'], check=True)\n",
    }
    bump = {"tests/test_bump.py::test_bump"}
    assert selected(files, ChangedPath(".bumpversion.cfg")) == bump
    assert selected(files, ChangedPath("mypy.ini")) == bump
    # pytest-mypy and pytest-flake8 read their settings inside the test run, which no code of the tree names
    mypy = {**APP, "pytest.ini": "[pytest]\naddopts = --mypy\n"}
    assert build(mypy).select([ChangedPath("mypy.ini")]).rule == "data-file"
    flake8 = TestIndex.build({path: dedent(text).encode() for path, text in APP.items()}, args=("--flake8",))
    assert flake8.select([ChangedPath(".flake8")], args=("--flake8",)).rule == "data-file"
    # pytest-mypy-plugins collects its cases without an option
    cases = {**APP, "tests/test_types.yml": "- case: simple\n  main: |\n    reveal_type(1)\n"}
    assert build(cases).select([ChangedPath("mypy.ini")]).rule == "data-file"


def test_an_inert_kind_file_that_code_names_selects_the_tests_reaching_that_code() -> None:
    files = {
        **APP,
        "tests/test_docs.py": """
                 from pathlib import Path

                 def test_readme():
                     assert Path("README.rst").exists()

                 def test_guides():
                     for page in Path("docs").glob("*.md"):
                         assert page.read_text()

                 def test_other():
                     pass
             """,
        "tests/test_data.py": """
                 import os

                 HERE = os.path.dirname(__file__)

                 def test_expected():
                     assert open(os.path.join(HERE, "fixtures", "expected.txt")).read()
             """,
    }
    assert selected(files, ChangedPath("README.rst")) == {"tests/test_docs.py::test_readme"}
    assert selected(files, ChangedPath("docs/guide.md")) == {"tests/test_docs.py::test_guides"}
    assert selected(files, ChangedPath("CHANGES.md")) == {"tests/test_docs.py::test_guides"}  # "*.md"
    # A file under a directory of data the code names: the module's code names it, so every test of the file.
    assert selected(files, ChangedPath("tests/fixtures/expected.txt")) == {"tests/test_data.py::test_expected"}
    # A name built from an extension: f"{case}.txt" names every .txt file.
    cases = {**files, "tests/test_cases.py": 'def test_case():\n    case = "a"\n    assert open(f"{case}.txt")\n'}
    assert "tests/test_cases.py::test_case" in selected(cases, ChangedPath("tests/a.txt"))


def test_a_build_recipe_counts_for_the_tests_that_run_its_tool() -> None:
    files = {
        **APP,
        "tests/test_build.py": """
                 import os
                 import subprocess

                 def test_make():
                     subprocess.run(["make", "-C", "docs", "html"], check=True)

                 def test_shell():
                     os.system("make dist")

                 def test_other():
                     pass
             """,
    }
    index = build(files)
    selection = index.select([ChangedPath("docs/Makefile")])
    assert not selection.run_all
    assert set(selection.tests) >= {"tests/test_build.py::test_make", "tests/test_build.py::test_shell"}
    assert "tests/test_build.py::test_other" not in selection.tests


@pytest.mark.parametrize(
    ("path", "before", "after", "inert"),
    [
        (
            "setup.cfg",
            "[metadata]\nname = app\n[flake8]\nmax-line-length = 100\n",
            "[metadata]\nname = app\nlong_description = X\n[flake8]\nmax-line-length = 120\n",
            True,
        ),
        # What an install writes into the distribution's METADATA: only readers of it see a description (below).
        (
            "setup.cfg",
            "[metadata]\nname = app\n",
            "[metadata]\nname = app\nclassifiers = X\n",
            True,
        ),
        ("setup.cfg", "[metadata]\nname = app\nversion = 1\n", "[metadata]\nname = app\nversion = 2\n", False),
        ("setup.cfg", "[tool:pytest]\naddopts = -q\n", "[tool:pytest]\naddopts = -q -x\n", False),
        ("setup.cfg", "[options]\npackage_dir = =src\n", "[options]\npackage_dir = =lib\n", False),
        ("tox.ini", "[tox]\nenvlist = py311\n", "[tox]\nenvlist = py311,py312\n", True),
        (
            "pyproject.toml",
            '[project]\nname = "app"\nreadme = "a.md"\n[tool.ruff]\nline-length = 1\n',
            '[project]\nname = "app"\nreadme = "b.md"\n[tool.ruff]\nline-length = 2\n',
            True,
        ),
        (
            "pyproject.toml",
            '[project]\nname = "app"\n[project.urls]\nHome = "a"\n',
            '[project]\nname = "app"\n[project.urls]\nHome = "b"\n',
            True,
        ),
        (
            "pyproject.toml",
            '[project]\nname = "app"\nversion = "1.0"\n',
            '[project]\nname = "app"\nversion = "1.1"\n',
            False,
        ),
        # Dependency groups reach tests only through the stage's environment, whose digest the engine compares;
        # the project's own dependencies are also its installed METADATA's Requires-Dist.
        (
            "pyproject.toml",
            '[project]\nname = "app"\n[dependency-groups]\ndev = []\n',
            '[project]\nname = "app"\n[dependency-groups]\ndev = ["ruff"]\n',
            True,
        ),
        (
            "pyproject.toml",
            '[project]\nname = "app"\ndependencies = []\n',
            '[project]\nname = "app"\ndependencies = ["attrs"]\n',
            False,
        ),
        (
            "pyproject.toml",
            '[project]\nname = "app"\n',
            '[project]\nname = "app"\nscripts = {app = "app:main"}\n',
            False,
        ),
        # The build backend builds the package; the tests run from the checkout, never from a build of it.
        (
            "pyproject.toml",
            '[build-system]\nrequires = ["flit_core >=3.12,<4"]\nbuild-backend = "flit_core.buildapi"\n',
            '[build-system]\nrequires = ["flit_core >=4,<5"]\nbuild-backend = "flit_core.buildapi"\n',
            True,
        ),
        (
            "pyproject.toml",
            '[tool.pytest.ini_options]\naddopts = "-q"\n',
            '[tool.pytest.ini_options]\naddopts = "-x"\n',
            False,
        ),
        # Where the installed project imports from and its version (a stage's environment installs it).
        (
            "pyproject.toml",
            '[project]\nname = "app"\n[tool.setuptools]\npackage-dir = { "" = "src" }\n',
            '[project]\nname = "app"\n[tool.setuptools]\npackage-dir = { "" = "lib" }\n',
            False,
        ),
        (
            "pyproject.toml",
            '[project]\nname = "app"\n[tool.hatch.version]\npath = "app/__init__.py"\n',
            '[project]\nname = "app"\n[tool.hatch.version]\npath = "app/_version.py"\n',
            False,
        ),
        (
            "pyproject.toml",
            '[project]\nname = "app"\n[tool.hatch.metadata.hooks.fancy-pypi-readme]\ntext = "a"\n',
            '[project]\nname = "app"\n[tool.hatch.metadata.hooks.fancy-pypi-readme]\ntext = "b"\n',
            True,
        ),
        (
            "setup.py",
            'from setuptools import setup\nsetup(name="app", classifiers=["A"])\n',
            'from setuptools import setup\nsetup(name="app", classifiers=["A", "B"])\n',
            True,
        ),
        (
            "setup.py",
            'from setuptools import setup\nsetup(name="app", install_requires=[])\n',
            'from setuptools import setup\nsetup(name="app", install_requires=["x"])\n',
            False,
        ),
        (
            "setup.py",
            'from setuptools import setup\nsetup(name="app", zip_safe=False)\n',
            'from setuptools import setup\nsetup(name="app", zip_safe=True)\n',
            True,
        ),
        (
            "setup.py",
            'from setuptools import setup\nsetup(name="app", package_dir={"": "src"})\n',
            'from setuptools import setup\nsetup(name="app", package_dir={"": "lib"})\n',
            False,
        ),
    ],
)
def test_configuration_runs_everything_only_when_a_part_that_configures_test_runs_changed(
    path: str, before: str, after: str, inert: bool
) -> None:
    old = build({**APP, path: before})
    new = build({**APP, path: after})
    selection = new.select([ChangedPath(path)], old_index=old)
    assert selection.run_all is not inert, selection.reason
    if not inert:
        assert selection.rule == "configuration" and selection.path == path


METADATA_READERS = {
    **APP,
    "pyproject.toml": '[project]\nname = "app"\nversion = "1.0"\nclassifiers = ["A"]\n',
    "tests/test_meta.py": """
        from importlib.metadata import distribution


        def test_urls():
            assert distribution("app").metadata.get_all("Classifier") == ["A"]
    """,
    "tests/test_pkg.py": """
        import pkg_resources


        def test_version():
            assert pkg_resources.get_distribution("app").version
    """,
}


@pytest.mark.parametrize(
    ("after", "selected_tests"),
    [
        # Descriptive metadata: the tests reaching a reader of installed metadata (pluggy reads its Project-URL).
        ('classifiers = ["A", "B"]', {"tests/test_meta.py::test_urls", "tests/test_pkg.py::test_version"}),
        (
            'classifiers = ["A"]\ndescription = "x"\n[project.urls]\nHome = "h"',
            {
                "tests/test_meta.py::test_urls",
                "tests/test_pkg.py::test_version",
            },
        ),
    ],
)
def test_descriptive_metadata_counts_for_the_tests_reading_installed_metadata(
    after: str, selected_tests: set[str]
) -> None:
    new = {
        **METADATA_READERS,
        "pyproject.toml": METADATA_READERS["pyproject.toml"].replace('classifiers = ["A"]', after),
    }
    selection = select_change(METADATA_READERS, new)
    assert set(selection.tests) == selected_tests
    assert "installed metadata" in selection.reasons["tests/test_meta.py::test_urls"]
    # The version stays configuration: a library may read it for the project (click's version_option()).
    bumped = {**METADATA_READERS, "pyproject.toml": METADATA_READERS["pyproject.toml"].replace("1.0", "1.1")}
    assert build(bumped).select([ChangedPath("pyproject.toml")], old_index=build(METADATA_READERS)).run_all


def test_a_version_file_counts_for_the_code_naming_it_and_the_readers_of_installed_metadata() -> None:
    """funcy's release commits change ``VERSION``, which setup.py reads (``open("VERSION")``) and the package
    does not: every test ran (``data-file``). An install writes it into the metadata: its readers count."""
    old = {
        **METADATA_READERS,
        "VERSION": "1.0\n",
        "setup.py": "from setuptools import setup\n\nsetup(version=open('VERSION').read().strip())\n",
    }
    new = {**old, "VERSION": "1.1\n"}
    assert set(select_change(old, new).tests) == {"tests/test_meta.py::test_urls", "tests/test_pkg.py::test_version"}
    reading = {
        **old,
        "app/version.py": "import os\n\nVERSION = open(os.path.join(os.path.dirname(__file__), '..', 'VERSION')).read()\n",
        "tests/test_version.py": "from app.version import VERSION\n\n\ndef test_v():\n    assert VERSION\n",
    }
    assert "tests/test_version.py::test_v" in select_change(reading, {**reading, "VERSION": "1.1\n"}).tests


def test_shell_scripts_and_merge_leftovers_count_for_the_tests_naming_them() -> None:
    """funcy's releases add and drop ``publish.sh`` and ship ``tests/test_decorators.py.orig``: every test ran
    (``data-file``). A script runs when a command names it, or from a Makefile's recipe (a test running ``make``)."""
    files = {
        **APP,
        "tests/test_script.py": "import subprocess\n\n\ndef test_script():\n    subprocess.run(['bash', 'publish.sh'])\n",
        "tests/test_make.py": "import subprocess\n\n\ndef test_make():\n    subprocess.run(['make', 'check'])\n",
    }
    assert selected(files, ChangedPath("publish.sh")) == {
        "tests/test_script.py::test_script",
        "tests/test_make.py::test_make",
    }
    assert selected(files, ChangedPath("tests/test_models.py.orig")) == set()


def test_a_parse_error_in_a_file_pytest_or_code_may_import_runs_everything() -> None:
    selection = build({**APP, "tests/test_broken.py": "def oops(:\n"}).select([body("app/util.py", "app.util.slug")])
    assert selection.run_all and "tests/test_broken.py" in selection.reason
    # A script no code imports and pytest does not collect is data to the tests (test_python_data_files.py).
    selection = build({**APP, "scripts/broken.py": "def oops(:\n"}).select([body("app/util.py", "app.util.slug")])
    assert not selection.run_all


def test_options_the_analysis_does_not_model_run_everything() -> None:
    selection = build({**APP, "pytest.ini": "[pytest]\naddopts = --rootdir=.\n"}).select(
        [body("app/util.py", "app.util.slug")]
    )
    assert selection.run_all and "--rootdir" in selection.reason
    selection = build(APP).select([body("app/util.py", "app.util.slug")], args=("--doctest-glob=*.rst",))
    assert selection.run_all and "--doctest-glob" in selection.reason


# A project whose modules carry doctests: pytest --doctest-modules collects each module's examples.
DOCS: dict[str, str] = {
    "app/__init__.py": "",
    "app/text.py": '''
        """Text helpers.

        >>> from app.text import shout
        >>> shout("a")
        'A!'
        """
        from app import helper


        def slug(text):
            """The slug of ``text``.

            >>> slug("A B")
            'a-b'
            """
            return helper.clean(text).replace(" ", "-")


        def shout(text):
            return text.upper() + "!"


        def plain(text):
            """No examples here."""
            return text


        class Box:
            def size(self):
                """
                >>> Box().size()
                0
                """
                return 0
    ''',
    "app/helper.py": """
        def clean(text):
            return text.lower()


        def other():
            return 1
    """,
    "app/numbers.py": """
        from app import more

        __test__ = {"unrelated": ">>> more.unrelated()\\n1\\n"}
    """,
    "app/more.py": """
        def unrelated():
            return 1


        def untested():
            return 2
    """,
    "tests/test_plain.py": """
        from app.helper import other

        def test_other():
            assert other() == 1
    """,
}
DOCS = {path: dedent(text).lstrip("\n") for path, text in DOCS.items()}


@pytest.mark.parametrize("how", ["addopts", "args"])
def test_doctests_are_selected_by_the_code_their_examples_and_docstrings_reach(how: str) -> None:
    files = {**DOCS, "pytest.ini": "[pytest]\naddopts = --doctest-modules\n"} if how == "addopts" else DOCS
    args = ("--doctest-modules", "app", "tests") if how == "args" else ()
    index = build(files)
    assert index.doctests == ("app/numbers.py", "app/text.py")  # one per module with examples

    def chosen(change: ChangedEntity, old: Mapping[str, str] | None = None) -> set[str]:
        selection = index.select([change], old_index=build(old) if old is not None else None, args=args)
        assert not selection.run_all, selection.reason
        return set(selection.tests)

    assert chosen(body("app/helper.py", "app.helper.clean")) == {"app/text.py"}  # slug's example calls it
    assert chosen(body("app/helper.py", "app.helper.other")) == {"tests/test_plain.py::test_other"}
    assert chosen(body("app/text.py", "app.text.shout")) == {"app/text.py"}  # the module docstring's example
    assert chosen(body("app/text.py", "app.text.Box.size")) == {"app/text.py"}  # a method's docstring
    assert chosen(body("app/text.py", "app.text.plain")) == set()  # a docstring without examples
    assert chosen(body("app/more.py", "app.more.unrelated")) == {"app/numbers.py"}  # a __test__ string
    assert chosen(body("app/more.py", "app.more.untested")) == set()
    module_doc = files["app/text.py"].replace("Text helpers.", "Helpers for text.")
    assert chosen(ChangedEntity("app/text.py", "app.text", "modified"), old={**files, "app/text.py": module_doc}) == {
        "app/text.py"
    }  # the module's docstring, named by its __doc__
    # Without --doctest-modules no doctest is an item.
    assert "app/text.py" not in build(DOCS).select([body("app/helper.py", "app.helper.clean")]).tests


def test_paths_in_the_stage_args_are_all_that_is_collected() -> None:
    """pytest collects only the paths named on its command line: ``--doctest-modules app`` runs app's doctests and
    no test of tests/, so selection neither selects nor counts those (the totals are the run's own)."""
    index = build(DOCS)
    everything = index.select([body("app/helper.py", "app.helper.other")], args=("--doctest-modules",))
    assert everything.tests == ("tests/test_plain.py::test_other",) and everything.total == 3
    only_app = index.select([body("app/helper.py", "app.helper.other")], args=("--doctest-modules", "app"))
    assert only_app.tests == () and only_app.total == 2  # app/numbers.py, app/text.py
    assert index.select([body("app/helper.py", "app.helper.clean")], args=("--doctest-modules", "app")).tests == (
        "app/text.py",
    )
    one_file = index.select([body("app/helper.py", "app.helper.other")], args=("-q", "tests/test_plain.py::test_other"))
    assert one_file.tests == ("tests/test_plain.py::test_other",) and one_file.total == 1
    # A fallback runs what the command collects, too.
    broken = build({**DOCS, "app/broken.py": "def oops(:\n"}).select([], args=("--doctest-modules", "app"))
    assert broken.run_all and broken.tests == ("app/numbers.py", "app/text.py")
    # A word that may be an option's value restricts nothing: the whole collection holds what pytest runs.
    for args in (("-k", "app"), ("--some-plugin-option", "app"), ("--doctest-modules", "nowhere"), ("--pyargs", "app")):
        assert (
            index.select([body("app/helper.py", "app.helper.other")], args=args).total
            == 1 + ("--doctest-modules" in args) * 2
        ), args


def test_paths_in_the_stage_args_outside_testpaths_run_everything_and_say_so() -> None:
    """The index collects under testpaths; a stage naming another directory collects tests the index never saw."""
    files = {**APP, "pytest.ini": "[pytest]\ntestpaths = tests\n", "checks/test_extra.py": "def test_extra(): pass\n"}
    selection = build(files).select([body("app/util.py", "app.util.slug")], args=("checks",))
    assert selection.run_all and selection.rule == "pytest-option" and "checks" in selection.reason
    assert not build(files).select([body("app/util.py", "app.util.slug")], args=("tests",)).run_all


def test_classes_deriving_from_outside_classes_have_every_method_reachable() -> None:
    files = {
        "app/server.py": """
            import socketserver

            class Handler(socketserver.BaseRequestHandler):
                def handle(self):
                    return self.reply()

                def reply(self):
                    return 1

                def setup_extra(self):
                    return 2
        """,
        "tests/test_server.py": "from app.server import Handler\n\ndef test_server(): assert Handler\n",
    }
    assert selected(files, body("app/server.py", "app.server.Handler.setup_extra")) == {
        "tests/test_server.py::test_server"
    }


def test_no_change_selects_nothing_and_unknown_entities_fall_back_to_their_parent() -> None:
    assert build(APP).select([]) == Selection(tests=(), total=3)
    assert selected(APP, body("app/models.py", "app.models.User.save.<lambda>")) == {"tests/test_models.py::test_save"}
    unknown = build(APP).select([body("app/nowhere.py", "app.nowhere.f")])
    assert unknown.run_all and "app/nowhere.py" in unknown.reason


# -- missed failures ----------------------------------------------------------------------------


def test_missed_failures_are_failures_of_the_full_run_that_were_not_selected() -> None:
    selection = Selection(tests=("t.py::test_a", "t.py::TestK"))
    full = {
        "t.py::test_a[1]": "failed",
        "t.py::test_b": "failed",
        "t.py::TestK::test_c": "error",
        "t.py::test_d": "passed",
        "t.py::test_e": "skipped",
        "u.py::test_f": "error",
    }
    assert missed_failures(selection, full) == ("t.py::test_b", "u.py::test_f")
    assert missed_failures(Selection(tests=(), run_all=True, reason="x"), full) == ()


# -- the cache ----------------------------------------------------------------------------------


def test_an_update_reparses_only_the_changed_files() -> None:
    files = small()
    cache = FactCache()
    index = TestIndex.build(files, cache=cache)
    parsed = cache.misses
    edited, path, _ = micro_edit(files, seed=1)
    again = TestIndex.update(index, edited)
    assert cache.misses == parsed + 1 and again.cache is cache
    assert again.tests == index.tests


def test_file_facts_never_raise() -> None:
    assert file_facts("x.py", b"\xff\xfe").error
    assert file_facts("x.py", b"x = (" * 300 + b")" * 300).error
    assert not file_facts("x.py", b"a = 1" + b" + 1" * 2000 + b"\n").error  # deep, but Python parses it


# -- against the generated project --------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _project(seed: int) -> tuple[dict[str, bytes], TestIndex, CallGraph]:
    files = small(seed=seed)
    return files, TestIndex.build(files), call_graph(files)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 3), which=st.integers(0, 10_000))
def test_every_test_that_calls_a_changed_function_is_selected(seed: int, which: int) -> None:
    """The static invariant, against the generator's ground-truth call graph."""
    files, index, graph = _project(seed)
    qualname = sorted(graph.functions)[which % len(graph.functions)]
    path = graph.paths[qualname]
    narrow = index.select([body(path, qualname)])
    assert set(graph.tests_reaching(qualname)) <= set(narrow.tests)
    # A coarser description of the same change never selects less.
    assert set(narrow.tests) <= set(index.select([ChangedPath(path)]).tests)


def _run_pytest(root: Path, nodeids: tuple[str, ...] = ()) -> dict[str, str]:
    """Run real pytest on a project; node id -> outcome, from its junit report."""
    report = root / "report.xml"
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-o",
            "junit_family=xunit1",
            "--junitxml",
            str(report),
            *nodeids,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        file, classname, name = case.get("file", ""), case.get("classname", ""), case.get("name", "")
        classes = classname[len(file[:-3].replace("/", ".")) :].strip(".")
        nodeid = "::".join([file, *(c for c in classes.split(".") if c), name])
        tags = {child.tag for child in case}
        outcomes[nodeid] = "failed" if "failure" in tags else "error" if "error" in tags else "passed"
    return outcomes


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_selection_never_misses_a_failure_that_the_full_suite_catches(seed: int, tmp_path: Path) -> None:
    base, old, _ = _project(0)
    fault = inject_fault(base, seed=seed)
    changed = [p for p in fault.files if fault.files[p] != base.get(p)]
    changes = changes_from_diff(diff_files({p: base[p] for p in changed}, {p: fault.files[p] for p in changed}))
    selection = TestIndex.update(old, fault.files).select(changes, old_index=old)
    write_files(fault.files, tmp_path)
    full = _run_pytest(tmp_path)
    failed = {nodeid for nodeid, outcome in full.items() if outcome != "passed"}
    assert failed, "the fault must break some test"
    assert missed_failures(selection, full) == ()
    assert not selection.run_all and len(selection.tests) < selection.total
    if seed == 0:  # the selected node ids run as such, and show the same failures
        part = _run_pytest(tmp_path, selection.tests)
        assert {n for n, o in part.items() if o != "passed"} == failed


def test_a_local_is_typed_by_its_constructor_only_when_nothing_else_binds_it() -> None:
    files = {
        "app/kinds.py": "class A:\n    def go(self):\n        return 1\n\nclass B:\n    def go(self):\n        return 2\n",
        "tests/test_typed.py": "from app.kinds import A\n\ndef test_typed():\n    a = A()\n    assert a.go() == 1\n",
        "tests/test_param.py": """
            from app.kinds import A, B

            def use(x):
                x.go()
                x = A()
                return x.go()

            def test_param():
                assert use(B()) == 1
        """,
    }
    assert selected(files, body("app/kinds.py", "app.kinds.B.go")) == {"tests/test_param.py::test_param"}
    assert selected(files, body("app/kinds.py", "app.kinds.A.go")) == {
        "tests/test_typed.py::test_typed",
        "tests/test_param.py::test_param",
    }


def test_a_module_imported_through_a_path_the_code_adds_to_sys_path_is_found() -> None:
    files = {
        "tools/lint_rules.py": "def rule():\n    return 1\n",
        "tests/conftest.py": "import sys\nsys.path.insert(0, 'tools')\n",
        "tests/test_rules.py": "import lint_rules\n\ndef test_rule():\n    assert lint_rules.rule() == 1\n",
        "tests/test_json.py": "import json\n\ndef test_json(): json.dumps(1)\n",
        "app/json.py": "def dumps():\n    return 0\n",  # a standard module's name: not matched
    }
    assert selected(files, body("tools/lint_rules.py", "tools.lint_rules.rule")) == {"tests/test_rules.py::test_rule"}
    assert selected(files, body("app/json.py", "app.json.dumps")) == set()


def test_on_the_benchmark_sized_project_selection_is_sound_and_small() -> None:
    files = generate()
    index = TestIndex.build(files)
    graph = call_graph(files)
    reaching: dict[str, set[str]] = {}
    for nodeid in graph.tests:
        for function in graph.reached_by(nodeid):
            reaching.setdefault(function, set()).add(nodeid)
    sizes = []
    for qualname in sorted(graph.functions)[::7]:
        selection = index.select([body(graph.paths[qualname], qualname)])
        assert reaching[qualname] <= set(selection.tests), qualname
        sizes.append(len(selection.tests))
    assert len(index.tests) >= 500 and sum(sizes) / len(sizes) < len(index.tests) / 10


def test_a_test_that_may_run_any_code_is_selected_for_code_changes_only() -> None:
    files = {**APP, "tests/test_dyn.py": "import pickle\n\ndef test_roundtrip():\n    assert pickle.loads(b'')\n"}
    assert "tests/test_dyn.py::test_roundtrip" in selected(files, body("app/util.py", "app.util.unused"))
    assert selected(files, ChangedPath("docs/guide.md"), ChangedPath(".github/workflows/ci.yml")) == set()


def test_unpickling_what_the_same_expression_pickled_may_run_only_what_copying_runs() -> None:
    round_trip = """
        import pickle
        from pickle import dumps, loads
        from app.models import User

        def test_pickle():
            assert pickle.loads(pickle.dumps(User("a"))).name == "a"

        def test_from_import():
            assert loads(dumps(User("a"))).name == "a"
    """
    files = {**APP, "tests/test_pickle.py": round_trip}
    assert selected(files, body("app/util.py", "app.util.unused")) == set()
    assert {"tests/test_pickle.py::test_pickle", "tests/test_pickle.py::test_from_import"} <= selected(
        files, body("app/models.py", "app.models.User.__init__")
    )
    # Bytes from elsewhere may name any callable: still any code.
    other = round_trip.replace('pickle.dumps(User("a"))', 'bytes(User("a"))')
    assert "tests/test_pickle.py::test_pickle" in selected(
        {**APP, "tests/test_pickle.py": other}, body("app/util.py", "app.util.unused")
    )


LOCAL_ROUND_TRIP = """
    import pickle
    from unittest import mock
    from app.models import User
    from app.renamed import Renamed

    def roundtrip(obj):
        {body}

    def test_helper():
        assert roundtrip(User("a")).name == "a"

    def test_patched_name():
        data = pickle.dumps(User("a"))
        assert pickle.loads(data).name == "a"
        with mock.patch("app.models.User", Renamed):
            assert pickle.loads(data).name == "renamed"
"""
RENAMED = """
    class Renamed:
        def __setstate__(self, state):
            self.name = "renamed"
"""


DUMPS = "data = pickle.dumps(obj)\n        "


@pytest.mark.parametrize(
    ("code", "bounded"),
    [
        (DUMPS + "return pickle.loads(data)", True),
        ("for _ in range(2):\n            data = pickle.dumps(obj)\n        return pickle.loads(data)", True),
        (DUMPS + "return [pickle.loads(data) for _ in range(2)][0]", True),
        # Another binding, or a read that is not unpickling: the bytes may be anything.
        (DUMPS + "data = open('x', 'rb').read()\n        return pickle.loads(data)", False),
        (DUMPS + "data += b''\n        return pickle.loads(data)", False),
        (DUMPS + "if (data := obj.raw):\n            pass\n        return pickle.loads(data)", False),
        (DUMPS + "for data in obj.chunks:\n            pass\n        return pickle.loads(data)", False),
        (DUMPS + "with obj as data:\n            return pickle.loads(data)", False),
        (DUMPS + "del data\n        return pickle.loads(data)", False),
        (DUMPS + "return [pickle.loads(data) for data in obj.chunks][0]", False),
        (
            DUMPS + "try:\n            pass\n        except ValueError as data:\n            pass\n"
            "        return pickle.loads(data)",
            False,
        ),
        (DUMPS + "import data\n        return pickle.loads(data)", False),
        ("global data\n        " + DUMPS + "return pickle.loads(data)", False),
        (
            DUMPS + "def inner():\n            nonlocal data\n            data = b''\n        inner()\n"
            "        return pickle.loads(data)",
            False,
        ),
        (DUMPS + "return (lambda data: pickle.loads(data))(obj.raw)", False),
        (DUMPS + "return (lambda: pickle.loads(data))()", False),
        (DUMPS + "obj.keep(data)\n        return pickle.loads(data)", False),
        (DUMPS + "return pickle.loads(data), data", False),
        (DUMPS + "locals()['data'] = obj.raw\n        return pickle.loads(data)", False),
        (DUMPS + "return pickle.loads(*data)", False),
    ],
)
def test_unpickling_a_local_that_only_holds_a_pickle_of_the_function_may_run_only_what_copying_runs(
    code: str, bounded: bool
) -> None:
    """``data = pickle.dumps(x); pickle.loads(data)``, with ``data`` bound nowhere else and read by nothing else,
    means ``pickle.loads(pickle.dumps(x))``. The loads looks the class up by name: under ``mock.patch`` it makes a
    ``Renamed`` (its ``__setstate__`` runs), which the test reaches anyway, as the object the patch installs."""
    test = LOCAL_ROUND_TRIP.replace("{body}", code)
    files = {**APP, "app/renamed.py": RENAMED, "tests/test_pickle.py": test}
    unrelated = selected(files, body("app/util.py", "app.util.unused"))
    assert ("tests/test_pickle.py::test_helper" not in unrelated) is bounded, code
    assert "tests/test_pickle.py::test_patched_name" not in unrelated
    both = {"tests/test_pickle.py::test_helper", "tests/test_pickle.py::test_patched_name"}
    assert both <= selected(files, body("app/models.py", "app.models.User.__init__"))
    patched = selected(files, body("app/renamed.py", "app.renamed.Renamed.__setstate__"))
    assert "tests/test_pickle.py::test_patched_name" in patched
    assert ("tests/test_pickle.py::test_helper" not in patched) is bounded


def test_a_local_round_trip_under_a_patched_name_runs_the_patch_s_class(tmp_path: Path) -> None:
    """What the bounded round trip claims, run for real: the second load makes the patched-in class."""
    files = {
        **APP,
        "app/renamed.py": RENAMED,
        "tests/test_pickle.py": LOCAL_ROUND_TRIP.replace("{body}", DUMPS + "return pickle.loads(data)"),
    }
    write_files({p: dedent(t).encode() for p, t in files.items()}, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_pickle.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


POINTS = """
    class Point:
        def __init__(self, x):
            self.x = x

        def __setstate__(self, state):
            self.__dict__.update(state)
"""


def _point_pickle(protocol: int) -> bytes:
    """``pickle.dumps(app.points.Point(1))`` as real pickling writes it, without the fixture tree on sys.path."""
    package, module = types.ModuleType("app"), types.ModuleType("app.points")
    exec(dedent(POINTS), module.__dict__)  # noqa: S102 - the fixture's own source
    module.Point.__module__ = "app.points"
    with mock.patch.dict(sys.modules, {"app": package, "app.points": module}):
        return pickle.dumps(module.Point(1), protocol=protocol)


P0, P2, P5 = (repr(_point_pickle(protocol)) for protocol in (0, 2, 5))


@pytest.mark.parametrize(
    ("code", "bounded"),
    [
        (f"def test_load():\n    assert pickle.loads({P0}).x == 1", True),
        (f"def test_load():\n    data = {P5}\n    assert pickle.loads(data).x == 1", True),
        (
            f"@pytest.mark.parametrize(('data', 'x'), [({P0}, 1), pytest.param({P5}, 1, id='5')])\n"
            "@pytest.mark.slow\ndef test_load(data, x):\n    assert pickle.loads(data).x == x",
            True,
        ),
        (
            f"class TestLoad:\n    DATA = {P2}\n\n    @pytest.mark.parametrize('data', [DATA, {P0}])\n"
            "    def test_load(self, data):\n        assert pickle.loads(data).x == 1",
            True,
        ),
        (
            f"DATA = {P5}\n\n@pytest.mark.parametrize('data', [DATA])\ndef test_load(data):\n    pickle.loads(data)",
            True,
        ),
        # Globals outside the tree (or unknown), opcodes that cannot be bounded, bytes that are not a pickle.
        ("def test_load():\n    pickle.loads(b'cos\\ngetcwd\\n.')", False),
        ("def test_load():\n    pickle.loads(b'cnowhere\\nThing\\n.')", False),
        ("def test_load():\n    pickle.loads(b'cshutil\\nrmtree\\n.')", False),  # the tree's shutil.py is not it
        ("def test_load():\n    pickle.loads(b\"cbuiltins\\ngetattr\\n(capp.points\\nPoint\\nS'x'\\ntR.\")", False),
        ("def test_load():\n    pickle.loads(b'P1\\n.')", False),
        ("def test_load():\n    pickle.loads(b'\\x80\\x02\\x82\\x01.')", False),
        ("def test_load():\n    pickle.loads(b'not a pickle')", False),
        (f"def test_load():\n    pickle.loads({P0}, fix_imports=False)", False),
        # Values parametrize may not give as written, or names that may hold other bytes when read.
        (
            f"@pytest.mark.parametrize('data', [{P0}], indirect=True)\ndef test_load(data):\n    pickle.loads(data)",
            False,
        ),
        (f"@pytest.mark.parametrize('data', [bytes({P0})])\ndef test_load(data):\n    pickle.loads(data)", False),
        (
            f"@pytest.mark.parametrize('data', [{P0}])\ndef load(data):\n    pickle.loads(data)\n\ndef test_load():\n    load(b'')",
            False,
        ),
        (
            f"@mock.patch('app.util.slug')\n@pytest.mark.parametrize('data', [{P0}])\n"
            "def test_load(slug, data):\n    pickle.loads(data)",
            False,
        ),
        (
            f"class TestLoad:\n    @pytest.mark.parametrize('data', [DATA])\n    def test_load(self, data):\n"
            f"        pickle.loads(data)\n\n    DATA = {P0}",
            False,
        ),
        (
            f"class TestLoad:\n    DATA = {P0}\n    DATA = DATA + b''\n\n    @pytest.mark.parametrize('data', [DATA])\n"
            "    def test_load(self, data):\n        pickle.loads(data)",
            False,
        ),
        (
            f"@mock.patch('app.util.slug')\nclass TestLoad:\n    @pytest.mark.parametrize('data', [{P0}])\n"
            "    def test_load(self, data):\n        pickle.loads(data)",
            False,
        ),
        (
            f"DATA = {P5}\n\ndef set_data():\n    global DATA\n    DATA = b''\n\n"
            "@pytest.mark.parametrize('data', [DATA])\ndef test_load(data):\n    pickle.loads(data)",
            False,
        ),
        (
            f"DATA = {P5}\nglobals()['DATA'] = b''\n\n"
            "@pytest.mark.parametrize('data', [DATA])\ndef test_load(data):\n    pickle.loads(data)",
            False,
        ),
        (f"DATA = {P5}\n\ndef test_load():\n    pickle.loads(DATA)", False),
        (
            f"@pytest.mark.parametrize('data', [{P0}])\ndef test_load(data):\n    pickle.loads(data)\n    data.hex()",
            False,
        ),
    ],
)
def test_unpickling_constant_bytes_runs_the_globals_the_pickle_names(code: str, bounded: bool) -> None:
    """A constant pickle (a literal, a variable bound to one, ``parametrize`` values) runs what it names: its
    classes (their ``__setstate__``) and functions, if the tree has them; anything else may run any code."""
    test = "import pickle\nfrom unittest import mock\n\nimport pytest\n\n\n" + code + "\n"
    files = {**APP, "app/points.py": POINTS, "shutil.py": "def rmtree():\n    pass\n", "tests/test_load.py": test}
    loads = {t for t in build(files).tests if t.endswith("::test_load")}
    assert len(loads) == 1, code
    unrelated = selected(files, body("app/util.py", "app.util.unused"))
    assert loads.isdisjoint(unrelated) is bounded, code
    assert loads <= selected(files, body("app/points.py", "app.points.Point.__setstate__")), code


def test_copying_or_pickling_a_list_subclass_reaches_its_append_and_extend() -> None:
    """``copy.copy`` fills the copy of a list subclass with ``append``, unpickling with ``extend``: methods no
    caller names, found by the language like dunders."""
    bag = """
        class Bag(list):
            def append(self, item):
                super().append(item)

            def extend(self, items):
                for item in items:
                    self.append(item)
    """
    test = """
        import copy
        import pickle
        from app.bag import Bag

        def test_copy():
            assert copy.copy(Bag([1])) == [1]

        def test_pickle():
            assert pickle.loads(pickle.dumps(Bag([1]))) == [1]
    """
    files = {**APP, "app/bag.py": bag, "tests/test_bag.py": test}
    both = {"tests/test_bag.py::test_copy", "tests/test_bag.py::test_pickle"}
    assert both <= selected(files, body("app/bag.py", "app.bag.Bag.append"))
    assert both <= selected(files, body("app/bag.py", "app.bag.Bag.extend"))


def test_a_callable_returned_for_copy_or_pickle_to_call_counts_as_called() -> None:
    """``copy.copy(obj)`` calls what ``obj.__reduce__`` returns: ``eval`` or ``getattr`` there run any code or
    read any attribute, and a string returned names a global of the module."""
    for reduce, change in (
        ("return (eval, (self.code,))", body("app/util.py", "app.util.unused")),
        ("return (getattr, (self.owner, self.code))", body("app/util.py", "app.util.unused")),
        ('return "helper"', body("app/boxes.py", "app.boxes.helper")),
    ):
        boxes = f"""
            def helper():
                return 1

            class Box:
                def __init__(self, owner, code):
                    self.owner, self.code = owner, code

                def __reduce__(self):
                    {reduce}
        """
        test = """
            import copy
            from app import util
            from app.boxes import Box

            def test_copy():
                assert copy.copy(Box(util, "unused"))
        """
        files = {**APP, "app/boxes.py": boxes, "tests/test_copy.py": test}
        assert "tests/test_copy.py::test_copy" in selected(files, change), reduce


READS = """
    from app import util

    class Box:
        def __init__(self, x):
            self.x = x

        @property
        def doubled(self):
            return self.x * 2

    def look(obj, name):
        {body}
"""


@pytest.mark.parametrize(
    ("code", "stays"),
    [
        ("return hasattr(obj, name)", True),
        ("return getattr(obj, name, None) is not None", True),
        ("return isinstance(getattr(obj, name), int)", True),
        ("return getattr(obj, name) in (1, 2) or not getattr(obj, name)", True),
        (
            "value = getattr(obj, name)\n        while isinstance(value, Box):\n            value = getattr(value, name)\n"
            "        return value.x is None",
            True,
        ),
        ("return getattr(obj, name)", False),
        ("return getattr(obj, name)()", False),
        ("return [getattr(obj, name)]", False),
        ("return getattr(obj, name) == Box(1)", False),
        ("value = getattr(obj, name)\n        return value", False),
        ("value = getattr(obj, name)\n        return (lambda: value)()", False),
        ("value = getattr(obj, name)\n        return str(value)", False),
        ("value = getattr(obj, name)\n        return locals()", False),
        ("return getattr(obj, name) or None", False),
        # seen to be an instance of a class that holds no code (a string, a number, an ast node): it may go anywhere
        (
            "value = getattr(obj, name)\n        if isinstance(value, str):\n            return value\n        return None",
            True,
        ),
        (
            "value = getattr(obj, name)\n        if isinstance(value, (str, int)) and value:\n            return [value]",
            True,
        ),
        ("value = getattr(obj, name)\n        return value if isinstance(value, str) else None", True),
        ("value = getattr(obj, name)\n        return isinstance(value, bytes) and value.upper()", True),
        (
            "value = getattr(obj, name)\n        for item in value:\n            if isinstance(item, str):\n"
            "                return item",
            True,
        ),
        ("value = getattr(obj, name)\n        for item in value:\n            return item", False),
        ("value = getattr(obj, name)\n        if isinstance(value, list):\n            return value", False),
        ("value = getattr(obj, name)\n        if isinstance(value, (str, list)):\n            return value", False),
        ("value = getattr(obj, name)\n        if not isinstance(value, str):\n            return value", False),
        ("value = getattr(obj, name)\n        if isinstance(value, str) or name:\n            return value", False),
        (
            "value = getattr(obj, name)\n        if isinstance(value, str):\n            pass\n        else:\n"
            "            return value",
            False,
        ),
        (
            "value = getattr(obj, name)\n        if isinstance(value, str):\n            value = getattr(obj, name)\n"
            "            return value",
            False,
        ),
        (
            "str = list\n        value = getattr(obj, name)\n        if isinstance(value, str):\n            return value",
            False,
        ),
    ],
)
def test_a_value_read_under_a_computed_name_that_stays_put_reaches_only_what_reading_runs(
    code: str, stays: bool
) -> None:
    """``getattr(o, name)`` may return any function; unless the value can leave (returned, called, stored, handed
    to another object's code), the read only runs getters: properties, ``__getattr__`` & co."""
    test = """
        from app import util
        from app.reads import Box, look

        def test_look():
            assert look(Box(1), "dou" + "bled") in (True, False, None, 2)
    """
    files = {**APP, "app/reads.py": READS.replace("{body}", code), "tests/test_reads.py": test}
    unrelated = selected(files, body("app/util.py", "app.util.unused"))
    assert ("tests/test_reads.py::test_look" not in unrelated) is stays, code
    assert "tests/test_reads.py::test_look" in selected(files, body("app/reads.py", "app.reads.Box.doubled"))


def test_the_ast_nodes_a_walker_reads_under_their_field_names_reach_no_test_of_another_file() -> None:
    """pyflakes' ``iter_child_nodes`` yields ``getattr(node, name)`` for every field of an AST node, but only what
    ``isinstance(field, ast.AST)`` holds for (items of lists likewise): no function of the tree leaves it, so a
    change to a test method reaches the tests of its own file only, not every test walking a tree."""
    walker = """
        import ast

        def iter_child_nodes(node):
            for name in node.__class__._fields:
                field = getattr(node, name, None)
                if isinstance(field, ast.AST):
                    yield field
                elif isinstance(field, list):
                    for item in field:
                        if isinstance(item, ast.AST):
                            yield item

        def count(source):
            return sum(1 for _ in iter_child_nodes(ast.parse(source)))
    """
    first = """
        import unittest

        from app.walker import count

        SOURCE = "z = 3"

        class TestFirst(unittest.TestCase):
            def test_one(self):
                assert count("x = 1") == 1

            def test_two(self):
                assert count("y = 2") == 1
    """
    second = """
        from app.walker import count
        from tests.test_first import SOURCE

        def test_three():
            assert count(SOURCE) == 1
    """
    files = {
        **APP,
        "tests/__init__.py": "",
        "app/walker.py": walker,
        "tests/test_first.py": first,
        "tests/test_second.py": second,
    }
    assert selected(files, body("tests/test_first.py", "tests.test_first.TestFirst.test_two")) == {
        "tests/test_first.py::TestFirst::test_two"
    }
    assert selected(files, body("app/walker.py", "app.walker.iter_child_nodes")) == {
        "tests/test_first.py::TestFirst::test_one",
        "tests/test_first.py::TestFirst::test_two",
        "tests/test_second.py::test_three",
    }
    escaping = files | {"app/walker.py": dedent(walker).replace("if isinstance(field, ast.AST):", "if field:")}
    assert "tests/test_second.py::test_three" in selected(
        escaping, body("tests/test_first.py", "tests.test_first.TestFirst.test_two")
    )


def test_an_isinstance_hook_of_the_tree_may_call_what_a_computed_read_returned() -> None:
    """``isinstance(v, K)`` hands ``v`` to ``type(K).__instancecheck__``: where the tree defines one, a read that
    stays put may still be called there."""
    hook = """
        class Meta(type):
            def __instancecheck__(cls, value):
                return bool(value())

        class Checked(metaclass=Meta):
            pass
    """
    reads = READS.replace("{body}", "return isinstance(getattr(obj, name), Checked)").replace(
        "from app import util", "from app import util\n    from app.hooks import Checked"
    )
    test = """
        from app import util
        from app.reads import Box, look

        def test_look():
            assert look(util, "un" + "used")
    """
    files = {**APP, "app/hooks.py": hook, "app/reads.py": reads, "tests/test_reads.py": test}
    assert "tests/test_reads.py::test_look" in selected(files, body("app/util.py", "app.util.unused"))


def test_writing_the_module_namespace_reads_nothing_of_it() -> None:
    """``globals()[name] = value`` (a lazy ``__getattr__`` caching what it loaded) does not reach the module's names;
    reading ``globals()`` does."""
    lazy = """
        from app import util

        def __getattr__(name):
            value = util.slug(name)
            globals()[name] = value
            return value

        def helper():
            return 1
    """
    test = """
        import app.lazy

        def test_lazy():
            assert app.lazy.something == "something"
    """
    files = {**APP, "app/lazy.py": lazy, "tests/test_lazy.py": test}
    assert selected(files, body("app/lazy.py", "app.lazy.helper")) == set()
    assert "tests/test_lazy.py::test_lazy" in selected(files, body("app/util.py", "app.util.slug"))
    reading = {**files, "app/lazy.py": lazy.replace("globals()[name] = value", "globals()[name]")}
    assert selected(reading, body("app/lazy.py", "app.lazy.helper")) == {"tests/test_lazy.py::test_lazy"}


def test_taking_modules_out_of_sys_modules_and_back_reads_nothing_of_them() -> None:
    """A fixture that hides a module (pops it from ``sys.modules``, blocks it, puts it back) reaches no attribute of
    any module: a module object read from ``sys.modules`` is an object like another, read by name (a computed
    name or its ``__dict__``: any attribute)."""
    hide = """
        import sys

        def pop_modules(prefix):
            popped = {}
            for name in list(sys.modules):
                if name.startswith(prefix):
                    popped[name] = sys.modules.pop(name)
            return popped

        def hidden(prefix):
            popped = pop_modules(prefix)
            sys.modules[prefix] = None
            try:
                return sys.modules.get(prefix) is None
            finally:
                sys.modules.pop(prefix, None)
                sys.modules.update(popped)
    """
    test = """
        from app import hide, util

        def test_hidden():
            assert hide.hidden(util.slug("JSON"))
    """
    files = {**APP, "app/hide.py": hide, "tests/test_hide.py": test}
    assert selected(files, body("app/util.py", "app.util.unused")) == set()
    assert selected(files, body("app/models.py", "app.models.User.rename")) == set()
    reading = {**files, "app/hide.py": hide.replace("sys.modules.get(prefix) is None", "sys.modules[prefix].__dict__")}
    assert selected(reading, body("app/util.py", "app.util.unused")) == {"tests/test_hide.py::test_hidden"}


def test_an_instances_own_attributes_read_through_vars_reach_no_other_attribute() -> None:
    """``vars(self)`` in an ordinary method is ``self.__dict__``: what the instance stored, not every attribute of
    every object (``vars(cls)`` in a classmethod, or ``vars(x)`` of an unknown object, is a namespace: any)."""
    state = """
        class Point:
            def __init__(self, x):
                self.x = x

            def state(self):
                return {k: v for k, v in vars(self).items() if not k.startswith("_")}
    """
    test = """
        from app import state, util

        def test_state():
            assert state.Point(util.slug("A")).state() == {"x": "a"}
    """
    files = {**APP, "app/state.py": state, "tests/test_state.py": test}
    assert selected(files, body("app/util.py", "app.util.unused")) == set()
    unknown = {**files, "app/state.py": state.replace("vars(self)", "vars(self.x)")}
    assert selected(unknown, body("app/util.py", "app.util.unused")) == {"tests/test_state.py::test_state"}


def test_a_namespace_read_under_a_constant_key_reads_that_name_and_a_membership_test_reads_none() -> None:
    """A sentinel factory called at import time, reading its caller's module name from the frame and checking
    it in ``sys.modules`` (and a descriptor writing into an instance's ``__dict__``), reaches no other code:
    ``ns["name"]`` and ``ns.get("name")`` read that one name, ``key in sys.modules`` hands no module out,
    ``obj.__dict__[key] = value`` reads nothing. A computed key still reads any name."""
    sentinel = """
        import sys

        def make(name):
            frame = sys._getframe(1)
            module = frame.f_globals.get("__name__")
            if module not in sys.modules:
                raise ValueError(name)
            return sys._getframe(0).f_globals["Box"](module)

        class Box:
            def __init__(self, value):
                self.value = value

        class cached:
            def __init__(self, func):
                self.func = func

            def __get__(self, obj, objtype=None):
                value = obj.__dict__[self.func.__name__] = self.func(obj)
                return value
    """
    use = """
        from app.sentinel import make, cached

        MISSING = make("missing")

        def helper():
            return 2

        class Thing:
            def other(self):
                return 3
    """
    test = "from app import use\n\ndef test_use():\n    assert use.MISSING\n"
    files = {"app/__init__.py": "", "app/sentinel.py": sentinel, "app/use.py": use, "tests/test_use.py": test}
    assert selected(files, body("app/use.py", "app.use.helper")) == set()
    assert selected(files, body("app/use.py", "app.use.Thing.other")) == set()
    # The name read is reached: Box (and what constructing it runs).
    assert selected(files, body("app/sentinel.py", "app.sentinel.Box.__init__")) == {"tests/test_use.py::test_use"}
    computed = {**files, "app/sentinel.py": sentinel.replace('.get("__name__")', '.get("__" + "name__")')}
    assert selected(computed, body("app/use.py", "app.use.helper")) == {"tests/test_use.py::test_use"}


REFLECTION = {
    "setattr": """
        from app import util

        class Box:
            @property
            def label(self):
                return self._label

            @label.setter
            def label(self, value):
                self._label = util.slug(value)

        def fill(box, name, value):
            setattr(box, name, value)
            return box

        def run():
            return fill(Box(), "lab" + "el", "X").label
    """,
    "loop": """
        from app import util

        def run():
            for name in ("slug",):
                return getattr(util, name)("X")
    """,
    "base": """
        from app import util

        class Base:
            def __enter__(self):
                return util.slug("X")

            def __exit__(self, *exc):
                return None

        class Sub(Base):
            pass

        def run():
            return "x"

        def run_sub():
            with Sub() as value:
                return value
    """,
    "tzinfo": """
        import datetime

        from app import util

        class Zone(datetime.tzinfo):
            def utcoffset(self, dt):
                return datetime.timedelta(0)

            def state(self):
                return dict(vars(self))

        def run():
            return Zone().state() or util.slug("X")
    """,
    "frame": """
        import sys

        from app import util

        def caller():
            frame = sys._getframe(1)
            while frame.f_back is not None:
                frame = frame.f_back
            return frame.f_globals.get("__name__")

        def run():
            return caller() and util.slug("X")
    """,
}


@pytest.mark.parametrize("way", sorted(REFLECTION))
def test_reflection_the_analysis_can_bound_reads_only_what_it_names(way: str) -> None:
    """Reflection that names what it reads selects the tests of what it names, not every attribute: ``setattr``
    under a computed name runs what writing runs (a property's setter), ``getattr`` over a loop of literal names
    reads those names, naming a base class in a class statement does not use it (using the subclass does), an
    instance's ``vars(self)`` of a class with a known outside base (``datetime.tzinfo``) holds what it stored,
    ``frame.f_globals.get("__name__")`` reads one name."""
    test = """
        from app import reflect

        def test_run():
            assert reflect.run()
    """
    files = {**APP, "app/reflect.py": REFLECTION[way], "tests/test_reflect.py": test}
    assert selected(files, body("app/util.py", "app.util.unused")) == set()
    mine = {"tests/test_reflect.py::test_run"}
    if way == "base":
        assert selected(files, body("app/util.py", "app.util.slug")) & mine == set()
        files["tests/test_reflect.py"] = test.replace("reflect.run()", "reflect.run_sub()")
    assert selected(files, body("app/util.py", "app.util.slug")) & mine == mine


@pytest.mark.parametrize("call", ["files(name)", 'files("app.plugins")', 'get_data(name, "x.txt")'])
def test_reading_a_packages_resources_imports_the_package(call: str) -> None:
    """``importlib.resources.files(name)`` / ``pkgutil.get_data(name, …)`` import the package they name: its
    ``__init__`` runs, so a change to its module code selects the test (a computed name: any module)."""
    loader = f"""
        from importlib.resources import files
        from pkgutil import get_data

        def load(name):
            return {call}
    """
    old = {
        **APP,
        "app/loader.py": loader,
        "app/plugins/__init__.py": "from app import util\n\nNAMES = [util.slug('A')]\n",
        "tests/test_loader.py": "from app import loader\n\ndef test_load():\n    assert loader.load('app.' + 'plugins')\n",
    }
    new = {**old, "app/plugins/__init__.py": "from app import util\n\nNAMES = [util.slug('B')]\n"}
    assert "tests/test_loader.py::test_load" in select_change(old, new).tests
    own = {
        **old,
        "app/loader.py": loader.replace(call, call.replace("name", "__name__").replace('"app.plugins"', "__name__")),
    }
    assert (
        "tests/test_loader.py::test_load"
        not in select_change(own, {**new, "app/loader.py": own["app/loader.py"]}).tests
    )


PACKAGE = {
    "pkg/core.py": "def a():\n    return 1\n\ndef b():\n    return 2\n\ndef c():\n    return 3\n",
    "pkg/extra.py": "def e():\n    return 5\n",
    "tests/test_a.py": "from pkg import a\n\ndef test_a():\n    assert a() == 1\n",
    "tests/test_b.py": "import pkg\n\ndef test_b():\n    assert pkg.b() == 2\n",
    "tests/test_v.py": "import pkg\n\ndef test_v():\n    assert pkg.__version__\n",
    "tests/test_star.py": "from pkg import *\n\ndef test_star():\n    assert a()\n",
}
INIT = '"""Doc."""\nfrom .core import a, b\n__all__ = ["a", "b"]\n__version__ = "1.0"\n'


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (INIT.replace('"1.0"', '"1.1"'), {"test_v"}),
        # c added to the import and to __all__: a and b are bound as before, nothing reads c or __all__.
        (INIT.replace("a, b\n", "a, b, c\n").replace('"b"]', '"b", "c"]'), set()),
        (INIT.replace("from .core import a, b", "from .core import a, c as b"), {"test_b"}),  # b rebound
        (INIT.replace('"""Doc."""', '"""Doc, reworded."""'), set()),
        (
            INIT.replace("from .core import a, b", "from .core import b\nfrom .extra import e as a"),
            {"test_a", "test_b", "test_v", "test_star"},
        ),  # another module runs at import: every importer
        (INIT + 'print("imported")\n', {"test_a", "test_b", "test_v", "test_star"}),  # code that runs: every importer
        (INIT.replace("a, b\n", "a, b, zzz\n"), set()),  # raises ImportError: one importer shows it
        (INIT.replace('"1.0"', "1 / 0"), {"test_v"}),
        # Blocks of such statements under a plain condition or in a try: the names they bind.
        (INIT + "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from .core import c\n", set()),
        # What only type checkers see binds nothing at run time, even a name the tests reach.
        (INIT + "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .core import a\n", set()),
        (INIT + "import typing\n\nif typing.TYPE_CHECKING:\n    from .core import c as a\n", set()),
        (INIT + "TYPE_CHECKING = True\nif TYPE_CHECKING:\n    from .core import c as a\n", {"test_a", "test_star"}),
        (  # not typing's flag: a function, true
            INIT + "from typing import cast as TYPE_CHECKING\nif TYPE_CHECKING:\n    from .core import c as a\n",
            {"test_a", "test_star"},
        ),
        (
            INIT + "import os as typing\nif typing.TYPE_CHECKING:\n    from .core import c as a\n",
            {"test_a", "test_star"},
        ),
        (
            INIT.replace('__version__ = "1.0"', 'import sys\nif sys.version_info >= (3, 8):\n    __version__ = "1.1"'),
            {"test_v"},
        ),
        (
            INIT.replace(
                "from .core import a, b", "try:\n    from .core import a, b\nexcept ImportError:\n    a = b = None"
            ),
            {"test_a", "test_b", "test_star"},
        ),
        # Asking the interpreter what it is runs no code of the tree (funcy's IS_PYPY): the names bound.
        (INIT + "import platform\n\nIS_PYPY = platform.python_implementation() == 'PyPy'\n", set()),
        (INIT + "import platform\n\n__version__ = platform.python_version()\n", {"test_v"}),
        # A condition or a handler that calls code runs it at import: every importer.
        (INIT + "if print():\n    c = 1\n", {"test_a", "test_b", "test_v", "test_star"}),
        (INIT + "try:\n    c = 1\nexcept ValueError:\n    print()\n", {"test_a", "test_b", "test_v", "test_star"}),
    ],
)
def test_module_level_changes_select_the_tests_reaching_the_names_they_rebind(after: str, expected: set[str]) -> None:
    """And one test importing the module when none of those does: a changed statement may raise at import
    (``from .core import a, b, zzz``, ``__version__ = 1 / 0``), failing every importer."""
    old = {**PACKAGE, "pkg/__init__.py": INIT}
    new = {**PACKAGE, "pkg/__init__.py": after}
    found = selected(new, ChangedEntity("pkg/__init__.py", "pkg", "modified", ("body",)), old=old)
    names = {nodeid.rpartition("::")[2] for nodeid in found}
    if expected:
        assert names == expected
    else:
        assert len(names) == 1, names


MARKS = {
    "pkg/__init__.py": "from .marks import mark, note\n\nWORDS = (mark('a'),)\n",
    "pkg/marks.py": 'SEEN = []\n\n\ndef mark(word):\n    """Only marks it."""\n    if not word:\n        return None\n'
    "    return word\n\n\ndef note(word):\n    SEEN.append(word)\n    return word\n",
    "tests/test_words.py": "from pkg import WORDS\n\n\ndef test_words():\n    assert WORDS == ('a',)\n",
    "tests/test_seen.py": "from pkg.marks import SEEN\n\n\ndef test_seen():\n    assert SEEN == []\n",
}


@pytest.mark.parametrize(
    ("path", "old", "new", "qualname", "expected"),
    [
        # A constant built by calling a function of the tree that only computes a value: its readers.
        ("pkg/__init__.py", "(mark('a'),)", "(mark('a'), mark('b'))", "pkg", {"test_words"}),
        # A function that does more (here: appends to a list another test reads): every importer.
        ("pkg/__init__.py", "(mark('a'),)", "(note('a'),)", "pkg", {"test_words", "test_seen"}),
        # The function changed: it runs at import, so every importer.
        (
            "pkg/marks.py",
            "return word\n\n\ndef note",
            "return word * 2\n\n\ndef note",
            "pkg.marks.mark",
            {"test_words", "test_seen"},
        ),
    ],
)
def test_a_constant_built_by_calling_a_function_of_the_tree_is_a_constant_if_the_function_only_computes(
    path: str, old: str, new: str, qualname: str, expected: set[str]
) -> None:
    after = {**MARKS, path: MARKS[path].replace(old, new)}
    assert after != MARKS
    found = selected(after, ChangedEntity(path, qualname, "modified", ("body",)), old=MARKS)
    assert {nodeid.rpartition("::")[2] for nodeid in found} == expected


def test_a_comment_at_module_level_selects_nothing() -> None:
    """Not even the one importer a changed statement brings (``test_any`` reaches every module)."""
    dynamic = "import importlib\n\n\ndef test_any():\n    importlib.import_module('pkg.' + 'core')\n"
    old = {**PACKAGE, "pkg/__init__.py": INIT, "tests/test_any.py": dynamic}
    change = ChangedEntity("pkg/__init__.py", "pkg", "modified", ("body",))
    assert selected({**old, "pkg/__init__.py": INIT + "# a comment\n"}, change, old=old) == set()
    assert len(selected({**old, "pkg/__init__.py": INIT + "X = 1\n"}, change, old=old)) == 1


AT_IMPORT = {
    "pkg/__init__.py": "",
    "pkg/core.py": "class K:\n    x = 1\n\n    def m(self):\n        return 1\n\n\ndef f(y=2):\n    return y\n\n\n"
    "def g():\n    return 3\n\n\nALIASES = {'f': f}\n",
    "tests/test_g.py": "from pkg.core import g\n\n\ndef test_g():\n    assert g() == 3\n",
}


@pytest.mark.parametrize(
    ("old", "new", "qualname", "kind"),
    [
        ("    x = 1\n", "    x = 1 / 0\n", "pkg.core.K", "modified"),  # a class body runs at import
        ("def f(y=2)", "def f(y=1 / 0)", "pkg.core.f", "modified"),  # so do defaults
        ("\n\ndef g", "\n\ndef h(y=1 / 0):\n    return y\n\n\ndef g", "pkg.core.h", "added"),
        ("def f(y=2):\n    return y\n", "", "pkg.core.f", "removed"),  # ALIASES reads it at import
    ],
)
def test_a_change_to_code_running_at_import_selects_an_importer_even_if_no_test_reaches_it(
    old: str, new: str, qualname: str, kind: str
) -> None:
    after = {**AT_IMPORT, "pkg/core.py": AT_IMPORT["pkg/core.py"].replace(old, new)}
    assert after != AT_IMPORT
    assert selected(after, ChangedEntity("pkg/core.py", qualname, kind, ("body",)), old=AT_IMPORT) == {
        "tests/test_g.py::test_g"
    }
    # What runs only when the entity is used selects only the tests using it.
    body = {**AT_IMPORT, "pkg/core.py": AT_IMPORT["pkg/core.py"].replace("return 1\n", "return 2\n")}
    assert selected(body, ChangedEntity("pkg/core.py", "pkg.core.K.m", "modified", ("body",)), old=AT_IMPORT) == set()


TESTCASES = {
    "app/__init__.py": "",
    "app/base.py": "class Registered:\n    seen = []\n\n    def __init_subclass__(cls):\n"
    "        Registered.seen.append(cls.__name__)\n",
    "tests/test_cases.py": "import unittest\nfrom unittest import TestCase\nfrom app.base import Registered\n\n\n"
    "class OneTests(TestCase):\n    def test_one(self):\n        assert 1\n\n\n"
    "class TwoTests(unittest.TestCase):\n    def test_two(self):\n        assert Registered.seen == []\n",
}


@pytest.mark.parametrize(
    ("added", "expected"),
    [
        ("class NewTests(TestCase):\n    def test_new(self):\n        assert 2\n", {"NewTests::test_new"}),
        ("class NewTests(unittest.TestCase):\n    def test_new(self):\n        assert 2\n", {"NewTests::test_new"}),
        ("class NewError(ValueError):\n    pass\n", set()),
        # A base of the tree may run anything when subclassed (here: what test_two observes).
        ("class NewOne(Registered):\n    pass\n", {"OneTests::test_one", "TwoTests::test_two"}),
        # A class body that calls something runs it at import.
        (
            "class NewTests(TestCase):\n    data = list(range(3))\n\n    def test_new(self):\n        assert self.data\n",
            {"OneTests::test_one", "TwoTests::test_two", "NewTests::test_new"},
        ),
    ],
)
def test_a_class_added_to_a_test_module_selects_its_own_tests_unless_defining_it_runs_code(
    added: str, expected: set[str]
) -> None:
    new = {**TESTCASES, "tests/test_cases.py": TESTCASES["tests/test_cases.py"] + "\n\n" + added}
    selection = select_change(TESTCASES, new)
    assert {nodeid.partition("::")[2] for nodeid in selection.tests} == expected, selection.reasons


IMPORTS = {
    "pkg/__init__.py": "",
    "pkg/core.py": "def a():\n    return 1\n\n\ndef b():\n    return 2\n",
    "tests/test_core.py": "from pkg.core import a\n\n\ndef test_a():\n    assert a() == 1\n",
}


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        # A name added to an import line: the test using it, not those of the names bound as before.
        ("from pkg.core import a, b\n", {"test_a2", "test_new"}),
        # A new standard-library import: only what uses its name.
        ("from pkg.core import a\nfrom itertools import chain\n", {"test_a2", "test_new"}),
        # An installed package may run anything when imported: the whole module.
        ("from pkg.core import a\nimport numpy\n", {"test_a", "test_a2", "test_new"}),
        # The same name from elsewhere: its users.
        ("from pkg.core import b as a\n", {"test_a", "test_a2", "test_new"}),
        # A name an import binds and another statement rebinds: its users, whatever the import now says.
        ("from pkg.core import a, b\na = a\n", {"test_a", "test_a2", "test_new"}),
    ],
)
def test_an_edited_import_selects_the_tests_of_the_names_whose_binding_changed(head: str, expected: set[str]) -> None:
    body = "\n\ndef test_a():\n    assert a() == 1\n\n\ndef test_a2():\n    assert a() + 1 == 2\n"
    old_test = "from pkg.core import a\n" + body
    new_test = head + body.replace("test_a2():\n    assert a() + 1 == 2", "test_a2():\n    assert a() + 2 == 3")
    new_test += "\n\ndef test_new():\n    assert " + ("b" if "b\n" in head or "b,\n" in head else "a") + "()\n"
    selection = select_change({**IMPORTS, "tests/test_core.py": old_test}, {**IMPORTS, "tests/test_core.py": new_test})
    assert {nodeid.rpartition("::")[2] for nodeid in selection.tests} == expected, selection.reasons


STAR = {
    "pkg/__init__.py": "from .core import *\n",
    "tests/test_a.py": "import pkg\n\ndef test_a():\n    assert pkg.a() == 1\n",
    "tests/test_b.py": "from pkg import *\n\ndef test_b():\n    assert b() == 2\n",
    "tests/test_all.py": "import pkg.core\n\ndef test_all():\n    assert sorted(pkg.core.__all__)\n",
}
CORE = '__all__ = ["a", "b"]\n\n\ndef a():\n    return 1\n\n\ndef b():\n    return 2\n'


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # A function added with its __all__ entry: the tests naming it, and those reading __all__.
        (CORE.replace('"b"]', '"b", "c"]') + "\n\ndef c():\n    return 3\n", {"test_all"}),
        (CORE.replace('"a", ', ""), {"test_a", "test_all"}),  # a name gone: the tests that used it
        (CORE.replace('"a", "b"', '"b", "a"'), {"test_all"}),  # reordered: only what reads __all__
        # A name the module does not bind: ``from pkg.core import *`` raises, every importer counts.
        (CORE.replace('"b"]', '"b", "c"]'), {"test_a", "test_b", "test_all"}),
        # __all__ that is not a literal: every star importer.
        (CORE.replace('["a", "b"]', '["a"] + ["b"]'), {"test_a", "test_b", "test_all"}),
    ],
)
def test_an_all_change_selects_the_tests_of_the_names_that_came_or_went(after: str, expected: set[str]) -> None:
    selection = select_change({**STAR, "pkg/core.py": CORE}, {**STAR, "pkg/core.py": after})
    assert {nodeid.rpartition("::")[2] for nodeid in selection.tests} == expected


NO_ALL = CORE.replace('__all__ = ["a", "b"]\n\n\n', "import os\n\n\n") + "\n\ndef _private():\n    return 0\n"


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # __all__ added, naming every public function: a star import binds what it bound (but for the module os).
        (NO_ALL, '__all__ = ["a", "b", "os"]\n' + NO_ALL, {"test_all"}),
        (NO_ALL, '__all__ = ["a", "b"]\n' + NO_ALL, {"test_all"}),
        (NO_ALL, '__all__ = ["a"]\n' + NO_ALL, {"test_b", "test_all"}),  # b no longer star-imported
        (NO_ALL, '__all__ = ["a", "b", "_private"]\n' + NO_ALL, {"test_all"}),
        ('__all__ = ["a", "b"]\n' + NO_ALL, NO_ALL, {"test_all"}),  # removed: the same public names
        # Not a literal, or a namespace written by name: every importer.
        (NO_ALL, '__all__ = ["a"] + ["b"]\n' + NO_ALL, {"test_a", "test_b", "test_all"}),
        (NO_ALL + "globals()['x'] = 1\n", '__all__ = ["a", "b"]\n' + NO_ALL + "globals()['x'] = 1\n", None),
    ],
)
def test_an_all_added_to_a_module_without_one_stands_against_its_public_names(
    before: str, after: str, expected: set[str] | None
) -> None:
    """pluggy's ``__all__`` added to ``_callers.py`` and ``_hooks.py`` selected every test that imports them: a
    star import of a module without ``__all__`` binds its public names, which are what to compare with."""
    selection = select_change({**STAR, "pkg/core.py": before}, {**STAR, "pkg/core.py": after})
    if expected is None:
        assert {"test_a", "test_b"} <= {nodeid.rpartition("::")[2] for nodeid in selection.tests}
    else:
        assert {nodeid.rpartition("::")[2] for nodeid in selection.tests} == expected, selection.reasons
    unstarred = {**STAR, "pkg/__init__.py": "from .core import a, b\n"}
    selection = select_change({**unstarred, "pkg/core.py": before}, {**unstarred, "pkg/core.py": after})
    if expected is not None:  # no star import of the module: only what reads __all__ (or every importer)
        every = {"test_a", "test_b", "test_all"}
        assert {nodeid.rpartition("::")[2] for nodeid in selection.tests} == (
            every if expected == every else {"test_all"}
        )


CLASSES = {
    "app/__init__.py": "",
    "app/models.py": 'class User:\n    """A user."""\n    RATE = 2\n\n    def save(self):\n        return self.RATE\n\n'
    "    def rename(self, name):\n        self.name = name\n\n\ndef helper():\n    return 1\n",
    "tests/test_user.py": "from app.models import User\n\ndef test_save():\n    assert User().save() == 2\n",
    "tests/test_helper.py": "from app.models import helper\n\ndef test_helper():\n    assert helper() == 1\n",
}


@pytest.mark.parametrize(
    ("old_text", "new_text", "expected"),
    [
        ('"""A user."""', '"""A person."""', {"test_save"}),  # docstring: the class's users
        ("RATE = 2", "RATE = 3", {"test_save"}),  # a plain attribute of a class without bases: its users
        ("RATE = 2", "RATE = int('3')", {"test_save", "test_helper"}),  # code that runs at import: every importer
        ("class User:", "class User(dict):", {"test_save"}),  # a built-in base: no hook runs at import; its users
        # A metaclass of the tree runs at import: every importer.
        ("class User:", "class Meta(type):\n    pass\n\n\nclass User(metaclass=Meta):", {"test_save", "test_helper"}),
        # type (or abc.ABCMeta) runs no code of the tree and keeps no class: its users
        ("class User:", "class User(metaclass=type):", {"test_save"}),
    ],
)
def test_class_changes_select_at_the_granularity_of_members(old_text: str, new_text: str, expected: set[str]) -> None:
    new = {**CLASSES, "app/models.py": CLASSES["app/models.py"].replace(old_text, new_text)}
    found = selected(new, ChangedEntity("app/models.py", "app.models.User", "modified", ("body",)), old=CLASSES)
    assert {nodeid.rpartition("::")[2] for nodeid in found} == expected


def test_without_the_parents_index_a_class_change_selects_its_importers() -> None:
    found = selected(CLASSES, ChangedEntity("app/models.py", "app.models.User", "modified", ("body",)))
    assert {nodeid.rpartition("::")[2] for nodeid in found} == {"test_save", "test_helper"}


def test_a_default_that_only_names_a_function_is_a_reference_of_the_function_not_of_its_definer() -> None:
    files = {
        "app/__init__.py": "",
        "app/caches.py": "class Cache:\n    def clear(self):\n        return 0\n\n\n"
        "class LRU(Cache):\n    def clear(self, base_clear=Cache.clear):\n"
        "        return base_clear(self) + 1\n\n\ndef other():\n    return 2\n",
        "tests/test_lru.py": "from app.caches import LRU\n\ndef test_clear():\n    assert LRU().clear() == 1\n",
        "tests/test_other.py": "from app.caches import other\n\ndef test_other():\n    assert other() == 2\n",
    }
    assert selected(files, body("app/caches.py", "app.caches.Cache.clear")) == {"tests/test_lru.py::test_clear"}


def test_installer_metadata_and_the_docs_build_requirements_are_not_test_configuration() -> None:
    before = 'from setuptools import setup\nsetup(name="app", zip_safe=False, packages=["app"])\n'
    after = 'from setuptools import setup\nsetup(name="app", zip_safe=True, packages=["app", "b"])\n'
    assert (
        not build({**APP, "setup.py": after})
        .select([ChangedPath("setup.py")], old_index=build({**APP, "setup.py": before}))
        .run_all
    )
    toml = '[project]\nname = "app"\n[tool.setuptools]\npackages = ["app"]\n'
    assert (
        not build({**APP, "pyproject.toml": toml.replace('"app"]', '"app", "b"]')})
        .select([ChangedPath("pyproject.toml")], old_index=build({**APP, "pyproject.toml": toml}))
        .run_all
    )
    assert selected(APP, ChangedPath("docs/requirements.txt")) == set()


def test_options_the_analysis_does_not_model_in_the_stage_args_run_everything_and_say_so() -> None:
    selection = build(APP).select([body("app/util.py", "app.util.slug")], args=("--doctest-glob", "*.rst"))
    assert selection.run_all and selection.rule == "pytest-option" and "--doctest-glob" in selection.reason
    assert not build(APP).select([body("app/util.py", "app.util.slug")], args=("-x", "-q")).run_all


def test_a_changed_environment_runs_everything_with_its_own_rule() -> None:
    selection = build(APP).select(
        [ChangedPath("pyproject.toml")], old_index=build(APP), environment_changed="pyproject.toml"
    )
    assert selection.run_all and selection.rule == "environment" and selection.path == "pyproject.toml"
    assert selected(APP, ChangedPath("uv.lock"), ChangedPath(".coveragerc"), ChangedPath("codspeed.yml")) == set()
    ci = (".appveyor.yml", "appveyor.yml", "azure-pipelines.yml", ".cirrus.yml", ".travis.yml")
    assert selected(APP, *map(ChangedPath, ci)) == set()  # CI systems' configuration: no test reads it


def test_a_bare_wildcard_string_names_no_file() -> None:
    """sqlparse's lexer compares tokens with ``"*"``, which every test reaches: a changed README or IDE file then
    selected every test, as if ``"*"`` were a glob naming it. A bare wildcard names no file in particular; a glob
    with a name or an extension, or the directory a listing spells, still names the files it matches."""
    readers = {
        "tests/test_sql.py": "def test_star():\n    assert '*' in 'SELECT * FROM t'\n",
        "tests/test_md.py": "import glob\n\n\ndef test_md():\n    assert glob.glob('*.md') is not None\n",
        "tests/test_docs.py": "import pathlib\n\n\ndef test_docs():\n    assert list(pathlib.Path('docs').glob('*')) is not None\n",
    }
    files = {**APP, **readers}
    assert selected(files, ChangedPath("README.md")) == {"tests/test_md.py::test_md"}
    assert selected(files, ChangedPath("docs/index.rst")) == {"tests/test_docs.py::test_docs"}
    assert selected(files, ChangedPath(".idea/workspace.xml")) == set()


def test_a_regular_expression_names_no_file_by_its_wildcards() -> None:
    """sqlparse's lexer patterns (``r"[A-Z]\\w*(?=\\s*\\.)"``), split at their backslashes, gave the words ``w*(?=``
    and ``s*``, globs matching ``workspace.xml`` and ``setup-notes.md``: every test reaches the lexer, so a changed
    IDE file or note selected them all. A string only a regular expression spells (a group extension, an
    alternation, a repeated class escape) has no glob in it; a glob does, and a plain name in a pattern still names
    its file."""
    lexer = 'import re\n\nNAME = re.compile(r"[A-Z]\\w*(?=\\s*\\.)")\nNOTES = re.compile(r"(?i)notes\\.rst")\n'
    files = {
        **APP,
        "app/lexer.py": lexer,
        "tests/test_lexer.py": "from app import lexer\n\n\ndef test_lexer():\n    assert lexer.NAME and lexer.NOTES\n",
        "tests/test_notes.py": "import glob\n\n\ndef test_notes():\n    assert glob.glob('s*.md') is not None\n",
    }
    assert selected(files, ChangedPath(".idea/workspace.xml")) == set()
    assert selected(files, ChangedPath("setup-notes.md")) == {"tests/test_notes.py::test_notes"}
    assert selected(files, ChangedPath("NOTES.rst")) == {"tests/test_lexer.py::test_lexer"}  # its extension


def test_editor_and_agent_settings_select_no_test() -> None:
    """A release of sqlparse changes ``.idea/workspace.xml``, ``.idea/sqlparse.iml`` and ``.claude/settings.local.json``
    (an IDE's and a coding agent's own settings) and drops ``pixi.lock``: no test reads them, so no test runs —
    unless code names one (a test reading ``.vscode/settings.json`` is selected)."""
    changed = (
        ".idea/workspace.xml",
        ".idea/sqlparse.iml",
        ".claude/settings.local.json",
        ".vscode/x.json",
        "pixi.lock",
    )
    assert selected(APP, *map(ChangedPath, changed)) == set()
    reader = "import json\n\n\ndef test_settings():\n    assert json.load(open('.vscode/settings.json'))\n"
    files = {**APP, "tests/test_settings.py": reader}
    assert selected(files, ChangedPath(".vscode/settings.json")) == {"tests/test_settings.py::test_settings"}


def test_a_class_attribute_bound_to_a_named_value_may_run_its_set_name_when_the_class_is_defined() -> None:
    """``type.__new__`` calls ``__set_name__`` on each attribute value whose type has one: a class whose body names
    a value (not a literal) runs code of the tree when defined, so its definer counts, TestCase base or not."""
    files = {
        "app/__init__.py": "",
        "app/fields.py": "class Field:\n    names = []\n\n    def __set_name__(self, owner, name):\n"
        "        Field.names.append(name)\n\n\nFIELD = Field()\n",
        "tests/test_fields.py": "import unittest\n\nfrom app.fields import FIELD, Field\n\n\n"
        "class OneTests(unittest.TestCase):\n    def test_one(self):\n        assert Field.names == []\n",
    }
    for body_line in ("    f = FIELD\n", "    maxDiff = None\n"):
        added = "\n\nclass NewTests(unittest.TestCase):\n" + body_line + "\n    def test_new(self):\n        assert 1\n"
        new = {**files, "tests/test_fields.py": files["tests/test_fields.py"] + added}
        found = {nodeid.partition("::")[2] for nodeid in select_change(files, new).tests}
        if "FIELD" in body_line:  # defining NewTests appends to Field.names, which test_one observes
            assert found == {"OneTests::test_one", "NewTests::test_new"}
        else:
            assert found == {"NewTests::test_new"}


def test_a_class_attribute_naming_a_plain_class_is_a_binding_of_the_class_not_code_of_its_definer() -> None:
    """``cls = it.Seek`` in a test class (a mixin's tests run on ``self.cls(...)``): a plain class's type has no
    ``__set_name__``, so the statement only binds; the tests using the holder class reach ``Seek``, the others do
    not, and a new holder class selects its own tests."""
    files = {
        "app/__init__.py": "",
        "app/it.py": """
            class Peek:
                def __init__(self, xs):
                    self.xs = xs

                def first(self):
                    return self.xs[0]


            class Seek:
                def __init__(self, xs):
                    self.xs = xs

                def first(self):
                    return self.xs[-1]
        """,
        "tests/test_it.py": """
            import unittest

            from app import it


            class Mixin:
                cls = None

                def test_first(self):
                    assert self.cls([1]).first() == 1


            class PeekTests(Mixin, unittest.TestCase):
                cls = it.Peek


            class SeekTests(Mixin, unittest.TestCase):
                cls = it.Seek
        """,
    }
    files = {path: dedent(text).lstrip("\n") for path, text in files.items()}
    for name in ("Seek.first", "Seek.__init__", "Seek"):
        found = selected(files, body("app/it.py", f"app.it.{name}"), old=files)
        assert found == {"tests/test_it.py::SeekTests::test_first"}
    added = files["tests/test_it.py"] + "\n\nclass NewTests(Mixin, unittest.TestCase):\n    cls = it.Seek\n"
    found = select_change(files, {**files, "tests/test_it.py": added}).tests
    assert found == ("tests/test_it.py::NewTests::test_first",)
    # A display of such names (a tuple's type has no __set_name__ either).
    added = files["tests/test_it.py"] + (
        "\n\nclass KindsTests(unittest.TestCase):\n    kinds = (it.Peek, it.Seek, None)\n\n"
        "    def test_kinds(self):\n        assert [k([1]).first() for k in self.kinds[:2]] == [1, 1]\n"
    )
    found = select_change(files, {**files, "tests/test_it.py": added}).tests
    assert found == ("tests/test_it.py::KindsTests::test_kinds",)


def test_a_plain_name_in_a_class_body_display_leaves_the_class_unused_until_it_is_used() -> None:
    """``split_words = ("FROM", join_words)`` in a class body (sqlparse's ``AlignedIndentFilter``): creating the class
    calls ``__set_name__`` on the tuple, never on its elements, and reading a plain name runs nothing, so defining the
    class hands it to no code: a test running ``f.process`` on other filters does not reach its ``process``."""
    files = {
        "app/__init__.py": "",
        "app/filters.py": dedent(
            """
            class Aligned:
                join_words = "JOIN"
                split_words = ("FROM", join_words, "ON")

                def process(self, text):
                    return text.split()


            class Plain:
                def process(self, text):
                    return text.strip()
            """
        ).lstrip(),
        "app/stack.py": "def run(filters, text):\n    for f in filters:\n        text = f.process(text)\n    return text\n",
        "tests/test_plain.py": (
            "from app import filters, stack\n\n\ndef test_plain():\n"
            "    assert stack.run([filters.Plain()], ' a ') == 'a'\n"
        ),
        "tests/test_aligned.py": (
            "from app import filters, stack\n\n\ndef test_aligned():\n"
            "    assert stack.run([filters.Aligned()], 'a b') == ['a', 'b']\n"
        ),
    }
    assert selected(files, body("app/filters.py", "app.filters.Aligned.process")) == {
        "tests/test_aligned.py::test_aligned"
    }
    assert selected(files, body("app/filters.py", "app.filters.Plain.process")) == {"tests/test_plain.py::test_plain"}


def test_a_class_body_wrapping_a_builtin_runs_no_code_of_the_tree() -> None:
    """``__class_getitem__ = classmethod(types.GenericAlias)`` added to a class: the tests using the class, not
    every importer of its module (``classmethod`` only keeps its argument)."""
    files = {
        "app/__init__.py": "",
        "app/it.py": "class Peek:\n    def first(self):\n        return 1\n\n\nclass Other:\n    pass\n",
        "tests/test_it.py": (
            "from app import it\n\n\ndef test_peek():\n    assert it.Peek().first() == 1\n\n\n"
            "def test_other():\n    assert it.Other()\n"
        ),
    }
    for line, expected in (
        ("    __class_getitem__ = classmethod(types.GenericAlias)\n", {"tests/test_it.py::test_peek"}),
        ("    registered = register(1)\n", {"tests/test_it.py::test_peek", "tests/test_it.py::test_other"}),
    ):
        source = "import types\n\n\ndef register(x):\n    return x\n\n\n" + files["app/it.py"]
        old = {**files, "app/it.py": source}
        new = {**files, "app/it.py": source.replace("class Peek:\n", "class Peek:\n" + line)}
        assert set(select_change(old, new).tests) == expected, line


@pytest.mark.parametrize(
    ("call", "dynamic"),
    [
        ("yaml.load(text)", True),
        ("yaml.unsafe_load(text)", True),
        ("yaml.load(text, Loader=yaml.Loader)", True),
        ("yaml.load(text, Loader=yaml.SafeLoader)", False),
        ("yaml.load(text, yaml.CSafeLoader)", False),
        ("yaml.safe_load(text)", False),
        ("joblib.load(path)", True),
    ],
)
def test_deserialisers_that_make_objects_of_any_class_may_run_any_code(call: str, dynamic: bool) -> None:
    """Like unpickling, ``yaml.load`` with a loader that makes Python objects, ``joblib.load``… make instances of
    classes their data names, which no reference names: the node may run any code (a safe loader makes only
    plain values)."""
    why = dynamic_of(f"import joblib\nimport yaml\n\n\ndef read(text, path):\n    return {call}\n", "read")
    assert bool(why) is dynamic, why


def _pytest_ids(files: Mapping[str, str], tmp_path: Path) -> set[str]:
    write_files({path: text.encode() for path, text in files.items()}, tmp_path)
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {line for line in listed.splitlines() if "::" in line}


def test_a_testcase_without_test_methods_is_collected_as_its_run_test(tmp_path: Path) -> None:
    """pytest collects ``runTest`` of a ``unittest.TestCase`` that has no ``test*`` method (pyparsing's
    ``Test01a_PyparsingEnvironmentTests``); the index did not know it, so no change ever selected it."""
    files = {
        "app.py": "def check():\n    return True\n",
        "tests/test_it.py": (
            "import unittest\nimport app\n\n\n"
            "class OnlyRun(unittest.TestCase):\n    def runTest(self):\n        self.assertTrue(app.check())\n\n\n"
            "class Both(unittest.TestCase):\n    def runTest(self):\n        pass\n\n    def test_x(self):\n        pass\n\n\n"
            "class Inherits(OnlyRun):\n    pass\n"
        ),
    }
    index = build(files)
    assert set(index.tests) == _pytest_ids(files, tmp_path)
    assert set(index.tests) == {
        "tests/test_it.py::OnlyRun::runTest",
        "tests/test_it.py::Both::test_x",
        "tests/test_it.py::Inherits::runTest",
    }
    changed = {**files, "app.py": "def check():\n    return False\n"}
    assert set(select_change(files, changed).tests) == {
        "tests/test_it.py::OnlyRun::runTest",
        "tests/test_it.py::Inherits::runTest",
    }


@pytest.mark.parametrize(
    ("code", "dynamic"),
    [
        ("    return marshal.loads(data)", False),
        ("    return marshal.load(open(path, 'rb'))", False),
        ("    return compile(data, path, 'exec')", False),
        ("    exec(marshal.loads(data), {})", True),
        ("    return types.FunctionType(data, {})()", True),
        ("    from types import LambdaType\n    return LambdaType(data, {})", True),
        ("    read.__code__ = data", True),
    ],
)
def test_loading_a_code_object_runs_nothing_running_it_may_run_any_code(code: str, dynamic: bool) -> None:
    """``marshal.load`` makes values of builtin types and code objects, and runs none (Jinja's bytecode cache,
    which every template load reaches): a code object runs where ``exec``/``eval`` (observed) or a function made
    of it runs it."""
    facts = file_facts("m.py", f"import marshal\nimport types\n\n\ndef read(data, path):\n{code}\n".encode())
    scope = facts.scope("read")
    assert scope is not None
    assert bool(scope.refs.dynamic or scope.refs.evals) is dynamic, scope.refs.dynamic


def test_a_long_elif_chain_is_analysed_not_left_as_nested_too_deeply() -> None:
    """An ``elif`` is an ``if`` nested in ``orelse``: Jinja compiles ``{% elif %}`` to it, and its tests render
    1,000 of them, whose code ``exec`` runs. The analysis recursed once per ``elif`` and gave up ("nested too
    deeply"): the file reached nothing (a test module: selected by nothing), generated code any code."""
    chain = "if x == 0:\n    zero()\n" + "".join(f"elif x == {i}:\n    pass\n" for i in range(1, 1200))
    chain += "else:\n    last()\n"
    function = "def dispatch(x):\n" + "".join(f"    {line}\n" for line in chain.splitlines())
    files = {
        "app/__init__.py": "",
        "app/util.py": "def zero():\n    return 0\n\n\ndef last():\n    return 1\n\n\ndef other():\n    return 2\n",
        "tests/test_chain.py": "from app.util import last, zero\n\n\n"
        + function
        + "\n\ndef test_chain():\n    dispatch(5)\n",
        "tests/test_other.py": "from app.util import other\n\n\ndef test_other():\n    other()\n",
    }
    assert not file_facts("tests/test_chain.py", files["tests/test_chain.py"].encode()).error
    assert selected(files, body("app/util.py", "app.util.last")) == {"tests/test_chain.py::test_chain"}
    assert selected(files, body("app/util.py", "app.util.zero")) == {"tests/test_chain.py::test_chain"}
    generated = from_source(chain)
    assert not generated.dynamic and {"zero", "last"} <= generated.names


@pytest.mark.parametrize(
    ("code", "dynamic"),
    [
        ("isinstance(loader, zipimport.zipimporter)", False),
        ("isinstance(loader, (str, zipimport.zipimporter))", False),
        ("issubclass(type(loader), zipimport.zipimporter)", False),
        ("zipimport.zipimporter", True),
        ("[zipimport.zipimporter]", True),
        ("isinstance(zipimport.zipimporter, type)", True),
    ],
)
def test_a_class_tested_against_by_isinstance_is_not_handed_to_code_that_may_call_it(code: str, dynamic: bool) -> None:
    """Naming ``zipimport.zipimporter`` without calling it counts as a call by whoever gets it; as the class an
    ``isinstance``/``issubclass`` tests against (Jinja's ``PackageLoader``), it is compared, never called."""
    why = dynamic_of(f"import zipimport\n\n\ndef check(loader):\n    return {code}\n", "check")
    assert bool(why) is dynamic, why


@pytest.mark.parametrize(
    ("code", "dynamic"),
    [
        ("cast(types.FunctionType, function).__code__", False),
        ("typing.cast(types.FunctionType, function)", False),
        ("cast(Optional[types.FunctionType], function)", False),
        ("cast('types.FunctionType', function)", False),
        ("typing.assert_type(function, types.FunctionType)", False),
        ("cast(types.FunctionType, types.FunctionType)", True),
        ("types.FunctionType", True),
    ],
)
def test_the_type_a_cast_names_is_not_handed_to_code_that_may_call_it(code: str, dynamic: bool) -> None:
    """``typing.cast(T, x)`` returns ``x``: ``T`` only tells the type checker (pluggy's ``_warn_for_function``
    casts to ``types.FunctionType``, which named without a call made every test "may run any code")."""
    why = dynamic_of(
        f"import types\nimport typing\nfrom typing import Optional, cast\n\n\ndef f(function):\n    return {code}\n",
        "f",
    )
    assert bool(why) is dynamic, why


@pytest.mark.parametrize(
    ("code", "dynamic"),
    [
        ("importlib.machinery.PathFinder.find_spec(name, path)", False),
        ("importlib.util.find_spec(name)", False),
        ("importlib.machinery.SourceFileLoader(name, path).load_module()", True),
        ("importlib.util.spec_from_file_location(name, path, loader=None)", False),
        ("importlib.util.spec_from_file_location(name, path).loader.exec_module(types.ModuleType(name))", True),
        ("path.loader.exec_module(name)", True),
    ],
)
def test_finding_a_spec_imports_nothing(code: str, dynamic: bool) -> None:
    """``PathFinder.find_spec`` finds a module as ``importlib.util.find_spec`` does, running none (Jinja's test of a
    PEP 451 import hook: every test reached it through the meta path finder's ``find_spec``)."""
    why = dynamic_of(
        f"import importlib.machinery\nimport importlib.util\nimport types\n\n\ndef f(name, path):\n    return {code}\n",
        "f",
    )
    assert bool(why) is dynamic, why


DOCTEST_FILES = {
    "pytest.ini": "[pytest]\naddopts = --doctest-glob='*.rst'\n",
    "app/__init__.py": "",
    "app/core.py": "def add(a, b):\n    return a + b\n",
    "app/other.py": "def sub(a, b):\n    return a - b\n",
    "tests/test_core.py": "from app.core import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "tests/test_other.py": "from app.other import sub\n\n\ndef test_sub():\n    assert sub(3, 2) == 1\n",
    "docs/guide.rst": "Guide\n=====\n\n>>> from app.core import add\n>>> add(1, 2)\n3\n",
    "README.rst": "Nothing to run here.\n",
    "tests/test_notes.txt": ">>> 1 + 1\n2\n",
}


def test_text_files_of_doctests_are_items_that_run_whenever_code_or_their_file_changes(tmp_path: Path) -> None:
    """``--doctest-glob`` made every commit run the whole suite ("selection does not model it"): the files it
    matches (with examples) are items, as pytest collects them, that run whenever code changes (what their
    examples run is not analysed) and when their file changes; the other tests are selected as always."""
    index = build(DOCTEST_FILES)
    assert set(index.tests) == _pytest_ids(DOCTEST_FILES, tmp_path)
    assert "docs/guide.rst::guide.rst" in index.tests and not any(t.startswith("README") for t in index.tests)
    code = select_change(DOCTEST_FILES, {**DOCTEST_FILES, "app/other.py": "def sub(a, b):\n    return b - a\n"})
    assert set(code.tests) == {"tests/test_other.py::test_sub", "docs/guide.rst::guide.rst"}
    assert "doctests pytest collects" in code.reasons["docs/guide.rst::guide.rst"]
    text = select_change(DOCTEST_FILES, {**DOCTEST_FILES, "docs/guide.rst": DOCTEST_FILES["docs/guide.rst"] + "\n"})
    assert set(text.tests) == {"docs/guide.rst::guide.rst"}
    assert select_change(DOCTEST_FILES, {**DOCTEST_FILES, "README.rst": "Still nothing.\n"}).tests == ()


@pytest.mark.parametrize(
    "ini",
    [
        "",  # pytest's default glob: test*.txt
        "[pytest]\ntestpaths = tests\naddopts = --doctest-glob '*.rst' --doctest-glob=*.txt\n",
        "[pytest]\naddopts = --doctest-glob=*.rst\nnorecursedirs = docs\n",
    ],
)
def test_the_text_files_of_doctests_are_the_ones_pytest_collects(ini: str, tmp_path: Path) -> None:
    files = {**DOCTEST_FILES, "pytest.ini": ini, "tests/guide.rst": DOCTEST_FILES["docs/guide.rst"]}
    assert set(build(files).tests) == _pytest_ids(files, tmp_path)


@pytest.mark.parametrize(
    "lookup",
    [
        "object.__getattribute__(self, name)",
        "type.__getattribute__(type(self), name).__get__(self)",
        "getattr(self, name)",
    ],
)
def test_an_attribute_looked_up_by_a_computed_name_through_object_getattribute_is_any_member(lookup: str) -> None:
    """mistune's renderer dispatches each token by its type, ``object.__getattribute__(self, token["type"])``: a
    member of the class's family whatever the name, as ``getattr(self, name)`` is. It was no read at all: a fault
    in ``HTMLRenderer.softbreak`` selected no test while 1,150 failed."""
    files = {
        "app/__init__.py": "",
        "app/render.py": f"""
            class BaseRenderer:
                def render_token(self, name):
                    return {lookup}()

            class HTMLRenderer(BaseRenderer):
                def softbreak(self):
                    return "\\n"

            class Unrelated:
                def softbreak(self):
                    return " "
        """,
        "tests/test_render.py": """
            from app.render import HTMLRenderer

            def test_render():
                assert HTMLRenderer().render_token("softbreak") == "\\n"
        """,
    }
    assert selected(files, body("app/render.py", "HTMLRenderer.softbreak")) == {"tests/test_render.py::test_render"}


@pytest.mark.parametrize(
    ("encode", "reads_module"),
    [
        ("def encode():\n    from app import fast as engine\n    return engine.run()\n", False),
        (
            "def encode(flag=True):\n    if flag:\n        from app import fast as engine\n    return engine.run()\n",
            False,
        ),
        ("def encode():\n    engine = None\n    return engine\n", False),
        ("def encode():\n    global engine\n    from app import fast as engine\n    return engine.run()\n", True),
        ("def encode():\n    return engine.run()\n", True),
        (
            "class Codec:\n    from app import fast as engine\n\n    def encode(self):\n        return engine.run()\n",
            True,
        ),
    ],
)
def test_a_name_a_function_binds_is_its_local_never_the_modules(encode: str, reads_module: bool) -> None:
    """pyflakes' ``_doctest_parser`` imports ``doctest`` in its body, and the module imported it too: the function
    was taken to read the module's ``doctest`` as well, so removing the module's import selected every test. A name
    a function binds (not declared ``global``/``nonlocal``) is its local wherever the body reads it; a class body's
    binding is not (its methods read the module's name)."""
    call = "Codec().encode()" if encode.startswith("class") else "encode()"
    files = {
        **APP,
        "app/engine.py": "def run():\n    return 1\n",
        "app/fast.py": "def run():\n    return 2\n",
        "app/codec.py": "from app import engine\n\n\n" + encode,
        "tests/test_codec.py": f"from app import codec\n\n\ndef test_encode():\n    assert codec.{call}\n",
    }
    found = selected(files, body("app/engine.py", "app.engine.run"))
    assert found == ({"tests/test_codec.py::test_encode"} if reads_module else set())


def test_a_scopes_bindings_are_walked_once_and_kept_by_the_scope_itself() -> None:
    """Several analyses ask for the same scope's bindings (pycparser's 6,800-line test module: 843 walks of ~310
    scopes); the walk is kept by the identity of the body and its parameters, never given for another scope."""
    import ast

    from trellis.ci.selection.python_refs import _scope_bindings

    function = ast.parse("def f(a, b):\n    c = a\n    return b\n").body[0]
    assert isinstance(function, ast.FunctionDef)
    params = function.args.args
    first = _scope_bindings(function.body, params)
    assert _scope_bindings(function.body, list(params)) is first  # a new list of the same parameters
    assert set(first.sites) == {"a", "b", "c"}
    assert set(_scope_bindings(function.body, params[:1]).sites) == {"a", "c"}  # other parameters: walked again
    twin = ast.parse("def f(a, b):\n    d = a\n    return b\n").body[0]
    assert isinstance(twin, ast.FunctionDef)
    assert set(_scope_bindings(twin.body, twin.args.args).sites) == {"a", "b", "d"}  # another body
