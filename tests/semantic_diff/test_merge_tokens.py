"""Both sides changed the same lines, but different parts of one statement or expression: merged
token by token (``merge/tokens.py``), per language; and the cases that must stay conflicts: the
same token, edits that touch, an edit inside a string, one line both sides edited alike and one
side further, an edit whose surroundings the other side rewrote."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.semantic_diff import merge_files
from trellis.semantic_diff.merge.tokens import merge_tokens
from trellis.semantic_diff.parse import analyze


def _merge(path: str, base: str, left: str, right: str) -> tuple[bool, str]:
    result = merge_files(path, base.encode(), left.encode(), right.encode())
    content = (result.content or b"").decode()
    if result.clean:
        assert not analyze(path, result.content or b"").fallback_reason, content
    return result.clean, content


# (path, a function around {stmt}, base statement, left's, right's, the merge)
STATEMENTS = [
    # one side changes an operand, the other deletes another
    (
        "a.go",
        "package a\n\nfunc f(s *S) bool {\n\t{stmt}\n\t\treturn true\n\t}\n\treturn false\n}\n",
        "if s.app == nil || s.count > 2000 {",
        "if s.app == nil || s.count > 130 {",
        "if s.count > 2000 {",
        "if s.count > 130 {",
    ),
    # one renames the call, the other adds an argument
    (
        "A.java",
        "class A {\n  void f() {\n    {stmt}\n  }\n}\n",
        "send(getName(), topic, key);",
        "send(getName(), topic, stamp, key);",
        "send(getName(), topic, key, retries);",
        "send(getName(), topic, stamp, key, retries);",
    ),
    (
        "a.py",
        "def f(log, r):\n    {stmt}\n    return 1\n",
        'log.with_fields(r.logger, "alert", r.alert)',
        'log.with_fields(r.logger, "alert", r.alert.value)',
        'r.logger.with_fields("alert", r.alert)',
        'r.logger.with_fields("alert", r.alert.value)',
    ),
    (
        "a.ts",
        "export function f(m: Map<string, number>): boolean {\n  {stmt}\n    return true;\n  }\n  return false;\n}\n",
        "if (m.has('a') || m.has('b') || m.has('c')) {",
        "if (m.has('a') || m.has('b') || m.has('c') || m.size > 9) {",
        "if (m.has('a') || m.has('c')) {",
        "if (m.has('a') || m.has('c') || m.size > 9) {",
    ),
    (
        "a.js",
        "export function f(app, session) {\n  {stmt}\n}\n",
        "app.use(session({ store: new Store }));",
        "app.use(session({ store: new Store(opts) }));",
        "app.use(session({ store: new Store }), cookies);",
        "app.use(session({ store: new Store(opts) }), cookies);",
    ),
    (
        "a.rs",
        "fn f(x: u32) -> u32 {\n    {stmt}\n    x\n}\n",
        "let y = compute(x, 1, false);",
        "let y: u64 = compute(x, 1, false);",
        "let y = compute(x, 1);",
        "let y: u64 = compute(x, 1);",
    ),
]


def _in(template: str, stmt: str) -> str:
    return template.replace("{stmt}", stmt)


@pytest.mark.parametrize("case", STATEMENTS, ids=[c[0] for c in STATEMENTS])
def test_edits_of_different_parts_of_one_statement_merge(case: tuple[str, ...]) -> None:
    path, template, base, left, right, merged = case
    clean, text = _merge(path, _in(template, base), _in(template, left), _in(template, right))
    assert clean and text == _in(template, merged), text
    clean, text = _merge(path, _in(template, base), _in(template, right), _in(template, left))
    assert clean and text == _in(template, merged), text


def test_a_toml_inline_table_both_sides_edit_apart_merges() -> None:
    base = '[dependencies]\nquote = "1.0"\nsyn = { version = "1.0.60", default-features = false }\n'
    left = base.replace('"1.0.60"', '"1.0.81"')
    right = base.replace("false }", 'false, features = ["visit"] }')
    clean, text = _merge("Cargo.toml", base, left, right)
    assert clean and text == base.replace('"1.0.60"', '"1.0.81"').replace("false }", 'false, features = ["visit"] }')


CONFLICTS = [
    # the same token changed on both sides
    ("a.py", "def f(x):\n    {stmt}\n    return y\n", "y = g(x, 1)", "y = g(x, 2)", "y = g(x, 3)"),
    # an insertion right next to the other side's edit: which comes first is a guess
    ("a.go", "package a\n\nfunc f(x int) int {\n\t{stmt}\n\treturn y\n}\n", "y := g(x)", "y := g(x, 1)", "y := g(z)"),
    # two edits inside one string literal: a string is one token
    (
        "A.java",
        "class A {\n  String f() {\n    {stmt}\n  }\n}\n",
        'return "version 1.2.3 of the tool";',
        'return "version 1.3.3 of the tool";',
        'return "version 1.2.4 of the tool";',
    ),
    # both made one edit of the line, one side a second one there: two views of one condition
    (
        "a.js",
        "export function f(format, pkg) {\n  {stmt}\n    return 1\n  }\n}\n",
        "if (format === 'cjs' || pkg.enabled) {",
        "if (format !== 'cjs' && pkg.enabled) {",
        "if (format !== 'cjs' || pkg.enabled) {",
    ),
    # an edit inside a comment both sides reworded
    (
        "a.rs",
        "fn f() -> u32 {\n    {stmt}\n    1\n}\n",
        "// compare against a level and a value",
        "// compare against the level and a value",
        "// compare against a level and the value",
    ),
]


@pytest.mark.parametrize("case", CONFLICTS, ids=[c[0] for c in CONFLICTS])
def test_edits_that_meet_inside_one_statement_conflict(case: tuple[str, ...]) -> None:
    path, template, base, left, right = case
    clean, text = _merge(path, _in(template, base), _in(template, left), _in(template, right))
    assert not clean, text


def test_an_edit_whose_surroundings_the_other_side_rewrote_conflicts() -> None:
    # The right side rewrote the statement around the left's edit of `2`: no stable place there.
    base = "def f(a, b):\n    total = a + b * 2\n    return total\n"
    left = base.replace("b * 2", "b * 3")
    right = base.replace("total = a + b * 2", "total = compute(a, b, factor=2)")
    clean, text = _merge("a.py", base, left, right)
    assert not clean, text


def test_a_region_with_an_entity_or_in_an_unsupported_language_is_left_alone() -> None:
    assert merge_tokens("yaml", [b"Tx: 1\n"], [b"Tx: 2\n"], [b"Ty: 1\n"]) is None
    assert merge_tokens("python", [b"Tx = 1\n"], [b"Ex\x00\x00"], [b"Tx = 2\n"]) is None


# --- properties ----------------------------------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])


@settings(max_examples=120, deadline=None)
@given(
    names=st.lists(_NAMES, min_size=4, max_size=9),
    data=st.data(),
)
def test_renames_of_two_operands_apart_merge_to_both_whichever_side_is_current(
    names: list[str], data: st.DataObject
) -> None:
    """Two operands of one expression, renamed one on each side: the merge has both renames,
    the same whichever side is CURRENT; operands next to each other (one operator apart) too,
    since the operator between them is a token both keep."""
    i = data.draw(st.integers(0, len(names) - 1))
    j = data.draw(st.integers(0, len(names) - 1).filter(lambda k: k != i))
    expr = " + ".join(f"x_{n}{k}" for k, n in enumerate(names))
    base = f"def f():\n    return {expr}\n"
    left = base.replace(f"x_{names[i]}{i}", f"left_{i}")
    right = base.replace(f"x_{names[j]}{j}", f"right_{j}")
    want = base.replace(f"x_{names[i]}{i}", f"left_{i}").replace(f"x_{names[j]}{j}", f"right_{j}")
    for a, b in ((left, right), (right, left)):
        result = merge_files("a.py", base.encode(), a.encode(), b.encode())
        assert result.clean and result.content == want.encode()


@settings(max_examples=120, deadline=None)
@given(
    values=st.lists(st.integers(0, 99), min_size=3, max_size=8),
    data=st.data(),
)
def test_two_sides_changing_one_argument_never_merge_clean(values: list[int], data: st.DataObject) -> None:
    """The same argument changed differently on both sides is always a conflict."""
    k = data.draw(st.integers(0, len(values) - 1))
    base = "def f(g):\n    return g(" + ", ".join(map(str, values)) + ")\n"
    args_l, args_r = list(values), list(values)
    args_l[k], args_r[k] = 1000, 2000
    left = "def f(g):\n    return g(" + ", ".join(map(str, args_l)) + ")\n"
    right = "def f(g):\n    return g(" + ", ".join(map(str, args_r)) + ")\n"
    result = merge_files("a.py", base.encode(), left.encode(), right.encode())
    assert not result.clean


def test_an_argument_removed_next_to_a_statement_the_other_side_deleted_merges() -> None:
    # Deleting whole lines next to the other side's edit is no rewrite of its surroundings.
    stmt = "\tx, err := load(a, false)\n\tif err != nil {\n\t\treturn 0\n\t}\n"
    base = "package a\n\nfunc f(a int) int {\n" + stmt + "\treturn x\n}\n"
    left = base.replace(stmt, "\tx := load(a, false)\n")
    right = base.replace("load(a, false)", "load(a)")
    clean, text = _merge("a.go", base, left, right)
    assert clean and text == base.replace(stmt, "\tx := load(a)\n"), text


_WORDS = st.sampled_from(["a", "b", "c", "d", "x", "y", "1", "2", "+", "-", "*", ","])


def _edit(tokens: list[str], data: st.DataObject) -> list[str]:
    out = list(tokens)
    for _ in range(data.draw(st.integers(1, 2))):
        k = data.draw(st.integers(0, len(out)))
        op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        if op == "insert" or k == len(out):
            out.insert(k, data.draw(_WORDS))
        elif op == "replace":
            out[k] = data.draw(_WORDS)
        elif len(out) > 1:
            del out[k]
    return out


@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(_WORDS, min_size=3, max_size=12), data=st.data())
def test_a_token_merge_does_not_depend_on_which_side_is_current(tokens: list[str], data: st.DataObject) -> None:
    """Token merges combine edits that do not touch, so the result is the same whichever side is
    CURRENT; a merge one way round is clean exactly when the other is."""
    left, right = _edit(tokens, data), _edit(tokens, data)

    def units(words: list[str]) -> list[bytes]:
        return [b"Tv = f(" + " ".join(words).encode() + b")\n"]

    one = merge_tokens("python", units(tokens), units(left), units(right))
    other = merge_tokens("python", units(tokens), units(right), units(left))
    assert one == other
