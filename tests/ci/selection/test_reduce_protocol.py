"""Copying and pickling by reference: what a class's ``__reduce__`` and the reconstructor it returns reach (toolz:
``curry.__reduce__`` names the wrapped function by ``__module__`` and ``__qualname__``, and ``_restore_curry`` finds
it again with ``import_module(modname)`` and a ``getattr`` loop; every test using a curried function reached "any
attribute of any module", so a change to any function of the tree selected every test).

- A private function that the file names only as the callable a ``__reduce__`` returns, when that method names
  objects by their module and qualified name, is called by ``copy`` and unpickling alone, with what the method made
  of an existing object: what it imports and reads by computed names is that object, which the test holding it
  reaches already.
- ``import_module(x.__module__)`` imports the module an object was defined in: imported already.
- ``x.__dict__.update(...)`` writes an object's namespace: it hands out no class.
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, selected

REDUCE = """
    from importlib import import_module


    class Wrapper:
        def __init__(self, func):
            self.func = func

        def __call__(self, *args):
            return self.func(*args)

        def __reduce__(self):
            modname = getattr(self.func, "__module__", None)
            qualname = getattr(self.func, "__qualname__", None)
            return _restore, (type(self), f"{modname}:{qualname}", dict(self.__dict__))


    def _restore(cls, name, state):
        modname, qualname = name.split(":")
        obj = import_module(modname)
        for attr in qualname.split("."):
            obj = getattr(obj, attr)
        wrapper = cls(obj)
        wrapper.__dict__.update(state)
        return wrapper
"""

FILES = {
    "app/__init__.py": "",
    "app/wrap.py": REDUCE,
    "app/ops.py": "from app.wrap import Wrapper\n\n\n@Wrapper\ndef double(x):\n    return 2 * x\n",
    "app/other.py": "def other():\n    return 1\n",
    "tests/test_ops.py": "from app.ops import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
    "tests/test_other.py": "from app.other import other\n\n\ndef test_other():\n    assert other() == 1\n",
    "tests/test_pickle.py": """
        import pickle

        from app.ops import double


        def test_round_trip():
            assert pickle.loads(pickle.dumps(double))(2) == 4
    """,
}


def test_a_reconstructor_reads_only_the_object_its_reduce_named() -> None:
    # Before: _restore read any attribute of any module, and test_ops reached other().
    assert selected(FILES, body("app/other.py", "app.other.other")) == {"tests/test_other.py::test_other"}
    everything_using_it = {"tests/test_ops.py::test_double", "tests/test_pickle.py::test_round_trip"}
    assert selected(FILES, body("app/wrap.py", "app.wrap._restore")) == everything_using_it
    assert selected(FILES, body("app/wrap.py", "app.wrap.Wrapper.__reduce__")) == everything_using_it


@pytest.mark.parametrize(
    "edit",
    [
        # Named elsewhere too: anyone may call it with any name.
        lambda files: {
            **files,
            "tests/test_other.py": files["tests/test_other.py"] + "\nfrom app.wrap import _restore\n",
        },
        lambda files: {**files, "app/wrap.py": files["app/wrap.py"] + "\n\n    RESTORE = _restore\n"},
        lambda files: {**files, "app/wrap.py": files["app/wrap.py"] + "\n\n    __all__ = ['Wrapper', '_restore']\n"},
        # The method does not name objects by reference: the name may come from anywhere.
        lambda files: {**files, "app/wrap.py": files["app/wrap.py"].replace('"__qualname__"', '"label"')},
        # Public: another module may call it.
        lambda files: {
            **files,
            "app/wrap.py": files["app/wrap.py"].replace("_restore", "restore"),
            "tests/test_other.py": files["tests/test_other.py"] + "\nimport app.wrap\n",
        },
    ],
)
def test_a_function_named_otherwise_reads_what_its_computed_names_say(edit) -> None:  # type: ignore[no-untyped-def]
    files = edit(FILES)
    files["tests/test_other.py"] += "\nimport app.ops\n"  # reaches the wrapper: its reconstructor's reads count
    assert "tests/test_ops.py::test_double" in selected(files, body("app/other.py", "app.other.other"))


def test_importing_an_objects_own_module_imports_nothing_new() -> None:
    files = {
        "app/__init__.py": "",
        "app/where.py": """
            import importlib


            def home(obj):
                modname = getattr(obj, "__module__", None)
                return importlib.import_module(modname).__file__


            def home_of_class(obj):
                return importlib.import_module(type(obj).__module__).__name__
        """,
        "app/other.py": "X = print('imported')\n",
        "tests/test_where.py": "from app.where import home\n\n\ndef test_home():\n    assert home(home)\n",
        "tests/test_other.py": "import app.other\n\n\ndef test_other():\n    assert app.other.X is None\n",
    }
    # Before: a computed import runs any module's code, and test_home was selected by app.other's.
    assert selected(files, body("app/other.py", "app.other")) == {"tests/test_other.py::test_other"}
    computed = {**files, "app/where.py": files["app/where.py"].replace('getattr(obj, "__module__", None)', "obj")}
    assert "tests/test_where.py::test_home" in selected(computed, body("app/other.py", "app.other"))


def test_writing_an_objects_namespace_hands_out_no_class() -> None:
    files = {
        "app/__init__.py": "",
        "app/state.py": "def restore(obj, state):\n    obj.__dict__.update(state)\n    return obj\n",
        "app/models.py": "class Model:\n    def __init__(self):\n        self.x = 1\n",
        "tests/test_state.py": """
            import app.models
            from app.state import restore


            def test_restore():
                assert restore(lambda: 0, {"y": 2}).y == 2
        """,
        "tests/test_models.py": "from app.models import Model\n\n\ndef test_model():\n    assert Model().x == 1\n",
    }
    # Before: reading ``__dict__`` of an unknown object counted as handing out any class (Model's __init__ too).
    assert selected(files, body("app/models.py", "app.models.Model.__init__")) == {"tests/test_models.py::test_model"}
    read = {**files, "app/state.py": files["app/state.py"].replace("obj.__dict__.update(state)", "print(obj.__dict__)")}
    assert "tests/test_state.py::test_restore" in selected(read, body("app/models.py", "app.models.Model.__init__"))
