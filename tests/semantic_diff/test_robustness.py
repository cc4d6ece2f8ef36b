"""Whatever the content, a diff never raises: files that cannot be diffed entity by entity get a
line-level summary and a ``fallback_reason``."""

from __future__ import annotations

import sys

import pytest

import trellis.semantic_diff.parse as parse_module
from trellis.semantic_diff import FALLBACK_REASONS, InvalidInput, diff_files, extract_entities
from trellis.semantic_diff.languages import registry


def _file(old: dict[str, bytes], new: dict[str, bytes], **kw: object):  # type: ignore[no-untyped-def]
    result = diff_files(old, new, **kw)  # type: ignore[arg-type]
    assert len(result.files) == 1
    return result


def test_unsupported_language_gets_line_counts() -> None:
    result = _file({"README.md": b"# Title\n\nold\n"}, {"README.md": b"# Title\n\nnew\nmore\n"})
    f = result.files[0]
    assert (f.status, f.language, f.fallback_reason, f.additions, f.deletions, f.binary) == (
        "modified",
        "",
        "unsupported_language",
        2,
        1,
        False,
    )
    assert result.changes == ()


def test_binary_file() -> None:
    result = _file({"logo.py": b"\x89PNG\x00\x01"}, {"logo.py": b"\x89PNG\x00\x02\x03"})
    f = result.files[0]
    assert (f.binary, f.fallback_reason, f.additions, f.deletions) == (True, "binary", 0, 0)
    assert result.changes == ()


def test_binary_added_and_deleted() -> None:
    result = diff_files({"a.bin": b"\x00\x01"}, {"b.py": b"\x00\x02" * 100})
    assert sorted((f.status, f.binary) for f in result.files) == [("added", True), ("deleted", True)]


@pytest.mark.parametrize("bad", [b"def f(:\n    pass\n", b"class A:\n    def m(self\n", b"x = (1,\n"])
def test_parse_error_falls_back(bad: bytes) -> None:
    good = b"def f(x):\n    return x\n"
    for old, new in ((good, bad), (bad, good), (bad, bad + b"\n# more\n")):
        result = _file({"a.py": old}, {"a.py": new})
        assert result.files[0].fallback_reason == "parse_error"
        assert result.changes == ()
    assert extract_entities("a.py", bad).fallback_reason == "parse_error"


def test_huge_file() -> None:
    big = b"x = 1\n" * 400_000  # 2.4 MB
    result = _file({"big.py": big}, {"big.py": big + b"y = 2\n"})
    f = result.files[0]
    assert (f.fallback_reason, f.additions, f.deletions) == ("too_large", 1, 0)
    small = _file({"a.py": b"x = 1\n"}, {"a.py": b"x = 2\n"}, max_file_bytes=3)
    assert small.files[0].fallback_reason == "too_large"


def test_invalid_utf8() -> None:
    result = _file({"a.py": b"x = 1\n"}, {"a.py": b"x = '\xff\xfe'\n"})
    assert result.files[0].fallback_reason == "invalid_utf8"
    assert extract_entities("a.py", b"\xc3\x28 = 1").fallback_reason == "invalid_utf8"


def test_valid_utf8_names_are_kept() -> None:
    ents = extract_entities("a.py", "def grüße(x):\n    return 'ü'\n".encode()).entities
    assert [e.qualname for e in ents] == ["a", "a.grüße"]


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("deep.py", b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
        ("deep.json", b"[" * 5000 + b"]" * 5000),
        ("deepobj.json", b'{"a": ' * 5000 + b"1" + b"}" * 5000),
        ("deep.js", b"f(" * 5000 + b")" * 5000 + b";"),
        ("deep.rs", b"fn f() { " + b"{ " * 5000 + b"}" * 5000 + b" }"),
        ("deep.toml", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ],
)
def test_deep_nesting_does_not_recurse(path: str, content: bytes) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursion over the tree would blow up
    try:
        result = diff_files({path: content}, {path: content + b"\n"})
        parsed = extract_entities(path, content)
    finally:
        sys.setrecursionlimit(limit)
    assert len(result.files) == 1
    assert parsed.fallback_reason in ("", "parse_error")


def test_deeply_nested_entities_are_capped() -> None:
    content = b'{"a": ' * 3000 + b"1" + b"}" * 3000
    parsed = extract_entities("deep.json", content)
    assert 1 < len(parsed.entities) <= 64
    assert max(len(e.qualname) for e in parsed.entities) < 200


def test_python_nested_functions_5000_deep_within_limit() -> None:
    src = b"".join(b" " * i + b"def f%d():\n" % i for i in range(300)) + b" " * 300 + b"pass\n"
    parsed = extract_entities("n.py", src)
    assert parsed.fallback_reason == ""
    assert len(parsed.entities) >= 40


def test_empty_files() -> None:
    result = diff_files({"a.py": b""}, {"a.py": b"def f():\n    pass\n"})
    assert [(c.change, c.qualname) for c in result.changes] == [("added", "a.f")]
    assert diff_files({}, {"e.py": b""}).files[0].status == "added"
    assert extract_entities("e.json", b"").fallback_reason == ""


def test_missing_grammar_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(spec):  # type: ignore[no-untyped-def]
        raise registry.GrammarUnavailable("no wheel")

    monkeypatch.setattr(parse_module, "parser_for", unavailable)
    result = _file({"a.go": b"package a\n"}, {"a.go": b"package b\n"})
    assert result.files[0].fallback_reason == "grammar_unavailable"


def test_every_fallback_reason_is_documented() -> None:
    assert set(FALLBACK_REASONS) == {
        "unsupported_language",
        "grammar_unavailable",
        "binary",
        "too_large",
        "invalid_utf8",
        "parse_error",
    }


def test_misuse_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        diff_files({"a.py": "text"}, {})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput):
        extract_entities("", b"")
    assert InvalidInput("x").reason == "INVALID_ARGUMENT"


def test_mixed_commit_keeps_entity_level_files() -> None:
    old = {"a.py": b"def f():\n    return 1\n", "b.py": b"x = 1\n", "c.txt": b"a\n"}
    new = {"a.py": b"def f():\n    return 2\n", "b.py": b"x = (\n", "c.txt": b"b\n"}
    result = diff_files(old, new)
    assert [(f.path, f.fallback_reason) for f in result.files] == [
        ("a.py", ""),
        ("b.py", "parse_error"),
        ("c.txt", "unsupported_language"),
    ]
    assert [(c.qualname, c.details) for c in result.changes] == [("a.f", ("body",))]
