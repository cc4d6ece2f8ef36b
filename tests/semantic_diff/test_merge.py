"""The structured three-way merge (``semantic_diff.merge_files``), situation by situation, in every
language: what merges cleanly (and to exactly what), what is a conflict (and confined to what)."""

from __future__ import annotations

import pytest

from trellis.semantic_diff import (
    FileMerge,
    InvalidInput,
    extract_entities,
    guess_language,
    merge_files,
    merge_to_json,
)

from .merge_fixtures import (
    BASE_CODE,
    BASE_DOC,
    CODE_LANGS,
    CODE_SITUATIONS,
    DOC_LANGS,
    DOC_SITUATIONS,
    CodeLang,
    DocLang,
    Situation,
    apply,
)

MARKERS = (b"<<<<<<< ours\n", b"||||||| base\n", b"=======\n", b">>>>>>> theirs\n")


def _parses(path: str, content: bytes) -> bool:
    return not extract_entities(path, content).fallback_reason


def _check_situation(lang: CodeLang | DocLang, base_model: object, s: Situation) -> FileMerge:
    base = lang.render(base_model)  # type: ignore[arg-type]
    left = lang.render(apply(base_model, s.left))  # type: ignore[arg-type]
    right = lang.render(apply(base_model, s.right))  # type: ignore[arg-type]
    result = merge_files(lang.path, base, left, right)
    assert result.language == lang.name
    if not s.conflict:
        assert result.strategy == "structured" and result.fallback_reason == ""
        assert result.clean and not result.conflicts
        assert result.content == lang.render(apply(apply(base_model, s.left), s.right))  # type: ignore[arg-type]
        assert _parses(lang.path, result.content)
        return result
    assert not result.clean and result.strategy == "structured"
    assert [c.qualname.rsplit(".", 1)[-1] for c in result.conflicts] == [s.conflict]
    conflict = result.conflicts[0]
    assert conflict.path == lang.path
    assert result.content is not None and all(m in result.content for m in MARKERS)
    assert conflict.markers in result.content and all(m in conflict.markers for m in MARKERS)
    # Confined: the conflict holds that entity only, everything else is merged around it.
    for side in (conflict.base, conflict.left, conflict.right):
        assert side.count(b"\n") < 8
    outside = result.content.replace(conflict.markers, b"")
    for name in ("compute", "load", "alpha", "lint"):
        if name.encode() in base:
            assert name.encode() in outside
    return result


@pytest.mark.parametrize("s", CODE_SITUATIONS, ids=lambda s: s.name)
@pytest.mark.parametrize("lang", CODE_LANGS, ids=lambda lang: lang.name)
def test_code_situations(lang: CodeLang, s: Situation) -> None:
    _check_situation(lang, BASE_CODE, s)


@pytest.mark.parametrize("s", DOC_SITUATIONS, ids=lambda s: s.name)
@pytest.mark.parametrize("lang", DOC_LANGS, ids=lambda lang: lang.name)
def test_document_situations(lang: DocLang, s: Situation) -> None:
    _check_situation(lang, BASE_DOC, s)


def test_conflict_names_the_entity_and_holds_its_three_versions() -> None:
    s = next(s for s in CODE_SITUATIONS if s.name == "same_member")
    result = _check_situation(CODE_LANGS[0], BASE_CODE, s)
    c = result.conflicts[0]
    assert (c.qualname, c.entity_kind) == ("pkg.mod.Store.save", "method")
    assert c.base == b"    def save(self, x):\n        return x + 2"
    assert c.left == b"    def save(self, x):\n        return x + 20"
    assert c.right == b"    def save(self, x):\n        return x + 21"
    assert c.markers == (
        b"    def save(self, x):\n<<<<<<< ours\n        return x + 20\n||||||| base\n"
        b"        return x + 2\n=======\n        return x + 21\n>>>>>>> theirs\n"
    )


