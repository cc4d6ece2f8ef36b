"""``exec`` of a constant string at module level runs what that code says, as if it were written there.

funcy's ``compat.py`` (after six) defines ``raise_from`` by ``exec(\"\"\"def raise_from(value, from_value): ...\"\"\")``
under ``if PY3:``: every test imports funcy, so every test reached a node that "may run any code", and every change
selected every test (17 of funcy's last 40 commits, statically). The code is a literal: its definitions are
the file's. Only a literal whose text is the code (no escape sequence) is read so, so that every position of the
code is one of the file; anything else stays "any code".
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import select_change

COMPAT = '''import sys

PY3 = sys.version_info[0] == 3

if PY3:
    exec("""def raise_from(value, from_value):
    try:
        raise value from from_value
    finally:
        value = None
""")
else:
    def raise_from(value, from_value):
        raise value
'''
FILES = {
    "app/__init__.py": "",
    "app/compat.py": COMPAT,
    "app/errors.py": "from app.compat import raise_from\n\n\ndef fail():\n    raise_from(ValueError('x'), None)\n",
    "app/other.py": "def other():\n    return 1\n",
    "tests/test_errors.py": (
        "import pytest\n\nfrom app.errors import fail\n\n\ndef test_fail():\n    with pytest.raises(ValueError):\n"
        "        fail()\n"
    ),
    "tests/test_other.py": "import app.compat\nfrom app.other import other\n\n\ndef test_other():\n    assert other() == 1\n",
    "tests/test_compat.py": "import app.compat\n\n\ndef test_compat():\n    assert app.compat.PY3\n",
}


def changed(path: str, old: str, new: str, files: dict[str, str] = FILES) -> set[str]:
    assert old in files[path]
    selection = select_change(files, {**files, path: files[path].replace(old, new)})
    assert not selection.run_all, selection.reason
    return {nodeid.rpartition("::")[2] for nodeid in selection.tests}


def test_constant_code_given_to_exec_is_read_as_the_files_code() -> None:
    # Before: importing app.compat may run any code, and test_compat was selected by any change.
    assert changed("app/other.py", "return 1", "return 2") == {"test_other"}
    # A change of the literal is one of the module's code: every importer (its callers among them).
    assert changed("app/compat.py", "raise value from from_value", "raise value") == {
        "test_fail",
        "test_other",
        "test_compat",
    }


@pytest.mark.parametrize(
    "literal",
    [
        '"def raise_from(value, from_value):\\n    raise value from from_value\\n"',  # escapes: positions differ
        '"def raise_from(value, from_value): " "raise value from from_value"',  # implicit concatenation
        "CODE",  # not a literal
    ],
)
def test_other_code_given_to_exec_may_still_run_anything(literal: str) -> None:
    compat = COMPAT[: COMPAT.index('exec("""')] + f"exec({literal})\n" + COMPAT[COMPAT.index("else:") :]
    compat = compat.replace("PY3 = ", 'CODE = "def raise_from(value, from_value): raise value"\nPY3 = ')
    files = {**FILES, "app/compat.py": compat}
    assert {"test_other", "test_compat", "test_fail"} <= changed("app/other.py", "return 1", "return 2", files)


def test_exec_rebound_by_the_file_is_not_the_builtin() -> None:
    compat = COMPAT.replace("import sys\n", "import sys\nfrom app.other import other as exec\n")
    files = {**FILES, "app/compat.py": compat}
    # (exec is app.other.other here: a change to it selects every importer of app.compat)
    assert changed("app/other.py", "return 1", "return 2", files) == {"test_other", "test_compat", "test_fail"}
