"""Property tests (hypothesis) of the structured merge, over generated programs in every language.

- merge(base, x, base) == x and merge(base, base, y) == y;
- swapping the sides gives the same entities: merge(base, x, y) and merge(base, y, x) are both
  clean with the same entities (kind, name, and lines as a multiset: CURRENT's additions come
  first, so their order may differ), or both conflict on the same entities with their sides swapped;
- a clean result always parses, or (when a version does not) has only syntax errors a version has;
- edits of different entities always merge cleanly, to the edits applied one after the other;
- arbitrary line edits (syntax errors included) never raise, and the first three properties hold
  (the second when both orders are clean: with unbalanced blocks, CURRENT-first text may fail
  the checks in one order and pass them in the other);
- modifiers changed on both sides merge as a set (visibility one slot), in the language's order,
  the same whichever side is CURRENT;
- Go imports merge as the three-way set of paths whether each version writes them as one-line
  declarations or a block;
- in a file with a syntax error somewhere (one side may edit it), an import both sides add, each at
  a place of its own, is in a clean merge once: error recovery swallowing it is no excuse.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.semantic_diff import FileMerge, merge_files
from trellis.semantic_diff.languages.registry import parser_for, spec_for
from trellis.semantic_diff.merge.verify import syntax_errors
from trellis.semantic_diff.parse import analyze

from .merge_fixtures import (
    CODE_LANGS,
    Cls,
    Code,
    CodeLang,
    Fn,
    add_fn,
    add_import,
    add_method,
    apply,
    delete_fn,
    delete_method,
    edit_fn,
    edit_method,
    move_method,
    swap,
)

NAMES = ["alpha", "beta", "gamma", "delta", "load", "save", "run", "size", "parse", "render"]
CLASSES = ["Store", "Model", "View"]
# TRELLIS_MERGE_EXAMPLES=5000 for a longer hunt.
SETTINGS = settings(
    max_examples=int(os.environ.get("TRELLIS_MERGE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def programs(draw: st.DrawFn) -> Code:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    classes = draw(st.lists(st.sampled_from(CLASSES), max_size=2, unique=True))
    blocks: list[Fn | Cls] = [Fn(n, str(draw(st.integers(0, 9)))) for n in names]
    for c in classes:
        methods = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
        blocks.insert(
            draw(st.integers(0, len(blocks))), Cls(c, tuple(Fn(m, str(draw(st.integers(0, 9)))) for m in methods))
        )
    imports = tuple(sorted(draw(st.lists(st.sampled_from(["mod_a", "mod_c", "mod_e"]), max_size=2, unique=True))))
    return Code(imports, tuple(blocks))


@st.composite
def edits(draw: st.DrawFn, code: Code, tag: str, lang: str) -> tuple[tuple, frozenset[str]]:  # type: ignore[type-arg]
    """Up to three edits of ``code``, and the entities (names) they touch. ``tag`` keeps the
    names a side adds apart from the other side's."""
    ops = []
    touched: set[str] = set()
    for k in range(draw(st.integers(1, 3))):
        fns = [b.name for b in code.blocks if isinstance(b, Fn)]
        classes = [b for b in code.blocks if isinstance(b, Cls)]
        choice = draw(
            st.sampled_from(
                [
                    "add_fn",
                    "edit_fn",
                    "delete_fn",
                    "add_method",
                    "edit_method",
                    "delete_method",
                    "swap",
                    "import",
                    "move",
                ]
            )
        )
        op = None
        touched_now: set[str] = set()
        if choice == "add_fn":
            name = f"new_{tag}{k}"
            op, touched_now = add_fn(name, str(draw(st.integers(0, 9)))), {name, "<top>"}
        elif choice == "edit_fn" and fns:
            name = draw(st.sampled_from(fns))
            op, touched_now = edit_fn(name, f"{tag}{k}"), {name}
        elif choice == "delete_fn" and fns:
            name = draw(st.sampled_from(fns))
            op, touched_now = delete_fn(name), {name}
        elif choice == "add_method" and classes:
            c = draw(st.sampled_from(classes))
            name = f"new_{tag}{k}"
            op, touched_now = add_method(c.name, name), {name, f"<{c.name}>"}
        elif choice == "edit_method" and classes:
            c = draw(st.sampled_from(classes))
            m = draw(st.sampled_from(c.methods)).name
            op, touched_now = edit_method(c.name, m, f"{tag}{k}"), {f"{c.name}.{m}"}
        elif choice == "delete_method" and classes:
            c = draw(st.sampled_from(classes))
            if len(c.methods) > 1:
                m = draw(st.sampled_from(c.methods)).name
                op, touched_now = delete_method(c.name, m), {f"{c.name}.{m}"}
        elif choice == "swap" and len(code.blocks) > 1:
            a, b = draw(st.lists(st.sampled_from([x.name for x in code.blocks]), min_size=2, max_size=2, unique=True))
            # Go methods are top-level: swapping two "classes" moves their methods too.
            op, touched_now = swap(a, b), {a, b, "<top>", f"<{a}>", f"<{b}>"}
        elif choice == "import":
            name = f"mod_{tag}{k}"
            op, touched_now = add_import(name), {"<imports>"}
        elif choice == "move" and len(classes) == 2:
            src, dst = classes
            if len(src.methods) > 1:
                m = draw(st.sampled_from(src.methods)).name
                if m not in {x.name for x in dst.methods}:
                    op = move_method(src.name, dst.name, m)
                    touched_now = {f"{src.name}.{m}", f"{dst.name}.{m}", f"<{src.name}>", f"<{dst.name}>"}
        if op is not None:
            if lang == "go" and choice in ("add_method", "delete_method", "move"):
                touched_now.add("<top>")  # Go methods are top-level declarations
            ops.append(op)
            touched |= touched_now
            code = op(code)
    return tuple(ops), frozenset(touched)


