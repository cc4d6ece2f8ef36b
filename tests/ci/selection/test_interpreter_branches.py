"""Branches that cannot run on this interpreter (the jobs' own) reference nothing: other versions, other platforms.

A package module keeps a compatibility branch that imports a helper; a test
imports the package. On this interpreter the branch never runs, so a change
to the helper selects no test; any condition not made only of what the
interpreter is keeps the branch, and so does a branch that runs here.
"""

from __future__ import annotations

import ast
import os
import platform
import sys
from collections.abc import Mapping
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.ci.selection.index import ChangedEntity, TestIndex, changes_from_diff
from trellis.ci.selection.interpreter_branches import prune
from trellis.semantic_diff import diff_files

HELPER = "def open_binary(name):\n    return name\n"
TEST = "from pkg import api\n\n\ndef test_api():\n    assert api.read('x')\n"
OLD = "3, 8" if sys.version_info >= (3, 8) else "3, 99"  # a version before this one


def build(files: Mapping[str, str]) -> TestIndex:
    return TestIndex.build({path: dedent(text).encode() for path, text in files.items()})


def reaches_helper(api: str, **extra: str) -> bool:
    """Does a change to the helper select the test importing ``pkg.api`` (whose code is ``api``)?"""
    files = {
        "pkg/__init__.py": "",
        "pkg/_legacy.py": HELPER,
        "pkg/api.py": api,
        "tests/test_api.py": TEST,
        **{path.replace("__", "/") + ".py": text for path, text in extra.items()},
    }
    index = build(files)
    selection = index.select([ChangedEntity("pkg/_legacy.py", "open_binary", "modified", ("body",))])
    assert not selection.run_all, selection.reason
    return bool(selection.tests)


VERSION = f"""
import sys

if sys.version_info < ({OLD}):
    from ._legacy import open_binary
else:
    def open_binary(name):
        return name


def read(name):
    return open_binary(name)
"""


def test_a_branch_for_older_versions_reaches_nothing() -> None:
    assert not reaches_helper(VERSION)


@pytest.mark.parametrize(
    "condition",
    [
        "sys.version_info[0] == 2",
        "sys.version_info.major < 3",
        f"sys.version_info[:2] < ({OLD})",
        f"not sys.version_info >= ({OLD})",
        "sys.version_info < (3,) and other()",  # false whatever the other term
        "_sys.platform == 'win32'" if sys.platform != "win32" else "_sys.platform != 'win32'",
        "os.name == 'nt'" if os.name != "nt" else "os.name != 'nt'",
        "platform.system() == 'Windows'" if platform.system() != "Windows" else "platform.system() != 'Windows'",
        "sys.platform.startswith(('win', 'cygwin'))" if not sys.platform.startswith(("win", "cygwin")) else "False",
        "sys.implementation.name != " + repr(sys.implementation.name),
    ],
)
def test_conditions_of_this_interpreter_alone_are_decided(condition: str) -> None:
    api = f"""
import os
import platform
import sys
import sys as _sys

def read(name):
    if {condition}:
        from ._legacy import open_binary
        return open_binary(name)
    return name
"""
    assert not reaches_helper(api)


def test_a_module_constant_of_the_interpreter_decides_like_its_condition() -> None:
    api = """
import sys

PY3 = sys.version_info[0] == 3
PY2 = not PY3

if PY2:
    from ._legacy import open_binary
else:
    def open_binary(name):
        return name


def read(name):
    return open_binary(name)
"""
    assert not reaches_helper(api)


@pytest.mark.parametrize(
    "condition",
    [
        f"sys.version_info >= ({OLD})",  # runs here
        f"sys.version_info < ({OLD}) or other()",  # another term
        "FLAG",  # not the interpreter's
        "sys.platform == sys.argv[0]",
        "sys.maxsize > 2**32",  # not a term this reads
    ],
)
def test_any_other_condition_keeps_the_branch(condition: str) -> None:
    api = f"""
import sys

FLAG = bool(sys.argv)

def read(name):
    if {condition}:
        from ._legacy import open_binary
        return open_binary(name)
    return name
"""
    assert reaches_helper(api)


