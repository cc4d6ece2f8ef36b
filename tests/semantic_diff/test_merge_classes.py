"""Failure classes of the structured merge found on real merges (``bench_merge.py --corpus``),
each as a small fixture of our own per language: the order of both sides' additions, members of
containers added on both sides, imports merged by the names they bind, and the checks that keep a
clean merge from binding a name twice."""

from __future__ import annotations

import pytest

from trellis.semantic_diff import merge_files
from trellis.semantic_diff.parse import analyze


def _merge(path: str, base: str, left: str, right: str) -> tuple[bool, str]:
    result = merge_files(path, base.encode(), left.encode(), right.encode())
    content = (result.content or b"").decode()
    if result.clean:
        assert not analyze(path, result.content or b"").fallback_reason, content
    return result.clean, content


# --- order: CURRENT's additions first, then OTHER's, as git merge-file ----------------------------

ORDER = [
    ("a.py", "def a():\n    return 1\n", "def zeta():\n    return 2\n", "def beta():\n    return 3\n"),
    (
        "a.go",
        "package a\n\nfunc A() int {\n\treturn 1\n}\n",
        "func Zeta() int {\n\treturn 2\n}\n",
        "func Beta() int {\n\treturn 3\n}\n",
    ),
    ("a.rs", "fn a() -> i32 {\n    1\n}\n", "fn zeta() -> i32 {\n    2\n}\n", "fn beta() -> i32 {\n    3\n}\n"),
    (
        "a.ts",
        "export function a(): number {\n  return 1;\n}\n",
        "export function zeta(): number {\n  return 2;\n}\n",
        "export function beta(): number {\n  return 3;\n}\n",
    ),
]


@pytest.mark.parametrize(("path", "base", "zeta", "beta"), ORDER, ids=[p for p, *_ in ORDER])
def test_both_sides_adding_at_one_place_come_current_first(path: str, base: str, zeta: str, beta: str) -> None:
    left, right = base + "\n" + zeta, base + "\n" + beta
    clean, text = _merge(path, base, left, right)
    assert clean and text == base + "\n" + zeta + "\n" + beta
    clean, text = _merge(path, base, right, left)
    assert clean and text == base + "\n" + beta + "\n" + zeta


# --- containers: members added on both sides ---------------------------------------------------

CONTAINERS = [
    # a class whose base holds no method yet
    (
        "a.py",
        "class Test:\n    attr = 'hi'\n\n\nx = 1\n",
        "class Test:\n    attr = 'hi'\n\n    def news(self):\n        return 1\n\n\nx = 1\n",
        "class Test:\n    attr = 'hi'\n\n    def about(self):\n        return 2\n\n\nx = 1\n",
        "class Test:\n    attr = 'hi'\n\n    def news(self):\n        return 1\n\n    def about(self):\n"
        "        return 2\n\n\nx = 1\n",
    ),
    (
        "a.go",
        "package a\n\ntype S struct {\n\tA int\n}\n",
        "package a\n\ntype S struct {\n\tA int\n\tZ int\n}\n",
        "package a\n\ntype S struct {\n\tA int\n\tB string\n}\n",
        "package a\n\ntype S struct {\n\tA int\n\tZ int\n\tB string\n}\n",
    ),
    (
        "a.go",
        "package a\n\ntype I interface {\n\tA() int\n}\n",
        "package a\n\ntype I interface {\n\tA() int\n\tZ() int\n}\n",
        "package a\n\ntype I interface {\n\tA() int\n\tB() int\n}\n",
        "package a\n\ntype I interface {\n\tA() int\n\tZ() int\n\tB() int\n}\n",
    ),
    (
        "a.rs",
        "struct S {\n    a: i32,\n}\n",
        "struct S {\n    a: i32,\n    z: u8,\n}\n",
        "struct S {\n    a: i32,\n    b: u16,\n}\n",
        "struct S {\n    a: i32,\n    z: u8,\n    b: u16,\n}\n",
    ),
    (
        "a.rs",
        "enum E {\n    A,\n}\n",
        "enum E {\n    A,\n    Z(u8),\n}\n",
        "enum E {\n    A,\n    B,\n}\n",
        "enum E {\n    A,\n    Z(u8),\n    B,\n}\n",
    ),
    (
        "a.rs",
        "impl S {\n    fn a(&self) {}\n}\n",
        "impl S {\n    fn a(&self) {}\n\n    fn z(&self) {}\n}\n",
        "impl S {\n    fn a(&self) {}\n\n    fn b(&self) {}\n}\n",
        "impl S {\n    fn a(&self) {}\n\n    fn z(&self) {}\n\n    fn b(&self) {}\n}\n",
    ),
    (
        "A.java",
        "enum E {\n  A,\n  B,\n}\n",
        "enum E {\n  A,\n  B,\n  Z,\n}\n",
        "enum E {\n  A,\n  B,\n  C,\n}\n",
        "enum E {\n  A,\n  B,\n  Z,\n  C,\n}\n",
    ),
    (
        "A.java",
        "interface I {\n  int a();\n}\n",
        "interface I {\n  int a();\n\n  int z();\n}\n",
        "interface I {\n  int a();\n\n  int b();\n}\n",
        "interface I {\n  int a();\n\n  int z();\n\n  int b();\n}\n",
    ),
    (
        "a.ts",
        "interface I {\n  a: number;\n}\n",
        "interface I {\n  a: number;\n  z: string;\n}\n",
        "interface I {\n  a: number;\n  b: boolean;\n}\n",
        "interface I {\n  a: number;\n  z: string;\n  b: boolean;\n}\n",
    ),
    (
        "a.ts",
        "enum E {\n  A,\n}\n",
        "enum E {\n  A,\n  Z = 2,\n}\n",
        "enum E {\n  A,\n  B,\n}\n",
        "enum E {\n  A,\n  Z = 2,\n  B,\n}\n",
    ),
]