def _parses(path: str, content: bytes) -> bool:
    return not analyze(path, content).fallback_reason


def _entities(path: str, content: bytes) -> Counter[tuple[str, str, tuple[bytes, ...]]]:
    """Each entity by kind, name and its lines as a multiset: CURRENT-first can order one-line
    members (fields, annotations) that both sides added to a container either way round."""
    return Counter(
        (
            r.core.kind,
            r.lqual,
            tuple(sorted(x.strip() for x in content[r.start_byte : r.end_byte].splitlines() if x.strip())),
        )
        for r in analyze(path, content).records[1:]
    )


def _check_symmetric(path: str, a: FileMerge, b: FileMerge) -> None:
    assert a.clean == b.clean
    if a.clean and a.content is not None and b.content is not None:
        assert _entities(path, a.content) == _entities(path, b.content)
    assert sorted((c.qualname, c.entity_kind, c.base, c.left, c.right) for c in a.conflicts) == sorted(
        (c.qualname, c.entity_kind, c.base, c.right, c.left) for c in b.conflicts
    )


def _check(lang: CodeLang, base: bytes, left: bytes, right: bytes, *, symmetric: bool = True) -> FileMerge:
    forward = merge_files(lang.path, base, left, right)
    backward = merge_files(lang.path, base, right, left)
    if symmetric or (forward.clean and backward.clean):
        _check_symmetric(lang.path, forward, backward)
    if forward.clean and forward.content is not None and _parses(lang.path, left) and _parses(lang.path, right):
        assert _parses(lang.path, forward.content), forward.content.decode()
    if forward.clean and forward.content is not None and not _parses(lang.path, forward.content):
        # Versions that do not parse: a clean merge has only syntax errors a version has.
        allowed: Counter[bytes] = Counter()
        for version in (base, left, right):
            allowed |= _errors(lang.path, version)
        assert not _errors(lang.path, forward.content) - allowed, forward.content.decode()
    return forward


def _errors(path: str, content: bytes) -> Counter[bytes]:
    return syntax_errors(parser_for(spec_for(path)).parse(content), content)


@SETTINGS
@given(st.sampled_from(CODE_LANGS), st.data())
def test_merge_properties(lang: CodeLang, data: st.DataObject) -> None:
    code = data.draw(programs())
    left_ops, left_touched = data.draw(edits(code, "l", lang.name))
    right_ops, right_touched = data.draw(edits(code, "r", lang.name))
    base, left, right = (lang.render(c) for c in (code, apply(code, left_ops), apply(code, right_ops)))
    assert merge_files(lang.path, base, left, base).content == left
    assert merge_files(lang.path, base, base, right).content == right
    result = _check(lang, base, left, right)
    if not (left_touched & right_touched):
        expected = lang.render(apply(apply(code, left_ops), right_ops))
        assert result.clean, [(c.qualname, c.markers.decode()) for c in result.conflicts]
        assert result.content is not None
        # Blank lines aside: a side's blank lines next to an entity the other side deleted stay.
        assert _lines(result.content) == _lines(expected), result.content.decode()


def _lines(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines() if line.strip()]


@st.composite
def line_edits(draw: st.DrawFn, text: bytes) -> bytes:
    lines = text.splitlines(keepends=True)
    pool = [b"\n", b"    pass\n", b"x = 1\n", b"}\n", b"def g():\n", b"  return 2;\n", b"# note\n"]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines)))
        what = draw(st.sampled_from(["insert", "delete", "replace"]))
        if what == "insert" or not lines or i == len(lines):
            lines.insert(i, draw(st.sampled_from(pool + lines if lines else pool)))
        elif what == "delete":
            del lines[i]
        else:
            lines[i] = draw(st.sampled_from(pool))
    return b"".join(lines)


