"""Merges where a version does not parse (a construct the grammar does not know, or a real syntax
error, in a part of the file nobody touched): the line merge is clean only under the checks of a
structured merge, run on the trees as they are, and may hold only syntax errors a version has."""

from __future__ import annotations

import pytest

from trellis.semantic_diff import merge_files

from .test_merge_classes import DANGLING

# A line each grammar cannot read, put where no side edits.
BROKEN = {
    "a.py": "def broken(:\n    pass\n\n\n",
    "a.go": "",
    "a.rs": "fn broken( {}\n\n",
    "A.java": "",
    "a.ts": "class Broken {\n  x = ;\n}\n\n",
}
BROKEN_AFTER = {"a.go": "\nvar broken = \n", "A.java": "\nclass B { int x = ; }\n"}


def _with_error(path: str, text: str) -> str:
    return BROKEN.get(path, "") + text + BROKEN_AFTER.get(path, "")


def _merge(path: str, base: str, left: str, right: str) -> tuple[bool, str, str]:
    result = merge_files(path, base.encode(), left.encode(), right.encode())
    return result.clean, (result.content or b"").decode(), result.fallback_reason


@pytest.mark.parametrize(("path", "base", "added", "rename"), DANGLING, ids=[c[0] for c in DANGLING])
def test_a_new_use_of_a_renamed_entity_conflicts_though_a_version_does_not_parse(
    path: str, base: str, added: str | None, rename: tuple[str, str]
) -> None:
    if added is None:  # Java: the new use goes into a new method of the class
        left = base.replace("\n}\n", "\n\n  int second() {\n    return loadItem(2);\n  }\n}\n")
    else:
        left = base + added
    right = base.replace(*rename)
    clean, text, reason = _merge(path, _with_error(path, base), _with_error(path, left), _with_error(path, right))
    assert reason == "parse_error"
    assert not clean, text


@pytest.mark.parametrize(("path", "base", "added", "rename"), DANGLING, ids=[c[0] for c in DANGLING])
def test_independent_edits_merge_though_a_version_does_not_parse(
    path: str, base: str, added: str | None, rename: tuple[str, str]
) -> None:
    base += "\n# end\n" if path.endswith(".py") else "\n// end\n"
    left = base.replace(*rename)
    right = base + (added or "").replace(rename[0], "other")
    if added is None:
        right = base.replace("\n}\n", "\n\n  int second() {\n    return 2;\n  }\n}\n")
    clean, text, reason = _merge(path, _with_error(path, base), _with_error(path, left), _with_error(path, right))
    # The versions' syntax errors are the same lines in all three: the structured merge runs
    # around them (reason "": no fallback).
    assert (clean, reason) == (True, ""), text
    assert rename[1] in text and ("other" in text or "second" in text)


APPENDED = {
    "a.py": ("def f():\n    return 1\n", "\n\ndef left():\n    return 2\n", "\n\ndef right():\n    return 3\n"),
    "a.go": (
        "package a\n\nfunc F() int {\n\treturn 1\n}\n",
        "\nfunc L() int {\n\treturn 2\n}\n",
        "\nfunc R() int {\n\treturn 3\n}\n",
    ),
    "a.rs": ("fn f() -> u32 {\n    1\n}\n", "\nfn left() -> u32 {\n    2\n}\n", "\nfn right() -> u32 {\n    3\n}\n"),
    "a.ts": (
        "export function f(): number {\n  return 1;\n}\n",
        "\nexport function l(): number {\n  return 2;\n}\n",
        "\nexport function r(): number {\n  return 3;\n}\n",
    ),
}


@pytest.mark.parametrize("path", sorted(APPENDED))
def test_a_structured_merge_runs_around_syntax_errors_nobody_touched(path: str) -> None:
    # Both sides append a function at one place: a line merge conflicts; the structured merge
    # keeps both, the unreadable part copied as it is.
    base, left, right = APPENDED[path]
    broken = BROKEN.get(path) or BROKEN_AFTER[path].lstrip("\n") + "\n"
    clean, text, reason = _merge(path, broken + base, broken + base + left, broken + base + right)
    assert (clean, reason) == (True, ""), text
    assert text == broken + base + left + right


def test_syntax_errors_that_differ_between_the_versions_keep_the_line_merge() -> None:
    # One side edits the unreadable part itself: not the same errors on every side, so no
    # structured merge around them; the two appended functions are a line conflict.
    base = "def broken(:\n    pass\n\n\ndef f():\n    return 1\n"
    left = base.replace("broken(:", "broken(x:") + "\n\ndef left():\n    return 2\n"
    right = base + "\n\ndef right():\n    return 3\n"
    clean, text, reason = _merge("a.py", base, left, right)
    assert (clean, reason) == (False, "parse_error"), text


def test_an_import_both_sides_add_is_not_bound_twice_though_a_version_does_not_parse() -> None:
    base = "import os\n\n\ndef broken(:\n    pass\n\n\ndef f():\n    return os.sep\n"
    left = "from sys import argv\nimport os\n" + base[len("import os\n") :]
    right = base + "\n\nfrom sys import argv\n"
    # The structured merge around the unreadable part keeps it once (at CURRENT's place).
    clean, text, _ = _merge("a.py", base, left, right)
    assert clean and text.count("from sys import argv") == 1, text