@pytest.mark.parametrize(
    ("path", "base", "left", "right", "merged"), CONTAINERS, ids=[f"{c[0]}-{k}" for k, c in enumerate(CONTAINERS)]
)
def test_members_added_on_both_sides_of_a_container_merge(
    path: str, base: str, left: str, right: str, merged: str
) -> None:
    assert _merge(path, base, left, right) == (True, merged)


def test_one_member_added_on_both_sides_differently_is_a_conflict() -> None:
    base = "package a\n\ntype S struct {\n\tA int\n}\n"
    clean, _ = _merge(
        "a.go",
        base,
        base.replace("\tA int\n", "\tA int\n\tB int\n"),
        base.replace("\tA int\n", "\tA int\n\tB string\n"),
    )
    assert not clean


# --- imports: merged by the names they bind ---------------------------------------------------

IMPORTS = [
    (
        "a.py",
        "from sys import byteorder\n",
        "from sys import byteorder, argv\n",
        "from sys import byteorder, hexversion\n",
        "from sys import byteorder, argv, hexversion\n",
    ),
    (
        "a.py",
        "from m import (\n    a,\n    b,\n)\n",
        "from m import (\n    a,\n    b,\n    z,\n)\n",
        "from m import (\n    b,\n    c,\n)\n",
        "from m import (\n    b,\n    z,\n    c,\n)\n",
    ),
    (
        "a.py",
        "from m import a, \\\n    b, c\n",
        "from m import a, \\\n    b\n",
        "from m import a, \\\n    b, c, d\n",
        "from m import a, \\\n    b, d\n",
    ),
    (
        "a.py",
        "import os\n",
        "import os\nfrom m import a\n",
        "import os\nfrom m import b\n",
        "import os\nfrom m import a, b\n",
    ),
    (
        "a.rs",
        "use std::collections::{HashMap};\n",
        "use std::collections::{HashMap, HashSet};\n",
        "use std::collections::{HashMap, BTreeMap};\n",
        "use std::collections::{HashMap, HashSet, BTreeMap};\n",
    ),
    (
        "a.rs",
        "use a::{b, c::{d, e}};\n",
        "use a::{b, c::{d, e}, f as g};\n",
        "use a::{c::{d, e}, self};\n",
        "use a::{c::{d, e}, f as g, self};\n",
    ),
    (
        "a.ts",
        "import { a } from './x';\n",
        "import { a, b } from './x';\n",
        "import { a, c as d } from './x';\n",
        "import { a, b, c as d } from './x';\n",
    ),
    # one side adds a name to the statement, the other a second statement of that source: one statement
    (
        "a.ts",
        "import { a } from './x';\n",
        "import { a, isUri } from './x';\n",
        "import { a } from './x';\nimport { isUri } from './x';\n",
        "import { a, isUri } from './x';\n",
    ),
    (
        "a.py",
        "from m import a\n",
        "from m import a, b\n",
        "from m import a\nfrom m import c\n",
        "from m import a, b, c\n",
    ),
    (
        "a.js",
        "import {\n  a,\n  b,\n} from 'x';\n",
        "import {\n  a,\n  b,\n  c,\n} from 'x';\n",
        "import {\n  b,\n  d,\n} from 'x';\n",
        "import {\n  b,\n  c,\n  d,\n} from 'x';\n",
    ),
]


@pytest.mark.parametrize(
    ("path", "base", "left", "right", "merged"), IMPORTS, ids=[f"{c[0]}-{k}" for k, c in enumerate(IMPORTS)]
)
def test_one_import_statement_changed_on_both_sides_merges_by_name(
    path: str, base: str, left: str, right: str, merged: str
) -> None:
    assert _merge(path, base, left, right) == (True, merged)


BINDS_TWICE = [
    # the same name imported from two places: it cannot be both
    ("a.py", "import os\n", "import os\nfrom .app import app\n", "import os\nfrom pkg.app import app\n"),
    (
        "A.java",
        "import a.B;\n\nclass C {}\n",
        "import a.B;\nimport x.List;\n\nclass C {}\n",
        "import a.B;\nimport y.List;\n\nclass C {}\n",
    ),
    (
        "a.go",
        'package a\n\nimport (\n\t"fmt"\n)\n',
        'package a\n\nimport (\n\t"fmt"\n\t"x/log"\n)\n',
        'package a\n\nimport (\n\t"fmt"\n\t"y/log"\n)\n',
    ),
    ("a.rs", "use a::B;\n", "use a::B;\nuse x::Map;\n", "use a::B;\nuse y::Map;\n"),
]


@pytest.mark.parametrize(
    ("path", "base", "left", "right"), BINDS_TWICE, ids=[f"{c[0]}-{k}" for k, c in enumerate(BINDS_TWICE)]
)
def test_a_merge_that_would_bind_an_imported_name_twice_is_a_conflict(
    path: str, base: str, left: str, right: str
) -> None:
    clean, text = _merge(path, base, left, right)
    assert not clean, text


# --- adjacent statements: edits of two different lines next to each other ---------------------

ADJACENT = [
    ("a.py", "def f():\n    a = 1\n    b = 2\n    return a + b\n", ("a = 1", "a = 10"), ("b = 2", "b = 20")),
    (
        "a.go",
        "package a\n\nfunc F() int {\n\ta := 1\n\tb := 2\n\treturn a + b\n}\n",
        ("a := 1", "a := 10"),
        ("b := 2", "b := 20"),
    ),
    (
        "a.rs",
        "fn f() -> i32 {\n    let a = 1;\n    let b = 2;\n    a + b\n}\n",
        ("let a = 1;", "let a = 10;"),
        ("let b = 2;", "let b = 20;"),
    ),
    (
        "A.java",
        "class A {\n  int f() {\n    int a = 1;\n    int b = 2;\n    return a + b;\n  }\n}\n",
        ("int a = 1;", "int a = 10;"),
        ("int b = 2;", "int b = 20;"),
    ),
    (
        "a.ts",
        "function f(): number {\n  const a = 1;\n  const b = 2;\n  return a + b;\n}\n",
        ("const a = 1;", "const a = 10;"),
        ("const b = 2;", "const b = 20;"),
    ),
]