@pytest.mark.parametrize(
    "binding",
    [
        "sys = object()",  # rebound
        "from os import sys",  # not certainly the module
        "def f(sys):\n    return sys",  # a parameter of that name anywhere
        "import os.path as sys",
    ],
)
def test_a_name_not_certainly_the_sys_module_keeps_the_branch(binding: str) -> None:
    assert reaches_helper(VERSION + "\n" + binding + "\n")


def test_a_constant_bound_twice_keeps_the_branch() -> None:
    api = """
import sys

PY2 = sys.version_info[0] == 2

def set_py2():
    global PY2
    PY2 = True

def read(name):
    if PY2:
        from ._legacy import open_binary
        return open_binary(name)
    return name
"""
    assert reaches_helper(api)


@pytest.mark.parametrize(
    "patching",
    [
        "def test_win(monkeypatch):\n    monkeypatch.setattr(sys, 'platform', 'win32')\n",
        "from unittest import mock\n\n@mock.patch('pkg.api.WIN', True)\ndef test_win():\n    pass\n",
        "def test_win():\n    sys.platform = 'win32'\n",
    ],
)
def test_a_condition_a_test_may_set_keeps_the_branch(patching: str) -> None:
    """Tests that patch what a condition reads run the branch on this interpreter too."""
    api = """
import sys

WIN = sys.platform.startswith("win")

def read(name):
    if WIN or sys.platform == "win32":
        from ._legacy import open_binary
        return open_binary(name)
    return name
"""
    if sys.platform.startswith("win"):
        pytest.skip("the branch runs here")
    assert not reaches_helper(api)
    assert reaches_helper(api, tests__test_win="import sys\n\n" + patching)


VERSIONS = st.tuples(st.integers(2, 4), st.integers(0, 14), st.integers(0, 3))


def terms() -> st.SearchStrategy[str]:
    ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
    left = st.sampled_from(
        ["sys.version_info", "sys.version_info[:2]", "sys.version_info[0]", "sys.version_info.minor", "PY2"]
    )

    def term(pair: tuple[str, str], version: tuple[int, int, int], n: int) -> str:
        lhs, op = pair
        if lhs == "PY2":
            return lhs
        if lhs in ("sys.version_info[0]", "sys.version_info.minor"):
            return f"{lhs} {op} {version[n % 3]}"
        return f"{lhs} {op} {version[: n % 3 + 1]}"

    atom = st.builds(term, st.tuples(left, ops), VERSIONS, st.integers(0, 5))
    return st.recursive(
        atom | st.just("unknown()"),
        lambda inner: (
            st.builds(lambda a: f"not ({a})", inner)
            | st.builds(lambda a, b, o: f"({a}) {o} ({b})", inner, inner, st.sampled_from(["and", "or"]))
        ),
        max_leaves=5,
    )


@settings(max_examples=300, deadline=None)
@given(terms())
def test_a_decided_branch_is_the_one_python_takes(condition: str) -> None:
    """Generated conditions: whatever is decided is what Python itself decides for every value of the rest."""
    source = f"import sys\nPY2 = sys.version_info[0] == 2\nif {condition}:\n    a = 1\nelse:\n    b = 1\n"
    tree = ast.parse(source)
    prune(tree)
    branch = tree.body[-1]
    assert isinstance(branch, ast.If)
    decided = None if branch.orelse and not isinstance(branch.body[0], ast.Pass) else not branch.orelse
    for unknown in (True, False):
        namespace = {"sys": sys, "unknown": lambda unknown=unknown: unknown}
        exec(compile(source, "<generated>", "exec"), namespace)
        if decided is not None:
            assert ("a" in namespace) is decided, condition


SIX = """
import six
from six import PY3 as _PY3

def read(name):
    if six.PY2 or not _PY3:
        from ._legacy import open_binary
        return open_binary(name)
    return name
"""


def test_six_flags_decide_when_six_is_not_a_module_of_the_tree() -> None:
    assert not reaches_helper(SIX)
    assert reaches_helper(SIX, six="PY2 = True\nPY3 = False\n")  # the tree's own six.py: anything


def test_a_condition_a_module_reads_first_keeps_its_branch() -> None:
    """``from sys import version_info`` then ``version_info.major``: not a form read here, the branch counts."""
    api = """
from sys import version_info

def read(name):
    if version_info.major == 2:
        from ._legacy import open_binary
        return open_binary(name)
    return name
"""
    assert reaches_helper(api)