def test_an_edit_inside_the_part_that_does_not_parse_conflicts() -> None:
    # Both sides edit lines of one unreadable part: the merge's syntax error is in no version,
    # and nothing says what that part means.
    base = "x = f(1,\n    2\n    3\n    4)\n\n\ndef f():\n    return 1\n"
    left = base.replace("    2\n", "    20\n")
    right = base.replace("4)", "40)")
    clean, text, reason = _merge("a.py", base, left, right)
    assert (clean, reason) == (False, "parse_error"), text
    # One side's edit there, the other's elsewhere: that part is the side's text, unchanged.
    clean, text, _ = _merge("a.py", base, base.replace("return 1", "return 10"), right)
    assert clean and "return 10" in text and "40)" in text


def test_a_file_that_parses_on_neither_side_but_merges_by_lines_is_checked_too() -> None:
    base = "class Broken {\n  x = ;\n}\n\nfunction loadItem(k: number): number {\n  return k;\n}\n"
    left = base.replace("loadItem", "fetchItem")
    right = base + "\nexport const x = loadItem(3);\n"
    clean, text, _ = _merge("a.ts", base, left, right)
    assert not clean, text


# A file with a syntax error that one side edits (the versions' errors differ: the line merge
# runs), that side adding an import on the line after it, where error recovery swallows the
# import into the broken statement as loose tokens; the other side adds the same import at the
# top. The line merge keeps both: a clean merge must not bind the name twice.
SWALLOWED = {
    "a.py": ("import os\n\n\nx = (1,\n", "x = (1, 2,\nfrom sys import argv\n", "\n\ndef g():\n    return 1\n"),
    "a.js": ('import { a } from "m";\n\nconst x = (1,\n', 'const x = (1, 2,\nimport { argv } from "sys";\n', ""),
    "a.ts": ('import { a } from "m";\n\nconst x = (1,\n', 'const x = (1, 2,\nimport { argv } from "sys";\n', ""),
    "a.rs": ("use std::io;\n\nconst X: i32 = (1,\n", "const X: i32 = (1, 2,\nuse std::env::args;\n", ""),
    "A.java": (
        "import java.io.File;\n\nclass A { int x = (1,\n",
        "class A { int x = (1, 2,\nimport java.util.List;\n",
        "",
    ),
    "a.go": ('package a\n\nimport "os"\n\nvar x = (1,\n', 'var x = (1, 2,\nimport "sys"\n', ""),
}
TAIL = {
    "a.py": "\n\ndef g():\n    return 1\n",
    "a.js": "\nfunction g() {\n  return 1;\n}\n",
    "a.ts": "\nfunction g() {\n  return 1;\n}\n",
    "a.rs": "\nfn g() -> i32 {\n    1\n}\n",
    "A.java": "\nclass G {\n  int g() { return 1; }\n}\n",
    "a.go": "\nfunc g() int {\n\treturn 1\n}\n",
}


@pytest.mark.parametrize("path", sorted(SWALLOWED))
def test_an_import_swallowed_by_a_syntax_error_still_binds_its_name(path: str) -> None:
    head, broken, _ = SWALLOWED[path]
    first, _, last = head.rpartition("\n\n")
    imported = broken.split("\n")[1] + "\n"
    base = head + TAIL[path]
    left = first + "\n\n" + broken + TAIL[path]
    right = first + "\n" + imported + "\n" + last + TAIL[path]
    assert left.count(imported) == right.count(imported) == 1
    clean, text, reason = _merge(path, base, left, right)
    assert reason == "parse_error"
    assert not clean or text.count(imported) == 1, text


# The same with a function both sides add: in one side it follows the broken line and recovery
# swallows it (no entity for the entity checks), in the other it stands elsewhere.
ADDED_FN = {
    "a.py": "def h():\n    return 3\n",
    "a.ts": "function h() {\n  return 3;\n}\n",
    "a.rs": "fn h() -> i32 {\n    3\n}\n",
}


@pytest.mark.parametrize("path", sorted(ADDED_FN))
def test_a_function_swallowed_by_a_syntax_error_is_not_kept_twice(path: str) -> None:
    head, broken, _ = SWALLOWED[path]
    first, _, last = head.rpartition("\n\n")
    added = ADDED_FN[path]
    base = head + TAIL[path]
    left = first + "\n\n" + broken.split("\n")[0] + "\n" + added + TAIL[path]
    right = first + "\n\n" + added + "\n" + last + TAIL[path]
    clean, text, reason = _merge(path, base, left, right)
    assert reason == "parse_error"
    assert not clean or text.count(added) == 1, text
    # Added by one side only, next to the broken line: still clean.
    note = "# note\n" if path.endswith(".py") else "// note\n"
    clean, text, _ = _merge(path, base, left, note + base)
    assert clean and text.count(added) == 1, text