@pytest.mark.parametrize(("path", "base", "left_edit", "right_edit"), ADJACENT, ids=[c[0] for c in ADJACENT])
def test_edits_of_adjacent_statements_merge(
    path: str, base: str, left_edit: tuple[str, str], right_edit: tuple[str, str]
) -> None:
    left, right = base.replace(*left_edit), base.replace(*right_edit)
    assert _merge(path, base, left, right) == (True, left.replace(*right_edit))


def test_edits_of_one_statement_and_an_insertion_next_to_it_still_conflict() -> None:
    base = "def f():\n    a = 1\n    return a\n"
    clean, _ = _merge(
        "a.py", base, base.replace("a = 1", "a = 2"), base.replace("    a = 1\n", "    a = 1\n    a += 1\n")
    )
    assert not clean
    clean, _ = _merge("a.py", base, base.replace("a = 1", "a = 2"), base.replace("a = 1", "a = 3"))
    assert not clean


# --- unordered lists on one line: throws / implements / extends, one-line keyed literals --------

LISTS = [
    (
        "A.java",
        "class A {\n  void f() throws IOException {\n  }\n}\n",
        "IOException {",
        "IOException, JsonFormatException {",
        "IllegalArgumentException {",
        "JsonFormatException, IllegalArgumentException {",
    ),
    (
        "A.java",
        "class A implements Runnable {\n}\n",
        "Runnable {",
        "Runnable, Closeable {",
        "Runnable, Serializable {",
        "Runnable, Closeable, Serializable {",
    ),
    (
        "a.ts",
        "class A extends B implements C {\n}\n",
        "implements C {",
        "implements C, D {",
        "implements E {",
        "implements D, E {",
    ),
    ("a.js", "const o = { foo: 1 };\n", "{ foo: 1 }", "{}", "{ foo: 1, bar: 2 }", "{ bar: 2 }"),
    (
        "a.ts",
        "export const o = { a: 1, b: 2 };\n",
        "{ a: 1, b: 2 }",
        "{ a: 3, b: 2 }",
        "{ a: 1, b: 2, c }",
        "{ a: 3, b: 2, c }",
    ),
    ("a.go", "package a\n\nvar v = T{A: 1}\n", "T{A: 1}", "T{A: 1, B: 2}", "T{A: 1, C: 3}", "T{A: 1, B: 2, C: 3}"),
]


@pytest.mark.parametrize(
    ("path", "base", "old", "left", "right", "merged"), LISTS, ids=[f"{c[0]}-{k}" for k, c in enumerate(LISTS)]
)
def test_unordered_lists_on_one_line_merge_as_sets(
    path: str, base: str, old: str, left: str, right: str, merged: str
) -> None:
    assert _merge(path, base, base.replace(old, left), base.replace(old, right)) == (True, base.replace(old, merged))


@pytest.mark.parametrize(
    ("path", "base", "old", "left", "right"),
    [
        ("a.js", "const o = { foo: 1 };\n", "foo: 1", "foo: 2", "foo: 3"),  # one key, two values
        ("a.py", "x = f(a, b)\n", "f(a, b)", "f(a, b, c)", "f(a, b, d)"),  # arguments: order matters
        (
            "A.java",
            "class A {\n  void f() throws E {\n  }\n}\n",
            "void f() throws E",
            "void g() throws E, F",
            "void f() throws G",
        ),  # a change outside the list
    ],
)
def test_lists_that_are_not_sets_or_clash_still_conflict(path: str, base: str, old: str, left: str, right: str) -> None:
    clean, text = _merge(path, base, base.replace(old, left), base.replace(old, right))
    assert not clean, text


def test_an_import_one_side_moved_into_a_function_is_not_kept_at_the_top() -> None:
    base = (
        "use std::collections::HashMap;\nuse std::fmt;\n\n"
        "fn f() -> usize {\n    let m: HashMap<i32, i32> = HashMap::new();\n    m.len()\n}\n"
    )
    left = (
        "use std::fmt;\n\n"
        "fn f() -> usize {\n    use std::collections::HashMap;\n    let m: HashMap<i32, i32> = HashMap::new();\n"
        "    m.len()\n}\n"
    )
    right = base.replace("use std::collections::HashMap;", "use std::collections::{HashMap, HashSet};")
    clean, text = _merge("a.rs", base, left, right)
    assert not clean or text.count("HashMap;") + text.count("HashMap,") == 1, text
    # the other side did not touch that import: the move is simply taken
    right = base.replace("m.len()", "m.len() + 1")
    clean, text = _merge("a.rs", base, left, right)
    assert clean and text == left.replace("m.len()", "m.len() + 1")


@pytest.mark.parametrize(
    ("path", "base", "anchor", "left", "right"),
    [
        ("a.go", "package a\n\nvar x = []int{\n\t1,\n}\n", "\t1,\n", "\t2,\n", "\t3,\n"),
        (
            "a.go",
            "package a\n\nfunc f() T {\n\treturn T{\n\t\tA: 1,\n\t}\n}\n",
            "\t\tA: 1,\n",
            "\t\tB: 2,\n",
            "\t\tC: 3,\n",
        ),
        ("a.ts", "export const xs = [\n  'a',\n];\n", "  'a',\n", "  'b',\n", "  'c',\n"),
        ("a.js", "module.exports = {\n  a: 1,\n};\n", "  a: 1,\n", "  b: 2,\n", "  c: 3,\n"),
    ],
)
def test_elements_added_to_one_multi_line_literal_on_both_sides_merge(
    path: str, base: str, anchor: str, left: str, right: str
) -> None:
    clean, text = _merge(path, base, base.replace(anchor, anchor + left), base.replace(anchor, anchor + right))
    assert (clean, text) == (True, base.replace(anchor, anchor + left + right))


