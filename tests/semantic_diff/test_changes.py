"""Every change class on every code language: the fixtures of ``fixtures.py`` edited one way at a time."""

from __future__ import annotations

import pytest

from trellis.semantic_diff import DiffResult, EntityChange, diff_files

from .fixtures import CODE_LANGUAGES, Block, Lang

LANGS = pytest.mark.parametrize("lang", CODE_LANGUAGES, ids=lambda lang: lang.name)


def _edit_compute(lang: Lang, old: str, new: str) -> DiffResult:
    files, m, n = lang.base()
    assert old in lang.compute, (lang.name, old)
    m2: list[Block] = [("fn", lang.compute.replace(old, new))] + m[1:]
    return diff_files(files, lang.files(m2, n))


def _only(result: DiffResult, suffix: str) -> EntityChange:
    found = [c for c in result.changes if c.qualname.endswith(suffix) or c.old_qualname.endswith(suffix)]
    assert len(found) == 1, (suffix, result.changes)
    return found[0]


def _kinds_of(result: DiffResult) -> set[tuple[str, str]]:
    return {(c.change, c.qualname.rsplit(".", 1)[-1]) for c in result.changes}


@LANGS
def test_the_base_fixture_parses_cleanly(lang: Lang) -> None:
    files, _, _ = lang.base()
    result = diff_files({}, files)
    assert all(f.fallback_reason == "" for f in result.files), result.files
    names = {c.qualname.rsplit(".", 1)[-1] for c in result.changes}
    assert {"compute", "save", "size", "load", "other"} <= names


@LANGS
def test_no_change_is_no_change(lang: Lang) -> None:
    files, _, _ = lang.base()
    assert diff_files(files, dict(files)).changes == ()


@LANGS
def test_body_change(lang: Lang) -> None:
    change = _only(_edit_compute(lang, *lang.body_edit), ".compute")
    assert change.change == "modified"
    assert change.details == ("body",)
    assert change.path == change.old_path == lang.path("m")


@LANGS
def test_parameter_added(lang: Lang) -> None:
    change = _only(_edit_compute(lang, *lang.param_add), ".compute")
    assert change.change == "modified"
    assert change.details[0] == "signature"
    assert "parameters_added:gamma" in change.details
    assert "body" not in change.details


@LANGS
def test_parameter_renamed(lang: Lang) -> None:
    change = _only(_edit_compute(lang, *lang.param_rename), ".compute")
    assert change.change == "modified"
    assert "parameters_renamed:beta->delta" in change.details


@LANGS
def test_parameters_reordered(lang: Lang) -> None:
    change = _only(_edit_compute(lang, *lang.param_reorder), ".compute")
    assert "signature" in change.details and "parameters_reordered" in change.details


@LANGS
def test_docstring_only(lang: Lang) -> None:
    change = _only(_edit_compute(lang, *lang.doc_edit), ".compute")
    assert change.change == "modified"
    assert change.details == ("docstring",)


@LANGS
def test_formatting_only(lang: Lang) -> None:
    files, m, n = lang.base()
    new = lang.files([("fn", lang.reformat(lang.compute))] + m[1:], n)
    assert new != files
    result = diff_files(files, new)
    assert result.changes, "a reformatting is reported"
    for change in result.changes:
        assert change.change == "modified" and change.details == ("formatting",), change


@LANGS
def test_function_renamed(lang: Lang) -> None:
    result = _edit_compute(lang, "compute(", "calculate(")
    change = _only(result, ".calculate")
    assert change.change == "renamed"
    assert change.old_qualname.endswith(".compute")
    assert change.details == ()
    assert change.similarity == 1.0
    assert not any(c.change in ("added", "removed") for c in result.changes)


@LANGS
def test_renamed_and_modified(lang: Lang) -> None:
    files, m, n = lang.base()
    body_old, body_new = lang.body_edit
    compute = lang.compute.replace("compute(", "calculate(").replace(body_old, body_new)
    change = _only(diff_files(files, lang.files([("fn", compute)] + m[1:], n)), ".calculate")
    assert change.change == "renamed"
    assert change.details == ("body",)
    assert 0.8 <= change.similarity < 1.0


@LANGS
def test_function_added_and_removed(lang: Lang) -> None:
    files, m, n = lang.base()
    removed = diff_files(files, lang.files(m[1:], n))
    assert _only(removed, ".compute").change == "removed"
    added = diff_files(lang.files(m[1:], n), files)
    change = _only(added, ".compute")
    assert change.change == "added" and change.old_path == "" and change.old_qualname == ""
    assert change.new_start_line > 0 and change.old_start_line == 0