def test_delete_vs_edit_conflict_shows_the_deleted_side_empty() -> None:
    s = next(s for s in CODE_SITUATIONS if s.name == "delete_vs_edit")
    result = _check_situation(CODE_LANGS[0], BASE_CODE, s)
    c = result.conflicts[0]
    assert (c.qualname, c.entity_kind, c.left) == ("pkg.mod.Store.size", "method", b"")
    assert c.markers == (
        b"<<<<<<< ours\n||||||| base\n    def size(self, x):\n        return x + 3\n=======\n"
        b"    def size(self, x):\n        return x + 30\n>>>>>>> theirs\n"
    )


# --- formatting, nesting, renames, moves -------------------------------------------------------

ODD = b'''#!/usr/bin/env python3
"""Module   docstring."""
import os   # trailing comment
from typing import (
    Any,
    Optional,
)

CONSTANT = {  'a' :1 }


# A comment that belongs to f.
@decorator( 1 )
def f(a,b ):
    x = [1,
         2]   # odd
    return x


class K( object ) :
    \'\'\'Doc.\'\'\'
    attr   = 1

    def m(self):
        if True :
            return   1

    def n(self):
        return 2
'''


def test_untouched_code_keeps_its_formatting_byte_for_byte() -> None:
    left = ODD.replace(b"            return   1", b"            return   11")
    right = ODD.replace(b"        return 2\n", b"        return 2\n\n    def o(self):\n        return 3\n")
    expected = left.replace(b"        return 2\n", b"        return 2\n\n    def o(self):\n        return 3\n")
    result = merge_files("odd.py", ODD, left, right)
    assert (result.strategy, result.clean, result.content) == ("structured", True, expected)


def test_same_entity_changed_on_different_lines_merges() -> None:
    base = b"def f(a):\n    x = 1\n    y = 2\n    z = 3\n    return x + y + z\n"
    left = base.replace(b"x = 1", b"x = 10")
    right = base.replace(b"z = 3", b"z = 30")
    result = merge_files("m.py", base, left, right)
    assert result.clean and result.content == left.replace(b"z = 3", b"z = 30")


def test_both_sides_making_the_same_change() -> None:
    base = b"def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    both = base.replace(b"return 1", b"return 3")
    result = merge_files("m.py", base, both + b"\n\ndef h():\n    pass\n", both)
    assert result.clean and result.content == both + b"\n\ndef h():\n    pass\n"


LONG = b'''def compute_totals(rows, weights):
    """Sum weighted rows."""
    total = 0
    for row, weight in zip(rows, weights):
        total += row.value * weight
    return total


def other():
    return None
'''


def test_rename_on_one_side_edit_on_the_other() -> None:
    left = LONG.replace(b"def compute_totals", b"def weighted_total")
    right = LONG.replace(b"    return total\n", b"    return round(total, 2)\n")
    result = merge_files("m.py", LONG, left, right)
    assert result.clean
    assert result.content == left.replace(b"    return total\n", b"    return round(total, 2)\n")


def test_function_moved_into_a_class_while_the_other_side_edits_it() -> None:
    base = LONG + b"\n\nclass Report:\n    def render(self):\n        return ''\n"
    body = LONG.split(b"\n\n\n")[0]
    moved_body = b"\n".join(b"    " + line if line else line for line in body.split(b"\n"))
    left = base.replace(body + b"\n\n\n", b"").replace(
        b"        return ''\n", b"        return ''\n\n" + moved_body + b"\n"
    )
    right = base.replace(b"row.value * weight", b"row.value * weight * 2")
    result = merge_files("m.py", base, left, right)
    assert result.clean, [c.markers.decode() for c in result.conflicts]
    assert result.content == left.replace(b"row.value * weight", b"row.value * weight * 2")
    names = {e.qualname for e in extract_entities("m.py", result.content).entities}
    assert "m.Report.compute_totals" in names and "m.compute_totals" not in names


