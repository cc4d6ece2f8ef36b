"""A string that names a Python file (``collect_ignore = ["setup.py"]`` in a root conftest) is no dotted reference to
the attribute ``py`` of the module ``setup``: it imports nothing. parso's conftest ignores its ``setup.py``, which
reads ``README.rst`` and ``CHANGELOG.rst`` for the long description: every test reached ``setup.py``'s module code,
and a changelog entry selected every test (``nearly-all``).
"""

from __future__ import annotations

from tests.ci.selection.test_selection import body, selected
from trellis.ci.selection.index import ChangedPath

PROJECT = {
    "setup.py": """
        from setuptools import setup

        readme = open("README.rst").read() + "\\n\\n" + open("CHANGELOG.rst").read()
        setup(name="app", long_description=readme, packages=["app"])
    """,
    "README.rst": "app\n===\n",
    "CHANGELOG.rst": "0.1\n---\n",
    "conftest.py": 'collect_ignore = ["setup.py"]\n',
    "app/__init__.py": "def f():\n    return 1\n",
    "tests/test_app.py": "import app\n\n\ndef test_f():\n    assert app.f() == 1\n",
}


def test_a_string_naming_a_python_file_imports_nothing() -> None:
    new = {**PROJECT, "CHANGELOG.rst": "0.2\n---\n\n0.1\n---\n"}
    # Before: tests/test_app.py::test_f, through conftest.py::collect_ignore -> setup.py::<module>.
    assert selected(new, ChangedPath("CHANGELOG.rst"), old=PROJECT) == set()


def test_a_dotted_string_reaching_a_module_named_py_or_a_name_py_still_does() -> None:
    files = {
        **PROJECT,
        "conftest.py": 'TARGETS = ["app.py", "tool.py"]\n',
        "app/py.py": "VALUE = 2\n",  # app.py: the submodule py of app
        "tool.py": "def py():\n    return 3\n",  # tool.py: the function py of tool
    }
    new = {**files, "app/py.py": "VALUE = 3\n"}
    assert selected(new, ChangedPath("app/py.py"), old=files) == {"tests/test_app.py::test_f"}
    assert selected(files, body("tool.py", "py"), old=files) == {"tests/test_app.py::test_f"}