def test_arguments_added_at_one_place_on_both_sides_still_conflict() -> None:
    base = "x = f(\n    a,\n)\n"
    clean, _ = _merge("a.py", base, base.replace("a,\n", "a,\n    b,\n"), base.replace("a,\n", "a,\n    c,\n"))
    assert not clean


# --- annotations, decorators, attributes: a set ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "base", "anchor", "left", "right"),
    [
        (
            "A.java",
            'class A {\n  @Override\n  public String toString() {\n    return "";\n  }\n}\n',
            "  @Override\n",
            "  @Deprecated\n",
            '  @SuppressWarnings("unchecked")\n',
        ),
        (
            "a.ts",
            "class A {\n  @Input()\n  name: string;\n\n  f(): void {}\n}\n",
            "  @Input()\n",
            "  @Optional()\n",
            "  @Self()\n",
        ),
        (
            "a.rs",
            "#[derive(Debug)]\nstruct S {\n    a: i32,\n}\n",
            "#[derive(Debug)]\n",
            "#[repr(C)]\n",
            "#[non_exhaustive]\n",
        ),
    ],
)
def test_annotations_added_on_both_sides_merge_as_a_set(
    path: str, base: str, anchor: str, left: str, right: str
) -> None:
    clean, text = _merge(path, base, base.replace(anchor, anchor + left), base.replace(anchor, anchor + right))
    assert (clean, text) == (True, base.replace(anchor, anchor + left + right))


def test_python_decorators_added_on_both_sides_still_conflict() -> None:
    base = "@cache\ndef f():\n    return 1\n"
    clean, _ = _merge(
        "a.py", base, base.replace("@cache\n", "@cache\n@trace\n"), base.replace("@cache\n", "@cache\n@retry\n")
    )
    assert not clean


def test_one_annotation_changed_on_both_sides_is_a_conflict() -> None:
    base = '@Export\n@Version("2.24.0")\npackage org.example;\n'
    clean, text = _merge("package-info.java", base, base.replace("2.24.0", "2.25.0"), base.replace("2.24.0", "2.24.1"))
    assert not clean, text


# --- separators never conflict by themselves ---------------------------------------------------

SEPARATORS = [
    # the last member had no comma; each side appends one member after it
    (
        "a.rs",
        "struct S {\n    a: i32\n}\n",
        "struct S {\n    a: i32,\n    b: u8\n}\n",
        "struct S {\n    a: i32,\n    c: u16\n}\n",
        "struct S {\n    a: i32,\n    b: u8,\n    c: u16\n}\n",
    ),
    (
        "a.ts",
        "const o = {\n  a: 1\n};\n",
        "const o = {\n  a: 1,\n  b: 2\n};\n",
        "const o = {\n  a: 1,\n  c: 3\n};\n",
        "const o = {\n  a: 1,\n  b: 2,\n  c: 3\n};\n",
    ),
    (
        "a.json",
        '{\n  "a": {\n    "x": 1\n  }\n}\n',
        '{\n  "a": {\n    "x": 1,\n    "y": 2\n  }\n}\n',
        '{\n  "a": {\n    "x": 1,\n    "z": 3\n  }\n}\n',
        '{\n  "a": {\n    "x": 1,\n    "y": 2,\n    "z": 3\n  }\n}\n',
    ),
    # a body that held only ``pass``: each side replaces it with a method
    (
        "a.py",
        "class A(Base):\n    pass\n",
        "class A(Base):\n    def f(self):\n        return 1\n",
        "class A(Base):\n    def g(self):\n        return 2\n",
        "class A(Base):\n    def f(self):\n        return 1\n    def g(self):\n        return 2\n",
    ),
]


@pytest.mark.parametrize(
    ("path", "base", "left", "right", "merged"), SEPARATORS, ids=[f"{c[0]}-{k}" for k, c in enumerate(SEPARATORS)]
)
def test_separators_and_placeholders_do_not_conflict(path: str, base: str, left: str, right: str, merged: str) -> None:
    assert _merge(path, base, left, right) == (True, merged)


@pytest.mark.parametrize(
    ("path", "base", "old"),
    [
        ("a.go", "package a\n\nvar v = T{a, b}\n", "T{a, b}"),  # positional fields
        ("A.java", "class A {\n  int[] v = {a, b};\n}\n", "{a, b}"),  # array elements
    ],
)
def test_positional_elements_in_braces_merge_by_position_not_as_a_set(path: str, base: str, old: str) -> None:
    def merge(left: str, right: str) -> tuple[bool, str]:
        return _merge(
            path, base, base.replace(old, old.replace("a, b", left)), base.replace(old, old.replace("a, b", right))
        )

    # Each side changed another position: both (token by token, ``merge/tokens.py``).
    assert merge("a, c", "x, b") == (True, base.replace(old, old.replace("a, b", "x, c")))
    # One position changed on both sides, or one side removes the element next to the one the
    # other changes (a set would merge that to ``{c}``): conflicts.
    assert not merge("a, c", "a, d")[0]
    assert not merge("b", "a, c")[0]


def test_an_import_moved_into_a_function_in_python_is_not_kept_at_the_top() -> None:
    base = "import json\nimport sys\n\n\ndef f():\n    return json.dumps(sys.argv)\n"
    left = "import sys\n\n\ndef f():\n    import json\n    return json.dumps(sys.argv)\n"
    right = "import json\nimport os\nimport sys\n\n\ndef f():\n    return json.dumps(sys.argv)\n"
    clean, text = _merge("a.py", base, left, right)
    assert (
        clean and text == "import os\nimport sys\n\n\ndef f():\n    import json\n    return json.dumps(sys.argv)\n"
    ), text


