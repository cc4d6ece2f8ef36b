"""``types.FunctionType(f.__code__, f.__globals__, ...)`` copies a function: the copy runs ``f``'s code, nothing new.

boltons' ``funcutils.copy_function`` (under ``wraps``, ``FunctionBuilder``, ``once``...) builds a function from a
code object, which counted as "may run any code": its 36 tests and the tables' were selected by every commit of
boltons' history (39 of the 40 tests of a test-only commit). A code object read from a function's ``__code__``,
given with that same function's ``__globals__`` (and its own closure or none), is a copy of that function: calling
the copy runs the function's code, resolving its names where the function does, and whoever handed the function
over referenced it. Code from anywhere else (``compile``, ``CodeType(...)``, ``code.replace(co_code=...)``) or
another namespace for its globals (the same code then calls whatever that namespace holds under its names) still
may run any code.
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import select_change

COPY = """\
from types import FunctionType


def copy_function(orig, copy_dict=True):
    ret = FunctionType(orig.__code__,
                       orig.__globals__,
                       name=orig.__name__,
                       argdefs=getattr(orig, "__defaults__", None),
                       closure=getattr(orig, "__closure__", None))
    if copy_dict:
        ret.__dict__.update(orig.__dict__)
    return ret
"""
FILES = {
    "app/__init__.py": "",
    "app/funcs.py": COPY,
    "app/other.py": "def other():\n    return 1\n",
    "tests/test_funcs.py": (
        "from app.funcs import copy_function\n\n\ndef test_copy():\n    assert copy_function(lambda: 3)() == 3\n"
    ),
    "tests/test_other.py": "from app.other import other\n\n\ndef test_other():\n    assert other() == 1\n",
}


def changed(files: dict[str, str], path: str, old: str, new: str) -> set[str]:
    assert old in files[path]
    selection = select_change(files, {**files, path: files[path].replace(old, new)})
    assert not selection.run_all, selection.reason
    return {nodeid.rpartition("::")[2] for nodeid in selection.tests}


@pytest.mark.parametrize(
    "call",
    [
        "FunctionType(orig.__code__, orig.__globals__)",
        "types.FunctionType(orig.__code__, orig.__globals__, 'x', None, orig.__closure__)",
        "FunctionType(code=orig.__code__, globals=orig.__globals__, closure=None)",
    ],
)
def test_a_copy_of_a_function_runs_only_that_functions_code(call: str) -> None:
    body = COPY[: COPY.index("    ret = ")] + f"    ret = {call}\n" + COPY[COPY.index("    if copy_dict") :]
    files = {**FILES, "app/funcs.py": "import types\n" + body}
    # Before: copy_function may run any code, and test_copy was selected by any change.
    assert changed(files, "app/other.py", "return 1", "return 2") == {"test_other"}
    assert changed(files, "app/funcs.py", "if copy_dict:", "if copy_dict and ret:") == {"test_copy"}


def test_boltons_copy_function_runs_only_the_copied_functions_code() -> None:
    assert changed(FILES, "app/other.py", "return 1", "return 2") == {"test_other"}


@pytest.mark.parametrize(
    "call",
    [
        "FunctionType(compile('other()', 'x', 'exec'), orig.__globals__)",  # new code
        "FunctionType(CODE, orig.__globals__)",  # a code object of unknown origin
        "FunctionType(orig.__code__.replace(co_code=b''), orig.__globals__)",  # new bytecode
        "FunctionType(orig.__code__, NAMESPACE)",  # the same code, its names resolved elsewhere
        "FunctionType(orig.__code__, other.__globals__)",  # another function's namespace
        "FunctionType(orig().__code__, orig().__globals__)",  # two calls: two functions
        "FunctionType(orig.__code__, orig.__globals__, closure=CELLS)",  # its free names bound to other cells
    ],
)
def test_other_functions_made_of_code_objects_may_still_run_anything(call: str) -> None:
    body = COPY[: COPY.index("    ret = ")] + f"    ret = {call}\n" + COPY[COPY.index("    if copy_dict") :]
    funcs = "CODE = None\nNAMESPACE = {}\nCELLS = ()\nfrom app.other import other\n" + body
    files = {**FILES, "app/funcs.py": funcs}
    assert "test_copy" in changed(files, "app/other.py", "return 1", "return 2")
