"""Standard calls that run a module's code or its doctest examples again, bounded by what they can run (toolz:
``importlib.reload(toolz.compatibility)`` in one test and ``doctest.testmod(toolz)`` in another each counted as
"may run any code", and every test reached them).

- ``importlib.reload(pkg.mod)`` of a module an import binds runs that module's code again, as importing it does.
- ``doctest.testmod(module)`` runs the examples of docstrings found at run time (the module's, and those of
  whatever its ``__test__`` holds): the examples of any module of the tree, and no other code.
- ``importlib.machinery.ModuleSpec(name, loader)`` only names a module, as ``spec_from_loader`` does.
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, dynamic_of, select_change, selected
from trellis.ci.selection.index import ChangedEntity
from trellis.ci.selection.python_refs import file_facts

FILES = {
    "app/__init__.py": "from app.ops import double\n",
    "app/ops.py": '''
        def double(x):
            """Twice ``x``.

            >>> from app.ops import helper
            >>> double(helper())
            2
            """
            return 2 * x


        def helper():
            return 1
    ''',
    "app/other.py": "def other():\n    return 1\n",
    "app/compat.py": "import warnings\n\nwarnings.warn('moved', DeprecationWarning)\n",
    "tests/test_reload.py": """
        import importlib

        import app.compat


        def test_reload():
            importlib.reload(app.compat)
    """,
    "tests/test_doctests.py": """
        import doctest

        import app


        def test_doctests():
            assert doctest.testmod(app).failed == 0
    """,
    "tests/test_other.py": "from app.other import other\n\n\ndef test_other():\n    assert other() == 1\n",
}


def test_a_reload_runs_the_module_it_names_again() -> None:
    # Before: importlib.reload may run any code, and test_reload was selected for every change.
    assert selected(FILES, body("app/other.py", "app.other.other")) == {"tests/test_other.py::test_other"}
    assert "tests/test_reload.py::test_reload" in selected(FILES, ChangedEntity("app/compat.py", "app.compat"))


@pytest.mark.parametrize(
    "reload",
    [
        "importlib.reload(module)",  # a module object handed in: any module
        "importlib.reload(app.compat)\n    app = object()",  # the name is not only an import's
    ],
)
def test_a_reload_of_a_module_not_known_by_name_may_run_any_code(reload: str) -> None:
    assert dynamic_of(f"import importlib\n\nimport app.compat\n\n\ndef run(module):\n    {reload}\n", "run")


def test_testmod_runs_the_examples_of_any_module_and_no_other_code() -> None:
    # Before: doctest.testmod may run any code: test_doctests was selected for every change.
    assert selected(FILES, body("app/other.py", "app.other.other")) == {"tests/test_other.py::test_other"}
    # What an example calls (helper is called by no code, only by double's example), and the example itself.
    assert selected(FILES, body("app/ops.py", "app.ops.helper")) == {"tests/test_doctests.py::test_doctests"}
    new = {**FILES, "app/ops.py": FILES["app/ops.py"].replace("double(helper())", "double(helper()) + 0")}
    assert set(select_change(FILES, new).tests) == {"tests/test_doctests.py::test_doctests"}


@pytest.mark.parametrize(
    ("code", "dynamic"),
    [
        ("importlib.machinery.ModuleSpec(name, loader)", False),
        ("importlib.machinery.ModuleSpec(name, loader).loader.exec_module(module)", True),
    ],
)
def test_a_module_spec_only_names_a_module(code: str, dynamic: bool) -> None:
    why = dynamic_of(f"import importlib.machinery\n\n\ndef f(name, loader, module):\n    {code}\n", "f")
    assert bool(why) is dynamic, why


LOADER = """
import sys
import types


class Loader:
    def create_module(self, spec):
        return types.ModuleType(spec.name)

    def exec_module(self, module):
        module.answer = 42

    def load_module(self, name):
        module = types.ModuleType(name)
        self.exec_module(module)
        return module


loader = Loader()
sys.meta_path.append(loader)
loader.exec_module(sys.modules[__name__])
"""


@pytest.mark.parametrize(
    ("code", "dynamic"),
    [
        # The file's own loader class: its exec_module is the tree's code, reached by name (toolz's tlz loader).
        (LOADER, False),
        # Inherited: a standard loader's exec_module runs a module's code.
        (LOADER.replace("    def exec_module(self, module):\n        module.answer = 42\n", ""), True),
        # The global is bound to something else too.
        (LOADER + "loader = importlib.machinery.SourceFileLoader('x', 'x.py')\nloader.exec_module(m)\n", True),
        ("def run(loader, module):\n    loader.exec_module(module)\n", True),  # any loader
    ],
)
def test_a_loader_of_the_files_own_class_runs_its_own_exec_module(code: str, dynamic: bool) -> None:
    whys = [scope.refs.dynamic for scope in file_facts("m.py", code.encode()).scopes if scope.refs.dynamic]
    assert bool(whys) is dynamic, whys


def test_a_change_to_the_files_own_loader_selects_the_tests_that_import_it() -> None:
    files = {
        "app/__init__.py": "",
        "app/hook.py": LOADER,
        "app/other.py": "def other():\n    return 1\n",
        "tests/test_hook.py": "import app.hook\n\n\ndef test_hook():\n    assert app.hook.answer == 42\n",
        "tests/test_other.py": "from app.other import other\n\n\ndef test_other():\n    assert other() == 1\n",
    }
    # Before: the hook's module may run any code, and a change to other() selected every test.
    assert selected(files, body("app/other.py", "app.other.other")) == {"tests/test_other.py::test_other"}
    assert selected(files, body("app/hook.py", "app.hook.Loader.exec_module")) == {"tests/test_hook.py::test_hook"}