# --- a use of an entity the other side renamed or deleted: a semantic conflict, never clean --------

DANGLING = [
    (
        "a.py",
        "def load_item(k):\n    return k\n\n\ndef first():\n    return load_item(1)\n",
        "\n\ndef second():\n    return load_item(2)\n",
        ("load_item", "fetch_item"),
    ),
    (
        "a.go",
        "package a\n\nfunc loadItem(k int) int {\n\treturn k\n}\n\nfunc First() int {\n\treturn loadItem(1)\n}\n",
        "\nfunc Second() int {\n\treturn loadItem(2)\n}\n",
        ("loadItem", "LoadItem"),
    ),
    (
        "a.rs",
        "fn load_item(k: i32) -> i32 {\n    k\n}\n\nfn first() -> i32 {\n    load_item(1)\n}\n",
        "\nfn second() -> i32 {\n    load_item(2)\n}\n",
        ("load_item", "fetch_item"),
    ),
    (
        "A.java",
        "class A {\n  int loadItem(int k) {\n    return k;\n  }\n\n  int first() {\n    return loadItem(1);\n  }\n}\n",
        None,
        ("loadItem", "fetchItem"),
    ),
    (
        "a.ts",
        "function loadItem(k: number): number {\n  return k;\n}\n\nfunction first(): number {\n  return loadItem(1);\n}\n",
        "\nfunction second(): number {\n  return loadItem(2);\n}\n",
        ("loadItem", "fetchItem"),
    ),
]


@pytest.mark.parametrize(("path", "base", "added", "rename"), DANGLING, ids=[c[0] for c in DANGLING])
def test_a_new_use_of_an_entity_the_other_side_renamed_is_a_conflict(
    path: str, base: str, added: str | None, rename: tuple[str, str]
) -> None:
    if added is None:  # Java: the new use goes into a new method of the class
        left = base.replace("\n}\n", "\n\n  int second() {\n    return loadItem(2);\n  }\n}\n")
    else:
        left = base + added
    right = base.replace(*rename)
    clean, text = _merge(path, base, left, right)
    assert not clean, text


def test_a_renamed_entity_whose_uses_the_other_side_left_alone_still_merges() -> None:
    base = "def load_item(k):\n    return k\n\n\ndef first():\n    return load_item(1)\n"
    left = base + "\n\ndef second():\n    return 2\n"
    right = base.replace("load_item", "fetch_item")
    assert _merge("a.py", base, left, right) == (True, right + "\n\ndef second():\n    return 2\n")


# --- two statements inserted at one place of a code block: no order to take, a conflict ------------

BLOCK_INSERTS = [
    ("a.js", "function f(x) {\n  return x;\n}\n", "  log(x);\n", "  check(x);\n"),
    ("a.ts", "function f(x: number): number {\n  return x;\n}\n", "  log(x);\n", "  check(x);\n"),
    ("a.go", "package a\n\nfunc F(x int) int {\n\treturn x\n}\n", "\tlog(x)\n", "\tcheck(x)\n"),
    ("a.rs", "fn f(x: i32) -> i32 {\n    x\n}\n", "    log(x);\n", "    check(x);\n"),
    ("A.java", "class A {\n  int f(int x) {\n    return x;\n  }\n}\n", "    log(x);\n", "    check(x);\n"),
]


@pytest.mark.parametrize(("path", "base", "left_line", "right_line"), BLOCK_INSERTS, ids=[c[0] for c in BLOCK_INSERTS])
def test_statements_inserted_at_one_place_of_a_block_on_both_sides_conflict(
    path: str, base: str, left_line: str, right_line: str
) -> None:
    at = base.index("{\n", base.index("(")) + 2
    left, right = base[:at] + left_line + base[at:], base[:at] + right_line + base[at:]
    for one, other in ((left, right), (right, left)):
        clean, text = _merge(path, base, one, other)
        assert not clean, text


def test_elements_inserted_at_the_start_of_a_literal_on_both_sides_still_merge() -> None:
    base = "const o = {\n  a: 1,\n};\n"
    left = base.replace("{\n", "{\n  b: 2,\n")
    right = base.replace("{\n", "{\n  c: 3,\n")
    assert _merge("a.js", base, left, right) == (True, "const o = {\n  b: 2,\n  c: 3,\n  a: 1,\n};\n")


# --- an aliased Go import sorts by its path, as gofmt sorts them, not by its alias ------------------


def test_an_aliased_go_import_both_sides_add_next_to_another_sorts_by_path() -> None:
    base = 'package a\n\nimport (\n\t"context"\n\t"fmt"\n)\n'
    left = base.replace('"context"\n', '"context"\n\tcrand "crypto/rand"\n')
    right = base.replace('"context"\n', '"context"\n\t"errors"\n')
    merged = 'package a\n\nimport (\n\t"context"\n\tcrand "crypto/rand"\n\t"errors"\n\t"fmt"\n)\n'
    assert _merge("a.go", base, left, right) == (True, merged)
    assert _merge("a.go", base, right, left) == (True, merged)


# --- functions of nested callbacks that the extraction names alike: the line merge, when clean ------

CALLBACKS = (
    "describe('x', () => {\n"
    "  it('a', () => {\n    const App = () => 1\n    expect(App()).toBe(1)\n  })\n\n"
    "  it('b', () => {\n    const App = () => 2\n    expect(App()).toBe(2)\n  })\n"
    "})\n"
)