@LANGS
def test_moved_to_another_file(lang: Lang) -> None:
    files, m, n = lang.base()
    result = diff_files(files, lang.files(m[1:], n + [("fn", lang.compute)]))
    change = _only(result, ".compute")
    assert change.change == "moved"
    assert (change.old_path, change.path) == (lang.path("m"), lang.path("n"))
    assert change.details == ()


@LANGS
def test_moved_and_renamed_across_files(lang: Lang) -> None:
    files, m, n = lang.base()
    moved = lang.compute.replace("compute(", "calculate(")
    change = _only(diff_files(files, lang.files(m[1:], n + [("fn", moved)])), ".calculate")
    assert change.change == "moved_renamed"
    assert change.old_qualname.endswith(".compute")
    assert change.path == lang.path("n")


@LANGS
def test_method_moved_to_another_class(lang: Lang) -> None:
    files, m, n = lang.base()
    new = lang.files([m[0], ("type", lang.store_without_save), ("type", lang.archive_with_save)], n)
    change = _only(diff_files(files, new), "save")
    assert change.change == "moved"
    assert "Store" in change.old_qualname and "Archive" in change.qualname


@LANGS
def test_method_renamed(lang: Lang) -> None:
    files, m, n = lang.base()
    store = lang.store.replace("save(", "persist(")
    result = diff_files(files, lang.files([m[0], ("type", store), m[2]], n))
    change = _only(result, ".persist")
    assert change.change == "renamed"
    assert change.old_qualname.endswith("save")


@LANGS
def test_swapping_sides_swaps_added_and_removed(lang: Lang) -> None:
    files, m, n = lang.base()
    new = lang.files(m[1:], n + [("fn", lang.compute.replace("compute(", "calculate("))])
    forward, backward = diff_files(files, new), diff_files(new, files)
    swap = {"added": "removed", "removed": "added"}
    assert sorted(
        (swap.get(c.change, c.change), c.old_qualname or c.qualname, c.qualname)
        for c in forward.changes
        if c.change in swap
    ) == sorted((c.change, c.qualname, c.old_qualname or c.qualname) for c in backward.changes if c.change in swap)
    assert {(c.change, c.old_qualname, c.qualname) for c in forward.changes if c.change not in swap} == {
        (c.change, c.qualname, c.old_qualname) for c in backward.changes if c.change not in swap
    }


def test_class_renamed_keeps_its_members() -> None:
    old = (
        b"class Store:\n    def save(self, item):\n        self.items.append(item)\n        return item\n\n"
        b"    def size(self):\n        return len(self.items)\n"
    )
    new = old.replace(b"class Store", b"class Shelf")
    result = diff_files({"a.py": old}, {"a.py": new})
    assert [(c.change, c.kind, c.old_qualname, c.qualname) for c in result.changes] == [
        ("renamed", "class", "a.Store", "a.Shelf")
    ]


def test_class_renamed_with_a_modified_member() -> None:
    old = (
        b"class Store:\n    def save(self, item):\n        self.items.append(item)\n        return item\n\n"
        b"    def size(self):\n        return len(self.items)\n"
    )
    new = old.replace(b"class Store", b"class Shelf").replace(b"return item", b"return None")
    result = diff_files({"a.py": old}, {"a.py": new})
    got = [(c.change, c.old_qualname, c.qualname, c.details) for c in result.changes]
    assert got == [("renamed", "a.Store", "a.Shelf", ()), ("modified", "a.Store.save", "a.Shelf.save", ("body",))]


def test_ambiguous_rename_is_reported_as_added_and_removed() -> None:
    body = "    values = [x * 2 for x in items]\n    return sum(values) + len(items)\n"
    old = f"def first(items):\n{body}".encode()
    new = f"def second(items):\n{body}\n\ndef third(items):\n{body}".encode()
    result = diff_files({"a.py": old}, {"a.py": new})
    assert sorted(c.change for c in result.changes) == ["added", "added", "removed"]


def test_small_bodies_are_not_renamed() -> None:
    old = b"def a():\n    return 1\n"
    new = b"def b():\n    return 1\n"
    result = diff_files({"a.py": old}, {"a.py": new})
    assert sorted(c.change for c in result.changes) == ["added", "removed"]


def test_dissimilar_bodies_are_not_renamed() -> None:
    old = b"def a(x):\n    total = x + 1\n    return [total, total * 2, total * 3]\n"
    new = b"def b(x):\n    with open(x) as f:\n        return f.read().splitlines()\n"
    result = diff_files({"a.py": old}, {"a.py": new})
    assert sorted(c.change for c in result.changes) == ["added", "removed"]


