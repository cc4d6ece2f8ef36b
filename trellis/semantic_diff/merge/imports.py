"""Import statements as the names they bind.

A merge that treats each import statement as one opaque line keeps both
sides' versions of a statement both sides edited (``from sys import
byteorder, argv`` and ``from sys import byteorder, hexversion``), and the
file binds ``byteorder`` twice. Here each top-level import statement is read
as its *source* and its *specifiers*, one per bound name:

- Python ``from m import a, b as c`` (source ``from m``; ``import a.b as c``
  binds ``c``, ``import a.b`` binds ``a.b``, and is not merged by names);
- JavaScript/TypeScript ``import D, * as ns, { a, b as c } from "m"`` (only the
  named list ``{ … }`` is merged by names; ``import type`` is its own source);
- Rust ``use a::b::{c, d::e, f as g, self}`` (source ``a::b``; nested groups
  bind their leaves; ``*`` binds nothing);
- Java ``import a.b.C;`` / ``import static a.b.C.m;`` (one name each, on-demand
  imports none);
- Go ``alias "path"`` specs (the alias, else the path's last element that is not
  a major version; ``_`` and ``.`` bind nothing).

``merge_statements`` merges the specifier lists of one source three-way, as a
set keyed by bound name: one side's statement (CURRENT's, unless only OTHER
changed its layout) with either side's removals taken out and the other
side's additions put after the name they follow there.
``bound_names`` counts what a file's top-level imports bind, for the check
that a clean merge binds no name twice.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from tree_sitter import Node, Parser, Tree

from .lists import merge_keyed

__all__ = ["ImportInfo", "bound_names", "go_import_blocks", "import_info", "merge_statements"]

_VERSION = re.compile(rb"v[0-9]+")


@dataclass(frozen=True, slots=True)
class Spec:
    """One specifier: the name it binds, its text, and where it is in its statement."""

    name: bytes
    text: bytes
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ImportInfo:
    """What one import statement binds. ``source`` is b"" when the statement is not merged by
    names (one name, no list); ``specs`` are then its bindings, offsets relative to the statement."""

    source: bytes
    specs: tuple[Spec, ...]
    bracketed: bool
    origin: bytes = b""  # where the names come from, for a statement not merged by names


def _text(content: bytes, node: Node) -> bytes:
    return content[node.start_byte : node.end_byte]


def import_info(language: str, node: Node, content: bytes, offset: int) -> ImportInfo:
    """The bindings of the import statement ``node`` (offsets relative to ``offset``)."""

    def spec(name: bytes, n: Node) -> Spec:
        return Spec(name, b" ".join(_text(content, n).split()), n.start_byte - offset, n.end_byte - offset)

    if language == "python":
        if node.type == "import_from_statement":
            module = node.child_by_field_name("module_name")
            names = node.children_by_field_name("name")
            specs = tuple(spec(_py_name(content, n), n) for n in names)
            bracketed = any(c.type == "(" for c in node.children)
            if module is not None and specs:
                return ImportInfo(b"from " + _text(content, module), specs, bracketed)
            return ImportInfo(b"", (), False)  # a wildcard import: binds nothing we can name
        if node.type == "import_statement":
            return ImportInfo(
                b"", tuple(spec(_py_name(content, n), n) for n in node.children_by_field_name("name")), False
            )
        return ImportInfo(b"", (), False)
    if language in ("javascript", "typescript", "tsx"):
        return _js(node, content, offset)
    if language == "rust":
        arg = node.child_by_field_name("argument")
        if arg is None:
            return ImportInfo(b"", (), False)
        if arg.type == "scoped_use_list":
            path, lst = arg.child_by_field_name("path"), arg.child_by_field_name("list")
            if path is not None and lst is not None:
                specs = tuple(
                    spec(b",".join(_rust_names(content, c, _text(content, path))), c)
                    for c in lst.named_children
                    if c.type not in ("line_comment", "block_comment")
                )
                return ImportInfo(b"use " + _text(content, path), specs, True)
        bound = _rust_names(content, arg, b"")
        path = arg.child_by_field_name("path") if arg.type == "scoped_identifier" else None
        if path is not None and len(bound) == 1:  # use a::b::C; — binds C from a::b, like a::b::{C}
            return ImportInfo(b"", (Spec(bound[0], bound[0], 0, 0),), False, b"use " + _text(content, path))
        return ImportInfo(b"", tuple(Spec(n, b"", 0, 0) for n in bound), False)
    if language == "java":
        if any(c.type == "asterisk" for c in node.children):
            return ImportInfo(b"", (), False)
        target = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
        if target is None:
            return ImportInfo(b"", (), False)
        name = target.child_by_field_name("name") if target.type == "scoped_identifier" else target
        return ImportInfo(b"", (Spec(_text(content, name or target), b"", 0, 0),), False)
    if language == "go" and node.type == "import_spec":
        return ImportInfo(b"", tuple(Spec(n, b"", 0, 0) for n in _go_names(content, node)), False)
    return ImportInfo(b"", (), False)


def _py_name(content: bytes, n: Node) -> bytes:
    if n.type == "aliased_import":
        alias = n.child_by_field_name("alias")
        if alias is not None:
            return _text(content, alias)
    return _text(content, n)


def _js(node: Node, content: bytes, offset: int) -> ImportInfo:
    source = node.child_by_field_name("source")
    clause = next((c for c in node.named_children if c.type == "import_clause"), None)
    if source is None or clause is None:
        return ImportInfo(b"", (), False)
    typed = any(c.type == "type" for c in node.children)
    others: list[Spec] = []
    named: list[Spec] = []
    for c in clause.named_children:
        if c.type == "identifier":
            others.append(Spec(_text(content, c), b"default", 0, 0))
        elif c.type == "namespace_import":
            ident = next((x for x in c.named_children if x.type == "identifier"), None)
            if ident is not None:
                others.append(Spec(_text(content, ident), b"* as " + _text(content, ident), 0, 0))
        elif c.type == "named_imports":
            for s in c.named_children:
                if s.type != "import_specifier":
                    continue
                bound = s.child_by_field_name("alias") or s.child_by_field_name("name")
                if bound is not None:
                    named.append(
                        Spec(
                            _text(content, bound),
                            b" ".join(_text(content, s).split()),
                            s.start_byte - offset,
                            s.end_byte - offset,
                        )
                    )
    key = (b"import type " if typed else b"import ") + _text(content, source)
    if others or not named:
        return ImportInfo(b"", tuple(others + named), False, key)
    return ImportInfo(key, tuple(named), True)


def _rust_names(content: bytes, n: Node, path: bytes) -> list[bytes]:
    """The names a use tree binds (``self`` binds the last element of its path)."""
    t = n.type
    if t == "identifier":
        return [_text(content, n)]
    if t == "self":
        return [path.rsplit(b"::", 1)[-1]] if path else []
    if t == "scoped_identifier":
        name = n.child_by_field_name("name")
        if name is not None and name.type == "self":
            p = n.child_by_field_name("path")
            return [_text(content, p).rsplit(b"::", 1)[-1]] if p is not None else []
        return [_text(content, name)] if name is not None else []
    if t == "use_as_clause":
        alias = n.child_by_field_name("alias")
        return [_text(content, alias)] if alias is not None and _text(content, alias) != b"_" else []
    if t == "scoped_use_list":
        p = n.child_by_field_name("path")
        lst = n.child_by_field_name("list")
        sub = _text(content, p) if p is not None else b""
        return [x for c in (lst.named_children if lst is not None else []) for x in _rust_names(content, c, sub)]
    if t == "use_list":
        return [x for c in n.named_children for x in _rust_names(content, c, path)]
    return []  # use_wildcard, comments


def _go_names(content: bytes, node: Node) -> list[bytes]:
    alias = node.child_by_field_name("name")
    if alias is not None:
        name = _text(content, alias)
        return [] if name in (b"_", b".") else [name]
    path = node.child_by_field_name("path")
    if path is None:
        return []
    parts = _text(content, path).strip(b'"`').split(b"/")
    while len(parts) > 1 and _VERSION.fullmatch(parts[-1]):
        parts.pop()
    return [parts[-1]] if parts and parts[-1] else []


def bound_names(
    language: str, tree: Tree, content: bytes, types: frozenset[str], parser: Parser | None = None
) -> Counter[tuple[bytes, bytes]]:
    """How often each (name, where from) is bound by the file's top-level import statements; where
    from is the source and the specifier, or the whole statement, whitespace collapsed.

    With ``parser``, a file that does not parse is read around its syntax errors: error recovery
    often swallows an import next to the error into an ERROR node (or into the broken statement
    before it, an import statement included) as loose tokens, and such an import binds its names
    all the same. A top-level node with a syntax error is therefore read line by line."""
    out: Counter[tuple[bytes, bytes]] = Counter()
    root = tree.root_node
    read = 0  # the lines before this are read already (two nodes can share a line)
    for node in root.children:
        broken = node.has_error or node.is_missing or root.type == "ERROR"
        if node.type in types and not (broken and parser is not None):
            _count(language, node, content, out)
        elif parser is not None and broken:  # what recovery made of an import's parts is a guess
            start = max(read, content.rfind(b"\n", 0, node.start_byte) + 1)
            found, read = _swallowed(language, start, node.end_byte, content, types, parser)
            for chunk, stmt in found:
                _count(language, stmt, chunk, out)
    return out


def _count(language: str, node: Node, content: bytes, out: Counter[tuple[bytes, bytes]]) -> None:
    # Go: ``import ( … )`` holds a list of specs, ``import "x"`` one spec.
    lists = [c for c in node.named_children if c.type == "import_spec_list"] or [node]
    nodes = [s for lst in lists for s in lst.named_children if s.type == "import_spec"] or [node]
    for n in nodes:
        info = import_info(language, n, content, 0)
        whole = b" ".join(_text(content, n).split())
        for s in info.specs:
            source = info.source or info.origin
            origin = source + b" " + s.text if source and s.text else whole
            for name in s.name.split(b","):
                if name:
                    out[(name, origin)] += 1


# The words an import statement starts with, per language: where one swallowed by a syntax
# error's recovery may begin (at the start of a line, as top-level statements are written).
_IMPORT_WORDS: dict[str, re.Pattern[bytes]] = {
    "python": re.compile(rb"(?:import|from)\b"),
    "javascript": re.compile(rb"import\b"),
    "typescript": re.compile(rb"import\b"),
    "tsx": re.compile(rb"import\b"),
    "rust": re.compile(rb"(?:pub(?:\([^)]*\))?\s+)?use\b"),
    "java": re.compile(rb"import\b"),
    "go": re.compile(rb"import\b"),
}
_MAX_IMPORT_LINES = 40


def _swallowed(
    language: str, start: int, end: int, content: bytes, types: frozenset[str], parser: Parser
) -> tuple[list[tuple[bytes, Node]], int]:
    """The import statements in the lines from ``start`` (a line's start) through ``end``, inside
    a top-level node with syntax errors: each line that starts an import, with as many following
    lines as make one import statement that parses by itself (the text, and the statement's node
    in it); and where the lines read end."""
    word = _IMPORT_WORDS.get(language)
    if word is None:
        return [], start
    out: list[tuple[bytes, Node]] = []
    at = start
    while at < end:
        eol = content.find(b"\n", at)
        nxt = len(content) if eol < 0 else eol + 1
        if word.match(content, at):
            stop = nxt
            for _ in range(_MAX_IMPORT_LINES):
                chunk = content[at:stop]
                root = parser.parse(chunk).root_node
                stmts = root.named_children
                if not root.has_error and len(stmts) == 1 and stmts[0].type in types:
                    out.append((chunk, stmts[0]))
                    nxt = stop
                    break
                if stop >= len(content):
                    break
                eol = content.find(b"\n", stop)
                stop = len(content) if eol < 0 else eol + 1
        at = nxt
    return out, at


def _remove(text: bytes, cuts: list[tuple[int, int]]) -> bytes:
    for start, end in sorted(cuts, reverse=True):
        text = text[:start] + text[end:]
    return text


def _skeleton(text: bytes, info: ImportInfo) -> bytes:
    """The statement without its specifiers: its layout."""
    return _remove(text, _cut_spans([(x.start, x.end) for x in info.specs], list(info.specs)))


def _insert(
    text: bytes, info: ImportInfo, specs: list[Spec], after: Spec | None, new: Spec
) -> tuple[bytes, list[Spec]]:
    """``text`` with the specifier ``new`` after the specifier ``after`` (None: before the first),
    in the statement's layout (one per line when the list is laid out so, else inline), and the
    specifiers' new places, ``new``'s included."""
    first = min(specs, key=lambda x: x.start)
    anchor = after or first
    ls = text.rfind(b"\n", 0, anchor.start) + 1
    indent = text[ls : anchor.start]
    multiline = info.bracketed and not indent.strip(b" \t") and ls > 0
    body = new.text
    if after is None:
        at, add, lead = (ls, indent + body + b",\n", len(indent)) if multiline else (first.start, body + b", ", 0)
    else:
        rest = text[after.end :]
        gap = len(rest) - len(rest.lstrip(b" \t"))
        if rest[gap : gap + 1] == b",":
            at = after.end + gap + 1
            add, lead = (b"\n" + indent + body + b",", 1 + len(indent)) if multiline else (b" " + body + b",", 1)
        else:
            at = after.end
            add, lead = (b",\n" + indent + body, 2 + len(indent)) if multiline else (b", " + body, 2)
    moved = [x if x.start < at else Spec(x.name, x.text, x.start + len(add), x.end + len(add)) for x in specs]
    moved.append(Spec(new.name, body, at + lead, at + lead + len(body)))
    return text[:at] + add + text[at:], moved


def merge_statements(
    base: tuple[bytes, ImportInfo] | None, left: tuple[bytes, ImportInfo], right: tuple[bytes, ImportInfo]
) -> bytes | None:
    """One source's statement merged from both sides' (``(text, info)``; the base may lack it): the
    specifiers three-way as a set by bound name, an added one after the one it follows on its
    side, in the layout of the side that changed the layout (else CURRENT's); b"" when no name is
    left. None when it cannot be said (a name whose specifier both sides changed differently)."""
    bmap = {x.name: x.text for x in base[1].specs} if base is not None else {}
    maps = []
    for _, info in (left, right):
        m = {x.name: x.text for x in info.specs}
        if len(m) != len(info.specs):
            return None
        maps.append(m)
    lmap, rmap = maps
    merged = merge_keyed(bmap, lmap, rmap)
    if merged is None:
        return None
    if not merged:
        return b""  # every name removed on one side or the other
    template, other = left, right
    if base is not None and _skeleton(*left) == _skeleton(*base) and _skeleton(*right) != _skeleton(*base):
        template, other = right, left
    kept = [x for x in template[1].specs if merged.get(x.name) == x.text]
    if not kept:  # nothing of that side's is left: the other's layout
        template, other = other, template
        kept = [x for x in template[1].specs if merged.get(x.name) == x.text]
    text, info = template
    omap = {x.name for x in other[1].specs}
    specs = sorted(info.specs, key=lambda x: x.start)
    kept.sort(key=lambda x: x.start)
    cuts = _cut_spans([(x.start, x.end) for x in specs if x not in kept], specs)
    text = _remove(text, cuts)
    current = [_shifted(x, cuts) for x in kept]
    prev: bytes | None = None
    for x in sorted(other[1].specs, key=lambda x: x.start):
        if x.name in merged and all(c.name != x.name for c in current):
            after = next((c for c in current if c.name == prev), None)
            if template is left:  # after what CURRENT added at the same place
                order = sorted(current, key=lambda c: c.start)
                k = 0 if after is None else order.index(after) + 1
                while k < len(order) and order[k].name not in omap:
                    after, k = order[k], k + 1
            text, current = _insert(text, info, current, after, Spec(x.name, merged[x.name], 0, 0))
        if any(c.name == x.name for c in current):
            prev = x.name
    return text


def _shifted(x: Spec, cuts: list[tuple[int, int]]) -> Spec:
    delta = sum(e - s for s, e in cuts if e <= x.start)
    return Spec(x.name, x.text, x.start - delta, x.end - delta)


def _cut_spans(spans: list[tuple[int, int]], all_specs: list[Spec]) -> list[tuple[int, int]]:
    """What removing the specifiers at ``spans`` cuts: each with the separator that joins it to the
    next specifier (or, for the last, to the previous one)."""
    order = sorted(all_specs, key=lambda s: s.start)
    cuts = []
    for start, end in spans:
        k = next(i for i, s in enumerate(order) if s.start == start)
        if k + 1 < len(order):
            cuts.append((start, order[k + 1].start))
        elif k > 0:
            cuts.append((order[k - 1].end, end))
        else:
            cuts.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(cuts):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# Go: ``import "fmt"`` lines, and the line that opens an import block.
_GO_SINGLE = re.compile(rb'^import[ \t]+((?:[\w.]+[ \t]+)?"[^"\n]*")[ \t]*\r?$', re.M)
_GO_BLOCK = re.compile(rb"^import[ \t]*\([ \t]*\r?$", re.M)


def go_import_blocks(versions: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The versions of a Go file, each with its one run of one-line ``import "x"`` declarations
    written as an import block, when another version has a block: ``goimports`` turns a file's
    single import into a block as soon as a second one is added, and a side that did that next to
    a side that added another single import must not conflict on the layout alone. A version
    with a block, with imports that are not one run of adjacent lines, or with cgo's ``import "C"``
    (which must stay on its own, after its preamble comment), is left as it is."""
    if not any(_GO_BLOCK.search(v) for v in versions):
        return versions
    out = []
    for v in versions:
        runs = list(_GO_SINGLE.finditer(v))
        if (
            not runs
            or _GO_BLOCK.search(v)
            or any(a.end() + 1 != b.start() for a, b in zip(runs, runs[1:]))
            or any(m.group(1).endswith(b'"C"') for m in runs)
        ):
            out.append(v)
            continue
        nl = b"\r\n" if runs[0].group(0).endswith(b"\r") else b"\n"
        block = b"import (" + nl + b"".join(b"\t" + m.group(1) + nl for m in runs) + b")"
        out.append(v[: runs[0].start()] + block + v[runs[-1].end() :])
    return tuple(out)