@SETTINGS
@given(st.sampled_from(CODE_LANGS), st.data())
def test_merge_of_arbitrary_line_edits(lang: CodeLang, data: st.DataObject) -> None:
    base = lang.render(data.draw(programs()))
    left = data.draw(line_edits(base))
    right = data.draw(line_edits(base))
    assert merge_files(lang.path, base, left, base).content == left
    assert merge_files(lang.path, base, base, right).content == right
    # Both sides' additions at one place come CURRENT's first, so the two orders give two texts;
    # with arbitrary lines (unbalanced blocks) one of them may fail the checks where the other
    # passes. When both are clean they hold the same entities.
    _check(lang, base, left, right, symmetric=False)


def test_generated_languages_parse() -> None:
    code = Code(("mod_a",), (Fn("alpha"), Cls("Store", (Fn("save"),))))
    for lang in CODE_LANGS:
        assert _parses(lang.path, lang.render(code)), lang.name
        assert _parses(lang.path, lang.render(replace(code, imports=()))), lang.name


# --- imports: merged by the names they bind ----------------------------------------------------

POOL = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
IMPORT_LANGS = {
    "a.py": (lambda names: f"from pkg.mod import {', '.join(names)}\n", "\n\ndef use():\n    return 1\n"),
    "a.ts": (lambda names: f'import {{ {", ".join(names)} }} from "./mod";\n', "\nexport const use = 1;\n"),
    "a.rs": (lambda names: f"use crate::mod::{{{', '.join(names)}}};\n", "\nfn use_it() {}\n"),
}


@st.composite
def name_lists(draw: st.DrawFn, base: list[str]) -> list[str]:
    """A side's names: some of the base's removed, some of the pool added at random places."""
    names = [n for n in base if draw(st.booleans()) or len(base) == 1]
    for n in draw(st.lists(st.sampled_from(POOL), max_size=3, unique=True)):
        if n not in names:
            names.insert(draw(st.integers(0, len(names))), n)
    return names or base[:1]


def _bound(text: bytes) -> list[str]:
    """The names the import statements at the top bind (one line each)."""
    out: list[str] = []
    for line in text.decode().split("\n"):
        if not line.startswith(("from ", "import ", "use ")):
            break
        inner = line.split("import", 1)[1] if line.startswith("from") else line.split("{", 1)[1].split("}", 1)[0]
        out += [x.strip() for x in inner.split(",") if x.strip()]
    return out


def _render(path: str, names: list[str], split: int) -> str:
    """A side's names as one statement, or (``split`` between 1 and len - 1) as two of one source."""
    render = IMPORT_LANGS[path][0]
    if 0 < split < len(names):
        return render(names[:split]) + render(names[split:])
    return render(names)


@SETTINGS
@given(st.sampled_from(sorted(IMPORT_LANGS)), st.data())
def test_imports_merge_by_name(path: str, data: st.DataObject) -> None:
    """A clean merge parses, binds no imported name twice, and holds every change of both sides:
    a name is imported iff the three-way rule says so. Swapping the sides gives the same names.
    One side may write its names as two statements of the source (an edit and an addition)."""
    render, rest = IMPORT_LANGS[path]
    base = data.draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True))
    left, right = data.draw(name_lists(base)), data.draw(name_lists(base))
    split = data.draw(st.integers(0, len(left) - 1))
    texts = [
        (render(base) + rest).encode(),
        (_render(path, left, split) + rest).encode(),
        (render(right) + rest).encode(),
    ]
    want = {
        n for n in set(base) | set(left) | set(right) if ((n in left) if (n in base) == (n in right) else (n in right))
    }
    for a, b in ((1, 2), (2, 1)):
        result = merge_files(path, texts[0], texts[a], texts[b])
        assert result.clean, result.content
        assert result.content is not None and _parses(path, result.content)
        got = _bound(result.content)
        assert len(got) == len(set(got)), result.content.decode()
        assert set(got) == want, result.content.decode()


# --- modifiers: a set, visibility one slot, in the language's order -------------------------------

MODIFIER_LANGS = {
    "A.java": (
        (None, "public", "protected", "private"),
        ("static", "final", "synchronized"),
        lambda mods: "class A {\n  " + "".join(m + " " for m in mods) + "void f() {\n    return;\n  }\n}\n",
    ),
    "a.ts": (
        (None, "public", "private"),
        ("static", "async"),
        lambda mods: "class A {\n  " + "".join(m + " " for m in mods) + "f(): number {\n    return 1;\n  }\n}\n",
    ),
    "a.rs": (
        (None, "pub", "pub(crate)"),
        ("const", "unsafe"),
        lambda mods: "".join(m + " " for m in mods) + "fn f() -> i32 {\n    1\n}\n",
    ),
}