@pytest.mark.parametrize("path", ["a.test.js", "a.test.ts"])
def test_functions_of_one_name_in_callbacks_added_on_both_sides_merge_by_lines(path: str) -> None:
    base = CALLBACKS
    left = base.replace(
        "  })\n})\n", "  })\n\n  it('c', () => {\n    const App = () => 3\n    expect(App()).toBe(3)\n  })\n})\n"
    )
    right = base.replace(
        "describe('x', () => {\n",
        "describe('x', () => {\n  it('z', () => {\n    const App = () => 0\n    expect(App()).toBe(0)\n  })\n\n",
    )
    merged = right.replace(
        "  })\n})\n", "  })\n\n  it('c', () => {\n    const App = () => 3\n    expect(App()).toBe(3)\n  })\n})\n"
    )
    assert _merge(path, base, left, right) == (True, merged)


def test_functions_of_one_name_in_callbacks_both_sides_changed_differently_still_conflict() -> None:
    base = CALLBACKS
    left, right = base.replace("() => 2", "() => 20"), base.replace("() => 2", "() => 21")
    clean, text = _merge("a.test.ts", base, left, right)
    assert not clean, text


def test_a_name_both_sides_define_once_each_is_not_a_duplicate_name() -> None:
    base = "function a() {\n  return 1\n}\n"
    left = base + "\nfunction App() {\n  return 2\n}\n"
    right = "function App() {\n  return 3\n}\n\n" + base
    clean, text = _merge("a.ts", base, left, right)
    assert not clean, text


# --- a new use of a field the other side renamed: a semantic conflict too ---------------------------

FIELDS = [
    (
        "a.ts",
        "class Box {\n  private items: number[] = []\n\n  add(x: number): void {\n    this.items.push(x)\n  }\n}\n",
        "\n  size(): number {\n    return this.items.length\n  }\n}\n",
    ),
    (
        "A.java",
        "class Box {\n  private int[] items;\n\n  int first() {\n    return this.items[0];\n  }\n}\n",
        "\n  int size() {\n    return this.items.length;\n  }\n}\n",
    ),
    (
        "a.go",
        "package a\n\ntype Box struct {\n\titems []int\n}\n\nfunc (b *Box) Add(x int) {\n\tb.items = append(b.items, x)\n}\n",
        None,
    ),
]


@pytest.mark.parametrize(("path", "base", "method"), FIELDS, ids=[c[0] for c in FIELDS])
def test_a_new_use_of_a_field_the_other_side_renamed_is_a_conflict(path: str, base: str, method: str | None) -> None:
    if method is None:  # Go: a new method after the others
        left = base + "\nfunc (b *Box) Size() int {\n\treturn len(b.items)\n}\n"
    else:
        left = base[: base.rindex("}\n")] + method
    right = base.replace("items", "entries")
    clean, text = _merge(path, base, left, right)
    assert not clean, text


# --- a name defined elsewhere that one side renamed at every use, the other side uses anew ---------

RENAMED_USES = [
    (
        "a.py",
        "def first(client):\n    return client.fetch(1)\n\n\ndef second(client):\n    return 2\n",
        ("return 2", "return client.fetch(2)"),
        ("client.fetch", "client.load"),
    ),
    (
        "a.rs",
        "fn first(d: &mut D) -> i32 {\n    d.visit(1)\n}\n\nfn second(d: &mut D) -> i32 {\n    2\n}\n",
        ("    2\n", "    d.visit(2)\n"),
        ("d.visit", "d.deserialize"),
    ),
    (
        "a.ts",
        "export function first(c: C): number {\n  return c.effect(1);\n}\n\nexport function second(c: C): number {\n"
        "  return 2;\n}\n",
        ("return 2;", "return c.effect(2);"),
        ("c.effect", "c.run"),
    ),
    (
        "A.java",
        "class A {\n  int first(B b) {\n    return b.fetch(1);\n  }\n\n  int second(B b) {\n    return 2;\n  }\n}\n",
        ("return 2;", "return b.fetch(2);"),
        ("b.fetch", "b.load"),
    ),
    (
        "a.go",
        "package a\n\nfunc First(c *C) int {\n\treturn c.Fetch(1)\n}\n\nfunc Second(c *C) int {\n\treturn 2\n}\n",
        ("return 2\n", "return c.Fetch(2)\n"),
        ("c.Fetch", "c.Load"),
    ),
]


@pytest.mark.parametrize(("path", "base", "use", "rename"), RENAMED_USES, ids=[c[0] for c in RENAMED_USES])
def test_a_new_use_of_a_name_the_other_side_renamed_at_every_use_is_a_conflict(
    path: str, base: str, use: tuple[str, str], rename: tuple[str, str]
) -> None:
    left = base.replace(*rename)
    right = base.replace(*use)
    clean, text = _merge(path, base, left, right)
    assert not clean, text
    # Without the new use, the rename merges with the other side's edit.
    clean, text = _merge(path, base, left, base.replace(use[0], use[0].replace("2", "3")))
    assert clean and rename[1] in text, text


def test_a_word_replaced_in_comments_is_not_a_rename() -> None:
    base = "def f():\n    # which one\n    return 1\n\n\ndef g():\n    return 2\n"
    left = base.replace("which", "what")
    right = base.replace("    return 2\n", "    # which two\n    return 2\n")
    clean, text = _merge("a.py", base, left, right)
    assert clean and "# what one" in text and "# which two" in text, text


def test_a_new_use_of_an_imported_name_the_other_side_renamed_is_a_conflict() -> None:
    base = "from m import load\n\n\ndef f():\n    return load(1)\n\n\ndef g():\n    return 2\n"
    left = base.replace("load", "fetch")
    right = base.replace("return 2", "return load(2)")
    clean, text = _merge("a.py", base, left, right)
    assert not clean, text


# --- Go import blocks and Java imports, joined across statements ------------------------------------

