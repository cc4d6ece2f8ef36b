"""Keyed documents (JSON, YAML, TOML): a changed key is an entity change named by its key path."""

from __future__ import annotations

import pytest

from trellis.semantic_diff import diff_files, extract_entities


def _changes(path: str, old: str, new: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    result = diff_files({path: old.encode()}, {path: new.encode()})
    assert all(f.fallback_reason == "" for f in result.files), result.files
    return [(c.change, c.kind, c.qualname, c.details) for c in result.changes]


JSON_OLD = (
    '{\n  "name": "app",\n  "scripts": {"test": "pytest", "lint": "ruff"},\n'
    '  "servers": [{"host": "a", "port": 1}, {"host": "b", "port": 2}]\n}\n'
)
YAML_OLD = (
    "name: app\nscripts:\n  test: pytest\n  lint: ruff\nservers:\n  - host: a\n    port: 1\n  - host: b\n    port: 2\n"
)
TOML_OLD = (
    'name = "app"\n\n[scripts]\ntest = "pytest"\nlint = "ruff"\n\n[[servers]]\nhost = "a"\nport = 1\n\n'
    '[[servers]]\nhost = "b"\nport = 2\n'
)

DOCS = pytest.mark.parametrize(
    ("path", "old"), [("pkg.json", JSON_OLD), ("ci.yaml", YAML_OLD), ("pyproject.toml", TOML_OLD)]
)


@DOCS
def test_key_paths(path: str, old: str) -> None:
    names = [e.qualname for e in extract_entities(path, old.encode()).entities]
    assert names[0] == path
    assert {"name", "scripts.test", "scripts.lint", "servers[0].host", "servers[1].port"} <= set(names)


@DOCS
def test_value_changed(path: str, old: str) -> None:
    new = old.replace("pytest", "pytest -x")
    assert _changes(path, old, new) == [("modified", "key", "scripts.test", ("value",))]


@DOCS
def test_value_in_array_item_changed(path: str, old: str) -> None:
    new = old.replace("2", "3")
    assert _changes(path, old, new) == [("modified", "key", "servers[1].port", ("value",))]


@DOCS
def test_key_added_and_removed(path: str, old: str) -> None:
    new = old.replace("lint", "format")
    assert sorted(_changes(path, old, new)) == [
        ("added", "key", "scripts.format", ()),
        ("removed", "key", "scripts.lint", ()),
    ]


def test_formatting_only_json() -> None:
    new = JSON_OLD.replace('"name": "app"', '"name" :   "app"')
    assert _changes("pkg.json", JSON_OLD, new) == [("modified", "key", "name", ("formatting",))]
    # Whitespace between entities belongs to none of them: re-wrapping an object reports nothing.
    new = JSON_OLD.replace('{"test": "pytest", "lint": "ruff"}', '{\n    "test": "pytest",\n    "lint": "ruff"\n  }')
    assert _changes("pkg.json", JSON_OLD, new) == []


def test_yaml_multi_document() -> None:
    old = "kind: A\nspec: 1\n---\nkind: B\nspec: 2\n"
    new = "kind: A\nspec: 1\n---\nkind: B\nspec: 3\n"
    assert _changes("k8s.yaml", old, new) == [("modified", "key", "[1].spec", ("value",))]


def test_toml_dotted_and_inline_keys() -> None:
    old = '[tool.ruff]\nline-length = 100\nlint.select = ["E"]\nextra = {a = 1, b = 2}\n'
    new = old.replace("b = 2", "b = 3").replace("100", "120")
    assert _changes("pyproject.toml", old, new) == [
        ("modified", "key", "tool.ruff.line-length", ("value",)),
        ("modified", "key", "tool.ruff.extra.b", ("value",)),
    ]


def test_json_key_moved_to_another_object() -> None:
    old = '{"a": {"settings": {"x": 1, "y": [1, 2, 3], "z": "long value here"}}, "b": {}}'
    new = '{"a": {}, "b": {"settings": {"x": 1, "y": [1, 2, 3], "z": "long value here"}}}'
    changes = _changes("c.json", old, new)
    assert ("moved", "key", "b.settings", ()) in changes