def test_nested_entities_merge_inside_their_parent() -> None:
    base = b"def outer():\n    def a():\n        return 1\n\n    def b():\n        return 2\n\n    return a, b\n"
    left = base.replace(b"return 1", b"return 10")
    right = base.replace(b"return 2", b"return 20").replace(b"    return a, b\n", b"    return b, a\n")
    result = merge_files("m.py", base, left, right)
    assert result.clean and result.content == right.replace(b"return 1", b"return 10")


def test_both_sides_adding_the_same_name_differently_is_a_conflict() -> None:
    base = b"def f():\n    return 1\n"
    left = base + b"\n\ndef g():\n    return 'left'\n"
    right = base + b"\n\ndef g():\n    return 'right'\n"
    result = merge_files("m.py", base, left, right)
    assert not result.clean and [(c.qualname, c.base) for c in result.conflicts] == [("m.g", b"")]


def test_the_same_entity_added_at_two_places_is_a_conflict() -> None:
    base = b"def f():\n    return 1\n\n\ndef h():\n    return 3\n"
    added = b"def g():\n    return 0\n"
    result = merge_files("m.py", base, added + b"\n\n" + base, base + b"\n\n" + added)
    assert [(c.qualname, c.left, c.right) for c in result.conflicts] == [("m.g", added[:-1], added[:-1])]
    assert result.content.startswith(b"<<<<<<< ours\n" + added + b"||||||| base\n=======\n" + added)


def test_a_rename_onto_a_name_the_other_side_added_is_a_whole_file_conflict() -> None:
    # Neither the structured merge nor the (clean) line merge can be trusted: two definitions of
    # `summary`. The whole file is the conflict.
    left = LONG.replace(b"def compute_totals", b"def summary")
    right = LONG + b"\n\ndef summary():\n    return 'added on the right'\n"
    result = merge_files("m.py", LONG, left, right)
    assert (result.clean, result.strategy, result.fallback_reason) == (False, "line", "unverified")
    (c,) = result.conflicts
    assert (c.qualname, c.entity_kind, c.base, c.left, c.right) == ("m", "module", LONG, left, right)
    assert (
        result.content
        == c.markers
        == b"<<<<<<< ours\n" + left + b"||||||| base\n" + LONG + b"=======\n" + right + b">>>>>>> theirs\n"
    )


def test_deleted_on_one_side_unchanged_on_the_other_is_deleted() -> None:
    base = b"def f():\n    return 1\n\n\ndef g():\n    return 2\n\n\ndef h():\n    return 3\n"
    left = base.replace(b"\n\ndef g():\n    return 2\n", b"")
    right = base.replace(b"return 3", b"return 30")
    result = merge_files("m.py", base, left, right)
    assert result.clean and result.content == left.replace(b"return 3", b"return 30")


def test_imports_merge_as_a_sorted_set() -> None:
    base = b"import os\nimport sys\n\n\ndef f():\n    return os, sys\n"
    left = base.replace(b"import os\n", b"import json\nimport os\n")
    right = base.replace(b"import sys\n", b"import sys\nimport time\n").replace(
        b"import os\n", b"import abc\nimport os\n"
    )
    result = merge_files("m.py", base, left, right)
    assert result.clean
    assert (
        result.content
        == b"import abc\nimport json\nimport os\nimport sys\nimport time\n\n\ndef f():\n    return os, sys\n"
    )


def test_the_same_import_added_at_two_places_is_kept_once() -> None:
    base = b"import os\n\nX = 1\n\nimport sys\n"
    left = base.replace(b"import os\n", b"import os\nimport re\n")
    right = base.replace(b"import sys\n", b"import sys\nimport re\n")
    result = merge_files("m.py", base, left, right)
    assert result.clean and result.content.count(b"import re\n") == 1