def test_python_decorator_change() -> None:
    old = b"@cache\ndef f(x):\n    return x * 2 + 1\n"
    new = b"@lru_cache(maxsize=8)\ndef f(x):\n    return x * 2 + 1\n"
    assert [c.details for c in diff_files({"a.py": old}, {"a.py": new}).changes] == [("decorators",)]


def test_python_nested_function_and_property_pair() -> None:
    old = b"""class A:
    @property
    def x(self):
        return self._x

    @x.setter
    def x(self, value):
        self._x = value

    def outer(self):
        def inner(y):
            return y + 1
        return inner
"""
    new = old.replace(b"self._x = value", b"self._x = int(value)").replace(b"return y + 1", b"return y + 2")
    result = diff_files({"app/models.py": old}, {"app/models.py": new})
    got = [(c.change, c.qualname, c.details, c.new_start_line) for c in result.changes]
    assert got == [
        ("modified", "app.models.A.x", ("body",), 6),
        ("modified", "app.models.A.outer.inner", ("body",), 11),
    ]


def test_module_level_change_is_a_module_change() -> None:
    old = b"import os\n\ndef f():\n    return os.sep\n"
    new = b"import os\nimport sys\n\ndef f():\n    return os.sep\n"
    result = diff_files({"pkg/__init__.py": old}, {"pkg/__init__.py": new})
    assert [(c.change, c.kind, c.qualname, c.details) for c in result.changes] == [
        ("modified", "module", "pkg", ("body",))
    ]


def test_file_rename_is_detected_and_members_are_not_reported() -> None:
    src = b"def f(a):\n    return a + 1\n\n\nclass C:\n    def m(self):\n        return 2\n"
    result = diff_files({"app/old.py": src}, {"app/new.py": src})
    assert [(f.status, f.old_path, f.path) for f in result.files] == [("renamed", "app/old.py", "app/new.py")]
    assert [(c.change, c.kind, c.old_qualname, c.qualname) for c in result.changes] == [
        ("renamed", "module", "app.old", "app.new")
    ]


def test_declared_file_rename() -> None:
    old = b"def f(a):\n    return a + 1\n"
    new = b"def f(a):\n    return a + 2\n\n\ndef g():\n    return 3\n"
    result = diff_files({"a/x.py": old}, {"b/x.py": new}, renames={"a/x.py": "b/x.py"})
    assert [(f.status, f.additions, f.deletions) for f in result.files] == [("renamed", 5, 1)]
    assert [(c.change, c.kind, c.qualname) for c in result.changes] == [
        ("moved", "module", "b.x"),
        ("modified", "function", "b.x.f"),
        ("added", "function", "b.x.g"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "details"),
    [
        # black's "magic trailing comma": exploding a collection adds one, and it changes nothing
        (
            "    tt = (dt.year, dt.month,\n          dt.day)\n",
            "    tt = (\n        dt.year,\n        dt.month,\n        dt.day,\n    )\n",
            "formatting",
        ),
        ("    tt = [dt.year, dt.month]\n", "    tt = [dt.year, dt.month,]\n", "formatting"),
        ("    tt = {dt.year: 1}\n", "    tt = {dt.year: 1,}\n", "formatting"),
        ("    tt = g(dt.year, key=1)\n", "    tt = g(\n        dt.year,\n        key=1,\n    )\n", "formatting"),
        # a one-item tuple's comma makes the tuple, and a subscript's makes a tuple key
        ("    tt = (dt.year,)\n", "    tt = (dt.year)\n", "body"),
        ("    tt = dt[1,]\n", "    tt = dt[1]\n", "body"),
    ],
    ids=["tuple", "list", "dict", "call", "one-tuple", "subscript"],
)
def test_a_trailing_comma_that_changes_nothing_is_formatting(old: str, new: str, details: str) -> None:
    """isodate's black commit exploded ``_isdst``'s tuple with a trailing comma: a body change, whose tests ran."""
    before = f"def f(dt):\n{old}    return tt\n\n\ndef g(*a, **k):\n    return a\n"
    after = f"def f(dt):\n{new}    return tt\n\n\ndef g(*a, **k):\n    return a\n"
    change = _only(diff_files({"m.py": before.encode()}, {"m.py": after.encode()}), ".f")
    assert change.details == (details,), change


def test_a_trailing_comma_in_parameters_and_imports_is_formatting() -> None:
    before = b"from os import (path, sep)\n\n\ndef f(a, b):\n    return a\n"
    after = b"from os import (\n    path,\n    sep,\n)\n\n\ndef f(\n    a,\n    b,\n):\n    return a\n"
    result = diff_files({"m.py": before}, {"m.py": after})
    assert all(c.details == ("formatting",) for c in result.changes), result.changes
