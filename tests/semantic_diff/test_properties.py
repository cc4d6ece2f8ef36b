"""Property tests (hypothesis) over generated Python programs.

- diff(a, a) is empty;
- swapping old and new swaps added and removed (and the two sides of every pair);
- re-formatting a file (indent width, blank lines, comments) yields only formatting-only changes;
- every reported span lies inside its file;
- an incremental parse (old tree + edit, unchanged entities copied) gives exactly the records of a
  full parse of the new text, for arbitrary text edits.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from trellis.semantic_diff import DiffResult, ParseCache, diff_files, extract_entities
from trellis.semantic_diff.parse import analyze

NAMES = ["alpha", "beta", "gamma", "delta", "load", "save", "run", "size", "parse", "render"]
VARS = ["x", "y", "total", "items", "value"]


@dataclass(frozen=True)
class Stmt:
    kind: str  # assign | return | if | for
    target: str
    expr: str
    body: tuple[Stmt, ...] = ()


@dataclass(frozen=True)
class Func:
    name: str
    params: tuple[str, ...]
    doc: str
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Class:
    name: str
    methods: tuple[Func, ...]


exprs = st.builds(
    lambda a, op, b: f"{a} {op} {b}",
    st.sampled_from(VARS),
    st.sampled_from("+-*"),
    st.one_of(st.sampled_from(VARS), st.integers(0, 99).map(str)),
)
simple = st.builds(Stmt, st.sampled_from(["assign", "return"]), st.sampled_from(VARS), exprs)
stmts = st.recursive(
    simple,
    lambda inner: st.builds(
        Stmt,
        st.sampled_from(["if", "for"]),
        st.sampled_from(VARS),
        exprs,
        st.lists(inner, min_size=1, max_size=3).map(tuple),
    ),
    max_leaves=6,
)
funcs = st.builds(
    Func,
    st.sampled_from(NAMES),
    st.lists(st.sampled_from(VARS), max_size=3, unique=True).map(tuple),
    st.sampled_from(["", "Do it.", "Compute things."]),
    st.lists(stmts, min_size=1, max_size=4).map(tuple),
)
classes = st.builds(
    Class, st.sampled_from(["Store", "Model", "View"]), st.lists(funcs, min_size=1, max_size=3).map(tuple)
)
programs = st.lists(st.one_of(funcs, classes), min_size=1, max_size=5).map(tuple)


@dataclass(frozen=True)
class Style:
    indent: int = 4
    blank: int = 2
    comments: bool = False


styles = st.builds(Style, st.sampled_from([2, 4, 8]), st.integers(1, 3), st.booleans())


def _stmt(s: Stmt, depth: int, style: Style) -> list[str]:
    pad = " " * (style.indent * depth)
    note = "  # note" if style.comments else ""
    if s.kind == "assign":
        return [f"{pad}{s.target} = {s.expr}{note}"]
    if s.kind == "return":
        return [f"{pad}return {s.expr}"]
    head = f"{pad}if {s.expr}:" if s.kind == "if" else f"{pad}for {s.target} in range({s.expr}):"
    lines = [head + note]
    if style.comments:
        lines.append(f"{pad}{' ' * style.indent}# inside")
    for inner in s.body:
        lines.extend(_stmt(inner, depth + 1, style))
    return lines


def _func(f: Func, depth: int, style: Style, method: bool) -> list[str]:
    pad = " " * (style.indent * depth)
    params = ("self",) * method + f.params
    lines = [f"{pad}def {f.name}({', '.join(params)}):"]
    if f.doc:
        lines.append(f'{pad}{" " * style.indent}"""{f.doc}"""')
    for s in f.body:
        lines.extend(_stmt(s, depth + 1, style))
    return lines


def render(program: tuple[Func | Class, ...], style: Style = Style()) -> bytes:
    out: list[str] = []
    if style.comments:
        out.append("# a generated module")
    for item in program:
        if out:
            out.extend([""] * style.blank)
        if isinstance(item, Func):
            out.extend(_func(item, 0, style, False))
        else:
            out.append(f"class {item.name}:")
            for i, m in enumerate(item.methods):
                if i:
                    out.extend([""] * max(1, style.blank - 1))
                out.extend(_func(m, 1, style, True))
    return ("\n".join(out) + "\n").encode()


# No "explain" phase: explaining a failure over these recursive examples takes minutes.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=PHASES)


def _summary(result: DiffResult) -> list[tuple[str, str, str, str, str, tuple[str, ...]]]:
    return sorted((c.change, c.kind, c.old_qualname, c.qualname, c.old_path, c.details) for c in result.changes)


@PROPS
@given(programs)
def test_diff_of_a_file_with_itself_is_empty(program: tuple[Func | Class, ...]) -> None:
    src = render(program)
    assert diff_files({"m.py": src}, {"m.py": src}).changes == ()


@PROPS
@given(programs, programs)
def test_swapping_old_and_new_swaps_added_and_removed(a: tuple[Func | Class, ...], b: tuple[Func | Class, ...]) -> None:
    old, new = render(a), render(b)
    forward = diff_files({"m.py": old}, {"m.py": new})
    backward = diff_files({"m.py": new}, {"m.py": old})
    added = sorted((c.kind, c.qualname) for c in forward.changes if c.change == "added")
    removed_back = sorted((c.kind, c.qualname) for c in backward.changes if c.change == "removed")
    assert added == removed_back
    removed = sorted((c.kind, c.qualname) for c in forward.changes if c.change == "removed")
    added_back = sorted((c.kind, c.qualname) for c in backward.changes if c.change == "added")
    assert removed == added_back
    pairs = sorted(
        (c.change, c.old_qualname, c.qualname) for c in forward.changes if c.change not in ("added", "removed")
    )
    pairs_back = sorted(
        (c.change, c.qualname, c.old_qualname) for c in backward.changes if c.change not in ("added", "removed")
    )
    assert pairs == pairs_back


@PROPS
@given(programs, styles, styles)
def test_reformatting_yields_only_formatting_changes(program: tuple[Func | Class, ...], a: Style, b: Style) -> None:
    result = diff_files({"m.py": render(program, a)}, {"m.py": render(program, b)})
    for change in result.changes:
        assert change.change == "modified" and change.details == ("formatting",), change


@PROPS
@given(programs, programs)
def test_every_span_lies_inside_its_file(a: tuple[Func | Class, ...], b: tuple[Func | Class, ...]) -> None:
    old, new = render(a), render(b, Style(indent=2))
    result = diff_files({"m.py": old}, {"n.py": new})
    lines = {"m.py": old.count(b"\n"), "n.py": new.count(b"\n")}
    for c in result.changes:
        if c.change != "added":
            assert 1 <= c.old_start_line <= c.old_end_line <= lines[c.old_path], c
        if c.change != "removed":
            assert 1 <= c.new_start_line <= c.new_end_line <= lines[c.path], c
    for path, data in (("m.py", old), ("n.py", new)):
        for e in extract_entities(path, data).entities:
            assert 0 <= e.start_byte <= e.end_byte <= len(data)
            assert 1 <= e.start_line <= e.end_line <= max(1, lines[path])


def _records(parsed):  # type: ignore[no-untyped-def]
    return [
        (
            r.lqual,
            r.core.kind,
            r.parent,
            r.end,
            r.depth,
            r.start_byte,
            r.end_byte,
            r.ext_start,
            r.start_line,
            r.end_line,
            r.core.norm_hash,
            r.core.text_hash,
            r.core.sig_hash,
            r.core.params,
            r.core.docstring,
            r.core.tokens,
        )
        for r in parsed.records
    ]


edit_text = st.sampled_from(
    [
        "",
        "x",
        "\n",
        "    ",
        "def ",
        "(",
        ")",
        ":",
        "\n    return 1\n",
        "# c\n",
        "class Z:\n    pass\n",
        "\n\n",
        '"""d"""',
        "@dec\n",
        "y = 2\n    ",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=PHASES)
@given(programs, st.lists(st.tuples(st.floats(0, 1), st.integers(0, 12), edit_text), min_size=1, max_size=3))
def test_incremental_parse_equals_full_parse(
    program: tuple[Func | Class, ...], edits: list[tuple[float, int, str]]
) -> None:
    old = render(program, Style(comments=True))
    new = old
    for where, cut, text in edits:
        at = int(where * len(new))
        new = new[:at] + text.encode() + new[at + cut :]
    assume(new != old)
    base = analyze("m.py", old)
    assume(not base.fallback_reason)
    incremental = analyze("m.py", new, base=base)
    full = analyze("m.py", new)
    assert incremental.fallback_reason == full.fallback_reason
    assert _records(incremental) == _records(full)
    # ... and the diff through a warm cache equals the diff without one.
    cache = ParseCache()
    warm = diff_files({"m.py": old}, {"m.py": new}, cache=cache)
    assert warm == diff_files({"m.py": old}, {"m.py": new}, cache=cache)
    full_diff = diff_files({"m.py": old}, {"m.py": new}, cache=None)
    assert warm == full_diff