def test_json_keys_added_on_both_sides_get_their_commas() -> None:
    base = b'{\n  "a": 1,\n  "b": 2\n}\n'
    left = b'{\n  "a": 1,\n  "b": 2,\n  "c": 3\n}\n'
    right = b'{\n  "a": 1\n}\n'
    result = merge_files("x.json", base, left, right)
    assert result.clean and result.content == b'{\n  "a": 1,\n  "c": 3\n}\n'


# --- whole files, fallbacks, the API ----------------------------------------------------------


def test_trivial_merges() -> None:
    a, b = b"x = 1\n", b"x = 2\n"
    assert merge_files("m.py", a, a, b) == FileMerge("m.py", "python", "trivial", "", True, b, ())
    assert merge_files("m.py", a, b, a).content == b
    assert merge_files("m.py", a, b, b).content == b
    assert merge_files("m.py", None, b, b).content == b
    assert merge_files("m.py", a, None, a) == FileMerge("m.py", "python", "trivial", "", True, None, ())
    assert merge_files("m.py", a, None, None).content is None
    assert merge_files("m.py", None, None, b).content == b


def test_delete_vs_edit_of_a_whole_file_is_a_conflict() -> None:
    result = merge_files("pkg/m.py", b"x = 1\n", None, b"x = 2\n")
    assert not result.clean and result.strategy == "trivial"
    (c,) = result.conflicts
    assert (c.qualname, c.entity_kind, c.base, c.left, c.right) == ("pkg.m", "module", b"x = 1\n", b"", b"x = 2\n")
    assert result.content == b"<<<<<<< ours\n||||||| base\nx = 1\n=======\nx = 2\n>>>>>>> theirs\n"


def test_added_on_both_sides_merges_entity_by_entity() -> None:
    left = b"import os\n\n\ndef f():\n    return 1\n"
    right = b"import sys\n\n\ndef g():\n    return 2\n"
    result = merge_files("m.py", None, left, right)
    assert result.clean and result.strategy == "structured"
    assert result.content == b"import os\nimport sys\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"


def test_unsupported_language_falls_back_to_a_line_merge() -> None:
    base = b"one\ntwo\nthree\nfour\nfive\n"
    clean = merge_files("notes.txt", base, base.replace(b"one", b"ONE"), base.replace(b"five", b"FIVE"))
    assert (clean.strategy, clean.fallback_reason, clean.clean, clean.language) == (
        "line",
        "unsupported_language",
        True,
        "",
    )
    assert clean.content == b"ONE\ntwo\nthree\nfour\nFIVE\n"
    conflict = merge_files("notes.txt", base, base.replace(b"two", b"2"), base.replace(b"two", b"II"))
    (c,) = conflict.conflicts
    assert (c.qualname, c.entity_kind, c.base, c.left, c.right) == ("", "", b"two\n", b"2\n", b"II\n")
    assert (
        conflict.content == b"one\n<<<<<<< ours\n2\n||||||| base\ntwo\n=======\nII\n>>>>>>> theirs\nthree\nfour\nfive\n"
    )