@st.composite
def modifier_sets(draw: st.DrawFn, path: str) -> tuple[str | None, frozenset[str]]:
    visibility, others, _ = MODIFIER_LANGS[path]
    return draw(st.sampled_from(visibility)), frozenset(draw(st.sets(st.sampled_from(others))))


@SETTINGS
@given(st.sampled_from(sorted(MODIFIER_LANGS)), st.data())
def test_modifiers_merge_as_a_set(path: str, data: st.DataObject) -> None:
    visibility, others, render = MODIFIER_LANGS[path]
    base, left, right = (data.draw(modifier_sets(path)) for _ in range(3))

    def text(mods: tuple[str | None, frozenset[str]]) -> bytes:
        return render(([mods[0]] if mods[0] else []) + [m for m in others if m in mods[1]]).encode()

    vis = left[0] if right[0] == base[0] else right[0] if left[0] in (base[0], right[0]) else "conflict"
    rest = {m for m in others if ((m in left[1]) if (m in base[1]) == (m in right[1]) else (m in right[1]))}
    for a, b in ((left, right), (right, left)):
        result = merge_files(path, text(base), text(a), text(b))
        if vis == "conflict":
            assert not result.clean, result.content
            continue
        assert result.clean, result.content
        assert result.content == text((vis, frozenset(rest))), result.content


# --- Go imports: one-line declarations or a block, the same set ----------------------------------

GO_PATHS = ["fmt", "io", "os", "sort", "strings", "time"]


def _go(paths: list[str], block: bool) -> bytes:
    body = "\n\nfunc F() {}\n"
    if block or not paths:
        return ("package a\n\nimport (\n" + "".join(f'\t"{p}"\n' for p in paths) + ")" + body).encode()
    return ("package a\n\n" + "".join(f'import "{p}"\n' for p in paths) + body.lstrip("\n")).encode()


@SETTINGS
@given(st.data())
def test_go_imports_merge_as_a_set_whatever_their_layout(data: st.DataObject) -> None:
    base = sorted(data.draw(st.sets(st.sampled_from(GO_PATHS), min_size=1, max_size=3)))
    sides = [sorted(data.draw(st.sets(st.sampled_from(GO_PATHS), min_size=1, max_size=4))) for _ in range(2)]
    layouts = [data.draw(st.booleans()) for _ in range(3)]
    texts = [_go(p, b) for p, b in zip([base, *sides], layouts)]
    left, right = sides
    want = {p for p in GO_PATHS if ((p in left) if (p in base) == (p in right) else (p in right))}
    for a, b in ((1, 2), (2, 1)):
        result = merge_files("a.go", texts[0], texts[a], texts[b])
        if not result.clean:
            continue  # e.g. both sides' blocks edited at one place differently
        assert result.content is not None and _parses("a.go", result.content)
        got = [
            line.strip().removeprefix("import ").strip('"')
            for line in result.content.decode().splitlines()
            if line.strip().startswith(('"', 'import "'))
        ]
        assert len(got) == len(set(got)) and set(got) == want, result.content.decode()


# --- imports next to a syntax error ------------------------------------------------------------


@SETTINGS
@given(st.sampled_from(CODE_LANGS), st.data())
def test_an_import_both_sides_add_is_bound_once_though_a_version_does_not_parse(
    lang: CodeLang, data: st.DataObject
) -> None:
    lines = lang.render(data.draw(programs())).splitlines(keepends=True)
    at = data.draw(st.integers(0, len(lines)))
    base = lines[:at] + [b"x = (1,\n"] + lines[at:]
    imported = b'import "mod_new"\n' if lang.name == "go" else lang.imp("mod_new").encode()
    sides = []
    for _ in range(2):
        side = list(base)
        if data.draw(st.booleans()):
            side[at] = b"x = (1, 2,\n"
        # At the top level (where an import binds for the whole file): at either end, between a
        # blank line and a top-level line, or right after the broken line, where error recovery
        # swallows it.
        places = [
            i
            for i in range(len(side) + 1)
            if i in (0, len(side), at + 1) or (not side[i - 1].strip() and side[i][:1] not in b" \t}")
        ]
        side.insert(data.draw(st.sampled_from(places)), imported)
        sides.append(b"".join(side))
    result = merge_files(lang.path, b"".join(base), sides[0], sides[1])
    assert result.content is not None
    assert not result.clean or result.content.count(imported) == 1, result.content.decode()