@pytest.mark.parametrize(
    ("writes", "kept"),
    [
        ("class C:\n    def set(self, k, v):\n        setattr(self, k, v)\n", False),  # an instance's attribute
        ("import importlib\n\ndef set(k, v):\n    setattr(importlib.import_module(__name__), k, v)\n", True),
        ("def set(k, v):\n    globals()[k] = v\n", True),
        ("exec('sys = None')\n", True),
        ("from os.path import *\n", True),
    ],
)
def test_a_file_that_may_write_its_own_names_keeps_its_branches(writes: str, kept: bool) -> None:
    assert reaches_helper(VERSION + "\n" + writes) is kept


def test_a_condition_changed_to_run_here_selects_the_tests() -> None:
    """The branch was left out; the change makes it run on this interpreter: the tests reaching it run."""
    live = VERSION.replace(f"< ({OLD})", "< (99, 0)")
    base = {"pkg/__init__.py": "", "pkg/_legacy.py": HELPER, "tests/test_api.py": TEST}
    for old, new in ((VERSION, live), (live, VERSION)):
        diff = diff_files({"pkg/api.py": old.encode()}, {"pkg/api.py": new.encode()})
        after = build({**base, "pkg/api.py": new})
        selection = after.select(changes_from_diff(diff), old_index=build({**base, "pkg/api.py": old}))
        assert not selection.run_all, selection.reason
        assert selection.tests == ("tests/test_api.py::test_api",), (old, new)


# A fallback for a part of the standard library this interpreter has: its handler never runs here (simplejson's
# ``_import_OrderedDict``: ``return collections.OrderedDict`` / ``except AttributeError: from . import
# ordered_dict``, which made every test reach a Python 2 module).
FALLBACKS = {
    "attribute": """
        import collections


        def ordered():
            try:
                return collections.OrderedDict
            except AttributeError:
                from ._legacy import open_binary
                return open_binary


        def read(name):
            return ordered()(name)
    """,
    "import": """
        try:
            import tomllib
        except ImportError:
            from ._legacy import open_binary


        def read(name):
            return open_binary(name)
    """,
    "from": """
        try:
            from functools import cached_property, partial
        except (ImportError, AttributeError):
            from ._legacy import open_binary


        def read(name):
            return open_binary(name)
    """,
}


@pytest.mark.parametrize("kind", sorted(FALLBACKS))
def test_a_fallback_for_what_the_standard_library_has_here_reaches_nothing(kind: str) -> None:
    assert not reaches_helper(FALLBACKS[kind])
    # The module's export list names its own exports: it takes nothing away (simplejson exports ``OrderedDict``).
    exports = "__all__ = [\n    'read', 'OrderedDict', 'tomllib',\n    'cached_property',\n]\n"
    assert not reaches_helper(FALLBACKS[kind], pkg__exports=exports)


@pytest.mark.parametrize(
    ("api", "extra"),
    [
        # What this interpreter lacks, or may lack: the handler may run.
        (FALLBACKS["from"].replace("cached_property", "no_such_name"), {}),
        (FALLBACKS["import"].replace("tomllib", "tomli"), {}),  # not the standard library's
        (FALLBACKS["attribute"].replace("collections.OrderedDict", "collections.OrderedDict.no_such_name"), {}),
        (FALLBACKS["import"].replace("except ImportError", "except Exception"), {}),  # catches more
        (FALLBACKS["import"].replace("import tomllib", "import tomllib\n            setup()"), {}),  # does more
        (FALLBACKS["attribute"].replace("import collections", "import collections\n        collections = other"), {}),
        # A test takes the module away, or patches the attribute; a module of the tree shadows the standard one.
        (FALLBACKS["import"], {"tests__test_old": "import sys\n\nsys.modules['tomllib'] = None\n"}),
        (FALLBACKS["attribute"], {"tests__test_old": "def test(m):\n    m.delattr('collections.OrderedDict')\n"}),
        (FALLBACKS["import"], {"pkg__tomllib": "X = 1\n"}),
    ],
)
def test_a_fallback_that_may_run_here_reaches_the_helper(api: str, extra: dict[str, str]) -> None:
    assert reaches_helper(api, **extra)