def test_a_side_that_does_not_parse_falls_back_to_a_line_merge() -> None:
    base = b"def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    left = base.replace(b"def f():", b"def f(:")
    result = merge_files("m.py", base, left, base.replace(b"return 2", b"return 3"))
    assert (result.strategy, result.fallback_reason, result.clean) == ("line", "parse_error", True)


def test_binary_files_conflict_and_keep_ours() -> None:
    result = merge_files("data.bin", b"\x00a", b"\x00b", b"\x00c")
    assert (result.clean, result.fallback_reason, result.content) == (False, "binary", b"\x00b")


def test_too_large_falls_back_to_a_line_merge() -> None:
    base = b"x = 1\n" * 100
    result = merge_files("m.py", base, b"y = 0\n" + base, base + b"z = 2\n", max_file_bytes=200)
    assert (result.strategy, result.fallback_reason, result.clean) == ("line", "too_large", True)


def test_labels_and_crlf_in_markers() -> None:
    base = b"def f():\r\n    return 1\r\n"
    result = merge_files(
        "m.py", base, base.replace(b"1", b"2"), base.replace(b"1", b"3"), labels=("HEAD", "merge-base", "feature")
    )
    assert b"<<<<<<< HEAD\r\n" in result.content and b"||||||| merge-base\r\n" in result.content
    assert b"=======\r\n" in result.content and b">>>>>>> feature\r\n" in result.content


def test_explicit_language_for_a_path_without_extension() -> None:
    base = b"def f():\n    return 1\n"
    result = merge_files(
        ".merge_file_ab12",
        base,
        base + b"\n\ndef g():\n    pass\n",
        base + b"\n\ndef h():\n    pass\n",
        language="python",
    )
    assert result.clean and result.language == "python" and result.strategy == "structured"


def test_guess_language() -> None:
    assert guess_language(b"def f():\n    return 1\n") == "python"
    assert guess_language(b"#!/usr/bin/env python3\nprint(1)\n") == "python"
    assert guess_language(b"package main\n\nfunc main() {}\n") == "go"
    assert guess_language(b"fn main() {\n    let x = 1;\n}\n") == "rust"
    assert guess_language(b'{\n  "a": 1\n}\n') == "json"
    assert guess_language(b"function f() { return 1; }\n") == "javascript"
    assert guess_language(b"plain words, nothing else\n") is None
    assert guess_language(b"a: 1\nb: [2]\n") is None
    assert guess_language(b"\x00\x01") is None
    assert guess_language(None, b"") is None


def test_merge_to_json() -> None:
    base = b"def f():\n    return 1\n"
    result = merge_files("m.py", base, base.replace(b"1", b"2"), base.replace(b"1", b"3"))
    data = merge_to_json(result, content=True)
    assert list(data) == ["path", "language", "strategy", "fallback_reason", "clean", "deleted", "conflicts", "content"]
    assert data["conflicts"][0]["qualname"] == "m.f" and data["conflicts"][0]["kind"] == "function"
    assert data["conflicts"][0]["left"] == "def f():\n    return 2"
    assert "content" not in merge_to_json(result)


@pytest.mark.parametrize(
    "args",
    [
        ("", b"", b"", b""),
        ("m.py", "text", b"", b""),
        ("m.py", b"", 3, b""),
    ],
)
def test_api_misuse_raises(args: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput):
        merge_files(*args)


def test_bad_labels_and_language_raise() -> None:
    with pytest.raises(InvalidInput):
        merge_files("m.py", b"", b"a", b"b", labels=("a", "b"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        merge_files("m.py", b"", b"a", b"b", labels=("a\n", "b", "c"))
    with pytest.raises(InvalidInput):
        merge_files("m.py", b"", b"a", b"b", language="cobol")


def test_fields_and_properties_merge_as_a_set_by_name() -> None:
    ts = b"export interface Shape {\n  area(): number;\n  name: string;\n}\n"
    left = ts.replace(b"  name: string;\n", b"  name: string;\n  color: string;\n")
    right = ts.replace(b"  name: string;\n", b"  name: string;\n  label: string;\n")
    result = merge_files("m.ts", ts, left, right)
    assert result.clean and result.content == left.replace(
        b"  color: string;\n", b"  color: string;\n  label: string;\n"
    )
    java = b"class A {\n    private int x = 1;\n\n    int f() { return x; }\n}\n"
    left = java.replace(b"x = 1;\n", b"x = 1;\n    private int y = 2;\n")
    right = java.replace(b"x = 1;\n", b"x = 1;\n    private long y = 3;\n")
    conflict = merge_files("A.java", java, left, right)  # the same field, two ways
    assert [(c.qualname, c.entity_kind) for c in conflict.conflicts] == [("A.A", "class")]
    assert (
        b"<<<<<<< ours\n    private int y = 2;\n||||||| base\n=======\n    private long y = 3;\n>>>>>>> theirs\n"
        in conflict.conflicts[0].markers
    )