GO_HEAD, GO_TAIL = "package a\n\n", "\n\nfunc F() {\n\tfmt.Println()\n}\n"
IMPORT_LAYOUTS = [
    # both sides turn the single import into a block (goimports), each adding one
    (
        "a.go",
        'import "fmt"',
        'import (\n\t"fmt"\n\t"os"\n)',
        'import (\n\t"fmt"\n\t"strings"\n)',
        'import (\n\t"fmt"\n\t"os"\n\t"strings"\n)',
    ),
    # one side adds a second single import, the other a block
    (
        "a.go",
        'import "fmt"',
        'import "fmt"\nimport "os"',
        'import (\n\t"fmt"\n\t"strings"\n)',
        'import (\n\t"fmt"\n\t"os"\n\t"strings"\n)',
    ),
    # an alias on one side, an import on the other
    (
        "a.go",
        'import (\n\t"fmt"\n\t"os"\n)',
        'import (\n\t"fmt"\n\tstdos "os"\n)',
        'import (\n\t"fmt"\n\t"os"\n\t"strings"\n)',
        'import (\n\t"fmt"\n\tstdos "os"\n\t"strings"\n)',
    ),
    # a block and a second import statement on one side, a block on the other
    (
        "a.go",
        'import "fmt"',
        'import (\n\t"fmt"\n\t"os"\n)\n\nimport "strings"',
        'import (\n\t"fmt"\n\t"io"\n)',
        'import (\n\t"fmt"\n\t"io"\n\t"os"\n)\n\nimport "strings"',
    ),
    # Java: one side changes an import's package, the other adds an import after it
    (
        "A.java",
        "import java.util.List;",
        "import java.awt.List;",
        "import java.util.List;\nimport java.util.Map;",
        "import java.awt.List;\nimport java.util.Map;",
    ),
    # Java: on-demand on one side, a single-type import of the same package on the other
    (
        "A.java",
        "import java.util.List;\nimport java.util.Map;",
        "import java.util.*;",
        "import java.util.List;\nimport java.util.Map;\nimport java.util.Set;",
        "import java.util.*;\nimport java.util.Set;",
    ),
]


@pytest.mark.parametrize(
    ("path", "base", "left", "right", "merged"),
    IMPORT_LAYOUTS,
    ids=[f"{c[0]}-{k}" for k, c in enumerate(IMPORT_LAYOUTS)],
)
def test_imports_merge_across_statements_and_layouts(path: str, base: str, left: str, right: str, merged: str) -> None:
    head, tail = (GO_HEAD, GO_TAIL) if path.endswith(".go") else ("package a;\n\n", "\n\nclass A {\n}\n")
    clean, text = _merge(path, head + base + tail, head + left + tail, head + right + tail)
    assert clean and text == head + merged + tail, text


@pytest.mark.parametrize(
    ("path", "base", "left", "right", "merged"),
    [
        (
            "a.py",
            "from a import x\n",
            "from a import x, y\nfrom a import z\n",
            "from a import x, w\n",
            "from a import x, y, z, w\n",
        ),
        (
            "a.ts",
            "import { x } from 'a';\n",
            "import { x, y } from 'a';\nimport { z } from 'a';\n",
            "import { x, w } from 'a';\n",
            "import { x, y, z, w } from 'a';\n",
        ),
        ("a.rs", "use a::{x};\n", "use a::{x, y};\nuse a::{z};\n", "use a::{x, w};\n", "use a::{x, y, z, w};\n"),
    ],
    ids=["py", "ts", "rs"],
)
def test_a_side_that_edits_an_import_and_adds_a_second_of_its_source_joins_them(
    path: str, base: str, left: str, right: str, merged: str
) -> None:
    tail = {"a.py": "\n\ndef f():\n    return x\n", "a.ts": "\nexport const f = () => x;\n", "a.rs": "\nfn f() {}\n"}[
        path
    ]
    for a, b in ((left, right), (right, left)):
        clean, text = _merge(path, base + tail, a + tail, b + tail)
        assert clean, text
        assert text == (merged if a == left else merged.replace("y, z, w", "w, y, z")) + tail, text


def test_one_import_per_statement_stays_so_where_the_other_side_left_the_source_alone() -> None:
    # The style of isort's force_single_line: a side adds a second statement of one source.
    base = "from w.utils import redirect\nimport os\n\n\ndef f():\n    return 1\n"
    left = base.replace("from w.utils import redirect\n", "from w.utils import cached\nfrom w.utils import redirect\n")
    right = base.replace("import os\n", "import os\nimport sys\n")
    clean, text = _merge("a.py", base, left, right)
    assert clean and text == left.replace("import os\n", "import os\nimport sys\n"), text


def test_cgo_import_stays_its_own_statement() -> None:
    base = 'package a\n\n// #include <stdio.h>\nimport "C"\n' + GO_TAIL
    left = base.replace('import "C"\n', 'import "C"\nimport "os"\n')
    right = base.replace('import "C"\n', 'import "C"\n\nimport (\n\t"fmt"\n\t"io"\n)\n')
    clean, text = _merge("a.go", base, left, right)
    assert '// #include <stdio.h>\nimport "C"\n' in text, text


def test_two_java_imports_binding_one_name_added_on_both_sides_are_a_conflict() -> None:
    head, tail = "package a;\n\nimport java.util.List;\n", "\nclass A {\n}\n"
    clean, text = _merge(
        "A.java", head + tail, head + "import java.awt.Map;\n" + tail, head + "import java.util.Map;\n" + tail
    )
    assert not clean, text


# --- modifiers: a set where the language lets them be one, in the language's order ----------------

MODIFIER_CASES = [
    (
        "A.java",
        "class A {\n  void f() {\n    return;\n  }\n}\n",
        "  void f() {",
        "  public void f() {",
        "  static void f() {",
        "  public static void f() {",
    ),
    (
        "A.java",
        "class A {\n  public void f(int a) {\n    return;\n  }\n}\n",
        "  public void f(int a) {",
        "  public static void f(int a) {",
        "  public void f(int a, int b) {",
        "  public static void f(int a, int b) {",
    ),
    (
        "A.java",
        "class A {\n  int x = 1;\n}\n",
        "  int x = 1;",
        "  private int x = 1;",
        "  final int x = 1;",
        "  private final int x = 1;",
    ),
    (
        "a.ts",
        "function f(): number {\n  return 1;\n}\n",
        "function f(): number {",
        "export function f(): number {",
        "async function f(): number {",
        "export async function f(): number {",
    ),
    (
        "a.ts",
        "class A {\n  x = 1;\n\n  f(): number {\n    return 1;\n  }\n}\n",
        "  x = 1;",
        "  private x = 1;",
        "  readonly x = 1;",
        "  private readonly x = 1;",
    ),
    (
        "a.js",
        "function f() {\n  return 1;\n}\n",
        "function f() {",
        "export function f() {",
        "async function f() {",
        "export async function f() {",
    ),
    (
        "a.rs",
        "fn f() -> i32 {\n    1\n}\n",
        "fn f() -> i32 {",
        "pub(crate) fn f() -> i32 {",
        "const fn f() -> i32 {",
        "pub(crate) const fn f() -> i32 {",
    ),
    (
        "a.rs",
        "const X: i32 = 1;\n",
        "const X: i32 = 1;",
        "pub const X: i32 = 1;",
        "const X: i32 = 2;",
        "pub const X: i32 = 2;",
    ),
]


@pytest.mark.parametrize(
    ("path", "base", "old", "left", "right", "merged"),
    MODIFIER_CASES,
    ids=[f"{c[0]}-{k}" for k, c in enumerate(MODIFIER_CASES)],
)
def test_modifiers_changed_on_both_sides_merge_as_a_set(
    path: str, base: str, old: str, left: str, right: str, merged: str
) -> None:
    clean, text = _merge(path, base, base.replace(old, left), base.replace(old, right))
    assert clean and text == base.replace(old, merged), text
    clean, text = _merge(path, base, base.replace(old, right), base.replace(old, left))
    assert clean and text == base.replace(old, merged), text


@pytest.mark.parametrize(
    ("path", "base", "old", "left", "right"),
    [
        # one visibility, changed differently on both sides
        (
            "A.java",
            "class A {\n  public void f() {\n    return;\n  }\n}\n",
            "  public void f() {",
            "  private void f() {",
            "  protected void f() {",
        ),
        ("a.rs", "fn f() -> i32 {\n    1\n}\n", "fn f() -> i32 {", "pub fn f() -> i32 {", "pub(crate) fn f() -> i32 {"),
        # modifiers out of the usual order on a side: no order to write the merge in
        (
            "A.java",
            "class A {\n  void f() {\n    return;\n  }\n}\n",
            "  void f() {",
            "  static public void f() {",
            "  final void f() {",
        ),
        # modifiers the language forbids together, one added on each side
        ("A.java", "class A {\n  int x = 1;\n}\n", "  int x = 1;", "  final int x = 1;", "  volatile int x = 1;"),
        ("A.java", "abstract class A {\n  void f();\n}\n", "  void f();", "  abstract void f();", "  static void f();"),
        (
            "a.ts",
            "abstract class A {\n  f(): void {}\n}\n",
            "  f(): void {}",
            "  abstract f(): void {}",
            "  async f(): void {}",
        ),
        # the rest of the line changed on both sides
        (
            "a.ts",
            "function f(a: number): number {\n  return a;\n}\n",
            "function f(a: number): number {",
            "export function f(a: string): number {",
            "function f(a: bigint): number {",
        ),
    ],
)
def test_modifiers_that_do_not_merge_as_a_set_conflict(path: str, base: str, old: str, left: str, right: str) -> None:
    clean, text = _merge(path, base, base.replace(old, left), base.replace(old, right))
    assert not clean, text


# Two adjacent import statements, each edited by one side; sorted by text, the second would come first.
EDITED_IMPORTS = [
    (
        "m.py",
        "import os\nfrom pkg.zeta import (a,\n                      b)\nfrom pkg.alpha import c\n\n\ndef f():\n    return 1\n",
        ("from pkg.alpha import c", "from pkg.alpha import c, d"),
        ("b)", "b, e)"),
    ),
    (
        "m.ts",
        "import { a,\n  b } from './zeta';\nimport { c } from './alpha';\n\nexport function f() {\n  return 1;\n}\n",
        ("import { c } from './alpha';", "import { c, d } from './alpha';"),
        ("  b } from './zeta';", "  b, e } from './zeta';"),
    ),
    (
        "m.rs",
        "use crate::zeta::{a,\n    b};\nuse crate::alpha::c;\n\nfn f() -> i32 {\n    1\n}\n",
        ("use crate::alpha::c;", "use crate::alpha::{c, d};"),
        ("    b};", "    b, e};"),
    ),
]


@pytest.mark.parametrize(("path", "base", "left_edit", "right_edit"), EDITED_IMPORTS)
def test_imports_each_side_edited_in_place_keep_their_places(
    path: str, base: str, left_edit: tuple[str, str], right_edit: tuple[str, str]
) -> None:
    left, right = base.replace(*left_edit), base.replace(*right_edit)
    expected = base.replace(*left_edit).replace(*right_edit)
    for current, other in ((left, right), (right, left)):
        result = merge_files(path, base.encode(), current.encode(), other.encode())
        assert result.clean, result.conflicts
        assert result.content.decode() == expected


def test_a_java_import_replaced_on_one_side_and_deleted_on_the_other_is_a_deletion_and_an_addition() -> None:
    base = "import org.m.Marker;\nimport org.m.Message;\nimport org.n.Other;\n\nclass M {\n}\n"
    left = base.replace("import org.m.Message;", "import org.m.ParameterizedMessage;").replace(
        "import org.m.Marker;\n", ""
    )
    right = base.replace("import org.m.Message;\n", "").replace("import org.m.Marker;\n", "")
    result = merge_files("M.java", base.encode(), left.encode(), right.encode())
    assert result.clean, result.conflicts
    assert result.content.decode() == left
